package sim

import (
	"bytes"
	"crypto/sha256"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

// short is a 16h run with a 2h warm-up: every default anomaly fits its slot.
func short(seed uint64) Config {
	return Config{Seed: seed, Duration: 16 * time.Hour, WarmUp: 2 * time.Hour}
}

func digest(t *testing.T, cfg Config) ([32]byte, int) {
	t.Helper()
	h := sha256.New()
	var buf []byte
	n := 0
	if err := Generate(cfg, func(r *record.Record, tr Truth) error {
		buf = append(r.AppendJSON(buf[:0]), tr.AnomalyID...)
		h.Write(append(buf, '\n'))
		n++
		return nil
	}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, n
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 7, Duration: 6 * time.Hour, WarmUp: time.Hour, Jitter: 3 * time.Second}
	a, n := digest(t, cfg)
	b, _ := digest(t, cfg)
	if a != b {
		t.Fatal("same seed gave different bytes")
	}
	if n < 10000 {
		t.Fatalf("only %d records in 6h", n)
	}
	cfg.Seed = 8
	if c, _ := digest(t, cfg); c == a {
		t.Fatal("different seeds gave the same bytes")
	}
}

func TestEventTimeOrder(t *testing.T) {
	for _, jitter := range []time.Duration{0, 5 * time.Second} {
		cfg := Config{Seed: 3, Duration: 6 * time.Hour, WarmUp: time.Hour, Jitter: jitter}
		var maxSeen time.Time
		late := 0
		n := 0
		err := Generate(cfg, func(r *record.Record, _ Truth) error {
			n++
			if r.Timestamp.Before(maxSeen) {
				late++
				if maxSeen.Sub(r.Timestamp) >= jitter {
					t.Fatalf("jitter %v: record at %v emitted after %v", jitter, r.Timestamp, maxSeen)
				}
			} else {
				maxSeen = r.Timestamp
			}
			if r.Timestamp.Before(DefaultStart) || !r.Timestamp.Before(DefaultStart.Add(6*time.Hour)) {
				t.Fatalf("timestamp %v outside the run", r.Timestamp)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if jitter > 0 && late < n/10 {
			t.Fatalf("jitter %v: only %d of %d records out of order", jitter, late, n)
		}
	}
}

func TestPlan(t *testing.T) {
	cfg := Config{Seed: 1}
	plan := Plan(cfg)
	if !slices.EqualFunc(plan, Plan(cfg), func(a, b Anomaly) bool { return a == b }) {
		t.Fatal("Plan is not deterministic")
	}
	if len(plan) != len(DefaultAnomalies()) {
		t.Fatalf("planned %d anomalies, want all %d defaults", len(plan), len(DefaultAnomalies()))
	}
	warm := DefaultStart.Add(24 * time.Hour)
	end := DefaultStart.Add(72 * time.Hour)
	per := map[string]int{}
	ids := map[string]bool{}
	for i, a := range plan {
		per[a.Pattern]++
		if ids[a.ID] {
			t.Errorf("duplicate id %s", a.ID)
		}
		ids[a.ID] = true
		if a.Start.Before(warm) || a.End.After(end) || !a.Start.Before(a.End) {
			t.Errorf("%s: [%v, %v) outside [warm-up end, run end)", a.ID, a.Start, a.End)
		}
		if i > 0 && a.Start.Before(plan[i-1].End.Add(time.Hour)) {
			t.Errorf("%s starts less than 1h after %s ends", a.ID, plan[i-1].ID)
		}
		tod := a.Start.Sub(a.Start.Truncate(24 * time.Hour))
		if tod >= 105*time.Minute && tod < 165*time.Minute {
			t.Errorf("%s starts in the nightly batch hour (%v)", a.ID, a.Start)
		}
		if a.AgentID == "" || a.Tool == "" || a.Description == "" {
			t.Errorf("%s: missing agent/tool/description", a.ID)
		}
	}
	for _, p := range []string{PatternFrequency, PatternInputNovelty, PatternDenialSpike, PatternOutputSize, PatternLatency} {
		if per[p] < 3 {
			t.Errorf("pattern %s: %d anomalies, want several", p, per[p])
		}
	}

	only := Plan(Config{Seed: 1, Patterns: []string{PatternLatency}})
	if len(only) != per[PatternLatency] {
		t.Fatalf("Patterns filter: %d anomalies, want %d", len(only), per[PatternLatency])
	}
	for _, a := range only {
		if a.Pattern != PatternLatency {
			t.Fatalf("Patterns filter let %s through", a.ID)
		}
	}
	if p := Plan(Config{Seed: 1, NoAnomalies: true}); len(p) != 0 {
		t.Fatalf("NoAnomalies planned %d", len(p))
	}
	if p := Plan(Config{Seed: 1, Duration: 12 * time.Hour}); len(p) != 0 {
		t.Fatalf("run shorter than the warm-up planned %d", len(p))
	}
	if p := Plan(Config{Seed: 1, Anomalies: []AnomalySpec{{Pattern: PatternLatency, Kind: KindLatency, AgentID: "nobody", Tool: "db-query", Duration: time.Minute, Count: 3, Value: 1e4}}}); len(p) != 0 {
		t.Fatalf("an anomaly on an unknown agent was planned")
	}
}

func TestAnomaliesLabeled(t *testing.T) {
	cfg := short(11)
	plan := Plan(cfg)
	if len(plan) != len(DefaultAnomalies()) {
		t.Fatalf("planned %d anomalies in 16h, want %d", len(plan), len(DefaultAnomalies()))
	}
	byID := map[string]Anomaly{}
	for _, a := range plan {
		byID[a.ID] = a
	}
	got := map[string][]*record.Record{}
	normal := sha256.New()
	var buf []byte
	err := Generate(cfg, func(r *record.Record, tr Truth) error {
		if tr.AnomalyID == "" {
			buf = append(r.AppendJSON(buf[:0]), '\n')
			normal.Write(buf)
			return nil
		}
		a, ok := byID[tr.AnomalyID]
		if !ok {
			t.Fatalf("record labeled with unplanned anomaly %q", tr.AnomalyID)
		}
		if r.AgentID != a.AgentID || r.Tool.Name != a.Tool {
			t.Fatalf("%s: record of %s/%s", a.ID, r.AgentID, r.Tool.Name)
		}
		if r.Timestamp.Before(a.Start) || !r.Timestamp.Before(a.End) {
			t.Fatalf("%s: record at %v outside [%v, %v)", a.ID, r.Timestamp, a.Start, a.End)
		}
		got[a.ID] = append(got[a.ID], r.Clone())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plan {
		rs := got[a.ID]
		if len(rs) == 0 {
			t.Errorf("%s: no labeled records", a.ID)
			continue
		}
		var spec AnomalySpec
		for _, s := range DefaultAnomalies() {
			if s.AgentID == a.AgentID && s.Tool == a.Tool && s.Description == a.Description {
				spec = s
			}
		}
		switch spec.Kind {
		case KindAgentLoop:
			if len(rs) < 500 {
				t.Errorf("%s: loop of only %d calls", a.ID, len(rs))
			}
		case KindSameInput:
			want := spec.PerMinute * spec.Duration.Minutes()
			if math.Abs(float64(len(rs))-want) > 0.2*want {
				t.Errorf("%s: %d calls, want ~%.0f", a.ID, len(rs), want)
			}
			for _, r := range rs {
				if r.Invocation.InputHash != rs[0].Invocation.InputHash {
					t.Fatalf("%s: input hash varies", a.ID)
				}
			}
		case KindShape:
			for _, r := range rs {
				if r.Invocation.InputShape != spec.Shape {
					t.Fatalf("%s: shape %q", a.ID, r.Invocation.InputShape)
				}
			}
		case KindDenial:
			for _, r := range rs {
				if r.Invocation.Status != record.StatusDenied || !slices.Equal(r.Invocation.PermissionsDenied, []string{spec.Permission}) || r.Context.Environment != "production" {
					t.Fatalf("%s: not a production %s denial: %+v", a.ID, spec.Permission, r.Invocation)
				}
			}
		case KindOutputSize:
			for _, r := range rs {
				if float64(r.Invocation.OutputBytes) < spec.Value/2 {
					t.Fatalf("%s: output %d bytes", a.ID, r.Invocation.OutputBytes)
				}
			}
		case KindLatency:
			for _, r := range rs {
				if r.Invocation.DurationMS < spec.Value/2 {
					t.Fatalf("%s: duration %v ms", a.ID, r.Invocation.DurationMS)
				}
			}
		default:
			t.Errorf("%s: no spec found", a.ID)
		}
	}

	// Normal traffic does not depend on whether anomalies are injected.
	cfg.NoAnomalies = true
	clean, _ := digest(t, cfg)
	var want [32]byte
	copy(want[:], normal.Sum(nil))
	if clean != want {
		t.Fatal("normal records differ when anomalies are turned off")
	}
}

func TestNormalDynamics(t *testing.T) {
	cfg := Config{Seed: 5, NoAnomalies: true}
	day := func(ts time.Time) time.Duration { return ts.Sub(ts.Truncate(24 * time.Hour)) }
	var (
		total, errs, batch, preBatch int
		peak, trough                 int
		prodDenied, stagingDenied    int
		httpOld, httpNew             []float64
		vecEarly, vecLate            []float64
		fileEarly, fileLate          []float64
		versions                     = map[string]bool{}
		webShapes                    = map[string]bool{}
		lookupShapes                 = map[string]bool{}
		firstSeen                    = map[string]time.Time{}
		dayTotal                     [3]int
	)
	err := Generate(cfg, func(r *record.Record, tr Truth) error {
		total++
		off := r.Timestamp.Sub(DefaultStart)
		tod := day(r.Timestamp)
		dayTotal[int(off/(24*time.Hour))]++
		if _, ok := firstSeen[r.AgentID]; !ok {
			firstSeen[r.AgentID] = r.Timestamp
		}
		inv := &r.Invocation
		switch inv.Status {
		case record.StatusError:
			errs++
		case record.StatusDenied:
			if r.Context.Environment == "production" {
				prodDenied++
			} else {
				stagingDenied++
			}
		}
		if r.AgentID == "report-agent-nightly" {
			switch {
			case tod >= 2*time.Hour && tod < 2*time.Hour+20*time.Minute:
				batch++
			case tod >= 80*time.Minute && tod < 100*time.Minute:
				preBatch++
			}
		} else {
			switch {
			case tod >= 13*time.Hour && tod < 15*time.Hour:
				peak++
			case tod >= 3*time.Hour && tod < 5*time.Hour:
				trough++
			}
		}
		ok := inv.Status == record.StatusSuccess
		switch r.Tool.Name {
		case "http-fetch":
			versions[r.Tool.Version] = true
			if ok && off < 34*time.Hour {
				httpOld = append(httpOld, inv.DurationMS)
			} else if ok {
				httpNew = append(httpNew, inv.DurationMS)
			}
			if (off < 34*time.Hour) != (r.Tool.Version == "1.0.7") {
				t.Errorf("http-fetch version %s at %v", r.Tool.Version, off)
			}
		case "vector-search":
			if ok && off < 12*time.Hour {
				vecEarly = append(vecEarly, inv.DurationMS)
			} else if ok && off >= 60*time.Hour {
				vecLate = append(vecLate, inv.DurationMS)
			}
		case "file-reader":
			if ok && off < 12*time.Hour {
				fileEarly = append(fileEarly, float64(inv.OutputBytes))
			} else if ok && off >= 60*time.Hour {
				fileLate = append(fileLate, float64(inv.OutputBytes))
			}
		case "web-search":
			webShapes[inv.InputShape] = true
		case "customer-lookup":
			lookupShapes[inv.InputShape] = true
		}
		if tr.AnomalyID != "" {
			t.Fatalf("labeled record with NoAnomalies")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("records %d (per day %v), errors %d, batch %d vs %d, peak %d vs trough %d, denials prod %d staging %d, web-search shapes %d",
		total, dayTotal, errs, batch, preBatch, peak, trough, prodDenied, stagingDenied, len(webShapes))
	if total < 300000 || total > 600000 {
		t.Errorf("72h gave %d records, want 300k–600k", total)
	}
	if r := float64(errs) / float64(total); r < 0.005 || r > 0.02 {
		t.Errorf("error rate %.4f, want ~1%%", r)
	}
	if batch < 20*max(preBatch, 1) || batch < 3000 {
		t.Errorf("nightly batch: %d calls at 02:00–02:20 vs %d at 01:20–01:40", batch, preBatch)
	}
	if ratio := float64(peak) / float64(trough); ratio < 3 || ratio > 5 {
		t.Errorf("day/night swing %.2f (peak %d, trough %d), want ×3–5", ratio, peak, trough)
	}
	if prodDenied != 0 || stagingDenied < 100 {
		t.Errorf("denials: %d in production (want 0), %d in staging (want some)", prodDenied, stagingDenied)
	}
	if !versions["1.0.7"] || !versions["1.1.0"] {
		t.Errorf("http-fetch versions %v", versions)
	}
	if r := median(httpNew) / median(httpOld); r < 1.3 || r > 1.8 {
		t.Errorf("http-fetch upgrade latency ratio %.2f, want ~1.5", r)
	}
	if r := median(vecLate) / median(vecEarly); r < 1.15 || r > 1.45 {
		t.Errorf("vector-search latency drift %.2f, want ~1.3", r)
	}
	if r := median(fileLate) / median(fileEarly); r < 1.2 || r > 1.6 {
		t.Errorf("file-reader output drift %.2f, want ~1.35", r)
	}
	if len(webShapes) < 30 {
		t.Errorf("web-search vocabulary has only %d shapes; want an open vocabulary", len(webShapes))
	}
	if len(lookupShapes) != 2 {
		t.Errorf("customer-lookup shapes %v, want its closed vocabulary of 2", lookupShapes)
	}
	for _, id := range []string{"support-agent-prod-03", "analytics-agent-prod-02"} {
		if f := firstSeen[id]; f.Before(DefaultStart.Add(24*time.Hour)) || f.After(DefaultStart.Add(48*time.Hour)) {
			t.Errorf("%s first seen %v, want on day 2", id, f)
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[len(s)/2]
}

func TestConfigErrors(t *testing.T) {
	top := DefaultTopology()
	top.Agents[0].Tools = append(top.Agents[0].Tools, Use{Tool: "no-such-tool", Weight: 1})
	err := Generate(Config{Seed: 1, Topology: &top, Duration: time.Minute}, func(*record.Record, Truth) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no-such-tool") {
		t.Fatalf("unknown tool: err = %v", err)
	}
	stop := bytes.ErrTooLarge
	n := 0
	err = Generate(Config{Seed: 1, Duration: time.Hour}, func(*record.Record, Truth) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("emit error: err = %v after %d records", err, n)
	}
}

func TestScale(t *testing.T) {
	count := func(cfg Config) int {
		n := 0
		if err := Generate(cfg, func(*record.Record, Truth) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	base := count(Config{Seed: 2, Duration: 3 * time.Hour, NoAnomalies: true})
	big := count(Config{Seed: 2, Duration: 3 * time.Hour, NoAnomalies: true, Scale: 3})
	if r := float64(big) / float64(base); r < 2.8 || r > 3.2 {
		t.Fatalf("Scale 3 gave ×%.2f records (%d vs %d)", r, big, base)
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Seed: 1, Duration: time.Hour}
	n := 0
	for b.Loop() {
		n = 0
		_ = Generate(cfg, func(*record.Record, Truth) error { n++; return nil })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
