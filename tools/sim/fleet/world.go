package fleet

import (
	"math"
	"math/rand/v2"
	"time"
)

// dist is a duration or size model: a log-normal body, an optional second
// log-normal mode (analytical queries, provider stalls) and an optional
// Pareto tail (object sizes), truncated at maxOutput.
//
// The Pareto tails are those of files and web objects (α 1.1–1.3, REALISM.md),
// but what a tool returns to an agent is not an object of any size: it
// goes through a transport and into a model's context. Untruncated, the
// file_read tail (α 1.1 from 2 MB) drew a 17 GB result on a twin week
// (2 in 10⁶ file_read calls exceed it), which no fleet sees as normal: it
// is the bulk read output_size exists to flag.
type dist struct {
	median, sigma float64
	pSlow         float64 // second mode
	slowMedian    float64
	slowSigma     float64
	pTail         float64 // Pareto tail above tailMin with index alpha
	tailMin       float64
	alpha         float64
	narrow        bool // fixed-format output: median ± sigma (relative), no tail
}

// maxOutput (64 MiB) caps a tool output: above the response limits of
// common tool transports (gRPC's 4 MB default message, AWS Lambda's 6 MB
// response, API Gateway's 10 MB payload) and a decade above any model
// context (1M tokens ≈ 4 MB of text), so a day's largest file read is
// still thousands of times the median, as REALISM.md's α ≈ 1.1 implies.
const maxOutput = 64 << 20

func (d dist) draw(r *rand.Rand) float64 {
	if d.narrow {
		return d.median * (1 + d.sigma*r.NormFloat64())
	}
	u := r.Float64()
	switch {
	case u < d.pTail:
		// Truncated at maxOutput (inverse CDF: one draw, as untruncated).
		c := 1 - math.Pow(d.tailMin/maxOutput, d.alpha)
		return d.tailMin / math.Pow(1-c*r.Float64(), 1/d.alpha)
	case u < d.pTail+d.pSlow:
		return d.slowMedian * math.Exp(d.slowSigma*r.NormFloat64())
	}
	return d.median * math.Exp(d.sigma*r.NormFloat64())
}

// field is one argument of a tool's JSON input.
type field struct {
	name string
	kind string  // id, num, bool, sql, url, path, text, prompt, email, list, obj
	opt  float64 // probability an optional field is present (0: required)
	from float64 // the field exists from this fraction of the run (client SDK update); 0 always
	with string  // present only in calls that carry this other field (its companion in a release)
}

// rolloutSpread: a release's new fields reach each agent instance at its
// own time within this long after the release (instances pick up the new
// client version at different times).
const rolloutSpread = 2 * time.Hour

// toolSpec is a tool of the catalogue.
type toolSpec struct {
	name, publisher, trust string
	score                  float64
	class                  string // data classification of the calls
	lat, size              dist
	inScale                bool    // LLM: duration grows with input length
	timeoutMS              float64 // the caller's timeout (round value)
	perms                  []string
	args                   []field
	dest                   string // "", "email" (recipient) or "host" (partner endpoint)
	mentions               bool   // output names e-mail senders (output_destinations)
	errRate                float64
	version                string
	introduced             float64 // the tool appears at this fraction of the run (0: from the start)
}

// role is an agent role: a Markov chain over its tools, the way its
// sessions arrive, and its routine denials.
type role struct {
	name    string
	driver  string // human, event, batch
	tools   []string
	start   []float64   // first-step distribution over tools
	next    [][]float64 // next[i][j], j == len(tools) is the end of the turn
	turns   float64     // mean turns per session (human); steps per run (batch)
	peak    float64     // sessions per hour at the diurnal peak
	perInst float64     // sessions per hour one instance serves
	denials []routineDenial
	users   int
}

type routineDenial struct {
	tool, perm string
	p          float64 // per call of tool
	env        string  // only in this environment ("": all)
}

type tenant struct {
	name    string
	utcOff  int // hours
	chained bool
	roles   []string
	envs    []envShare
	holiday []int // day indices (0 = first day) with ~10% traffic
	domains int
}

type envShare struct {
	env   string
	share float64
}

