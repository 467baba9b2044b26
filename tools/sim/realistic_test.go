package sim

import (
	"crypto/sha256"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

func realistic(seed uint64) Config {
	return Config{Profile: ProfileRealistic, Seed: seed, Jitter: 2 * time.Second}
}

func quantile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[int(p*float64(len(s)-1))]
}

// logSigma estimates a log-normal σ from the interquartile range, which
// ignores the clamped tail (timeouts).
func logSigma(xs []float64) float64 {
	return (math.Log(quantile(xs, 0.75)) - math.Log(quantile(xs, 0.25))) / 1.349
}

// TestRealisticNormal checks each documented behaviour of the realistic
// profile on the normal-only twin of seed 1.
func TestRealisticNormal(t *testing.T) {
	cfg := realistic(1)
	cfg.NoAnomalies = true
	lat := map[string][]float64{}
	out := map[string][]float64{}
	day := func(ts time.Time) int { return int(ts.Sub(DefaultStart) / (24 * time.Hour)) }
	var (
		total, weekday, weekend int
		denials                 = map[string]map[int]int{} // env/agent/tool/perm → day → n
		versions                = map[string]map[string]time.Time{}
		first, last             = map[string]time.Time{}, map[string]time.Time{}
		perMinute               = map[int64]int{}
		syncHours               = map[int]bool{}
		syncDays                = map[int]bool{}
		llmErr, llmAll          = map[int64]int{}, map[int64]int{}
		shapes                  = map[string]bool{}
		misnamed, misnamedOK    int
		sameInput               = map[string]int{} // task + input hash → calls
	)
	err := Generate(cfg, func(r *record.Record, tr Truth) error {
		if tr.AnomalyID != "" {
			t.Fatal("labeled record in the twin")
		}
		total++
		ts := r.Timestamp
		inv := &r.Invocation
		if _, ok := first[r.AgentID]; !ok {
			first[r.AgentID] = ts
		}
		last[r.AgentID] = ts
		if r.AgentID != "ops-agent-prod-01" && r.AgentID != "sync-agent-prod-01" && r.AgentID != "report-agent-nightly" {
			if weekly(ts) < 1 {
				weekend++
			} else {
				weekday++
			}
		}
		if r.AgentID == "support-agent-prod-01" && weekly(ts) == 1 && ts.Hour() >= 10 && ts.Hour() < 18 {
			perMinute[ts.Unix()/60]++
		}
		if r.AgentID == "sync-agent-prod-01" {
			syncHours[ts.Hour()] = true
			syncDays[day(ts)] = true
		}
		switch inv.Status {
		case record.StatusSuccess:
			lat[r.Tool.Name] = append(lat[r.Tool.Name], inv.DurationMS)
			out[r.Tool.Name] = append(out[r.Tool.Name], float64(inv.OutputBytes))
		case record.StatusDenied:
			k := r.Context.Environment + "/" + r.AgentID + "/" + r.Tool.Name + "/" + inv.PermissionsDenied[0]
			if denials[k] == nil {
				denials[k] = map[int]int{}
			}
			denials[k][day(ts)]++
		}
		if r.Tool.Name == "llm-summarize" {
			llmAll[ts.Unix()/600]++
			if inv.Status == record.StatusError {
				llmErr[ts.Unix()/600]++
			}
		}
		if r.Tool.Name == "crm-lookup" {
			if versions[r.Tool.Version] == nil {
				versions[r.Tool.Version] = map[string]time.Time{}
			}
			if _, ok := versions[r.Tool.Version][r.AgentID]; !ok {
				versions[r.Tool.Version][r.AgentID] = ts
			}
		}
		if r.Tool.Name == "web-search" {
			shapes[inv.InputShape] = true
		}
		if r.Tool.Name == "crm-lookup" && inv.InputShape != "json{customer_id:str}" && inv.InputShape != "json{email:str}" {
			misnamed++
			if inv.InputShape == "json{customerId:str}" || inv.InputShape == "json{email_text:str}" {
				if inv.Status == record.StatusError {
					misnamedOK++
				}
			}
		}
		sameInput[r.Context.TaskID+inv.InputHash]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records; weekday %d weekend %d", total, weekday, weekend)
	if total < 200000 || total > 500000 {
		t.Errorf("a week gave %d records, want 200k–500k", total)
	}

	// Heavy-tailed latency: sql-query's p99.9 is 10–20× its p99 (allow
	// sampling noise), with legitimate 20–50 s queries.
	sq := lat["sql-query"]
	p99, p999 := quantile(sq, 0.99), quantile(sq, 0.999)
	slow := 0
	for _, x := range sq {
		if x >= 20000 && x <= 50000 {
			slow++
		}
	}
	if r := p999 / p99; r < 8 || r > 25 || slow < 5 {
		t.Errorf("sql-query p99 %.0f p99.9 %.0f (×%.1f), %d calls of 20–50 s", p99, p999, r, slow)
	}
	for tool, want := range map[string]float64{"llm-summarize": 1.5, "code-exec": 1.7} {
		// llm-summarize also grows with input length (σ 1.0 × 0.5)
		s := logSigma(lat[tool])
		if s < want-0.15 || s > want+0.35 {
			t.Errorf("%s latency σ %.2f, want ≈ %.1f", tool, s, want)
		}
	}
	// Heavy-tailed sizes: file-read p99 ≈ 500 KB, with legitimate 5 MB files.
	fr := out["file-read"]
	big := 0
	for _, x := range fr {
		if x >= 5e6 {
			big++
		}
	}
	if p := quantile(fr, 0.99); p < 300e3 || p > 800e3 || big < 2 {
		t.Errorf("file-read output p99 %.0f, %d outputs ≥ 5 MB", p, big)
	}
	// Fixed-format tools stay narrow.
	if s := logSigma(out["send-email"]); s > 0.15 {
		t.Errorf("send-email output σ %.2f, want narrow", s)
	}

	// Routine denials: the same production denial every weekday, a few a day.
	pii := denials["production/analytics-agent-prod-01/sql-query/data_access:read_pii"]
	for d := 0; d < 5; d++ {
		if n := pii[d]; n < 1 || n > 15 {
			t.Errorf("day %d: %d routine production denials, want a few", d, n)
		}
	}
	if n := len(denials["development/dev-agent-01/code-exec/filesystem:write"]); n < 6 {
		t.Errorf("dev routine denials on %d days, want every day", n)
	}
	for k := range denials {
		if k[:len("production")] == "production" && k != "production/analytics-agent-prod-01/sql-query/data_access:read_pii" {
			t.Errorf("unexpected production denial %s", k)
		}
	}

	// Weekends are quieter.
	if r := float64(weekday) / 5 / (float64(weekend) / 2); r < 2 {
		t.Errorf("weekday/weekend daily ratio %.2f, want ≥ 2", r)
	}
	// Bursty: per-minute counts are overdispersed (Poisson would give 1).
	var sum, sum2, n float64
	mins := 0 // minutes with no call count too
	for d := 0; d < 5; d++ {
		for h := 10; h < 18; h++ {
			for mi := 0; mi < 60; mi++ {
				ts := DefaultStart.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute)
				c := float64(perMinute[ts.Unix()/60])
				sum += c
				sum2 += c * c
				mins++
			}
		}
	}
	n = float64(mins)
	mean := sum / n
	if disp := (sum2/n - mean*mean) / mean; disp < 2 {
		t.Errorf("per-minute calls of support-agent-prod-01: variance/mean %.2f, want overdispersed (≥ 2)", disp)
	}
	// Irregular batch: sync runs on some days only, at different hours.
	if len(syncDays) < 2 || len(syncDays) > 6 || len(syncHours) < 3 {
		t.Errorf("sync runs on days %v at hours %v, want a few days at random hours", syncDays, syncHours)
	}
	// Error incidents: some 10-minute window of llm-summarize fails ≥ 30%.
	incident := false
	for k, all := range llmAll {
		if all >= 10 && float64(llmErr[k]) >= 0.3*float64(all) {
			incident = true
		}
	}
	if !incident {
		t.Error("no llm-summarize error incident")
	}
	// Rollout: 2.5.0 reaches agents at different times on day 4–5.
	seen := map[time.Time]bool{}
	for _, at := range versions["2.5.0"] {
		seen[at.Truncate(time.Hour)] = true
		if off := at.Sub(DefaultStart); off < 80*time.Hour || off > 100*time.Hour {
			t.Errorf("crm-lookup 2.5.0 first seen at +%v", off)
		}
	}
	if len(versions["2.5.0"]) < 3 || len(seen) < 2 || len(versions["2.4.0"]) < 3 {
		t.Errorf("rollout: %v", versions)
	}
	// Agents join, leave and go quiet.
	if f := first["support-agent-prod-03"].Sub(DefaultStart); f < 60*time.Hour {
		t.Errorf("support-agent-prod-03 first seen at +%v, want ≥ 60h", f)
	}
	if l := last["analytics-agent-prod-02"].Sub(DefaultStart); l >= 131*time.Hour {
		t.Errorf("analytics-agent-prod-02 last seen at +%v, want before 130h (+ task tail)", l)
	}
	s := newSchedule(cfg.realisticDefaults())
	if q := s.quiet[5]; len(q) != 1 || q[0].to.Sub(q[0].from) < 24*time.Hour {
		t.Errorf("coding agent quiet periods %v", q)
	}
	if misnamed < 3 || misnamedOK != misnamed {
		t.Errorf("crm-lookup: %d misnamed-argument calls, %d of them failing as they should", misnamed, misnamedOK)
	}
	loops := 0
	for k, n := range sameInput {
		if n >= 15 && !strings.HasPrefix(k, "nightly-report") && !strings.HasPrefix(k, "sync-job") {
			loops++
		}
	}
	if loops < 3 {
		t.Errorf("%d benign step-limit loops (≥ 15 calls of one input in a task), want some", loops)
	}
	if len(shapes) < 20 {
		t.Errorf("web-search has %d shapes, want an open vocabulary", len(shapes))
	}
}

// TestRealisticTwin: the labeled set and its twin share every normal
// record; the labeled set only adds labeled records, relabels the records
// a shift modifies and leaves out the ones a drop removes.
func TestRealisticTwin(t *testing.T) {
	cfg := realistic(2)
	cfg.Duration = 5 * 24 * time.Hour
	cfg.WarmUp = 24 * time.Hour
	plan := Plan(cfg)
	if len(plan) < 20 {
		t.Fatalf("only %d anomalies planned in 5 days", len(plan))
	}
	byID := map[string]Anomaly{}
	spec := map[string]AnomalySpec{}
	for _, a := range plan {
		byID[a.ID] = a
		for _, s := range RealisticAnomalies() {
			if s.AgentID == a.AgentID && s.Tool == a.Tool && s.Description == a.Description {
				spec[a.ID] = s
			}
		}
	}
	inMod := func(r *record.Record) (Anomaly, bool) {
		for _, a := range plan {
			k := spec[a.ID].Kind
			if (k == KindDrop || k == KindLatencyShift || k == KindOutputShift) && r.AgentID == a.AgentID &&
				r.Tool.Name == a.Tool && !r.Timestamp.Before(a.Start) && r.Timestamp.Before(a.End) {
				return a, true
			}
		}
		return Anomaly{}, false
	}
	var normal []string
	labeled := map[string][]*record.Record{}
	var buf []byte
	h := func(r *record.Record) string {
		buf = r.AppendJSON(buf[:0])
		s := sha256.Sum256(buf)
		return string(s[:])
	}
	err := Generate(cfg, func(r *record.Record, tr Truth) error {
		if tr.AnomalyID == "" {
			normal = append(normal, h(r))
			return nil
		}
		a, ok := byID[tr.AnomalyID]
		if !ok || r.AgentID != a.AgentID || r.Tool.Name != a.Tool || r.Timestamp.Before(a.Start) || !r.Timestamp.Before(a.End) {
			t.Fatalf("record labeled %s outside its key/window: %s/%s at %v", tr.AnomalyID, r.AgentID, r.Tool.Name, r.Timestamp)
		}
		labeled[a.ID] = append(labeled[a.ID], r.Clone())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	twin := cfg
	twin.NoAnomalies = true
	var twinNormal []string
	twinMod := map[string][]*record.Record{}
	if err := Generate(twin, func(r *record.Record, tr Truth) error {
		if a, ok := inMod(r); ok {
			twinMod[a.ID] = append(twinMod[a.ID], r.Clone())
			return nil
		}
		twinNormal = append(twinNormal, h(r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(normal, twinNormal) {
		t.Fatalf("normal records differ between the labeled set (%d) and its twin (%d)", len(normal), len(twinNormal))
	}

	base := func(rs []*record.Record, f func(*record.Record) float64) float64 {
		var xs []float64
		for _, r := range rs {
			if r.Invocation.Status == record.StatusSuccess {
				xs = append(xs, f(r))
			}
		}
		return quantile(xs, 0.5)
	}
	durMS := func(r *record.Record) float64 { return r.Invocation.DurationMS }
	outB := func(r *record.Record) float64 { return float64(r.Invocation.OutputBytes) }
	for _, a := range plan {
		s, rs, tw := spec[a.ID], labeled[a.ID], twinMod[a.ID]
		switch s.Kind {
		case KindDrop:
			if len(rs) != 0 || len(tw) < 20 {
				t.Errorf("%s: drop left %d records (twin has %d)", a.ID, len(rs), len(tw))
			}
		case KindLatencyShift:
			if len(rs) != len(tw) || len(rs) < 20 {
				t.Fatalf("%s: %d shifted records, twin %d", a.ID, len(rs), len(tw))
			}
			if r := base(rs, durMS) / base(tw, durMS); math.Abs(r-s.Value)/s.Value > 0.35 && !(s.Value < 0.1 && base(rs, durMS) <= 2) {
				t.Errorf("%s: median latency ×%.3f, want ×%g", a.ID, r, s.Value)
			}
		case KindOutputShift:
			if len(rs) != len(tw) || len(rs) < 20 || base(rs, outB) > 20 {
				t.Errorf("%s: %d collapsed outputs (twin %d), median %.0f bytes", a.ID, len(rs), len(tw), base(rs, outB))
			}
		case KindTaskRate:
			// extra tasks of ~Count calls each: about (M−1) × the twin's
			// calls, in several distinct tasks
			tasks := map[string]bool{}
			for _, r := range rs {
				tasks[r.Context.TaskID] = true
			}
			if len(rs) < 2*len(tw) || len(rs) < 20 || len(tasks) < 5 || len(tasks) > len(rs)*2/3 {
				t.Errorf("%s: %d extra calls in %d tasks vs %d normal ones", a.ID, len(rs), len(tasks), len(tw))
			}
		case KindRate:
			// extra calls: (M−1) × the key's rate; the key is low-rate, so
			// only check it is several times the twin's calls in the window
			if len(rs) < 4*len(tw) || len(rs) < 10 {
				t.Errorf("%s: %d extra calls vs %d normal ones", a.ID, len(rs), len(tw))
			}
		case KindDenialSpike:
			for _, r := range rs {
				if r.Invocation.Status != record.StatusDenied || r.Invocation.PermissionsDenied[0] != s.Permission || r.Context.Environment != "development" {
					t.Fatalf("%s: not a development %s denial", a.ID, s.Permission)
				}
			}
			if len(rs) < 8 {
				t.Errorf("%s: only %d extra denials", a.ID, len(rs))
			}
		case KindLatency:
			for _, r := range rs {
				if r.Invocation.DurationMS < s.Value/2 || r.Invocation.Status != record.StatusSuccess {
					t.Fatalf("%s: %v ms %s", a.ID, r.Invocation.DurationMS, r.Invocation.Status)
				}
			}
		case KindOutputSize:
			for _, r := range rs {
				if float64(r.Invocation.OutputBytes) < s.Value/2 {
					t.Fatalf("%s: %d bytes", a.ID, r.Invocation.OutputBytes)
				}
			}
		case KindShape:
			for _, r := range rs {
				if r.Invocation.InputShape != s.Shape {
					t.Fatalf("%s: shape %q", a.ID, r.Invocation.InputShape)
				}
			}
		}
		if s.Kind != KindDrop && len(rs) == 0 {
			t.Errorf("%s: no labeled records", a.ID)
		}
	}
}

// TestRealisticPlan: every realistic anomaly is placed on the tuning seeds,
// inside the run after the warm-up, on an active agent, apart from the
// others on the same key, and Daytime ones on weekday working hours.
func TestRealisticPlan(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		cfg := realistic(seed).realisticDefaults()
		plan := Plan(cfg)
		if len(plan) != len(RealisticAnomalies()) {
			t.Errorf("seed %d: %d of %d anomalies placed", seed, len(plan), len(RealisticAnomalies()))
		}
		if !slices.Equal(plan, Plan(cfg)) {
			t.Fatal("plan not deterministic")
		}
		s := newSchedule(cfg)
		for i, a := range plan {
			if a.Start.Before(cfg.Start.Add(cfg.WarmUp)) || a.End.After(cfg.Start.Add(cfg.Duration)) {
				t.Errorf("%s outside [warm-up, end)", a.ID)
			}
			for _, b := range plan[i+1:] {
				if a.AgentID == b.AgentID && a.Tool == b.Tool && b.Start.Before(a.End.Add(3*time.Hour)) {
					t.Errorf("%s and %s on one key less than 3 h apart", a.ID, b.ID)
				}
			}
			for _, sp := range RealisticAnomalies() {
				if sp.Description != a.Description {
					continue
				}
				if sp.Daytime && (weekly(a.Start) < 1 || a.Start.Hour() < 8 || a.End.Hour() >= 18 && a.End.Minute() > 0) {
					t.Errorf("%s: daytime anomaly at %v", a.ID, a.Start)
				}
				if a.Detail != sp.Detail {
					t.Errorf("%s: detail %q", a.ID, a.Detail)
				}
			}
			for ai, ag := range cfg.Topology.Agents {
				if ag.ID == a.AgentID && (!s.active(&ag, ai, a.Start) || !s.active(&ag, ai, a.End.Add(-time.Second))) {
					t.Errorf("%s on an inactive agent", a.ID)
				}
			}
		}
	}
}

func TestBehaviours(t *testing.T) {
	cfg := realistic(1)
	bs, err := Behaviours(cfg)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	for _, b := range bs {
		classes[b.Class]++
		if len(b.Patterns) == 0 || b.Description == "" {
			t.Errorf("behaviour %+v lacks patterns or description", b)
		}
	}
	for _, c := range []string{ClassHeavyTailLatency, ClassHeavyTailSize, ClassRoutineDenial, ClassIrregularBatch, ClassNightlyBatch,
		ClassErrorIncident, ClassRollout, ClassQuietPeriod, ClassJoinLeave, ClassWeekend, ClassTaskBurst, ClassBenignLoop, ClassWrongArgument} {
		if classes[c] == 0 {
			t.Errorf("no %s behaviour", c)
		}
	}
	if bs, err := Behaviours(Config{Seed: 1}); bs != nil || err != nil {
		t.Error("the easy profile lists behaviours")
	}
	tools := map[string]bool{}
	for _, b := range bs {
		if b.Class == ClassHeavyTailLatency {
			tools[b.Tool] = true
		}
	}
	if !tools["sql-query"] || !tools["code-exec"] || tools["crm-lookup"] {
		t.Errorf("heavy-tailed latency tools %v", tools)
	}
}

func TestDistDraw(t *testing.T) {
	r := newTestRand()
	d := Dist{Median: 100, Sigma: 0.5, Max: 1000, Modes: []Mode{{P: 0.1, Median: 500, Alpha: 1.5}}}
	var xs []float64
	over := 0
	for range 100000 {
		x := d.draw(r)
		if x > 1000 || x <= 0 {
			t.Fatalf("draw %v outside (0, Max]", x)
		}
		if x >= 500 {
			over++
		}
		xs = append(xs, x)
	}
	// ≥ 500: the whole Pareto mode (10%) plus the body's tail P(Z > ln5/0.5) ≈ 0.06%
	if f := float64(over) / 1e5; f < 0.09 || f > 0.11 {
		t.Errorf("fraction ≥ 500: %.4f, want ≈ 0.10", f)
	}
	if m := quantile(xs, 0.5); m < 100 || m > 115 {
		t.Errorf("median %.1f, want slightly above the body's 100", m)
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(42, 42)) }

func TestMisname(t *testing.T) {
	for in, want := range map[string]string{
		"json{customer_id:str}":                          "json{customerId:str}",
		"json{query:str}":                                "json{query_text:str}",
		"json{body:str,subject:str,to:str}":              "json{body_text:str,subject:str,to:str}",
		"json{customer_id:str,note:str}":                 "json{customerId:str,note:str}",
		"json{k:num,query:str}":                          "json{k_text:num,query:str}",
		"json{attendee:str,end:str,start:str,title:str}": "json{attendee_text:str,end:str,start:str,title:str}",
	} {
		if got := misname(in); got != want {
			t.Errorf("misname(%s) = %s, want %s", in, got, want)
		}
	}
}

func BenchmarkGenerateRealistic(b *testing.B) {
	cfg := Config{Profile: ProfileRealistic, Seed: 1, Duration: 24 * time.Hour, Jitter: 2 * time.Second}
	n := 0
	for b.Loop() {
		n = 0
		_ = Generate(cfg, func(*record.Record, Truth) error { n++; return nil })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

func TestRealisticEventTimeOrder(t *testing.T) {
	const jitter = 5 * time.Second
	cfg := Config{Profile: ProfileRealistic, Seed: 4, Duration: 60 * time.Hour, WarmUp: 24 * time.Hour, Jitter: jitter}
	end := DefaultStart.Add(cfg.Duration)
	var maxSeen time.Time
	late, n, anom := 0, 0, 0
	err := Generate(cfg, func(r *record.Record, tr Truth) error {
		n++
		if tr.AnomalyID != "" {
			anom++
		}
		if r.Timestamp.Before(maxSeen) {
			late++
			if maxSeen.Sub(r.Timestamp) >= jitter {
				t.Fatalf("record at %v emitted after %v", r.Timestamp, maxSeen)
			}
		} else {
			maxSeen = r.Timestamp
		}
		if r.Timestamp.Before(DefaultStart) || !r.Timestamp.Before(end) {
			t.Fatalf("timestamp %v outside the run", r.Timestamp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if late < n/10 || anom == 0 {
		t.Fatalf("%d of %d records out of order, %d anomalous", late, n, anom)
	}
}

func TestRealisticConfigErrors(t *testing.T) {
	top := RealisticTopology()
	top.Agents[0].Tools = append(top.Agents[0].Tools, Use{Tool: "no-such-tool", Weight: 1})
	err := Generate(Config{Profile: ProfileRealistic, Seed: 1, Topology: &top, Duration: time.Hour}, func(*record.Record, Truth) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no-such-tool") {
		t.Fatalf("unknown tool: err = %v", err)
	}
	top = RealisticTopology()
	top.Tools[0].Latency = nil
	err = Generate(Config{Profile: ProfileRealistic, Seed: 1, Topology: &top, Duration: time.Hour}, func(*record.Record, Truth) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no latency/output distribution") {
		t.Fatalf("tool without distributions: err = %v", err)
	}
	top = RealisticTopology()
	top.Agents[len(top.Agents)-1].Sync = &Sync{PerWeek: 1, Tool: "nope", MinLen: time.Minute, MaxLen: time.Minute}
	err = Generate(Config{Profile: ProfileRealistic, Seed: 1, Topology: &top, Duration: time.Hour}, func(*record.Record, Truth) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown sync tool: err = %v", err)
	}
}
