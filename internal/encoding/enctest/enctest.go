// Package enctest checks a snapshot section's golden records: one file
// per record version the build reads, testdata/<name>.v<N>.bin, each
// decoded and checked value by value, the current one re-encoded byte for
// byte. It is how a format change ships with its migration: the new
// version adds a file (written with -update), the old file stays and must
// still decode through the upgrade.
package enctest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// Golden describes one section's golden files.
type Golden struct {
	Name     string   // file prefix in testdata/, e.g. "latency-state"
	Versions []uint64 // every record version the build reads (Decoders.Versions)
	Current  uint64   // the version the build writes
	// Build returns the encoding of the section's golden state in the
	// current version (written to the current file with -update).
	Build func(t testing.TB) []byte
	// Restore decodes data into a fresh component, checks its values
	// (version says which file it came from; an upgraded older record is
	// checked for what its version held) and returns the component's
	// re-encoding in the current version.
	Restore func(t testing.TB, version uint64, data []byte) []byte
}

var fileRE = regexp.MustCompile(`^(.+)\.v([0-9]+)\.bin$`)

// Run checks the golden files; with update it first rewrites the current
// version's file (never an older one).
func (g Golden) Run(t *testing.T, update bool) {
	t.Helper()
	cur := filepath.Join("testdata", fmt.Sprintf("%s.v%d.bin", g.Name, g.Current))
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cur, g.Build(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatalf("golden files (run with -update to create): %v", err)
	}
	var have []uint64
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil || m[1] != g.Name {
			continue
		}
		v, _ := strconv.ParseUint(m[2], 10, 64)
		have = append(have, v)
	}
	slices.Sort(have)
	want := slices.Sorted(slices.Values(g.Versions))
	if !slices.Equal(have, want) {
		t.Fatalf("%s: golden files for versions %v, the build reads %v: every version read needs its file "+
			"(a format change keeps the previous file, whose decoder upgrades it; -update writes the current one)", g.Name, have, want)
	}
	if !slices.Contains(want, g.Current) {
		t.Fatalf("%s: the build writes version %d but does not read it", g.Name, g.Current)
	}
	for _, v := range have {
		path := filepath.Join("testdata", fmt.Sprintf("%s.v%d.bin", g.Name, v))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		again := g.Restore(t, v, data)
		if v == g.Current && !bytes.Equal(again, data) {
			t.Errorf("%s: the decoded record re-encodes differently (%d bytes, file %d): a field was added, "+
				"removed or reordered without a new record version", path, len(again), len(data))
		}
		if v != g.Current {
			g.Restore(t, g.Current, again) // the upgrade is a valid current record
		}
	}
}

// Fields fails unless struct type typ has n fields: a guard on a type
// whose fields a snapshot record copies one by one, so that adding or
// removing one makes the author revisit the record (and its version).
func Fields(t testing.TB, typ reflect.Type, n int) {
	t.Helper()
	if got := typ.NumField(); got != n {
		t.Errorf("%s has %d fields, the snapshot record was written for %d: update the record "+
			"(and its version, with a migration), then this count", typ, got, n)
	}
}
