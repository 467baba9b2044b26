package sim

import "time"

// Topology is the set of agents and tools that produce normal traffic.
type Topology struct {
	Agents []Agent
	Tools  []Tool
}

// Tool describes one tool's normal behaviour.
type Tool struct {
	Name, Version, Publisher, TrustLevel string
	VerificationScore                    float64

	LatencyMS    float64 // median duration of a successful call
	LatencySigma float64 // log-normal sigma of the duration
	OutputBytes  float64 // median output size
	OutputSigma  float64 // log-normal sigma of the output size
	InputBytes   float64 // median input size (sigma 0.5)

	// Shapes is the closed input vocabulary with weights.
	Shapes []Shape
	// OptionalKeys makes the vocabulary open: with probability NovelRate a
	// call adds a random non-empty subset of these "key:kind" entries to
	// BaseKeys, so new JSON shapes appear now and then.
	BaseKeys     []string
	OptionalKeys []string
	NovelRate    float64

	Permissions    []string // permissions_used of a successful call
	ErrorRate      float64
	TimeoutRate    float64
	TimeoutMS      float64 // duration of a timed-out call
	Classification string  // data_classification

	// LatencyDrift and OutputDrift are the fractional increase of the
	// median over the whole run (legitimate slow drift), e.g. 0.3.
	LatencyDrift float64
	OutputDrift  float64
	// Upgrade, if set, changes the version and scales latency permanently.
	Upgrade *Upgrade

	// Realistic profile only (see RealisticTopology):
	// Latency and Output replace the log-normal (LatencyMS, LatencySigma)
	// and (OutputBytes, OutputSigma) with mixtures and heavy tails.
	Latency, Output *Dist
	// InputScaling makes latency grow with input length:
	// × (input_bytes/InputBytes)^InputScaling (LLM-backed tools).
	InputScaling float64
	// InputSigma is the log-normal sigma of the input size (0 means 0.5).
	InputSigma float64
	// Rollout is a new version spreading across agents.
	Rollout *Rollout
	// Incidents are episodes of fast errors (provider outages, 429s).
	Incidents *Incidents
}

// Shape is one input shape of a closed vocabulary.
type Shape struct {
	Shape  string
	Weight float64
}

// Upgrade is a tool version change at an offset from the start of the run.
type Upgrade struct {
	At            time.Duration
	Version       string
	LatencyFactor float64
}

// Agent describes one agent's normal behaviour.
type Agent struct {
	ID          string
	Environment string
	UserID      string
	TaskPrefix  string  // task ids are TaskPrefix-<n>
	Rate        float64 // mean calls/s over a day, before Config.Rate scaling
	Tools       []Use
	// Joins is the offset from the start at which the agent starts calling.
	Joins time.Duration
	// Diurnal makes the rate follow the day/night cycle.
	Diurnal bool
	// DenialRate is the fraction of calls denied with one of DenyPerms
	// (staging sandboxes deny now and then; production agents use 0).
	DenialRate float64
	DenyPerms  []string
	Batch      *Batch

	// Realistic profile only (see RealisticTopology):
	// Weekly makes Saturday and Sunday quieter (×0.35).
	Weekly bool
	// Tasks groups the agent's calls into bursts; nil means 3–30 calls.
	Tasks *Tasks
	// Routine are permission denials that recur every day.
	Routine []RoutineDenial
	// Leaves, if > 0, is the offset at which the agent stops calling.
	Leaves time.Duration
	// Quiet sends the agent idle for long periods.
	Quiet *Quiet
	// Sync is an irregular batch job at random hours.
	Sync *Sync
}

// Use is a tool an agent calls, with its share of the agent's calls.
type Use struct {
	Tool   string
	Weight float64
}

// Batch is a daily burst of calls starting at Hour:Minute UTC.
type Batch struct {
	Hour, Minute int
	Length       time.Duration
	Tool         string
	Rate         float64 // calls/s during the batch, before Config.Scale
	Queries      int     // distinct inputs the batch cycles through
}

