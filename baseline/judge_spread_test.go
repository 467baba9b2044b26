package baseline

import (
	"testing"
	"unsafe"
)

// The spread and density memory costs 16 bytes a level memory (its flags
// sit in padding): 192 bytes before it.
func TestSpreadMemorySize(t *testing.T) {
	if n := unsafe.Sizeof(level{}); n > 192+16 {
		t.Errorf("level memory %d bytes, want ≤ 208", n)
	}
}
