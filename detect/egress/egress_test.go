package egress

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

var base = time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)

// dh hashes a raw destination the way a producer would (HMAC-SHA256 with
// a test key, 16 bytes): the detector only ever sees the result.
func dh(typ, raw string) string {
	m := hmac.New(sha256.New, []byte("test-org-key"))
	m.Write([]byte(typ + ":" + raw))
	return typ + ":" + hex.EncodeToString(m.Sum(nil)[:16])
}

func email(addr string) []string {
	return []string{dh("email", addr), dh("email_domain", addr[strings.IndexByte(addr, '@')+1:])}
}

func account(iban string) []string { return []string{dh("account", iban)} }

func testConfig() Config {
	c := DefaultConfig()
	c.WarmupCalls = 100
	c.WarmupAge = time.Hour
	c.MaxTasks = 50
	c.MaxTaskDestinations = 8
	c.TaskIdleTTL = 30 * time.Minute
	return c
}

func newDet(c Config) *Detector {
	if es := c.Validate(); len(es) > 0 {
		panic(es)
	}
	return New(detect.NewParams(c), baseline.Config{MaxKeys: 100, IdleTTL: 30 * 24 * time.Hour})
}

type call struct {
	at      time.Duration
	tool    string
	task    string
	dests   []string
	outs    []string
	class   string
	agent   string
	trustLv string
}

func (c call) record() *record.Record {
	agent := c.agent
	if agent == "" {
		agent = "agent-1"
	}
	return &record.Record{
		TraceID: "trace-" + c.task, SpanID: fmt.Sprintf("span-%d", c.at), Timestamp: base.Add(c.at), AgentID: agent,
		Tool: record.Tool{Name: c.tool, TrustLevel: c.trustLv},
		Invocation: record.Invocation{Status: record.StatusSuccess, OutputBytes: record.Absent, InputBytes: record.Absent,
			Destinations: c.dests, OutputDestinations: c.outs},
		Context: record.Context{TaskID: c.task, DataClassification: c.class, Environment: "production"},
	}
}

var payees = []string{"DE00 1111", "DE00 2222", "FR00 3333", "NL00 4444", "DE00 5555"}

// warm feeds a closed send_money vocabulary (5 payees) and a closed
// send_email one (colleagues at corp.example) for n calls each over 2h,
// ticking every minute; it returns the time after the last call.
func warm(t testing.TB, d *Detector, n int) time.Duration {
	t.Helper()
	at := time.Duration(0)
	step := 2 * time.Hour / time.Duration(n)
	for i := range n {
		task := fmt.Sprintf("warm-%d", i)
		fs := d.Observe(call{at: at, tool: "send_money", task: task, dests: account(payees[i*i%len(payees)])}.record(), nil)
		fs = d.Observe(call{at: at, tool: "send_email", task: task, dests: email(fmt.Sprintf("colleague%d@corp.example", i*7%9))}.record(), fs)
		if len(fs) > 0 {
			t.Fatalf("warm-up call %d alerted: %+v", i, fs)
		}
		at += step
		if i%30 == 0 {
			d.Tick(base.Add(at), nil)
		}
	}
	return at
}