// DefaultTopology is a realistic multi-agent deployment: support, analytics,
// coding and billing agents, a nightly report agent, a staging QA agent with
// occasional denials, and two agents that join on day 2.
func DefaultTopology() Topology {
	support := []Use{{"customer-lookup", 4}, {"crm-update", 2}, {"send-email", 1.5}, {"vector-search", 2}, {"summarize", 1}, {"calendar", 0.5}}
	analytics := []Use{{"db-query", 5}, {"vector-search", 2}, {"file-reader", 2}, {"summarize", 1}}
	return Topology{
		Tools: []Tool{
			{Name: "customer-lookup", Version: "2.3.1", Publisher: "acme-tools", TrustLevel: "gold", VerificationScore: 94,
				LatencyMS: 180, LatencySigma: 0.4, OutputBytes: 1100, OutputSigma: 0.4, InputBytes: 40,
				Shapes:      []Shape{{"json{customer_id:str}", 0.8}, {"json{email:str}", 0.2}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.008, Classification: "confidential"},
			{Name: "db-query", Version: "1.8.0", Publisher: "acme-data", TrustLevel: "gold", VerificationScore: 91,
				LatencyMS: 120, LatencySigma: 0.8, OutputBytes: 4000, OutputSigma: 1.0, InputBytes: 220,
				Shapes:      []Shape{{"text/sql", 0.6}, {"json{limit:num,query:str/sql}", 0.4}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.01, Classification: "internal"},
			{Name: "send-email", Version: "3.1.2", Publisher: "mailco", TrustLevel: "silver", VerificationScore: 82,
				LatencyMS: 400, LatencySigma: 0.4, OutputBytes: 200, OutputSigma: 0.3, InputBytes: 1500,
				Shapes:      []Shape{{"json{body:str,subject:str,to:str}", 0.85}, {"json{body:str,cc:str,subject:str,to:str}", 0.15}},
				Permissions: []string{"network:smtp"}, ErrorRate: 0.01, Classification: "internal"},
			{Name: "web-search", Version: "0.9.4", Publisher: "searchly", TrustLevel: "silver", VerificationScore: 77,
				LatencyMS: 800, LatencySigma: 0.6, OutputBytes: 8000, OutputSigma: 0.7, InputBytes: 80,
				Shapes:       []Shape{{"json{query:str}", 0.7}, {"json{max_results:num,query:str}", 0.3}},
				BaseKeys:     []string{"query:str"},
				OptionalKeys: []string{"freshness:str", "lang:str", "max_results:num", "region:str", "safe:bool", "site:str", "since:str", "type:str"},
				NovelRate:    0.02,
				Permissions:  []string{"network:connect"}, ErrorRate: 0.012, TimeoutRate: 0.0003, TimeoutMS: 30000, Classification: "public"},
			{Name: "file-reader", Version: "1.2.0", Publisher: "acme-tools", TrustLevel: "gold", VerificationScore: 96,
				LatencyMS: 40, LatencySigma: 0.5, OutputBytes: 16000, OutputSigma: 0.9, InputBytes: 60,
				Shapes:      []Shape{{"json{path:str/path}", 1}},
				Permissions: []string{"filesystem:read"}, ErrorRate: 0.008, Classification: "internal", OutputDrift: 0.4},
			{Name: "code-exec", Version: "0.4.1", Publisher: "sandboxd", TrustLevel: "bronze", VerificationScore: 68,
				LatencyMS: 1500, LatencySigma: 0.9, OutputBytes: 2000, OutputSigma: 1.0, InputBytes: 900,
				Shapes:      []Shape{{"json{code:str,language:str}", 0.9}, {"json{code:str,language:str,timeout:num}", 0.1}},
				Permissions: []string{"code_execution:run"}, ErrorRate: 0.02, Classification: "internal"},
			{Name: "crm-update", Version: "2.0.3", Publisher: "acme-tools", TrustLevel: "gold", VerificationScore: 90,
				LatencyMS: 250, LatencySigma: 0.3, OutputBytes: 300, OutputSigma: 0.3, InputBytes: 300,
				Shapes:      []Shape{{"json{customer_id:str,note:str}", 0.6}, {"json{customer_id:str,status:str}", 0.4}},
				Permissions: []string{"data_access:write"}, ErrorRate: 0.005, Classification: "confidential"},
			{Name: "http-fetch", Version: "1.0.7", Publisher: "netkit", TrustLevel: "silver", VerificationScore: 80,
				LatencyMS: 350, LatencySigma: 0.7, OutputBytes: 24000, OutputSigma: 1.1, InputBytes: 120,
				Shapes:      []Shape{{"json{url:str/url}", 0.8}, {"json{method:str,url:str/url}", 0.2}},
				Permissions: []string{"network:connect"}, ErrorRate: 0.015, TimeoutRate: 0.0003, TimeoutMS: 30000, Classification: "public",
				Upgrade: &Upgrade{At: 34 * time.Hour, Version: "1.1.0", LatencyFactor: 1.5}},
			{Name: "vector-search", Version: "0.7.2", Publisher: "embedco", TrustLevel: "silver", VerificationScore: 85,
				LatencyMS: 90, LatencySigma: 0.4, OutputBytes: 6000, OutputSigma: 0.4, InputBytes: 100,
				Shapes:      []Shape{{"json{k:num,query:str}", 0.7}, {"json{collection:str,k:num,query:str}", 0.3}},
				Permissions: []string{"data_access:read"}, ErrorRate: 0.005, Classification: "internal", LatencyDrift: 0.3},
			{Name: "calendar", Version: "1.5.0", Publisher: "schedulr", TrustLevel: "silver", VerificationScore: 83,
				LatencyMS: 220, LatencySigma: 0.35, OutputBytes: 900, OutputSigma: 0.4, InputBytes: 150,
				Shapes:      []Shape{{"json{end:str,start:str}", 0.5}, {"json{attendee:str,end:str,start:str,title:str}", 0.5}},
				Permissions: []string{"calendar:write"}, ErrorRate: 0.01, Classification: "internal"},
			{Name: "invoice-generator", Version: "2.2.0", Publisher: "billpro", TrustLevel: "gold", VerificationScore: 92,
				LatencyMS: 600, LatencySigma: 0.3, OutputBytes: 40000, OutputSigma: 0.3, InputBytes: 200,
				Shapes:      []Shape{{"json{customer_id:str,items:num,period:str}", 1}},
				Permissions: []string{"data_access:read", "filesystem:write"}, ErrorRate: 0.006, Classification: "restricted"},
			{Name: "summarize", Version: "1.1.0", Publisher: "acme-ai", TrustLevel: "silver", VerificationScore: 88,
				LatencyMS: 900, LatencySigma: 0.5, OutputBytes: 1500, OutputSigma: 0.4, InputBytes: 6000,
				Shapes:      []Shape{{"text", 0.5}, {"text/long", 0.5}},
				Permissions: []string{}, ErrorRate: 0.008, Classification: "internal"},
		},
		Agents: []Agent{
			{ID: "support-agent-prod-01", Environment: "production", UserID: "operator-jane", TaskPrefix: "support-ticket", Rate: 0.30, Tools: support, Diurnal: true},
			{ID: "support-agent-prod-02", Environment: "production", UserID: "operator-raj", TaskPrefix: "support-ticket", Rate: 0.25, Tools: support, Diurnal: true},
			{ID: "analytics-agent-prod-01", Environment: "production", UserID: "analyst-mei", TaskPrefix: "analytics-job", Rate: 0.22, Tools: analytics, Diurnal: true},
			{ID: "coding-agent-prod-01", Environment: "production", UserID: "dev-omar", TaskPrefix: "coding-session", Rate: 0.20, Diurnal: true,
				Tools: []Use{{"code-exec", 4}, {"file-reader", 3}, {"web-search", 2}, {"http-fetch", 1.5}}},
			{ID: "billing-agent-prod-01", Environment: "production", UserID: "finance-lee", TaskPrefix: "billing-run", Rate: 0.12, Diurnal: true,
				Tools: []Use{{"customer-lookup", 3}, {"db-query", 2}, {"invoice-generator", 2}, {"send-email", 1}, {"crm-update", 1}}},
			{ID: "report-agent-nightly", Environment: "production", UserID: "svc-reporting", TaskPrefix: "nightly-report", Rate: 0.004,
				Tools: []Use{{"db-query", 1}, {"send-email", 0.1}},
				Batch: &Batch{Hour: 2, Length: 20 * time.Minute, Tool: "db-query", Rate: 1.0, Queries: 25}},
			{ID: "qa-agent-staging-01", Environment: "staging", UserID: "qa-bot", TaskPrefix: "qa-run", Rate: 0.06, Diurnal: true,
				Tools:      []Use{{"code-exec", 3}, {"http-fetch", 2}, {"file-reader", 2}, {"web-search", 1}},
				DenialRate: 0.04, DenyPerms: []string{"network:connect", "filesystem:write", "code_execution:run"}},
			{ID: "support-agent-prod-03", Environment: "production", UserID: "operator-ana", TaskPrefix: "support-ticket", Rate: 0.20, Tools: support, Diurnal: true, Joins: 30 * time.Hour},
			{ID: "analytics-agent-prod-02", Environment: "production", UserID: "analyst-tom", TaskPrefix: "analytics-job", Rate: 0.15, Tools: analytics, Diurnal: true, Joins: 40 * time.Hour},
		},
	}
}
