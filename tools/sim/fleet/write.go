package fleet

import (
	"io"

	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// WriteJSONL writes cfg's records as canonical JSON lines (record.AppendJSON)
// and returns the run's summary (plan, behaviours, counts).
func WriteJSONL(cfg Config, w io.Writer) (Summary, error) {
	var line []byte
	return Generate(cfg, func(r *record.Record, _ sim.Truth) error {
		line = append(r.AppendJSON(line[:0]), '\n')
		_, err := w.Write(line)
		return err
	})
}