// catalogue returns the tools; tenant-internal tools are instantiated per
// tenant as "<tenant>.<tool>" by the world.
func catalogue() []toolSpec {
	return []toolSpec{
		{name: "crm_lookup", publisher: "internal", trust: "gold", score: 96, class: "confidential",
			lat: dist{median: 80, sigma: 0.6}, size: dist{median: 1200, sigma: 0.03, narrow: true}, timeoutMS: 10000,
			perms: []string{"data_access:read"}, args: []field{{name: "customer_id", kind: "id"}, {name: "fields", kind: "list", opt: 0.3}, {name: "include_history", kind: "bool", opt: 0.1, from: 0.55},
				{name: "history_days", kind: "num", opt: 0.6, from: 0.55, with: "include_history"}},
			errRate: 0.003, version: "3.4.0"},
		{name: "ticket_history", publisher: "internal", trust: "gold", score: 93, class: "confidential",
			lat: dist{median: 150, sigma: 0.8}, size: dist{median: 4000, sigma: 1.0}, timeoutMS: 10000,
			perms: []string{"data_access:read"}, args: []field{{name: "customer_id", kind: "id"}, {name: "limit", kind: "num", opt: 0.5}},
			errRate: 0.004, version: "1.9.2"},
		{name: "status_update", publisher: "internal", trust: "gold", score: 97, class: "internal",
			lat: dist{median: 120, sigma: 0.4}, size: dist{median: 180, sigma: 0.02, narrow: true}, timeoutMS: 5000,
			perms: []string{"data_access:write"}, args: []field{{name: "ticket_id", kind: "id"}, {name: "status", kind: "id"}, {name: "note", kind: "text", opt: 0.4}},
			errRate: 0.002, version: "2.0.1"},
		{name: "send_email", publisher: "internal", trust: "silver", score: 88, class: "confidential",
			lat: dist{median: 400, sigma: 0.5}, size: dist{median: 220, sigma: 0.03, narrow: true}, timeoutMS: 30000,
			perms: []string{"network:smtp"}, args: []field{{name: "to", kind: "email"}, {name: "subject", kind: "text"}, {name: "body", kind: "text"}, {name: "cc", kind: "email", opt: 0.1}},
			dest: "email", errRate: 0.003, version: "1.2.0"},
		{name: "read_inbox", publisher: "internal", trust: "silver", score: 86, class: "confidential",
			lat: dist{median: 250, sigma: 0.7}, size: dist{median: 20000, sigma: 1.2}, timeoutMS: 30000,
			perms: []string{"data_access:read"}, args: []field{{name: "folder", kind: "id"}, {name: "unread_only", kind: "bool", opt: 0.5}},
			mentions: true, errRate: 0.003, version: "1.2.0"},
		{name: "sql_query", publisher: "internal", trust: "gold", score: 92, class: "restricted",
			lat: dist{median: 25, sigma: 0.7, pSlow: 0.15, slowMedian: 4000, slowSigma: 1.8}, timeoutMS: 120000,
			size:  dist{median: 600, sigma: 0.8, pSlow: 0.15, slowMedian: 200000, slowSigma: 2.0},
			perms: []string{"data_access:read"}, args: []field{{name: "query", kind: "sql"}, {name: "database", kind: "id", opt: 0.6}, {name: "timeout_s", kind: "num", opt: 0.2}},
			errRate: 0.01, version: "5.1.3"},
		{name: "metrics_query", publisher: "internal", trust: "silver", score: 90, class: "internal",
			lat: dist{median: 200, sigma: 1.0}, size: dist{median: 15000, sigma: 1.0}, timeoutMS: 30000,
			perms: []string{"data_access:read"}, args: []field{{name: "expr", kind: "text"}, {name: "range", kind: "id", opt: 0.7}},
			errRate: 0.005, version: "0.9.8"},
		{name: "file_read", publisher: "internal", trust: "gold", score: 95, class: "internal",
			lat: dist{median: 15, sigma: 1.5}, size: dist{median: 12000, sigma: 1.8, pTail: 0.04, tailMin: 2e6, alpha: 1.1}, timeoutMS: 30000,
			perms: []string{"filesystem:read"}, args: []field{{name: "path", kind: "path"}, {name: "max_bytes", kind: "num", opt: 0.3}},
			errRate: 0.01, version: "1.0.4"},
		{name: "file_write", publisher: "internal", trust: "gold", score: 95, class: "internal",
			lat: dist{median: 30, sigma: 1.2}, size: dist{median: 90, sigma: 0.05, narrow: true}, timeoutMS: 30000,
			perms: []string{"filesystem:write"}, args: []field{{name: "path", kind: "path"}, {name: "content", kind: "text"}, {name: "append", kind: "bool", opt: 0.2}},
			errRate: 0.005, version: "1.0.4"},
		{name: "http_post", publisher: "internal", trust: "silver", score: 84, class: "internal",
			lat: dist{median: 350, sigma: 0.9}, size: dist{median: 300, sigma: 0.6}, timeoutMS: 30000,
			perms: []string{"network:connect"}, args: []field{{name: "url", kind: "url"}, {name: "payload", kind: "obj"}},
			dest: "host", errRate: 0.01, version: "2.2.0"},
		{name: "pager_ack", publisher: "internal", trust: "gold", score: 97, class: "internal",
			lat: dist{median: 90, sigma: 0.3}, size: dist{median: 140, sigma: 0.02, narrow: true}, timeoutMS: 5000,
			perms: []string{"data_access:write"}, args: []field{{name: "incident_id", kind: "id"}},
			errRate: 0.002, version: "1.0.0"},
		// Shared services (one name across tenants).
		{name: "llm_complete", publisher: "llm-gateway", trust: "silver", score: 85, class: "internal",
			lat: dist{median: 2500, sigma: 0.7, pSlow: 0.02, slowMedian: 25000, slowSigma: 0.5}, inScale: true, timeoutMS: 60000,
			size: dist{median: 900, sigma: 0.8}, perms: []string{"network:connect"},
			args:    []field{{name: "prompt", kind: "prompt"}, {name: "max_tokens", kind: "num", opt: 0.7}, {name: "temperature", kind: "num", opt: 0.4}, {name: "response_format", kind: "obj", opt: 0.15, from: 0.4}},
			errRate: 0.004, version: "2024.11"},
		{name: "web_search", publisher: "search-co", trust: "silver", score: 80, class: "public",
			lat: dist{median: 600, sigma: 0.8}, size: dist{median: 8000, sigma: 0.5}, timeoutMS: 30000,
			perms: []string{"network:connect"}, args: []field{{name: "q", kind: "text"}, {name: "num", kind: "num", opt: 0.3}},
			errRate: 0.005, version: "3.0"},
		{name: "web_fetch", publisher: "community", trust: "bronze", score: 62, class: "public",
			lat: dist{median: 800, sigma: 1.6}, size: dist{median: 40000, sigma: 1.5, pTail: 0.05, tailMin: 500000, alpha: 1.2}, timeoutMS: 30000,
			perms: []string{"network:connect"}, args: []field{{name: "url", kind: "url"}, {name: "render_js", kind: "bool", opt: 0.1}},
			errRate: 0.03, version: "0.14.2"},
		{name: "pdf_extract", publisher: "community", trust: "unverified", score: 40, class: "public",
			lat: dist{median: 1800, sigma: 1.7}, size: dist{median: 30000, sigma: 1.6, pTail: 0.03, tailMin: 1e6, alpha: 1.3}, timeoutMS: 120000,
			perms: []string{"filesystem:read"}, args: []field{{name: "path", kind: "path"}, {name: "pages", kind: "id", opt: 0.3}},
			errRate: 0.02, version: "0.3.1"},
		{name: "code_exec", publisher: "sandbox-inc", trust: "silver", score: 82, class: "internal",
			lat: dist{median: 1500, sigma: 1.7}, size: dist{median: 2500, sigma: 1.5}, timeoutMS: 120000,
			perms: []string{"code_execution:run"}, args: []field{{name: "language", kind: "id"}, {name: "code", kind: "text"}, {name: "timeout_s", kind: "num", opt: 0.25}},
			errRate: 0.08, version: "4.2.0"},
		{name: "git_ops", publisher: "scm-co", trust: "gold", score: 94, class: "internal",
			lat: dist{median: 700, sigma: 1.0}, size: dist{median: 3000, sigma: 1.3}, timeoutMS: 60000,
			perms: []string{"filesystem:write"}, args: []field{{name: "op", kind: "id"}, {name: "repo", kind: "id"}, {name: "ref", kind: "id", opt: 0.5}},
			errRate: 0.02, version: "2.41"},
		{name: "kb_search", publisher: "internal", trust: "gold", score: 93, class: "internal",
			lat: dist{median: 300, sigma: 0.9}, size: dist{median: 6000, sigma: 0.7}, timeoutMS: 10000,
			perms: []string{"data_access:read"}, args: []field{{name: "query", kind: "text"}, {name: "top_k", kind: "num", opt: 0.4}},
			errRate: 0.003, version: "1.5.0"},
		// Introduced mid-run.
		{name: "vector_search", publisher: "internal", trust: "silver", score: 88, class: "internal",
			lat: dist{median: 45, sigma: 0.9}, size: dist{median: 5000, sigma: 0.6}, timeoutMS: 10000,
			perms: []string{"data_access:read"}, args: []field{{name: "embedding_of", kind: "text"}, {name: "k", kind: "num", opt: 0.5}},
			errRate: 0.004, version: "0.1.0", introduced: 0.45},
		{name: "calendar_book", publisher: "internal", trust: "silver", score: 87, class: "internal",
			lat: dist{median: 220, sigma: 0.6}, size: dist{median: 350, sigma: 0.04, narrow: true}, timeoutMS: 10000,
			perms: []string{"data_access:write"}, args: []field{{name: "customer_id", kind: "id"}, {name: "slot", kind: "id"}, {name: "notes", kind: "text", opt: 0.3}},
			errRate: 0.01, version: "1.0.0", introduced: 0.6},
	}
}

