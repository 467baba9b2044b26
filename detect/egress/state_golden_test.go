package egress

import (
	"flag"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenParams: testConfig, with post_webpage capped at 4 destinations so
// it overflows into its HyperLogLog sketch.
func goldenParams() *detect.Params[Config] {
	p := detect.NewParams(testConfig())
	w := testConfig()
	w.MaxDestinations = 4
	p.Rules = []detect.Rule[Config]{{Tool: "post_webpage", Config: w}}
	return p
}

func newGolden() *Detector {
	return New(goldenParams(), baseline.Config{MaxKeys: 100, IdleTTL: 30 * 24 * time.Hour})
}

// goldenState defines testdata/egress-state.v*.bin: warm (400 calls each
// of send_money and send_email over 2 h), post_webpage to 12 hosts (4
// known, 8 overflow; from version 2 the first named by a get_webpage
// output of its task), then one payee read from a task's output and
// accepted, one rejected, one left pending, an email address at a new
// domain left pending (with its domain), a payee rejected without ever
// being flagged and a task that read confidential data; from version 3
// share_file, still warming up, to two colleagues at one domain, the
// second after a confidential read (learned at a known domain).
func goldenState(t testing.TB) *Detector {
	d := newGolden()
	at := warm(t, d, 400)
	d.Observe(call{at: at, tool: "get_webpage", task: "web", outs: []string{dh("host", "h0.example")}}.record(), nil)
	for i := range 12 {
		d.Observe(call{at: at + time.Duration(i)*time.Second, tool: "post_webpage", task: "web", dests: []string{dh("host", fmt.Sprintf("h%d.example", i))}}.record(), nil)
	}
	at += time.Minute
	for task, iban := range map[string]string{"a": "GB00 OK", "b": "GB00 BAD", "c": "GB00 WAIT"} {
		if fs := attack(d, at, task, account(iban)); len(fs) != 1 {
			t.Fatalf("attack %s: %d findings", task, len(fs))
		}
	}
	mal := email("mallory@attacker.example")
	fs := d.Observe(call{at: at + time.Minute, tool: "read_email", task: "m", outs: mal}.record(), nil)
	if fs = d.Observe(call{at: at + time.Minute + time.Second, tool: "send_email", task: "m", dests: mal}.record(), fs); len(fs) != 1 {
		t.Fatalf("email attack: %d findings", len(fs))
	}
	if err := d.Accept("send_money", account("GB00 OK")[0]); err != nil {
		t.Fatal(err)
	}
	for _, iban := range []string{"GB00 BAD", "GB00 NEVER"} {
		if err := d.Reject("send_money", account(iban)[0]); err != nil {
			t.Fatal(err)
		}
	}
	d.Observe(call{at: at + 2*time.Minute, tool: "read_file", task: "open", outs: account("GB00 LATER"), class: "confidential"}.record(), nil)
	d.Observe(call{at: at + 2*time.Minute, tool: "share_file", task: "s", dests: email("colleague1@corp.example")}.record(), nil)
	d.Observe(call{at: at + 2*time.Minute, tool: "share_file", task: "open", dests: email("colleague2@corp.example")}.record(), nil)
	d.Tick(base.Add(at+2*time.Minute), nil)
	return d
}

// The golden records decode to the stream's vocabularies, tasks and triage
// lists and re-encode byte for byte; the live types the record copies keep
// their field counts.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[tool](), 14)
	enctest.Fields(t, reflect.TypeFor[hashset.Slot](), 3) // DestV2 drops Window: egress never sets it
	enctest.Fields(t, reflect.TypeFor[task](), 4)
	enctest.Fields(t, reflect.TypeFor[Entry](), 13)
	enctest.Fields(t, reflect.TypeFor[StateV3](), 9)
	enctest.Fields(t, reflect.TypeFor[ToolV3](), 12)
	enctest.Fields(t, reflect.TypeFor[SourceV2](), 2)
	enctest.Fields(t, reflect.TypeFor[DestV2](), 2)
	enctest.Fields(t, reflect.TypeFor[TaskV2](), 6)
	enctest.Golden{
		Name: "egress-state", Versions: stateDecoders.Versions(), Current: stateVersion,
		Build: func(t testing.TB) []byte { return mustMarshal(t, goldenState(t)) },
		Restore: func(t testing.TB, version uint64, data []byte) []byte {
			d := newGolden()
			if err := d.UnmarshalState(data); err != nil {
				t.Fatal(err)
			}
			var tools []string
			d.tools.RangeSeen(func(name string, _ int64, tl *tool) bool {
				tools = append(tools, fmt.Sprintf("%s:%d/%d/%d/%d/%d", name, tl.calls, tl.uses, tl.exact, tl.set.Len(), tl.overflow))
				return true
			})
			// newest first: calls/uses/exact destinations/set entries/overflow
			// (warm teaches 3 payees; 9 colleagues and their domain)
			// (from version 3 share_file too; an upgraded older record is
			// checked again as the current version)
			want := "[send_email:401/401/9/10/0 send_money:403/403/4/4/0 post_webpage:12/12/4/4/8]"
			v3 := "[share_file:2/2/2/3/0 " + want[1:]
			if got := fmt.Sprint(tools); got != want && (version < 3 || got != v3) {
				t.Errorf("tools %v\nwant %s", got, want)
			}
			// Provenance counts: version 1 had none (zero counts, unknown
			// sources, no task web), and its upgrade is checked as the
			// current version, so the current version accepts both.
			var prov []string
			d.tools.RangeSeen(func(name string, _ int64, tl *tool) bool {
				prov = append(prov, fmt.Sprintf("%s:%d/%v", name, tl.learned, tl.srcs))
				return true
			})
			for _, task := range []string{"web", "open"} {
				if tk := d.tasks.Peek(taskKey(call{task: task}.record())); tk != nil {
					prov = append(prov, fmt.Sprintf("%s:%v", task, tk.srcs))
				}
			}
			// Confidential reads before destinations at known domains:
			// none before version 3 (zero counts); from it, send_email's 8
			// colleagues after the first (their domain known) and
			// share_file's second colleague, after task open's read.
			d.tools.RangeSeen(func(name string, _ int64, tl *tool) bool {
				if tl.atKnown != (ctxCount{}) {
					prov = append(prov, fmt.Sprintf("%s:%+v", name, tl.atKnown))
				}
				return true
			})
			wants := map[uint64]string{
				1: "[send_email:0/[] send_money:0/[] post_webpage:0/[] open:[0]]",
				2: fmt.Sprintf("[send_email:9/[] send_money:3/[] post_webpage:12/[{%d 1}] web:[%d] open:[%d]]",
					hash("get_webpage"), hash("get_webpage"), hash("read_file")),
				3: fmt.Sprintf("[share_file:2/[] send_email:9/[] send_money:3/[] post_webpage:12/[{%d 1}] web:[%d] open:[%d] share_file:{n:1 k:1} send_email:{n:8 k:0}]",
					hash("get_webpage"), hash("get_webpage"), hash("read_file")),
			}
			if got := fmt.Sprint(prov); !slices.ContainsFunc(slices.Collect(maps.Keys(wants)), func(v uint64) bool { return v <= version && wants[v] == got }) {
				t.Errorf("version %d provenance counts %s\nwant %s", version, got, wants[version])
			}
			if pw := d.tools.Peek("post_webpage"); pw == nil || pw.over.Refresh() < 7 || pw.over.Refresh() > 9 {
				t.Errorf("post_webpage overflow sketch: %+v", pw)
			}
			if sm := d.tools.Peek("send_money"); sm == nil || sm.set.Find(hash(account("GB00 OK")[0])) == nil ||
				sm.set.Find(hash(account("GB00 BAD")[0])) != nil || sm.set.Find(hash(account("GB00 WAIT")[0])) != nil {
				t.Error("send_money: the accepted payee is not known, or a rejected or pending one is")
			}
			name := map[string]string{account("GB00 WAIT")[0]: "WAIT", account("GB00 BAD")[0]: "BAD",
				account("GB00 NEVER")[0]: "NEVER", email("mallory@attacker.example")[0]: "mallory"}
			var triage []string
			for _, e := range d.Triage() {
				triage = append(triage, fmt.Sprintf("%s %s %s count %d domains %d first %s agent %q fp %v",
					e.Status, e.Tool, name[e.Destination], e.Count, len(e.Domains), e.FirstSeen.Format(time.TimeOnly), e.Agent, len(e.Fingerprint) == 16))
			}
			wantTriage := []string{
				"pending send_money WAIT count 1 domains 0 first 10:01:01 agent \"agent-1\" fp true",
				"pending send_email mallory count 1 domains 1 first 10:02:01 agent \"agent-1\" fp true",
				"rejected send_money NEVER count 0 domains 0 first 00:00:00 agent \"\" fp false",
				"rejected send_money BAD count 1 domains 0 first 10:01:01 agent \"agent-1\" fp true",
			}
			if fmt.Sprint(triage) != fmt.Sprint(wantTriage) {
				t.Errorf("triage\n%v\nwant\n%v", triage, wantTriage)
			}
			if tk := d.tasks.Peek(taskKey(call{task: "open"}.record())); tk == nil || !tk.sensitive || len(tk.outs) != 1 {
				t.Errorf("task open: %+v", tk)
			}
			if n := d.tasks.Len(); (n != 5 && n != 6) || (version == 1 && n != 5) || d.unlisted != 0 { // task web from version 2
				t.Errorf("%d tasks, %d unlisted", n, d.unlisted)
			}
			return mustMarshal(t, d)
		},
	}.Run(t, *update)
}

func mustMarshal(t testing.TB, d *Detector) []byte {
	t.Helper()
	b, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
