package distdetect

import (
	"math"
	"strconv"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Finding details of the spread and spike-density tests
// (baseline/judge_spread.go).
const (
	DetailSpread  = "spread_shift"
	DetailDensity = "spike_density"
)

// DispersionFindings appends the spread_shift and spike_density findings
// due in lv (at most one each per episode) for x's key. A tail burst
// (several far values within minutes) is a spike_density finding too,
// with burst true: spikes far beyond p99, dense within minutes.
func DispersionFindings(out []detect.Finding, r *record.Record, pattern, unit, what string, x float64, lv *baseline.Level, q baseline.Quantiles, scope string, h Human) []detect.Finding {
	d := &lv.Disp
	if d.Spread {
		f := dispFinding(r, pattern, unit, x, q, scope)
		f.Detail = DetailSpread
		f.Score = Score(d.SpreadDecades, r)
		f.Summary = r.Tool.Name + " " + what + " for " + r.AgentID + " became erratic: values lie " +
			strconv.FormatFloat(d.SpreadRatio, 'f', 1, 64) + "× farther from their level than usual while the median holds; baseline median is " + h(q.P50)
		f.Details["spread_ratio"] = math.Round(d.SpreadRatio*1000) / 1000
		f.Details["p_decades"] = math.Round(d.SpreadDecades*100) / 100
		out = append(out, f)
	}
	if d.Density {
		f := dispFinding(r, pattern, unit, x, q, scope)
		f.Detail = DetailDensity
		f.Score = Score(d.DensityDecades, r)
		f.Summary = r.Tool.Name + " " + what + " for " + r.AgentID + " spikes beyond its p99 (" + h(q.P99) + ") " +
			strconv.FormatFloat(d.Spikes/d.SpikesExpected, 'f', 1, 64) + "× as often as usual over the last hours"
		f.Details["spikes"] = math.Round(d.Spikes*100) / 100
		f.Details["spikes_expected"] = math.Round(d.SpikesExpected*100) / 100
		f.Details["baseline_p99"] = math.Round(q.P99)
		f.Details["p_decades"] = math.Round(d.DensityDecades*100) / 100
		out = append(out, f)
	}
	if d.Burst {
		f := dispFinding(r, pattern, unit, x, q, scope)
		f.Detail = DetailDensity
		f.Score = Score(d.BurstDecades, r)
		f.Summary = r.Tool.Name + " " + what + " for " + r.AgentID + ": " +
			strconv.FormatFloat(d.BurstCalls, 'f', 1, 64) + " recent values each beyond what its baseline puts at 1 in 1,000 (" +
			strconv.FormatFloat(d.BurstExpected, 'f', 2, 64) + " expected), now " + h(x) + "; p99 baseline is " + h(q.P99)
		f.Details["burst"] = true
		f.Details["spikes"] = math.Round(d.BurstCalls*100) / 100
		f.Details["spikes_expected"] = math.Round(d.BurstExpected*1000) / 1000
		f.Details["baseline_p99"] = math.Round(q.P99)
		f.Details["p_decades"] = math.Round(d.BurstDecades*100) / 100
		out = append(out, f)
	}
	return out
}

func dispFinding(r *record.Record, pattern, unit string, x float64, q baseline.Quantiles, scope string) detect.Finding {
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = pattern
	f.Observed = x
	f.Expected = math.Round(q.P50)
	f.Unit = unit
	f.Details = map[string]any{
		"baseline_p50":   math.Round(q.P50),
		"samples":        int64(q.Count),
		"baseline_scope": scope,
	}
	return f
}