// shared reports whether a tool is one service used by every tenant.
func shared(name string) bool {
	switch name {
	case "llm_complete", "web_search", "web_fetch", "pdf_extract", "code_exec", "git_ops":
		return true
	}
	return false
}

// roles returns the role templates. Transition rows list weights over the
// role's tools plus a last "end of turn" weight.
func roles() map[string]role {
	rs := []role{
		{name: "support", driver: "human", turns: 4, peak: 70, perInst: 25, users: 40,
			tools: []string{"crm_lookup", "ticket_history", "kb_search", "llm_complete", "send_email", "status_update", "vector_search", "calendar_book"},
			start: []float64{6, 2, 2, 0, 0, 0, 0, 0},
			next: [][]float64{
				{0, 4, 2, 3, 0, 1, 1, 1, 1},
				{0.5, 0, 2, 4, 0, 1, 1, 0, 1},
				{0, 0, 1, 5, 0, 0, 0, 0, 2},
				{0.5, 0.3, 0.5, 0.3, 3, 2, 0, 0.5, 3},
				{0, 0, 0, 0, 0, 3, 0, 0, 5},
				{0, 0, 0, 0, 0.5, 0, 0, 0, 6},
				{0, 0, 1, 4, 0, 0, 0.5, 0, 1},
				{0, 0, 0, 1, 2, 1, 0, 0, 3},
			},
			denials: []routineDenial{{tool: "crm_lookup", perm: "data_access:write", p: 0.01, env: "staging"}, {tool: "send_email", perm: "network:smtp_external", p: 0.004}}},
		{name: "coder", driver: "human", turns: 9, peak: 12, perInst: 3, users: 15,
			tools: []string{"file_read", "file_write", "code_exec", "git_ops", "web_search", "llm_complete", "web_fetch"},
			start: []float64{5, 0, 0, 2, 1, 1, 0},
			next: [][]float64{
				{3, 2, 1, 0.5, 0.3, 1.5, 0.2, 1},
				{1, 0.5, 3, 1, 0, 0.5, 0, 1},
				{1.5, 1.5, 1, 0.5, 0.3, 1, 0.1, 1.5},
				{2, 0.2, 0.5, 0.5, 0, 0.3, 0, 2},
				{0, 0, 0, 0, 0.5, 1, 2, 1},
				{2, 1.5, 1, 0.3, 0.3, 0.3, 0.1, 1},
				{0, 0, 0, 0, 1, 1.5, 0.5, 1},
			},
			denials: []routineDenial{{tool: "code_exec", perm: "network:connect", p: 0.03}, {tool: "file_write", perm: "filesystem:write", p: 0.01}}},
		{name: "analyst", driver: "human", turns: 5, peak: 18, perInst: 6, users: 12,
			tools: []string{"sql_query", "llm_complete", "file_write", "metrics_query", "pdf_extract"},
			start: []float64{6, 1, 0, 1, 0.5},
			next: [][]float64{
				{3, 2, 0.7, 0.3, 0, 1.5},
				{1.5, 0.3, 1, 0.2, 0.2, 2},
				{0, 0.3, 0.2, 0, 0, 3},
				{0.5, 1, 0, 1, 0, 1.5},
				{0, 2, 0, 0, 0.3, 1},
			},
			denials: []routineDenial{{tool: "sql_query", perm: "data_access:read_pii", p: 0.04}}},
		{name: "mailbot", driver: "event", turns: 1, peak: 90, perInst: 60, users: 1,
			tools: []string{"read_inbox", "llm_complete", "crm_lookup", "send_email", "status_update"},
			start: []float64{1, 0, 0, 0, 0},
			next: [][]float64{
				{0, 5, 1, 0, 0, 0.3},
				{0, 0.2, 1.5, 3, 1, 1},
				{0, 2, 0, 0.5, 0.3, 0.5},
				{0, 0, 0, 0, 1.5, 3},
				{0, 0, 0, 0, 0, 1},
			}},
		{name: "nightly", driver: "batch", turns: 400, peak: 0.3, perInst: 1, users: 1,
			tools: []string{"sql_query", "file_write", "http_post", "metrics_query"},
			start: []float64{1, 0, 0, 0},
			next: [][]float64{
				{6, 2, 0.6, 0.3, 0.02},
				{3, 0.3, 0.5, 0.2, 0.02},
				{3, 0.5, 0.2, 0.2, 0.02},
				{2, 0.5, 0, 1, 0.02},
			},
			denials: []routineDenial{{tool: "file_write", perm: "filesystem:write", p: 0.002}}},
		{name: "researcher", driver: "human", turns: 6, peak: 10, perInst: 4, users: 10,
			tools: []string{"web_search", "web_fetch", "llm_complete", "pdf_extract", "file_write", "vector_search"},
			start: []float64{5, 1, 1, 0.5, 0, 0},
			next: [][]float64{
				{0.5, 4, 1, 0.5, 0, 0.5, 1},
				{0.5, 2, 3, 0.5, 0.3, 0, 1},
				{1, 0.5, 0.3, 0.2, 1, 0.3, 2},
				{0, 0, 2, 0.3, 0.2, 0, 1},
				{0, 0, 0.3, 0, 0, 0, 3},
				{0, 0.5, 2, 0, 0, 0.3, 1},
			},
			denials: []routineDenial{{tool: "web_fetch", perm: "network:connect_internal", p: 0.01}}},
		{name: "sre", driver: "human", turns: 3, peak: 3, perInst: 2, users: 6,
			tools: []string{"metrics_query", "code_exec", "pager_ack", "web_search", "llm_complete"},
			start: []float64{3, 0, 1, 0, 0},
			next: [][]float64{
				{3, 1, 0.5, 0.2, 1, 1.5},
				{1.5, 0.5, 0, 0, 0.5, 1.5},
				{2, 0, 0, 0, 0.2, 1},
				{0.5, 0, 0, 0.3, 1, 1},
				{1, 0.7, 0.2, 0.2, 0.1, 2},
			},
			denials: []routineDenial{{tool: "code_exec", perm: "code_execution:sudo", p: 0.02}}},
	}
	m := make(map[string]role, len(rs))
	for _, r := range rs {
		m[r.name] = r
	}
	return m
}

