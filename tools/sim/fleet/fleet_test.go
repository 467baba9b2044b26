package fleet

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// small is a short run for the package tests (the eval gate runs the
// default week).
func small(seed uint64) Config {
	return Config{Seed: seed, Duration: 4 * 24 * time.Hour, WarmUp: 48 * time.Hour, Scale: 0.15}
}

// TestRecordsValid: every line decodes with the daemon's strict decoder,
// timestamps never go backwards, and every chain verifies except the one
// labeled alteration.
func TestRecordsValid(t *testing.T) {
	var buf bytes.Buffer
	sum, err := WriteJSONL(small(1), &buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records (%d normal), %d agent instances, %d anomalies", sum.Records, sum.Normal, sum.Agents, len(sum.Plan))
	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	var last time.Time
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := dec.Decode(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", n, err, sc.Bytes())
		}
		if r.Timestamp.Before(last) {
			t.Fatalf("line %d: time goes back", n)
		}
		last = r.Timestamp
	}
	if n != sum.Records {
		t.Fatalf("%d lines, summary says %d", n, sum.Records)
	}
	rep, err := chain.VerifyRecords(bytes.NewReader(buf.Bytes()), chain.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stats.Chained == 0 || rep.Stats.Unchained == 0 {
		t.Fatalf("want chained and unchained tenants: %+v", rep.Stats)
	}
	if rep.Invalid != 0 || rep.Late != 0 || len(rep.Issues) != 1 || rep.Issues[0].Kind != chain.Altered {
		t.Fatalf("want exactly the labeled alteration, got %d invalid, %d late, issues %+v", rep.Invalid, rep.Late, rep.Issues)
	}
}

// The same seed writes the same bytes; another seed does not.
func TestDeterministic(t *testing.T) {
	digest := func(c Config) string {
		h := sha256.New()
		if _, err := WriteJSONL(c, h); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	c := small(7)
	c.Duration = 2 * 24 * time.Hour
	a, b := digest(c), digest(c)
	c.Seed = 8
	if a != b || a == digest(c) {
		t.Fatalf("seed 7 twice: %s %s; seed 8 must differ", a, b)
	}
}

// callKey identifies a call independently of span ids and chain fields,
// which the injected records shift.
func callKey(r *record.Record) string {
	return fmt.Sprintf("%s %s %s %s %.1f %s %d", r.Timestamp.Format(time.RFC3339Nano), r.AgentID, r.Tool.Name,
		r.Invocation.InputHash, r.Invocation.DurationMS, r.Invocation.Status, r.Invocation.OutputBytes)
}

// The normal-only twin holds exactly the labeled set's normal calls, and
// every labeled record lies in its anomaly's window on its agent and tool.
func TestTwinIsTheNormalTraffic(t *testing.T) {
	c := small(3)
	var labeled, twin []string
	var plan map[string]sim.Anomaly
	sum, err := Generate(c, func(r *record.Record, tr sim.Truth) error {
		if tr.AnomalyID == "" {
			labeled = append(labeled, callKey(r))
			return nil
		}
		if plan == nil {
			plan = map[string]sim.Anomaly{}
		}
		plan[tr.AnomalyID] = sim.Anomaly{ID: tr.AnomalyID, AgentID: r.AgentID, Tool: r.Tool.Name, Start: r.Timestamp}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range sum.Plan {
		got, ok := plan[a.ID]
		if !ok || got.AgentID != a.AgentID || got.Tool != a.Tool || got.Start.Before(a.Start) || got.Start.After(a.End) {
			t.Errorf("anomaly %s: records %+v, plan %+v", a.ID, got, a)
		}
	}
	if len(sum.Plan) < 7 {
		t.Errorf("only %d anomalies placed", len(sum.Plan))
	}
	c.NoAnomalies = true
	if _, err := Generate(c, func(r *record.Record, _ sim.Truth) error { twin = append(twin, callKey(r)); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(labeled)
	sort.Strings(twin)
	if strings.Join(labeled, "\n") != strings.Join(twin, "\n") {
		t.Fatalf("twin differs from the labeled set's normal records (%d vs %d)", len(twin), len(labeled))
	}
}

// The fleet behaves as documented: agent instances come and go, a tool
// appears mid-run, an outage brings timeouts and retries of the same
// input, weekends are quieter than weekdays, every environment and trust
// level appears, and denials are routine.
func TestFleetProperties(t *testing.T) {
	c := Config{Seed: 11, Scale: 0.2}
	end := c.End()
	first := map[string]time.Time{}
	lastSeen := map[string]time.Time{}
	envs, trust, status := map[string]int{}, map[string]int{}, map[string]int{}
	perDay := map[time.Weekday]int{}
	retries := 0
	prev := map[string]string{} // task → last input hash of a failed call
	_, err := Generate(c, func(r *record.Record, _ sim.Truth) error {
		if _, ok := first[r.AgentID]; !ok {
			first[r.AgentID] = r.Timestamp
		}
		lastSeen[r.AgentID] = r.Timestamp
		if _, ok := first["tool:"+r.Tool.Name]; !ok {
			first["tool:"+r.Tool.Name] = r.Timestamp
		}
		envs[r.Context.Environment]++
		trust[r.Tool.TrustLevel]++
		status[r.Invocation.Status]++
		perDay[r.Timestamp.Weekday()]++
		k := r.Context.TaskID + r.Tool.Name
		if prev[k] == r.Invocation.InputHash {
			retries++
		}
		if r.Invocation.Status == record.StatusError || r.Invocation.Status == record.StatusTimeout {
			prev[k] = r.Invocation.InputHash
		} else {
			delete(prev, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gone := 0
	for a, l := range lastSeen {
		if !strings.HasPrefix(a, "tool:") && end.Sub(l) > 12*time.Hour && l.Sub(first[a]) < 24*time.Hour {
			gone++
		}
	}
	if gone < 30 {
		t.Errorf("only %d short-lived agent instances", gone)
	}
	if at := first["tool:acme.vector_search"]; at.Before(c.withDefaults().Start.Add(3 * 24 * time.Hour)) {
		t.Errorf("vector_search appears at %v, want mid-run", at)
	}
	if len(envs) != 3 || len(trust) != 4 || status[record.StatusDenied] == 0 || status[record.StatusTimeout] == 0 || retries == 0 {
		t.Errorf("environments %v, trust %v, statuses %v, retries %d", envs, trust, status, retries)
	}
	if we, wd := perDay[time.Saturday]+perDay[time.Sunday], perDay[time.Tuesday]+perDay[time.Wednesday]; we*2 > wd {
		t.Errorf("weekend %d records vs Tue+Wed %d: want at most half", we, wd)
	}
}

// Pareto tails stay heavy (reaching toward the cap) but never exceed
// maxOutput, and the share above a size follows the truncated law. (The
// log-normal bodies are not capped: σ 1.8 passes 64 MiB at z ≈ 5.4.)
func TestParetoTailTruncated(t *testing.T) {
	specs := map[string]dist{}
	for _, s := range catalogue() {
		if s.size.pTail > 0 {
			specs[s.name] = s.size
		}
	}
	for _, name := range []string{"file_read", "web_fetch", "pdf_extract"} {
		t.Run(name, func(t *testing.T) {
			d, ok := specs[name]
			if !ok {
				t.Fatalf("%s has no Pareto tail", name)
			}
			d.pTail, d.pSlow = 1, 0 // the tail alone
			r := rand.New(rand.NewPCG(1, 2))
			const n = 1_000_000
			var mx float64
			above := 0
			x10 := 10 * d.tailMin
			for range n {
				x := d.draw(r)
				mx = max(mx, x)
				if x > x10 {
					above++
				}
			}
			if mx > maxOutput {
				t.Fatalf("largest output %.0f > maxOutput %d", mx, maxOutput)
			}
			if mx < maxOutput/4 {
				t.Fatalf("largest of %d outputs %.0f: the tail no longer reaches the cap", n, mx)
			}
			// P(x > 10·tailMin) = pTail·(10^−α − c')/(1 − c'), c' = (tailMin/max)^α.
			c := math.Pow(d.tailMin/maxOutput, d.alpha)
			want := n * d.pTail * (math.Pow(10, -d.alpha) - c) / (1 - c)
			if math.Abs(float64(above)-want) > 5*math.Sqrt(want) {
				t.Fatalf("%d outputs above %.0f, want %.0f", above, x10, want)
			}
		})
	}
}
