package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Profiles of Config.Profile.
const (
	// ProfileEasy is the original 72 h scenario (DefaultTopology,
	// DefaultAnomalies): smooth Poisson traffic with narrow log-normal
	// distributions. It is the zero value because the pipeline benchmarks,
	// replay tests and the demo pin their figures on it.
	ProfileEasy = "easy"
	// ProfileRealistic is the week-long scenario of RealisticTopology and
	// RealisticAnomalies, built from public measurements of real traffic (docs/design.md §11): heavy tails,
	// task bursts, weekly and irregular schedules, routine denials, error
	// incidents, rollouts, quiet periods, agents joining and leaving, and
	// moderate sustained anomalies next to the egregious ones. `detector
	// simulate` writes it by default.
	ProfileRealistic = "realistic"
)

// Dist is a value distribution: a log-normal body (Median, Sigma) mixed
// with alternative Modes, clamped at Max.
type Dist struct {
	Median, Sigma float64
	Modes         []Mode
	Max           float64 // 0: no clamp
}

// Mode is one alternative component of a Dist, drawn with probability P:
// a log-normal (Median, Sigma), or with Alpha > 0 a Pareto tail with scale
// Median and shape Alpha (P(X > x) = (Median/x)^Alpha).
type Mode struct {
	P, Median, Sigma, Alpha float64
}

func (d *Dist) draw(r *rand.Rand) float64 {
	m, s, a := d.Median, d.Sigma, 0.0
	u := r.Float64()
	for _, md := range d.Modes {
		if u < md.P {
			m, s, a = md.Median, md.Sigma, md.Alpha
			break
		}
		u -= md.P
	}
	var v float64
	if a > 0 {
		v = m * math.Pow(1-r.Float64(), -1/a)
	} else {
		v = m * math.Exp(s*r.NormFloat64())
	}
	if d.Max > 0 && v > d.Max {
		v = d.Max
	}
	return v
}

// Rollout is a new tool version spreading across agents: each agent
// switches at At + a seeded fraction of Spread, after which its calls carry
// Version and latency and output size scaled by the factors.
type Rollout struct {
	At, Spread                  time.Duration
	Version                     string
	LatencyFactor, OutputFactor float64
}

// Incidents are episodes of a tool's provider failing (e.g. 429 rate-limit
// bursts): PerDay episodes on average at random times, each MinLen–MaxLen
// long, during which a call fails fast with probability ErrorProb.
type Incidents struct {
	PerDay         float64
	MinLen, MaxLen time.Duration
	ErrorProb      float64
}

// Tasks shapes an agent's calls into tasks: tasks of Min–Max calls
// (log-uniform), calls ThinkMean apart on average (exponential), the next
// call reusing the previous tool with probability Sticky, and a call
// retried with the same input 1–3 times with probability Retry. With
// probability Loop a task instead loops until its step limit: 15–25 calls of
// one tool with one input, 1–4 s apart (benign, as in public agent-benchmark
// logs). With probability WrongArg a call to a JSON tool first names an
// argument wrongly (a new input shape that fails fast), then is retried.
type Tasks struct {
	Min, Max  int
	ThinkMean time.Duration
	Sticky    float64
	Retry     float64
	Loop      float64
	WrongArg  float64
}

// meanCalls is the mean number of calls of a task, retries included.
func (t *Tasks) meanCalls() float64 {
	a, b := float64(t.Min), float64(t.Max)+1
	mean := a // size = floor(a·(b/a)^U)
	if b > a+1 {
		mean = (b-a)/math.Log(b/a) - 0.5
	}
	return (1-t.Loop)*mean*(1+2*t.Retry+t.WrongArg) + t.Loop*20
}

// RoutineDenial denies a fraction Prob of the agent's calls to Tool with
// Permission: least-privilege probing that recurs every day.
type RoutineDenial struct {
	Tool, Permission string
	Prob             float64
}

// Quiet sends an agent idle Count times for MinLen–MaxLen at seeded times
// after the first day.
type Quiet struct {
	Count          int
	MinLen, MaxLen time.Duration
}