func tenants() []tenant {
	return []tenant{
		{name: "acme", utcOff: 1, chained: true, roles: []string{"support", "mailbot", "nightly", "analyst"},
			envs: []envShare{{"production", 0.9}, {"staging", 0.1}}, domains: 40},
		{name: "globex", utcOff: -5, roles: []string{"coder", "researcher", "support", "sre"},
			envs: []envShare{{"production", 0.85}, {"staging", 0.1}, {"development", 0.05}}, holiday: []int{3, 4}, domains: 60},
		{name: "initech", utcOff: 8, chained: true, roles: []string{"analyst", "coder", "mailbot", "nightly"},
			envs: []envShare{{"production", 0.8}, {"development", 0.2}}, domains: 25},
	}
}

// diurnal is the relative session rate by local hour of human-driven
// roles: nothing at night, a morning peak, a lunch dip, an afternoon peak.
var diurnal = [24]float64{0, 0, 0, 0, 0, 0.01, 0.05, 0.3, 0.8, 1, 1, 0.9, 0.4, 0.55, 1, 1, 0.9, 0.7, 0.35, 0.2, 0.12, 0.08, 0.04, 0.02}

// inbound is the relative rate of event-driven work (mail arriving): a
// business-day swell over a round-the-clock floor.
var inbound = [24]float64{0.15, 0.12, 0.1, 0.1, 0.1, 0.12, 0.2, 0.45, 0.8, 1, 1, 0.95, 0.8, 0.85, 0.95, 0.9, 0.8, 0.6, 0.45, 0.35, 0.3, 0.25, 0.2, 0.18}

func hexID(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func toolName(ten, tool string) string {
	if shared(tool) {
		return tool
	}
	return ten + "." + tool
}