func TestScoring(t *testing.T) {
	type step = call
	tests := []struct {
		name  string
		calls func(at time.Duration) []call
		// want: the score band of the last call's finding (0: none).
		wantMin, wantMax float64
		learned          bool
	}{
		{"known payee", func(at time.Duration) []call {
			return []call{{at: at, tool: "send_money", task: "t", dests: account(payees[0])}}
		}, 0, 0, true},
		{"new payee from the user's request: too weak, learned", func(at time.Duration) []call {
			return []call{{at: at, tool: "send_money", task: "t", dests: account("GB00 9999")}}
		}, 0, 0, true},
		{"new payee read in a tool output of the task", func(at time.Duration) []call {
			return []call{
				{at: at, tool: "read_file", task: "t", outs: account("GB00 9999")},
				{at: at + time.Second, tool: "send_money", task: "t", dests: account("GB00 9999")},
			}
		}, 40, 60, false},
		{"the same after a confidential read", func(at time.Duration) []call {
			return []call{
				{at: at, tool: "read_file", task: "t", outs: account("GB00 9999"), class: "confidential"},
				{at: at + time.Second, tool: "send_money", task: "t", dests: account("GB00 9999")},
			}
		}, 55, 80, false},
		{"output of another task does not count", func(at time.Duration) []call {
			return []call{
				{at: at, tool: "read_file", task: "other", outs: account("GB00 9999"), class: "restricted"},
				{at: at + time.Second, tool: "send_money", task: "t", dests: account("GB00 9999")},
			}
		}, 0, 0, true},
		{"new address at a new domain from an output", func(at time.Duration) []call {
			return []call{
				{at: at, tool: "read_email", task: "t", outs: email("x@attacker.example")[:1]},
				{at: at + time.Second, tool: "send_email", task: "t", dests: email("x@attacker.example")},
			}
		}, 45, 70, false},
		{"new address at the known domain from an output scores lower", func(at time.Duration) []call {
			return []call{
				{at: at, tool: "read_email", task: "t", outs: email("new@corp.example")[:1]},
				{at: at + time.Second, tool: "send_email", task: "t", dests: email("new@corp.example")},
			}
		}, 40, 55, false},
	}
	var scores []float64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(testConfig())
			at := warm(t, d, 400)
			var fs []detect.Finding
			cs := tc.calls(at)
			for _, c := range cs {
				fs = d.Observe(c.record(), fs)
			}
			last := cs[len(cs)-1]
			var got float64
			for _, f := range fs {
				if f.Tool == last.tool {
					got = f.Score
				}
			}
			scores = append(scores, got)
			if got < tc.wantMin || got > tc.wantMax || (tc.wantMin > 0) != (len(fs) > 0) {
				t.Fatalf("score %v (findings %d), want %v..%v", got, len(fs), tc.wantMin, tc.wantMax)
			}
			// Learned destinations join the vocabulary; flagged ones
			// are listed for triage instead.
			inVocab := d.tools.Peek(last.tool).set.Find(hash(last.dests[0])) != nil
			if tc.learned != inVocab || tc.learned == (len(d.Triage()) == 1) {
				t.Fatalf("learned = %v, but in the vocabulary %v, triage list %v", tc.learned, inVocab, d.Triage())
			}
		})
	}
	// Ordering the package doc promises.
	if !(scores[3] > scores[2] && scores[5] > scores[6]) {
		t.Fatalf("score ordering broken: %v", scores)
	}
}

func findingsFor(fs []detect.Finding, tool string) []detect.Finding {
	var out []detect.Finding
	for _, f := range fs {
		if f.Tool == tool {
			out = append(out, f)
		}
	}
	return out
}

// attack feeds an injected output naming dest followed by the call using
// it, in task, and returns the findings at send_money.
func attack(d *Detector, at time.Duration, task string, dest []string) []detect.Finding {
	fs := d.Observe(call{at: at, tool: "read_file", task: task, outs: dest}.record(), nil)
	fs = d.Observe(call{at: at + time.Second, tool: "send_money", task: task, dests: dest}.record(), fs)
	return findingsFor(fs, "send_money")
}

func TestLearnedOnlyAfterConfirmation(t *testing.T) {
	d := newDet(testConfig())
	at := warm(t, d, 400)
	iban := account("GB00 ATTACK")
	fs := attack(d, at, "t1", iban)
	if len(fs) != 1 || fs[0].Details["status"] != StatusPending {
		t.Fatalf("first use: %+v", fs)
	}
	// Used again, even without provenance and by another agent: still
	// flagged (it was never learned), the pending entry counts it.
	for i := range 3 {
		r := call{at: at + time.Duration(i+1)*time.Minute, tool: "send_money", task: fmt.Sprintf("u%d", i), dests: iban, agent: "agent-2"}.record()
		if d.Observe(r, nil); d.tools.Peek("send_money").set.Find(hash(iban[0])) != nil {
			t.Fatal("a flagged destination joined the vocabulary")
		}
	}
	tr := d.Triage()
	if len(tr) != 1 || tr[0].Destination != iban[0] || tr[0].Count != 4 || tr[0].Status != StatusPending ||
		tr[0].Tool != "send_money" || tr[0].Fingerprint != alert.Fingerprint(&fs[0]) || !tr[0].FirstSeen.Equal(base.Add(at+time.Second)) {
		t.Fatalf("triage list: %+v", tr)
	}
	// From a tool output again: alerts again.
	if fs := attack(d, at+time.Hour, "t2", iban); len(fs) != 1 {
		t.Fatalf("pending destination from an output: %d findings", len(fs))
	}
	if err := d.Accept("send_money", iban[0]); err != nil {
		t.Fatal(err)
	}
	if fs := attack(d, at+2*time.Hour, "t3", iban); len(fs) != 0 {
		t.Fatalf("accepted destination still alerts: %+v", fs)
	}
	if tr := d.Triage(); len(tr) != 0 {
		t.Fatalf("accepted destination still listed: %+v", tr)
	}
	// Bad arguments are errors.
	for _, args := range [][2]string{{"", iban[0]}, {"send_money", "account:xyz"}, {"send_money", "alice@example.com"}, {"nope", account("X")[0]}} {
		if err := d.Accept(args[0], args[1]); err == nil {
			t.Errorf("Accept(%q, %q) succeeded", args[0], args[1])
		}
	}
}

