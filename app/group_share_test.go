package app

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/group"
	"github.com/toolwatch/toolwatch/record"
)

// shareYAML is groupYAML with tool sketch sharing every second and
// input_novelty warm after 100 records and a minute.
func shareYAML(t *testing.T, member string, partitions int) string {
	t.Helper()
	path := groupYAML(t, member, partitions)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	if member != "" {
		y = strings.Replace(y, "  lease_ttl: 2s\n", "  lease_ttl: 2s\n  share_interval: 1s\n  share_max_age: 10s\n", 1)
	}
	y += "detectors:\n  input_novelty:\n    warmup_records: 100\n    novelty_window_records: 50\n    warmup_age: 1m\n    stable_after: 10m\n"
	return writeConfig(t, y)
}

// shareRecord is one db-query call.
func shareRecord(i int, at time.Time, agent string, ms float64, shape string) crashMsg {
	r := record.Record{
		TraceID: fmt.Sprintf("trace-%d", i), SpanID: fmt.Sprintf("span-%d", i), Timestamp: at,
		AgentID:    agent,
		Tool:       record.Tool{Name: "db-query", Version: "1.0.0", TrustLevel: "gold", VerificationScore: record.Absent},
		Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: ms, OutputBytes: record.Absent, InputBytes: record.Absent, InputShape: shape},
		Context:    record.Context{Environment: "production", TaskID: "task-1"}, DataSubjectsAffected: record.Absent,
	}
	return crashMsg{subject: "audit.records.production." + agent, data: r.AppendJSON(nil)}
}

// TestGroupSharesToolBaselines: three members on the three-node cluster,
// sharing tool sketches every second, and the single daemon read the same
// db-query traffic of 24 agents, whose latency level depends on their
// partition and of which only one partition's agents send the shape
// json{id:num,region:str}. After the sharing interval a young agent's
// 30 s call is judged by the group against the whole tool (sample count
// and p99 within the sketch error of the single daemon's), not its
// partition's sixth; a young agent on another partition sending the
// region shape raises no input_novelty alert (the single daemon knows it
// too), while a shape no one sent does, in both.
func TestGroupSharesToolBaselines(t *testing.T) {
	const partitions = 6
	urls, js, ref, grp, refD := startGroupRig(t, partitions)
	refD.stop(t) // restarted with the sharing test's detector settings
	refD = startInProc(t, Options{ConfigPath: shareYAML(t, "", 0), NATSURL: strings.Join(urls, ",")})
	members := map[string]string{}
	procs := []*inProc{refD}
	for i := range 3 {
		name := fmt.Sprintf("m%d", i+1)
		r := startInProc(t, Options{ConfigPath: shareYAML(t, name, partitions), NATSURL: urls[i]})
		members[name] = r.info.HTTPAddr
		procs = append(procs, r)
	}
	waitBalanced(t, members, partitions)

	agents := make([]string, 24)
	for a := range agents {
		agents[a] = fmt.Sprintf("agent-%02d", a)
	}
	regionP := group.Of(agents[0], partitions)
	rng := rand.New(rand.NewPCG(23, 29))
	const n = 2400
	start := time.Now().Add(-40 * time.Minute).UTC()
	var msgs []crashMsg
	for i := range n {
		ag := agents[i%len(agents)]
		p := group.Of(ag, partitions)
		ms := math.Round(50*float64(1+p%3)*math.Exp(0.4*rng.NormFloat64())*10) / 10
		shape := []string{"json{id:num}", "json{limit:num,query:str}"}[i/len(agents)%2]
		if p == regionP && i/len(agents)%5 == 0 {
			shape = "json{id:num,region:str}"
		}
		msgs = append(msgs, shareRecord(i, start.Add(time.Duration(i)*time.Second), ag, ms, shape))
	}
	publishPaced(t, js, msgs, 0, nil)
	waitConsumed(t, js, partitions)
	// Three rounds on every member after all was applied: each published
	// its final sketches and each installed everyone's (rounds are 1s
	// apart; propagation is far shorter).
	r0 := map[string]float64{}
	for m, addr := range members {
		r0[m] = metricValue(t, addr, "toolwatch_group_share_rounds_total")
	}
	deadline := time.Now().Add(20 * time.Second)
	for m, addr := range members {
		for metricValue(t, addr, "toolwatch_group_share_rounds_total") < r0[m]+3 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no sharing rounds", m)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Young agents on partitions other than the region shape's.
	young := func(prefix string) string {
		for i := 0; ; i++ {
			if a := fmt.Sprintf("%s-%d", prefix, i); group.Of(a, partitions) != regionP {
				return a
			}
		}
	}
	slow, shapes := young("young-slow"), young("young-shapes")
	at := start.Add(n * time.Second)
	publishPaced(t, js, []crashMsg{
		shareRecord(n, at, slow, 30000, "json{id:num}"),
		shareRecord(n+1, at, shapes, 50, "json{id:num,region:str}"),
		shareRecord(n+2, at.Add(time.Second), shapes, 50, "json{id:str,table:str}"),
	}, 0, nil)

	find := func(as []alert.Alert, pattern, agent, detail string) *alert.Alert {
		for i := range as {
			if as[i].Pattern == pattern && as[i].AgentID == agent && (detail == "" || strings.Contains(as[i].Summary, detail)) {
				return &as[i]
			}
		}
		return nil
	}
	both := func(pattern, agent, detail string) (r, g *alert.Alert) {
		for _, s := range []*alertSink{ref, grp} {
			s.waitFor(t, pattern+" alert for "+agent, func(as []alert.Alert) bool { return find(as, pattern, agent, detail) != nil })
		}
		return find(ref.snapshot(), pattern, agent, detail), find(grp.snapshot(), pattern, agent, detail)
	}
	ra, ga := both("latency", slow, "")
	t.Logf("single daemon: %v; group: %v", ra.Details, ga.Details)
	if ga.Details["baseline_scope"] != "tool" {
		t.Fatalf("group judged the young key on scope %v", ga.Details["baseline_scope"])
	}
	if rs, gs := ra.Details["samples"].(float64), ga.Details["samples"].(float64); gs < 0.98*rs || gs > rs {
		t.Errorf("group borrowed a baseline of %v calls, the single daemon's tool has %v", gs, rs)
	}
	for _, k := range []string{"baseline_p50", "baseline_p99"} {
		rv, gv := ra.Details[k].(float64), ga.Details[k].(float64)
		if math.Abs(gv-rv)/rv > 0.1 {
			t.Errorf("%s: group %v, single daemon %v", k, gv, rv)
		}
	}
	both("input_novelty", shapes, "json{id:str,table:str}")
	for name, s := range map[string]*alertSink{"single daemon": ref, "group": grp} {
		if a := find(s.snapshot(), "input_novelty", shapes, "region"); a != nil {
			t.Errorf("%s: the region shape, known on partition %d, alerted on partition %d: %s", name, regionP, group.Of(shapes, partitions), a.Summary)
		}
	}
	var published float64
	for _, addr := range members {
		published += metricValue(t, addr, "toolwatch_group_sketches_published_total")
		if bad := sumMetric(t, addr, "toolwatch_group_sketch_errors_total"); bad != 0 {
			t.Errorf("%s: %v sketch errors", addr, bad)
		}
	}
	if published == 0 {
		t.Error("no sketches published")
	}
	for _, r := range slices.Backward(procs) {
		r.stop(t)
	}
}
