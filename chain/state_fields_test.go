package chain

import (
	"reflect"
	"testing"

	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

// The live types StateV1 copies field by field keep their field counts
// (see TestStateGolden for the record itself).
func TestStateFields(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[producer](), 10) // agent, agentAt are not stored: refreshed by the next record
	enctest.Fields(t, reflect.TypeFor[hist](), 4)
	enctest.Fields(t, reflect.TypeFor[entry](), 8)
	enctest.Fields(t, reflect.TypeFor[ident](), 7)
	enctest.Fields(t, reflect.TypeFor[agent](), 1)
	enctest.Fields(t, reflect.TypeFor[Stats](), 9)
	enctest.Fields(t, reflect.TypeFor[StateV1](), 5)
	enctest.Fields(t, reflect.TypeFor[ProducerV1](), 10)
	enctest.Fields(t, reflect.TypeFor[HistV1](), 4)
	enctest.Fields(t, reflect.TypeFor[PendingV1](), 14)
	enctest.Fields(t, reflect.TypeFor[AgentV1](), 3)
}