func TestRejectedKeepsAlerting(t *testing.T) {
	d := newDet(testConfig())
	at := warm(t, d, 400)
	iban := account("GB00 ATTACK")
	if fs := attack(d, at, "t1", iban); len(fs) != 1 {
		t.Fatalf("first use: %d findings", len(fs))
	}
	if err := d.Reject("send_money", iban[0]); err != nil {
		t.Fatal(err)
	}
	// Without provenance, repeatedly: every use alerts, critical.
	for i := range 3 {
		fs := d.Observe(call{at: at + time.Duration(i+1)*time.Hour, tool: "send_money", task: fmt.Sprint(i), dests: iban}.record(), nil)
		if len(fs) != 1 || fs[0].Score < 80 || fs[0].Details["status"] != StatusRejected {
			t.Fatalf("use %d after reject: %+v", i, fs)
		}
	}
	tr := d.Triage()
	if len(tr) != 1 || tr[0].Status != StatusRejected || tr[0].Count != 4 {
		t.Fatalf("triage: %+v", tr)
	}
	// A destination learned during warm-up can be rejected: it leaves the
	// vocabulary and alerts from then on.
	if err := d.Reject("send_money", account(payees[1])[0]); err != nil {
		t.Fatal(err)
	}
	if fs := d.Observe(call{at: at + 5*time.Hour, tool: "send_money", task: "x", dests: account(payees[1])}.record(), nil); len(fs) != 1 {
		t.Fatalf("rejected known payee: %d findings", len(fs))
	}
	// Accepting a rejected destination lifts the rejection.
	if err := d.Accept("send_money", iban[0]); err != nil {
		t.Fatal(err)
	}
	if fs := d.Observe(call{at: at + 6*time.Hour, tool: "send_money", task: "y", dests: iban}.record(), nil); len(fs) != 0 {
		t.Fatalf("accepted after reject: %+v", fs)
	}
}

// An open tool learns silently. Its hosts all came from outputs: off, the
// tool is open and a host no output named is learned too; with
// learn_provenance those sourced hosts are explained, not openness, so
// that host alerts.
func TestOpenToolLearns(t *testing.T) {
	for _, learn := range []bool{false, true} {
		c := testConfig()
		c.LearnProvenance = learn
		d := newDet(c)
		at := time.Duration(0)
		// post_webpage: a new host almost every call.
		for i := range 500 {
			task := fmt.Sprint("w", i)
			h := fmt.Sprintf("site%d.example", i%300)
			fs := d.Observe(call{at: at, tool: "read_web", task: task, outs: []string{dh("host", h)}}.record(), nil)
			fs = d.Observe(call{at: at + time.Second, tool: "post_webpage", task: task, dests: []string{dh("host", h), dh("domain", h)}}.record(), fs)
			if len(fs) != 0 {
				t.Fatalf("learn %v: open tool alerted at call %d: %+v", learn, i, fs)
			}
			at += 20 * time.Second
		}
		tl := d.tools.Peek("post_webpage")
		if o, _ := tl.openness(); (o < 1) == !learn || tl.exact != 300 {
			t.Fatalf("learn %v: openness %v, %d destinations learned", learn, o, tl.exact)
		}
		fs := d.Observe(call{at: at, tool: "post_webpage", task: "x", dests: []string{dh("host", "exfil.example"), dh("domain", "exfil.example")}}.record(), nil)
		if (len(fs) == 1) != learn {
			t.Fatalf("learn %v: a host no output named: %+v", learn, fs)
		}
	}
}

