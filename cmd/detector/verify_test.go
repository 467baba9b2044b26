package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/record"
)

// verifyFixture writes 60 records of two producers with known tampering
// and returns the file and the key file of producer rt-a's checkpoints.
func verifyFixture(t *testing.T, tamper bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 23, 14, 0, 0, 0, time.UTC)
	a := &chaintest.Stream{Producer: "rt-a", Agent: "agent-a", Tool: "search", KeyID: "k1", Key: chaintest.Key(1),
		CheckpointEvery: 10, Start: t0, Step: time.Second}
	b := &chaintest.Stream{Producer: "rt-b", Agent: "agent-b", Tool: "crm", Start: t0, Step: time.Second}
	var rs []*record.Record
	for range 30 {
		rs = append(rs, a.Next(), b.Next())
	}
	if tamper {
		alt := rs[8].Clone() // rt-a seq 5
		alt.Invocation.OutputBytes = 1 << 30
		rs[8] = alt
		fork := rs[21].Clone() // rt-b seq 11
		fork.Invocation.Status = record.StatusDenied
		fork.Chain.Hash, _ = core.Hash(fork, nil)
		forged := rs[38].Clone() // rt-a seq 20: checkpoint re-signed with another key
		core.Link(forged, "rt-a", 20, rs[36].Chain.Hash, "k1", chaintest.Key(2), nil)
		rs[38] = forged
		rs = slices.Insert(rs, 25, fork)
		rs = slices.Insert(rs, 14, rs[12]) // redelivery of rt-a seq 7: silent
		rs = slices.Delete(rs, 45, 47)     // rt-a seq 23, rt-b seq 22 deleted
	}
	var buf bytes.Buffer
	for _, r := range rs {
		buf.Write(r.AppendJSON(nil))
		buf.WriteByte('\n')
	}
	if tamper {
		buf.WriteString("{not json\n")
	}
	in := filepath.Join(dir, "records.jsonl")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "k1.pem")
	if err := os.WriteFile(key, core.MarshalPublicKeyPEM(chaintest.PublicKey(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return in, key
}

func TestVerifyClean(t *testing.T) {
	in, key := verifyFixture(t, false)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	data, _ := os.ReadFile(in)
	zw.Write(data)
	zw.Close()
	os.WriteFile(in+".gz", gz.Bytes(), 0o644)
	for _, f := range []string{in, in + ".gz"} {
		code, out, errs := runCLI(t, "", "verify", "--in", f, "--key", "k1="+key)
		if code != 0 || errs != "" || !strings.Contains(out, "60 records checked") || !strings.Contains(out, "findings: 0\n") ||
			!strings.Contains(out, "checkpoints: 3 valid, 0 bad signature, 0 unknown key") {
			t.Fatalf("%s: exit %d\n%s%s", f, code, out, errs)
		}
	}
	// Without the key the checkpoints are unknown_key findings.
	if code, out, _ := runCLI(t, "", "verify", "--in", in); code != 1 || !strings.Contains(out, "findings: 3 (3 unknown_key)") {
		t.Fatalf("no key: exit %d\n%s", code, out)
	}
}

// TestVerifyFindings pins the report: every finding with its line number.
func TestVerifyFindings(t *testing.T) {
	in, key := verifyFixture(t, true)
	code, out, errs := runCLI(t, "", "verify", "--in", in, "--key", "k1="+key)
	if code != 1 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	golden(t, "verify.golden", strings.ReplaceAll(out, in, "records.jsonl"))

	code, js, _ := runCLI(t, "", "verify", "--in", in, "--key", "k1="+key, "--json")
	var rep core.Report
	if err := json.Unmarshal([]byte(js), &rep); code != 1 || err != nil {
		t.Fatalf("--json: exit %d, %v", code, err)
	}
	var kinds []string
	for _, is := range rep.Issues {
		kinds = append(kinds, is.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"altered", "bad_signature", "fork", "gap", "gap"}; !slices.Equal(kinds, want) || rep.Invalid != 1 {
		t.Fatalf("--json findings %v (invalid %d), want %v", kinds, rep.Invalid, want)
	}
}

func TestVerifyErrors(t *testing.T) {
	in, _ := verifyFixture(t, false)
	for _, args := range [][]string{
		{"verify", "--in", in, "--key", "k1=/nonexistent.pem"},
		{"verify", "--in", "/nonexistent.jsonl"},
		{"verify", "--key", "novalue"},
		{"verify", "extra"},
	} {
		if code, _, errs := runCLI(t, "", args...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
	// Keys and knobs from a config file.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("detectors:\n  chain_integrity:\n    checkpoint_every: 5\n"), 0o644)
	if code, out, _ := runCLI(t, "", "verify", "--in", in, "--config", cfg); code != 1 || !strings.Contains(out, "missing_checkpoint") {
		t.Fatalf("config: exit %d\n%s", code, out)
	}
	os.WriteFile(cfg, []byte("detectors:\n  chain_integrity:\n    history: 0\n"), 0o644)
	if code, _, errs := runCLI(t, "", "verify", "--in", in, "--config", cfg); code != 2 || !strings.Contains(errs, "detectors.chain_integrity.history") {
		t.Fatalf("bad config: exit %d %q", code, errs)
	}
}
