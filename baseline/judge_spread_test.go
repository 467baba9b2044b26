package baseline

import (
	"testing"
	"unsafe"
)

// The spread and density memory costs 16 bytes a level memory (its flags
// sit in padding): 208 bytes before it (192 plus the daily rhythm's share
// and pointer).
func TestSpreadMemorySize(t *testing.T) {
	if n := unsafe.Sizeof(level{}); n > 208+16 {
		t.Errorf("level memory %d bytes, want ≤ 224", n)
	}
}