func TestTaskStateBoundedAndExpires(t *testing.T) {
	c := testConfig()
	d := newDet(c)
	at := warm(t, d, 400)
	// Many tasks, many output destinations each: both caps hold.
	for i := range 3 * c.MaxTasks {
		var outs []string
		for j := range 3 * c.MaxTaskDestinations {
			outs = append(outs, dh("host", fmt.Sprintf("h%d-%d", i, j)))
		}
		d.Observe(call{at: at, tool: "read_web", task: fmt.Sprint("many", i), outs: outs, class: "restricted"}.record(), nil)
		if d.tasks.Len() > c.MaxTasks {
			t.Fatalf("%d tasks live, cap %d", d.tasks.Len(), c.MaxTasks)
		}
	}
	d.tasks.Range(func(_ uint64, tk *task) bool {
		if len(tk.outs) > c.MaxTaskDestinations {
			t.Fatalf("task holds %d destinations, cap %d", len(tk.outs), c.MaxTaskDestinations)
		}
		return true
	})
	// The most recent outputs of a task are kept.
	last := d.tasks.Peek(baseline.Hash64(fmt.Sprint("many", 3*c.MaxTasks-1)))
	if last == nil || !slices.Contains(last.outs, hash(dh("host", fmt.Sprintf("h%d-%d", 3*c.MaxTasks-1, 3*c.MaxTaskDestinations-1)))) {
		t.Fatal("newest output destination of the newest task not kept")
	}
	// Provenance expires with the task: after task_idle_ttl the payee it
	// read is a plain new payee again (not flagged).
	iban := account("GB00 LATE")
	d.Observe(call{at: at + time.Minute, tool: "read_file", task: "slow", outs: iban, class: "confidential"}.record(), nil)
	d.Tick(base.Add(at+time.Minute+c.TaskIdleTTL+2*time.Minute), nil)
	if d.tasks.Len() != 0 {
		t.Fatalf("%d tasks live after their idle TTL", d.tasks.Len())
	}
	if fs := d.Observe(call{at: at + time.Minute + c.TaskIdleTTL + 3*time.Minute, tool: "send_money", task: "slow", dests: iban}.record(), nil); len(fs) != 0 {
		t.Fatalf("expired task still gave provenance: %+v", fs)
	}
}

// TestNoRawDestination: findings, triage entries and snapshots carry the
// destination hashes they were given and nothing else that could reveal a
// destination.
func TestNoRawDestination(t *testing.T) {
	d := newDet(testConfig())
	at := warm(t, d, 400)
	raws := []string{"mallory@attacker.example", "attacker.example", "GB00 ATTACK"}
	given := map[string]bool{}
	var fs []detect.Finding
	for i, dests := range [][]string{email(raws[0]), account(raws[2])} {
		for _, x := range dests {
			given[x[strings.IndexByte(x, ':')+1:]] = true
		}
		task := fmt.Sprint("t", i)
		tool := map[bool]string{true: "send_email", false: "send_money"}[i == 0]
		fs = d.Observe(call{at: at, tool: "read_email", task: task, outs: dests, class: "restricted"}.record(), fs)
		fs = d.Observe(call{at: at + time.Second, tool: tool, task: task, dests: dests}.record(), fs)
	}
	if err := d.Reject("send_money", account(raws[2])[0]); err != nil {
		t.Fatal(err)
	}
	fs = d.Observe(call{at: at + time.Minute, tool: "send_money", task: "z", dests: account(raws[2])}.record(), fs)
	if len(fs) != 3 {
		t.Fatalf("%d findings", len(fs))
	}
	fj, _ := json.Marshal(fs)
	tj, _ := json.Marshal(d.Triage())
	snap, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	fps := map[string]bool{}
	for i := range fs {
		fps[alert.Fingerprint(&fs[i])] = true
	}
	hexRun := regexp.MustCompile(`[0-9a-f]{16,}`)
	for name, b := range map[string][]byte{"findings": fj, "triage": tj, "snapshot": snap} {
		for _, raw := range raws {
			if strings.Contains(strings.ToLower(string(b)), strings.ToLower(raw)) {
				t.Errorf("%s contains the raw destination %q", name, raw)
			}
		}
		for _, tok := range hexRun.FindAllString(string(b), -1) {
			if !given[tok] && !fps[tok] {
				t.Errorf("%s contains %q, not a given hash", name, tok)
			}
		}
	}
	if !strings.Contains(string(fj), account(raws[2])[0]) {
		t.Error("findings do not name the destination hash")
	}
}

