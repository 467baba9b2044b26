package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolwatch/toolwatch/alert"
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
	webBad := filepath.Join(dir, "web.yaml")
	os.WriteFile(webBad, []byte("basic_auth_users:\n  ops: not-a-bcrypt-hash\n"), 0o600)
	withWeb := filepath.Join(dir, "with-web.yaml")
	os.WriteFile(withWeb, []byte("metrics:\n  web_config_file: "+webBad+"\n"), 0o600)
	if code, _, errs := runCLI(t, "", "check-config", withWeb); code != 1 || !strings.Contains(errs, "metrics.web_config_file") {
		t.Errorf("bad web config: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "check-config"); code != 2 {
		t.Errorf("check-config without a file: exit %d, want 2", code)
	}
}

func TestSimulateThenReplayIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	records := filepath.Join(dir, "records.jsonl")
	plan := filepath.Join(dir, "plan.jsonl")
	if code, _, errs := runCLI(t, "", "simulate", "--profile", "easy", "--out", records, "--plan", plan, "--hours", "30", "--scale", "0.3"); code != 0 {
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
	if code, out, _ := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "\n  replay ") {
		t.Errorf("help: exit %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) || !strings.Contains(errs, "Commands:") {
		t.Errorf("unknown command: exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "replay", "--bogus"); code != 2 || !strings.Contains(errs, "-bogus") || !strings.Contains(errs, "detector replay --help") {
		t.Errorf("bad flag: exit %d, want 2: %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "help", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("help of an unknown command: exit %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "version", "extra"); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}

// With alerts.trace_url and a runbook set, replay lines carry trace_url and
// runbook_url; without them the lines have neither (the output is the same
// bytes as before links existed: see alert's golden test).
func TestReplayLinks(t *testing.T) {
	dir := t.TempDir()
	records := filepath.Join(dir, "records.jsonl")
	if code, _, errs := runCLI(t, "", "simulate", "--profile", "easy", "--out", records, "--hours", "30", "--scale", "0.3"); code != 0 {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	cfg := filepath.Join(dir, "links.yaml")
	os.WriteFile(cfg, []byte("alerts:\n  trace_url: \"https://tempo.example/explore?traceId={trace_id}\"\n"+
		"  runbook_urls:\n    latency: \"https://runbooks.example/{pattern}/{tool}\"\n"), 0o600)
	code, with, errs := runCLI(t, "", "replay", "--quiet", "--config", cfg, "--in", records)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	_, without, _ := runCLI(t, "", "replay", "--quiet", "--in", records)
	if strings.Contains(without, "trace_url") || strings.Contains(without, "runbook_url") {
		t.Error("links in the output without templates")
	}
	lines := strings.Split(strings.TrimSpace(with), "\n")
	if len(lines) != len(strings.Split(strings.TrimSpace(without), "\n")) {
		t.Fatal("templates changed the alerts emitted")
	}
	traced, runbooks := 0, 0
	for _, l := range lines {
		var a alert.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		if a.TraceID != "" {
			traced++
			if want := "https://tempo.example/explore?traceId=" + url.PathEscape(a.TraceID); a.TraceURL != want {
				t.Errorf("trace_url %q, want %q", a.TraceURL, want)
			}
		} else if a.TraceURL != "" {
			t.Errorf("trace_url %q for an alert without trace_id", a.TraceURL)
		}
		if (a.Pattern == "latency") != (a.RunbookURL != "") {
			t.Errorf("%s alert has runbook_url %q", a.Pattern, a.RunbookURL)
		}
		if a.RunbookURL != "" {
			runbooks++
		}
	}
	if traced == 0 || runbooks == 0 {
		t.Errorf("%d alerts with trace_url, %d with runbook_url; want some of each", traced, runbooks)
	}
}

func TestEval(t *testing.T) {
	// Simulated seeds: labeled set and twin, per seed and merged.
	code, out, errs := runCLI(t, "", "eval", "--seeds", "4,5", "--hours", "40", "--warm-up", "20h", "--scale", "0.3", "--check")
	met := strings.Contains(out, "  all met")
	if (met && code != 0) || (!met && code != 1) {
		t.Fatalf("eval --check: exit %d with targets met=%v: %s", code, met, errs)
	}
	for _, want := range []string{"== seed 4 (realistic;", "== seed 5", "== merged over seeds 4,5", "twin:\n", "most firing alerts of one key in a day", "targets (issue 9):"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}

	// Files written by simulate and replay.
	dir := t.TempDir()
	rec, plan, alerts, twin := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "p.jsonl"), filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "t.jsonl")
	for _, args := range [][]string{
		{"simulate", "--out", rec, "--plan", plan, "--hours", "40", "--warm-up", "20h", "--scale", "0.3"},
		{"simulate", "--out", twin, "--no-anomalies", "--hours", "40", "--scale", "0.3"},
		{"replay", "--quiet", "--in", rec, "--out", alerts},
	} {
		if code, _, errs := runCLI(t, "", args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	if b, _ := os.ReadFile(plan); len(b) == 0 {
		t.Fatal("realistic simulate wrote an empty plan")
	}
	code, out, errs = runCLI(t, "", "eval", "--in", rec, "--plan", plan, "--alerts", alerts, "--twin", twin)
	if code != 0 || !strings.Contains(out, "labeled set:") || !strings.Contains(out, "twin "+twin) || !strings.Contains(out, "false alerts warning or above") {
		t.Fatalf("eval of files: exit %d: %s\n%s", code, errs, out)
	}
	// Replaying in-process gives the same figures as the replayed file.
	_, out2, _ := runCLI(t, "", "eval", "--in", rec, "--plan", plan, "--twin", twin)
	if out2 != out {
		t.Errorf("in-process replay differs from the alerts file:\n%s\n---\n%s", out2, out)
	}

	for _, args := range [][]string{
		{"eval", "--seeds", "held-out:0"},
		{"eval", "--profile", "hard"},
		{"eval", "extra"},
	} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errs := runCLI(t, "", "eval", "--in", filepath.Join(dir, "missing.jsonl")); code != 1 || !strings.Contains(errs, "missing.jsonl") {
		t.Errorf("missing input: exit %d %q", code, errs)
	}
}

// bench refuses bad flags and a non-loopback server before doing anything.
func TestBenchArguments(t *testing.T) {
	if code, out, _ := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "\n  bench ") {
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

// simulate --profile fleet writes the independent generator's records and
// plan, the same bytes for the same seed, and replay reads them all.
func TestSimulateFleet(t *testing.T) {
	dir := t.TempDir()
	a, b, plan := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl"), filepath.Join(dir, "plan.jsonl")
	for _, out := range []string{a, b} {
		if code, _, errs := runCLI(t, "", "simulate", "--profile", "fleet", "--seed", "5", "--hours", "100", "--warm-up", "50h",
			"--scale", "0.05", "--out", out, "--plan", plan); code != 0 {
			t.Fatalf("simulate: exit %d: %s", code, errs)
		}
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Fatalf("fleet output empty or not deterministic (%d, %d bytes)", len(x), len(y))
	}
	p, _ := os.ReadFile(plan)
	if n := bytes.Count(p, []byte("\n")); n == 0 {
		t.Fatal("no anomalies in the plan")
	}
	code, _, errs := runCLI(t, "", "replay", "--quiet", "--in", a, "--out", filepath.Join(dir, "alerts.jsonl"))
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	if code, _, _ := runCLI(t, "", "simulate", "--profile", "fleet", "--nats", "nats://127.0.0.1:1"); code != 2 {
		t.Errorf("fleet with --nats: exit %d, want 2", code)
	}
	// eval --profile fleet replays it and its twin in-process.
	code, out, errs := runCLI(t, "", "eval", "--profile", "fleet", "--seeds", "5", "--hours", "100", "--warm-up", "50h", "--scale", "0.05", "--breakdown")
	if code != 0 || !strings.Contains(out, "fleet;") || !strings.Contains(out, "twin without egress:") || !strings.Contains(out, "by pattern, detail") {
		t.Fatalf("eval --profile fleet: exit %d: %s\n%s", code, errs, out)
	}
}
