package baseline

import (
	"errors"
	"strings"
	"testing"
)

func TestSnapshotFraming(t *testing.T) {
	type st struct {
		Version int
		X       []int
	}
	b, err := AppendSnapshot([]byte("prefix"), "test state", &st{Version: 3, X: []int{1, 2}})
	if err != nil || !strings.HasPrefix(string(b), "prefix") {
		t.Fatalf("append: %v", err)
	}
	var got st
	if err := DecodeSnapshot(b[len("prefix"):], "test state", &got, &got.Version, 3); err != nil || len(got.X) != 2 {
		t.Fatalf("decode: %v %+v", err, got)
	}
	var v2 st
	err = DecodeSnapshot(b[len("prefix"):], "test state", &v2, &v2.Version, 2)
	if err == nil || err.Error() != "test state: version 3, want 2" {
		t.Errorf("version mismatch: %v", err)
	}
	var bad st
	err = DecodeSnapshot(b[:len(b)-1], "test state", &bad, &bad.Version, 3)
	if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "test state: ") {
		t.Errorf("corrupt: %v", err)
	}
	if _, err := AppendSnapshot(nil, "test state", func() {}); err == nil || !strings.HasPrefix(err.Error(), "test state: ") {
		t.Errorf("unencodable: %v", err)
	}
}