func TestSnapshotRestore(t *testing.T) {
	c := testConfig()
	d := newDet(c)
	at := warm(t, d, 400)
	accepted, rejected, pending := account("GB00 OK"), account("GB00 BAD"), account("GB00 WAIT")
	attack(d, at, "a", accepted)
	attack(d, at, "b", rejected)
	attack(d, at, "c", pending)
	if err := d.Accept("send_money", accepted[0]); err != nil {
		t.Fatal(err)
	}
	if err := d.Reject("send_money", rejected[0]); err != nil {
		t.Fatal(err)
	}
	d.Observe(call{at: at + time.Minute, tool: "read_file", task: "open", outs: account("GB00 LATER"), class: "confidential"}.record(), nil)
	snap, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newDet(c)
	if err := r.UnmarshalState(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := r.MarshalState(nil)
	if string(again) != string(snap) {
		t.Fatal("restored state re-encodes differently")
	}
	// Both detectors see the same continuation and say the same.
	cont := []call{
		{at: at + 2*time.Minute, tool: "send_money", task: "x", dests: accepted},
		{at: at + 3*time.Minute, tool: "send_money", task: "y", dests: rejected},
		{at: at + 4*time.Minute, tool: "send_money", task: "z", dests: pending},
		{at: at + 5*time.Minute, tool: "send_money", task: "open", dests: account("GB00 LATER")},
	}
	for _, det := range []*Detector{d, r} {
		var fs []detect.Finding
		for _, c := range cont {
			fs = det.Observe(c.record(), fs)
		}
		// The pending payee without provenance is not improbable enough
		// to alert again, but is counted and stays unlearned.
		if len(fs) != 2 || fs[0].Details["status"] != StatusRejected ||
			fs[1].Details["from_task_output"] != true || fs[1].Details["sensitive_read_before"] != true {
			t.Fatalf("continuation: %+v", fs)
		}
	}
	if tr, tr2 := d.Triage(), r.Triage(); fmt.Sprint(tr) != fmt.Sprint(tr2) {
		t.Fatalf("triage differs after restore:\n%v\n%v", tr, tr2)
	}
	// A corrupt or foreign snapshot is an error and changes nothing.
	before, _ := r.MarshalState(nil)
	for _, bad := range [][]byte{snap[:len(snap)/2], nil, append([]byte{}, snap[:len(snap)-1]...)} {
		if err := r.UnmarshalState(bad); err == nil {
			t.Fatal("corrupt snapshot accepted")
		}
	}
	if after, _ := r.MarshalState(nil); string(after) != string(before) {
		t.Fatal("failed restore changed the state")
	}
}

func TestPendingCap(t *testing.T) {
	c := testConfig()
	c.MaxPending = 2
	d := newDet(c)
	at := warm(t, d, 400)
	for i := range 4 {
		if fs := attack(d, at+time.Duration(i)*time.Minute, fmt.Sprint("t", i), account(fmt.Sprint("GB00 ", i))); len(fs) != 1 {
			t.Fatalf("attack %d: %d findings", i, len(fs))
		}
	}
	if n := len(d.Triage()); n != 2 || d.Unlisted() != 2 {
		t.Fatalf("%d listed, %d unlisted", n, d.Unlisted())
	}
	// Unlisted flagged destinations are still not learned.
	if fs := attack(d, at+time.Hour, "again", account("GB00 3")); len(fs) != 1 {
		t.Fatalf("unlisted flagged destination: %d findings", len(fs))
	}
}

// TestEngine runs the detector inside a detect.Engine built from its
// Factory, as the pipeline will.
func TestEngine(t *testing.T) {
	reg, err := detect.MakeRegistry(Factory)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := reg.Lookup(Pattern)
	sec := f.DefaultConfig()
	if es := sec.Validate(); len(es) > 0 || !sec.On() {
		t.Fatalf("defaults: %v on=%v", es, sec.On())
	}
	cfg := sec.(*Config)
	cfg.WarmupCalls, cfg.WarmupAge = 100, time.Hour
	det, err := f.New(f.NewParams(sec), baseline.Config{MaxKeys: 100, IdleTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	eng := detect.NewEngine(detect.DefaultTimeConfig(), func() time.Time { return base.Add(48 * time.Hour) }, det)
	var fs []detect.Finding
	at := time.Duration(0)
	for i := range 300 {
		fs, _ = eng.Process(call{at: at, tool: "send_money", task: fmt.Sprint(i), dests: account(payees[i%5])}.record(), fs)
		at += 30 * time.Second
	}
	fs, _ = eng.Process(call{at: at, tool: "read_email", task: "x", outs: account("GB00 EVIL")}.record(), fs)
	fs, _ = eng.Process(call{at: at + time.Second, tool: "send_money", task: "x", dests: account("GB00 EVIL")}.record(), fs)
	if len(fs) != 1 || fs[0].Pattern != Pattern || fs[0].Detail != account("GB00 EVIL")[0] || fs[0].TaskID != "x" {
		t.Fatalf("findings: %+v", fs)
	}
	// Reconfigure keeps the vocabulary.
	c2 := *cfg
	c2.MinScore = 90
	if err := f.Reconfigure(det, detect.NewParams(c2)); err != nil {
		t.Fatal(err)
	}
	if det.(*Detector).tools.Peek("send_money").exact != 5 {
		t.Fatal("reconfigure lost the vocabulary")
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if es := c.Validate(); len(es) != 0 {
		t.Fatal(es)
	}
	bad := Config{OpenNewRate: math.NaN(), MinScore: -1, OpenDistinct: 5000, MaxDestinations: 10}
	if es := bad.Validate(); len(es) < 8 {
		t.Fatalf("only %d errors: %v", len(es), es)
	}
}

// TestDomainOnlyRecords: a tool whose records name only domains (a
// producer that extracts no host) is judged on its domains, and failed
// calls teach nothing.
func TestDomainOnlyRecords(t *testing.T) {
	d := newDet(testConfig())
	at := time.Duration(0)
	for i := range 300 {
		d.Observe(call{at: at, tool: "webhook", task: fmt.Sprint(i), dests: []string{dh("domain", fmt.Sprintf("hooks%d.example", i%4))}}.record(), nil)
		at += 30 * time.Second
	}
	if tl := d.tools.Peek("webhook"); tl.exact != 4 || tl.n1 != 0 {
		t.Fatalf("domains as destinations: %d known, %d singletons", tl.exact, tl.n1)
	}
	evil := []string{dh("domain", "evil.example")}
	d.Observe(call{at: at, tool: "read_web", task: "x", outs: evil}.record(), nil)
	r := call{at: at + time.Second, tool: "webhook", task: "x", dests: evil}.record()
	r.Invocation.Status = record.StatusError
	if fs := d.Observe(r, nil); len(fs) != 1 {
		t.Fatalf("new domain from an output: %d findings", len(fs))
	}
	if err := d.Accept("webhook", evil[0]); err != nil {
		t.Fatal(err)
	}
	// A new domain in a failed call without provenance: silent, and not
	// learned either.
	other := []string{dh("domain", "other.example")}
	r = call{at: at + time.Minute, tool: "webhook", task: "y", dests: other}.record()
	r.Invocation.Status = record.StatusDenied
	if fs := d.Observe(r, nil); len(fs) != 0 || d.tools.Peek("webhook").set.Find(hash(other[0])) != nil {
		t.Fatalf("failed call: %d findings, learned %v", len(fs), d.tools.Peek("webhook").set.Find(hash(other[0])) != nil)
	}
}

func TestInspect(t *testing.T) {
	d := newDet(testConfig())
	at := warm(t, d, 400)
	attack(d, at, "a", account("GB00 WAIT"))
	if _, ok := d.Inspect("agent-1", "send_money"); ok {
		t.Fatal("per-agent baselines do not exist")
	}
	b, ok := d.Inspect("", "send_money")
	if !ok || !b.Warm || b.JudgedBy != "tool" || b.Pattern != Pattern {
		t.Fatalf("inspect: %+v", b)
	}
	v := b.Parts[0].Values
	if v["known_destinations"] != uint64(3) || v["pending"] != 1 || v["closed"] != true || v["calls"] != uint64(401) {
		t.Fatalf("values: %v", v)
	}
	if ks := d.BaselineKeys(); len(ks) != 2 {
		t.Fatalf("keys: %v", ks)
	}
	if live, _, _ := d.KeyStats(); live != 2+1 { // two tools, one task (the attack's reader)
		t.Fatalf("live keys %d", live)
	}
}

// TestOversizedRecord: a record built in-process with more destinations
// than the decoder allows is judged on the first MaxDestinations.
func TestOversizedRecord(t *testing.T) {
	d := newDet(testConfig())
	var many []string
	for i := range 2 * record.MaxDestinations {
		many = append(many, dh("host", fmt.Sprint("h", i)))
	}
	d.Observe(call{tool: "post_webpage", task: "t", dests: many}.record(), nil)
	if n := d.tools.Peek("post_webpage").exact; n != record.MaxDestinations {
		t.Fatalf("%d destinations learned", n)
	}
}

// TestRejectedDomain: a rejected domain alerts with any address at it,
// also a new one, and is not learned again.
func TestRejectedDomain(t *testing.T) {
	d := newDet(testConfig())
	at := warm(t, d, 400)
	dom := email("x@evil.example")[1]
	if err := d.Reject("send_email", dom); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		fs := d.Observe(call{at: at + time.Duration(i)*time.Minute, tool: "send_email", task: fmt.Sprint(i), dests: email(fmt.Sprintf("u%d@evil.example", i))}.record(), nil)
		rejected := 0
		for _, f := range fs {
			if f.Detail == dom && f.Details["status"] == StatusRejected && f.Score >= 80 {
				rejected++
			}
		}
		if rejected != 1 {
			t.Fatalf("address %d at a rejected domain: %+v", i, fs)
		}
	}
	if d.tools.Peek("send_email").set.Find(hash(dom)) != nil {
		t.Fatal("rejected domain learned")
	}
}

// TestLearnProvenance: with learn_provenance, a mail tool that replied to
// first-time senders named by read_inbox during its warm-up learns that
// this is its job (a reply to a new sender is silent), while an address
// named by another tool's output still alerts and a payee read from a
// document at a tool that never paid output-named accounts alerts at least
// as high as with the fixed prior. Off, every reply alerts. (The web
// address loses part of its confidential-read decade: this tool's new
// addresses at known domains mostly followed one.)
func TestLearnProvenance(t *testing.T) {
	type result struct{ reply, web, payee float64 }
	run := func(learn bool) result {
		c := testConfig()
		c.LearnProvenance = learn
		d := newDet(c)
		at := time.Duration(0)
		for i := range 400 { // the warm-up: every tenth call replies to a new sender
			task := fmt.Sprintf("w%d", i)
			to := email(fmt.Sprintf("colleague%d@corp.example", i%9))
			if i%10 == 0 {
				to = email(fmt.Sprintf("sender%d@partner.example", i))
				d.Observe(call{at: at, tool: "read_inbox", task: task, outs: to[:1], class: "confidential"}.record(), nil)
			}
			fs := d.Observe(call{at: at + time.Second, tool: "send_email", task: task, dests: to}.record(), nil)
			fs = d.Observe(call{at: at + time.Second, tool: "send_money", task: task, dests: account(payees[i%len(payees)])}.record(), fs)
			if len(fs) > 0 {
				t.Fatalf("warm-up call %d alerted: %+v", i, fs)
			}
			at += 5 * time.Second
		}
		at = 2 * time.Hour // warm
		score := func(fs []detect.Finding) float64 {
			if len(fs) != 1 {
				return 0
			}
			return fs[0].Score
		}
		if tl := d.tools.Peek("send_email"); tl.learned != 49 || len(tl.srcs) != 1 || tl.srcs[0] != (srcCount{hash("read_inbox"), 40}) {
			t.Errorf("send_email provenance counts: %d learned, %+v", tl.learned, tl.srcs)
		}
		var r result
		to := email("new.sender@partner.example")
		d.Observe(call{at: at, tool: "read_inbox", task: "reply", outs: to[:1], class: "confidential"}.record(), nil)
		r.reply = score(d.Observe(call{at: at + time.Second, tool: "send_email", task: "reply", dests: to}.record(), nil))
		to = email("mallory@partner.example")
		d.Observe(call{at: at, tool: "get_webpage", task: "web", outs: to[:1], class: "confidential"}.record(), nil)
		r.web = score(d.Observe(call{at: at + time.Second, tool: "send_email", task: "web", dests: to}.record(), nil))
		r.payee = score(attack(d, at, "pay", account("LT00 ATTACKER")))
		return r
	}
	off, on := run(false), run(true)
	t.Logf("off %+v, on %+v", off, on)
	if off.reply < 40 || on.reply != 0 {
		t.Errorf("reply to a new sender: %.1f with the fixed prior (want an alert), %.1f learned (want none)", off.reply, on.reply)
	}
	if off.web < 40 || on.web < 40 || off.payee < 40 || on.payee < off.payee {
		t.Errorf("learned: output of another tool %.1f (want an alert), payee from a document %.1f (want at least the fixed prior's %.1f); fixed prior: web %.1f",
			on.web, on.payee, off.payee, off.web)
	}
}

// mailbot feeds n tasks of a support mailbox from at, one every 30 s: each
// reads a confidential inbox naming one or two senders (a correspondent of
// 30 at three partner domains, every 40th a first-time sender at one of
// them), then replies to a sender named (two tasks in three) or mails a
// correspondent; every fourth task also pays one of the usual payees. It
// returns the findings and the time after the last task.
func mailbot(d *Detector, at time.Duration, n, first int) ([]detect.Finding, time.Duration) {
	var all []detect.Finding
	for i := first; i < first+n; i++ {
		task := fmt.Sprintf("mail-%d", i)
		addr := func(k int) []string { return email(fmt.Sprintf("c%d@partner%d.example", k%30, k%3)) }
		senders := [][]string{addr(i * 7)}
		if i%40 == 0 {
			senders[0] = email(fmt.Sprintf("first.time%d@partner%d.example", i, i%3))
		}
		if i%3 == 0 {
			senders = append(senders, addr(i*11+1))
		}
		var outs []string
		for _, s := range senders {
			outs = append(outs, s[0])
		}
		all = d.Observe(call{at: at, tool: "read_inbox", task: task, outs: outs, class: "confidential"}.record(), all)
		to := senders[0]
		if i%3 == 2 {
			to = addr(i * 13)
		}
		all = d.Observe(call{at: at + time.Second, tool: "send_email", task: task, dests: to}.record(), all)
		if i%4 == 0 {
			all = d.Observe(call{at: at + 2*time.Second, tool: "send_money", task: task, dests: account(payees[i%len(payees)])}.record(), all)
		}
		at += 30 * time.Second
	}
	return all, at
}

// TestReplyTraffic: a mail assistant that replies to first-time senders
// after confidential inbox reads learns, during its warm-up, that both are
// its job, and stays silent on them afterwards; an address the same
// inbox named at a never-seen domain, one named by a tool whose outputs it
// never sent to, and a payee read from a document still alert. An address
// injected into a mail body at a known domain looks like a reply: the
// detector cannot see it (package doc).
func TestReplyTraffic(t *testing.T) {
	tests := []struct {
		name string
		// then runs after the warm-up; it returns the findings of the
		// tool under test.
		then             func(d *Detector, at time.Duration) []detect.Finding
		wantMin, wantMax float64 // band of every finding; 0, 0: none
		wantN            int
		learned          int // send_email destinations learned at least
	}{
		{"replies to first-time senders after warm-up", func(d *Detector, at time.Duration) []detect.Finding {
			fs, _ := mailbot(d, at, 1200, 1200)
			return fs
		}, 0, 0, 0, 20}, // the 20 first-time senders it replied to
		{"inbox names an address at a new domain", func(d *Detector, at time.Duration) []detect.Finding {
			x := email("payout@mailbox-secure.example")
			d.Observe(call{at: at, tool: "read_inbox", task: "inj", outs: x[:1], class: "confidential"}.record(), nil)
			return d.Observe(call{at: at + time.Second, tool: "send_email", task: "inj", dests: x}.record(), nil)
		}, 40, 100, 1, 0},
		{"an output tool it never sent to", func(d *Detector, at time.Duration) []detect.Finding {
			x := email("c99@partner1.example")
			d.Observe(call{at: at, tool: "get_webpage", task: "web", outs: x[:1], class: "confidential"}.record(), nil)
			return d.Observe(call{at: at + time.Second, tool: "send_email", task: "web", dests: x}.record(), nil)
		}, 40, 100, 1, 0},
		{"payee read from a confidential document", func(d *Detector, at time.Duration) []detect.Finding {
			x := account("LT00 ATTACKER")
			d.Observe(call{at: at, tool: "read_file", task: "pay", outs: x, class: "confidential"}.record(), nil)
			return d.Observe(call{at: at + time.Second, tool: "send_money", task: "pay", dests: x}.record(), nil)
		}, 60, 100, 1, 0},
		{"inbox names an address at a known domain (not visible)", func(d *Detector, at time.Duration) []detect.Finding {
			x := email("payout@partner2.example")
			d.Observe(call{at: at, tool: "read_inbox", task: "inj", outs: x[:1], class: "confidential"}.record(), nil)
			return d.Observe(call{at: at + time.Second, tool: "send_email", task: "inj", dests: x}.record(), nil)
		}, 0, 0, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(testConfig())
			fs, at := mailbot(d, 0, 1200, 0) // 10 h: warm
			if len(fs) > 0 {
				t.Fatalf("warm-up alerted: %+v", fs)
			}
			tl := d.tools.Peek("send_email")
			// ~50 learned destinations, all after a confidential read: the
			// prior's decade is gone up to the counts' lower bound.
			if w := tl.sensitiveWeight(provenance{hasDomain: true}); w > 0.3 {
				t.Errorf("confidential-read term at a known domain after warm-up: %.2f decades, want ~0", w)
			}
			known := tl.exact
			fs = tc.then(d, at)
			if got := int(tl.exact - known); got < tc.learned {
				t.Errorf("%d destinations learned, want at least %d", got, tc.learned)
			}
			if len(fs) != tc.wantN {
				t.Fatalf("%d findings, want %d: %+v", len(fs), tc.wantN, fs)
			}
			for _, f := range fs {
				if f.Score < tc.wantMin || f.Score > tc.wantMax {
					t.Errorf("score %.1f, want %g..%g: %s %v", f.Score, tc.wantMin, tc.wantMax, f.Summary, f.Details)
				}
				t.Logf("%.1f %s", f.Score, f.Summary)
			}
		})
	}
}
