package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "config.yaml")
	os.WriteFile(good, []byte("alerts:\n  cooldown: 5m\n"), 0o600)
	os.WriteFile(bad, []byte("alerts:\n  cooldown: 5m\n  bands:\n    warnig: 70\n"), 0o600)

	if code, out, errs := runCLI(t, "", "check-config", "../../config.yaml"); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("shipped config.yaml: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "", "check-config", good); code != 0 {
		t.Errorf("good config: exit %d: %s", code, errs)
	}
	code, _, errs := runCLI(t, "", "check-config", bad)
	if code != 1 || !strings.Contains(errs, "config.yaml:4: alerts.bands.warnig: unknown key") {
		t.Errorf("bad config: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "check-config"); code != 2 {
		t.Errorf("check-config without a file: exit %d, want 2", code)
	}
}

func TestSimulateThenReplayIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	records := filepath.Join(dir, "records.jsonl")
	plan := filepath.Join(dir, "plan.jsonl")
	if code, _, errs := runCLI(t, "", "simulate", "--out", records, "--plan", plan, "--hours", "30", "--scale", "0.3"); code != 0 {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	if fi, err := os.Stat(plan); err != nil || fi.Size() == 0 {
		t.Fatalf("no plan written: %v", err)
	}
	var outs [2]string
	for i := range outs {
		path := filepath.Join(dir, "alerts.jsonl")
		code, _, errs := runCLI(t, "", "replay", "--in", records, "--out", path)
		if code != 0 || !strings.Contains(errs, "records read:") || !strings.Contains(errs, "invalid 0") {
			t.Fatalf("replay: exit %d, stderr %q", code, errs)
		}
		b, _ := os.ReadFile(path)
		outs[i] = string(b)
	}
	if outs[0] == "" || outs[0] != outs[1] {
		t.Fatalf("replay output empty or not deterministic (%d vs %d bytes)", len(outs[0]), len(outs[1]))
	}
}

func TestReplayFromStdinToStdout(t *testing.T) {
	in := `{"trace_id":"t","span_id":"s","timestamp":"2026-03-23T00:00:00Z","agent_id":"a","tool":{"name":"x"},"invocation":{"duration_ms":1,"status":"success"}}
not json
`
	code, out, errs := runCLI(t, in, "replay", "--in", "-", "--out", "-")
	if code != 0 || out != "" || !strings.Contains(errs, "line 2: record: invalid JSON") || !strings.Contains(errs, "applied 1, late 0, invalid 1") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUsage(t *testing.T) {
	if code, out, _ := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "detector replay") {
		t.Errorf("help: exit %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command frobnicate") {
		t.Errorf("unknown command: exit %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "replay", "--bogus"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

// bench refuses bad flags and a non-loopback server before doing anything.
func TestBenchArguments(t *testing.T) {
	if code, out, _ := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "detector bench") {
		t.Errorf("help lacks bench: exit %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "", "bench", "--bogus"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code, _, errs := runCLI(t, "", "bench", "extra"); code != 2 || !strings.Contains(errs, `unexpected argument "extra"`) {
		t.Errorf("extra argument: exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "bench", "--nats-url", "nats://nats.example.com:4222"); code != 1 || !strings.Contains(errs, "not on the loopback") {
		t.Errorf("remote server: exit %d %q", code, errs)
	}
}