// Sync is an irregular batch job: PerWeek runs on average at uniformly
// random times (not daily), each MinLen–MaxLen long at Rate calls/s to
// Tool cycling through Queries inputs.
type Sync struct {
	PerWeek        float64
	MinLen, MaxLen time.Duration
	Tool           string
	Rate           float64
	Queries        int
}

// RealisticTopology is a week of an enterprise fleet shaped after
// REALISM.md. Every behaviour below is normal traffic that a detector must
// not alert on; Behaviours lists them with their keys and times.
//
//   - sql-query: a mixture of point look-ups (median 35 ms, σ 0.9),
//     analytical queries (2.5%, median 400 ms, σ 1.0) and a Pareto tail
//     (0.3%, α 1.05 above 4 s, clamped at 50 s): p99 ≈ 0.8 s, p99.9 ≈ 15×
//     p99, and ~0.05% of queries take 20–50 s.
//   - file-read: log-normal body (8 KB, σ 1.3) with a Pareto tail (7% of
//     calls above 100 KB, α 1.2, clamped at 16 MiB): p99 ≈ 500 KB and a
//     few 5 MB files a week.
//   - llm-summarize and code-exec: log-normal latency with σ 1.5 and 1.7;
//     llm latency grows with input length; both time out at round values;
//     llm-summarize has 429 incidents (fast errors for 5–40 min).
//   - calls come in tasks of 3–30 (bursty, overdispersed per-minute counts)
//     with retries of the same input, now and then a task looping 15–25
//     times on one input until its step limit, and calls with a wrongly
//     named argument (a new shape that fails, then the right one); enterprise
//     agents follow a day/night
//     cycle, are quieter at weekends (×0.35) and vary ±15% day to day.
//   - analytics-agent-prod-01 is denied data_access:read_pii at sql-query a
//     few times a day in production; dev-agent-01 is routinely denied
//     filesystem:write at code-exec and network:connect at http-fetch.
//   - sync-agent-prod-01 runs a data-sync job ~4 times a week at random
//     hours; report-agent-nightly runs at 02:00 daily and on demand.
//   - crm-lookup rolls out 2.5.0 on day 4 (latency ×1.6, output ×1.3)
//     across agents over 12 h.
//   - coding-agent-prod-01 and qa-agent-staging-01 go idle for 1–2 days;
//     support-agent-prod-03 joins on day 3; analytics-agent-prod-02 joins
//     on day 2 and leaves on day 6.
//   - ops-agent-prod-01 works around the clock at low rates (status-check
//     ~90/h, metrics-query ~60/h, ticket-search ~12/h).
func RealisticTopology() Topology {
	enterprise := Tasks{Min: 3, Max: 30, ThinkMean: 8 * time.Second, Sticky: 0.5, Retry: 0.03, Loop: 0.003, WrongArg: 0.002}
	support := []Use{{"crm-lookup", 4}, {"send-email", 1.5}, {"vector-search", 2}, {"llm-summarize", 1.5}, {"calendar", 0.5}}
	analytics := []Use{{"sql-query", 5}, {"file-read", 2.5}, {"llm-summarize", 1}}
	const h = time.Hour
	return Topology{
		Tools: []Tool{
			{Name: "sql-query", Version: "3.2.0", Publisher: "acme-data", TrustLevel: "gold", VerificationScore: 91,
				Latency: &Dist{Median: 35, Sigma: 0.9, Max: 50000, Modes: []Mode{
					{P: 0.025, Median: 400, Sigma: 1.0},
					{P: 0.003, Median: 4000, Alpha: 1.05}}},
				Output:      &Dist{Median: 3000, Sigma: 1.5, Max: 8 << 20},
				InputBytes:  220,
				Shapes:      []Shape{{"text/sql", 0.6}, {"json{limit:num,query:str/sql}", 0.4}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.01, TimeoutMS: 60000, Classification: "confidential"},
			{Name: "file-read", Version: "1.4.2", Publisher: "acme-tools", TrustLevel: "gold", VerificationScore: 96,
				Latency: &Dist{Median: 15, Sigma: 1.0},
				Output: &Dist{Median: 8000, Sigma: 1.3, Max: 16 << 20, Modes: []Mode{
					{P: 0.07, Median: 100e3, Alpha: 1.2}}},
				InputBytes:  60,
				Shapes:      []Shape{{"json{path:str/path}", 1}},
				Permissions: []string{"filesystem:read"}, ErrorRate: 0.01, Classification: "internal"},
			{Name: "llm-summarize", Version: "2.0.1", Publisher: "acme-ai", TrustLevel: "silver", VerificationScore: 88,
				Latency: &Dist{Median: 2500, Sigma: 1.5}, InputScaling: 0.5,
				Output:     &Dist{Median: 1200, Sigma: 0.6},
				InputBytes: 6000, InputSigma: 1.0,
				Shapes:      []Shape{{"text", 0.5}, {"text/long", 0.5}},
				Permissions: []string{}, ErrorRate: 0.008, TimeoutMS: 60000, Classification: "internal",
				Incidents: &Incidents{PerDay: 1, MinLen: 5 * time.Minute, MaxLen: 40 * time.Minute, ErrorProb: 0.6}},
			{Name: "code-exec", Version: "0.6.0", Publisher: "sandboxd", TrustLevel: "bronze", VerificationScore: 68,
				Latency:     &Dist{Median: 1200, Sigma: 1.7},
				Output:      &Dist{Median: 1500, Sigma: 1.2},
				InputBytes:  900,
				Shapes:      []Shape{{"json{code:str,language:str}", 0.9}, {"json{code:str,language:str,timeout:num}", 0.1}},
				Permissions: []string{"code_execution:run"}, ErrorRate: 0.03, TimeoutMS: 120000, Classification: "internal"},
			{Name: "crm-lookup", Version: "2.4.0", Publisher: "acme-tools", TrustLevel: "gold", VerificationScore: 94,
				Latency:     &Dist{Median: 120, Sigma: 0.5},
				Output:      &Dist{Median: 900, Sigma: 0.15},
				InputBytes:  40,
				Shapes:      []Shape{{"json{customer_id:str}", 0.8}, {"json{email:str}", 0.2}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.006, Classification: "confidential",
				Rollout: &Rollout{At: 80 * h, Spread: 12 * h, Version: "2.5.0", LatencyFactor: 1.6, OutputFactor: 1.3}},
			{Name: "send-email", Version: "3.1.2", Publisher: "mailco", TrustLevel: "silver", VerificationScore: 82,
				Latency: &Dist{Median: 350, Sigma: 0.5}, Output: &Dist{Median: 180, Sigma: 0.1},
				InputBytes:  1500,
				Shapes:      []Shape{{"json{body:str,subject:str,to:str}", 0.85}, {"json{body:str,cc:str,subject:str,to:str}", 0.15}},
				Permissions: []string{"network:smtp"}, ErrorRate: 0.01, Classification: "internal"},
			{Name: "web-search", Version: "0.9.4", Publisher: "searchly", TrustLevel: "silver", VerificationScore: 77,
				Latency: &Dist{Median: 700, Sigma: 0.8}, Output: &Dist{Median: 9000, Sigma: 0.8},
				InputBytes:   80,
				Shapes:       []Shape{{"json{query:str}", 0.7}, {"json{max_results:num,query:str}", 0.3}},
				BaseKeys:     []string{"query:str"},
				OptionalKeys: []string{"freshness:str", "lang:str", "max_results:num", "region:str", "safe:bool", "site:str", "since:str", "type:str"},
				NovelRate:    0.02,
				Permissions:  []string{"network:connect"}, ErrorRate: 0.012, TimeoutMS: 30000, Classification: "public"},
			{Name: "http-fetch", Version: "1.1.0", Publisher: "netkit", TrustLevel: "silver", VerificationScore: 80,
				Latency: &Dist{Median: 300, Sigma: 1.2},
				Output: &Dist{Median: 20000, Sigma: 1.2, Max: 16 << 20, Modes: []Mode{
					{P: 0.03, Median: 300e3, Alpha: 1.3}}},
				InputBytes:  120,
				Shapes:      []Shape{{"json{url:str/url}", 0.8}, {"json{method:str,url:str/url}", 0.2}},
				Permissions: []string{"network:connect"}, ErrorRate: 0.015, TimeoutMS: 30000, Classification: "public"},
			{Name: "vector-search", Version: "0.7.2", Publisher: "embedco", TrustLevel: "silver", VerificationScore: 85,
				Latency: &Dist{Median: 80, Sigma: 0.5}, Output: &Dist{Median: 6000, Sigma: 0.3},
				InputBytes:  100,
				Shapes:      []Shape{{"json{k:num,query:str}", 0.7}, {"json{collection:str,k:num,query:str}", 0.3}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.005, Classification: "internal"},
			{Name: "calendar", Version: "1.5.0", Publisher: "schedulr", TrustLevel: "silver", VerificationScore: 83,
				Latency: &Dist{Median: 200, Sigma: 0.4}, Output: &Dist{Median: 900, Sigma: 0.4},
				InputBytes:  150,
				Shapes:      []Shape{{"json{end:str,start:str}", 0.5}, {"json{attendee:str,end:str,start:str,title:str}", 0.5}},
				Permissions: []string{"calendar:write"}, ErrorRate: 0.01, Classification: "internal"},
			{Name: "invoice-generator", Version: "2.2.0", Publisher: "billpro", TrustLevel: "gold", VerificationScore: 92,
				Latency: &Dist{Median: 600, Sigma: 0.4}, Output: &Dist{Median: 40000, Sigma: 0.3},
				InputBytes:  200,
				Shapes:      []Shape{{"json{customer_id:str,items:num,period:str}", 1}},
				Permissions: []string{"data_access:read", "filesystem:write"}, ErrorRate: 0.006, Classification: "restricted"},
			{Name: "metrics-query", Version: "1.0.3", Publisher: "obsco", TrustLevel: "gold", VerificationScore: 90,
				Latency: &Dist{Median: 60, Sigma: 0.6}, Output: &Dist{Median: 2000, Sigma: 0.5},
				InputBytes:  90,
				Shapes:      []Shape{{"json{query:str,range:str}", 1}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.005, Classification: "internal"},
			{Name: "status-check", Version: "0.3.1", Publisher: "obsco", TrustLevel: "gold", VerificationScore: 90,
				Latency: &Dist{Median: 40, Sigma: 0.4}, Output: &Dist{Median: 300, Sigma: 0.2},
				InputBytes:  40,
				Shapes:      []Shape{{"json{service:str}", 1}},
				Permissions: []string{"network:connect"}, ErrorRate: 0.004, Classification: "internal"},
			{Name: "ticket-search", Version: "4.1.0", Publisher: "deskly", TrustLevel: "silver", VerificationScore: 84,
				Latency: &Dist{Median: 200, Sigma: 0.7}, Output: &Dist{Median: 3000, Sigma: 0.8},
				InputBytes:  70,
				Shapes:      []Shape{{"json{query:str}", 0.6}, {"json{query:str,status:str}", 0.4}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.008, Classification: "internal"},
			{Name: "data-sync", Version: "5.0.2", Publisher: "acme-data", TrustLevel: "gold", VerificationScore: 93,
				Latency: &Dist{Median: 800, Sigma: 1.0}, Output: &Dist{Median: 50000, Sigma: 1.0},
				InputBytes:  300,
				Shapes:      []Shape{{"json{cursor:str,source:str,target:str}", 1}},
				Permissions: []string{"data_access:read", "data_access:write"}, ErrorRate: 0.01, Classification: "confidential"},
		},
		Agents: []Agent{
			{ID: "support-agent-prod-01", Environment: "production", UserID: "operator-jane", TaskPrefix: "support-ticket", Rate: 0.12, Tools: support, Diurnal: true, Weekly: true, Tasks: &enterprise},
			{ID: "support-agent-prod-02", Environment: "production", UserID: "operator-raj", TaskPrefix: "support-ticket", Rate: 0.10, Tools: support, Diurnal: true, Weekly: true, Tasks: &enterprise},
			{ID: "support-agent-prod-03", Environment: "production", UserID: "operator-ana", TaskPrefix: "support-ticket", Rate: 0.08, Tools: support, Diurnal: true, Weekly: true, Tasks: &enterprise, Joins: 60 * h},
			{ID: "analytics-agent-prod-01", Environment: "production", UserID: "analyst-mei", TaskPrefix: "analytics-job", Rate: 0.08, Tools: analytics, Diurnal: true, Weekly: true, Tasks: &enterprise,
				Routine: []RoutineDenial{{Tool: "sql-query", Permission: "data_access:read_pii", Prob: 0.0012}}},
			{ID: "analytics-agent-prod-02", Environment: "production", UserID: "analyst-tom", TaskPrefix: "analytics-job", Rate: 0.06, Tools: analytics, Diurnal: true, Weekly: true, Tasks: &enterprise,
				Joins: 30 * h, Leaves: 130 * h},
			{ID: "coding-agent-prod-01", Environment: "production", UserID: "dev-omar", TaskPrefix: "coding-session", Rate: 0.08, Diurnal: true, Weekly: true, Tasks: &enterprise,
				Tools: []Use{{"code-exec", 4}, {"file-read", 3}, {"web-search", 2}, {"http-fetch", 1.5}},
				Quiet: &Quiet{Count: 1, MinLen: 24 * h, MaxLen: 40 * h}},
			{ID: "dev-agent-01", Environment: "development", UserID: "dev-sam", TaskPrefix: "dev-session", Rate: 0.05, Diurnal: true, Weekly: true, Tasks: &enterprise,
				Tools:   []Use{{"code-exec", 4}, {"file-read", 3}, {"http-fetch", 2}},
				Routine: []RoutineDenial{{Tool: "code-exec", Permission: "filesystem:write", Prob: 0.03}, {Tool: "http-fetch", Permission: "network:connect", Prob: 0.02}}},
			{ID: "billing-agent-prod-01", Environment: "production", UserID: "finance-lee", TaskPrefix: "billing-run", Rate: 0.04, Diurnal: true, Weekly: true, Tasks: &enterprise,
				Tools: []Use{{"crm-lookup", 3}, {"sql-query", 2}, {"invoice-generator", 2}, {"send-email", 1}}},
			{ID: "ops-agent-prod-01", Environment: "production", UserID: "svc-ops", TaskPrefix: "ops-check", Rate: 0.045,
				Tools: []Use{{"status-check", 90}, {"metrics-query", 60}, {"ticket-search", 12}},
				Tasks: &Tasks{Min: 1, Max: 1, ThinkMean: 5 * time.Second}},
			{ID: "sync-agent-prod-01", Environment: "production", UserID: "svc-sync", TaskPrefix: "sync-job",
				Sync: &Sync{PerWeek: 4, MinLen: 15 * time.Minute, MaxLen: 40 * time.Minute, Tool: "data-sync", Rate: 0.6, Queries: 30}},
			{ID: "report-agent-nightly", Environment: "production", UserID: "svc-reporting", TaskPrefix: "nightly-report",
				Batch: &Batch{Hour: 2, Length: 20 * time.Minute, Tool: "sql-query", Rate: 1.0, Queries: 25},
				Sync:  &Sync{PerWeek: 2, MinLen: 5 * time.Minute, MaxLen: 15 * time.Minute, Tool: "sql-query", Rate: 0.5, Queries: 25}},
			{ID: "qa-agent-staging-01", Environment: "staging", UserID: "qa-bot", TaskPrefix: "qa-run", Rate: 0.03, Diurnal: true, Tasks: &enterprise,
				Tools:      []Use{{"code-exec", 3}, {"http-fetch", 2}, {"file-read", 2}, {"web-search", 1}},
				DenialRate: 0.04, DenyPerms: []string{"network:connect", "filesystem:write", "code_execution:run"},
				Quiet: &Quiet{Count: 1, MinLen: 36 * h, MaxLen: 50 * h}},
		},
	}
}
