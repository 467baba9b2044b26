package otlp

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/toolwatch/toolwatch/record"
)

var update = flag.Bool("update", false, "rewrite golden files")

// mapAll runs the receiver's selection and mapping over td and writes one
// line per span: "record <subject> <json>", "ignored <name>" or
// "rejected <name>: <field>: <reason>".
func mapAll(t *testing.T, cfg Config, td ptrace.Traces) []byte {
	t.Helper()
	m := newMapper(cfg.ToolSpans, cfg.Attributes, record.DefaultLimits())
	var out, buf []byte
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		res := rss.At(i).Resource().Attributes()
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				sp := spans.At(k)
				if !m.isToolSpan(sp) {
					out = append(out, "ignored "+oneLine(sp.Name())+"\n"...)
					continue
				}
				var rec *record.Record
				var rej *rejection
				buf, rec, rej = m.mapSpan(buf[:0], res, sp)
				if rej != nil {
					out = append(out, "rejected "+oneLine(sp.Name())+": "+rej.Error()+"\n"...)
					continue
				}
				out = append(out, "record "...)
				out = appendSubject(out, &cfg, rec)
				out = append(out, ' ')
				out = append(out, buf...)
				out = append(out, '\n')
			}
		}
	}
	return out
}

// The OTLP/JSON request in testdata maps to the golden records: the
// audit-trail convention, the GenAI conventions, span status and
// error.type, resource environment and service.name fallback, and each
// kind of rejection.
func TestMappingGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/request.json")
	if err != nil {
		t.Fatal(err)
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	got := mapAll(t, DefaultConfig(), req.Traces())
	const golden = "testdata/mapping.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("mapping differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// span builds a one-span Traces with the given attributes.
func span(attrs map[string]any, res map[string]any, edit func(ptrace.Span)) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	if err := rs.Resource().Attributes().FromRaw(res); err != nil {
		panic(err)
	}
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("s")
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	start := time.Date(2026, 3, 23, 14, 30, 0, 0, time.UTC)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(250 * time.Millisecond)))
	if err := sp.Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
	if edit != nil {
		edit(sp)
	}
	return td
}

func TestMappingTable(t *testing.T) {
	custom := DefaultConfig()
	custom.ToolSpans = ToolSpans{Operations: []string{"tool_call"}}
	custom.Attributes.Operation = []string{"op"}
	custom.Attributes.ToolName = []string{"fn.name"}
	custom.Attributes.AgentID = []string{"bot"}
	custom.Attributes.Environment = []string{"env"}
	custom.Attributes.DurationMS = []string{"ms"}

	base := map[string]any{"tool.name": "lookup", "agent.id": "a1"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	const prefix = "record audit.records."
	const id = `{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","timestamp":"2026-03-23T14:30:00.000Z"`
	tests := []struct {
		name  string
		cfg   Config
		attrs map[string]any
		res   map[string]any
		edit  func(ptrace.Span)
		want  string
	}{
		{"duration from end-start, status unset is success", DefaultConfig(), base, nil, nil,
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success"}}`},
		{"status attribute wins over span status", DefaultConfig(), with("invocation.status", "Denied"), nil,
			func(sp ptrace.Span) { sp.Status().SetCode(ptrace.StatusCodeError) },
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"denied"}}`},
		{"span error without error.type", DefaultConfig(), base, nil,
			func(sp ptrace.Span) { sp.Status().SetCode(ptrace.StatusCodeError) },
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"error"}}`},
		{"span error with deadline error.type", DefaultConfig(), with("error.type", "context.DeadlineExceeded"), nil,
			func(sp ptrace.Span) { sp.Status().SetCode(ptrace.StatusCodeError) },
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"timeout"}}`},
		{"error.type without error status is success", DefaultConfig(), with("error.type", "timeout"), nil, nil,
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success"}}`},
		{"agent and environment from the resource", DefaultConfig(), map[string]any{"tool.name": "lookup"},
			map[string]any{"service.name": "svc", "deployment.environment": "dev"}, nil,
			prefix + `dev.svc ` + id + `,"agent_id":"svc","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success"},"context":{"environment":"dev"}}`},
		{"span agent.id beats resource service.name", DefaultConfig(), base, map[string]any{"service.name": "svc"}, nil,
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success"}}`},
		{"numbers as strings and doubles", DefaultConfig(),
			with("invocation.duration_ms", "7.25", "tool.verification_score", 88.5, "invocation.input_bytes", "12"), nil, nil,
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup","verification_score":88.5},"invocation":{"duration_ms":7.25,"status":"success","input_bytes":12}}`},
		{"permissions as array and list", DefaultConfig(),
			with("permissions.used", []any{"data_access:read", " "}, "permissions.denied", "network:egress,filesystem:write"), nil, nil,
			prefix + `unknown.a1 ` + id + `,"agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success","permissions_used":["data_access:read"],"permissions_denied":["network:egress","filesystem:write"]}}`},
		{"parent span id", DefaultConfig(), base, nil,
			func(sp ptrace.Span) { sp.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9}) },
			prefix + `unknown.a1 {"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","parent_span_id":"0909090909090909","timestamp":"2026-03-23T14:30:00.000Z","agent_id":"a1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success"}}`},
		{"subject tokens sanitised, payload unchanged", DefaultConfig(), with("agent.id", "team.bot *1", "deployment.environment.name", "prod>eu"), nil, nil,
			prefix + `prod_eu.team_bot__1 ` + id + `,"agent_id":"team.bot *1","tool":{"name":"lookup"},"invocation":{"duration_ms":250,"status":"success"},"context":{"environment":"prod>eu"}}`},
		{"custom names and operation", custom, map[string]any{"op": "tool_call", "fn.name": "f", "bot": "b", "env": "qa", "ms": 3}, nil, nil,
			prefix + `qa.b ` + id + `,"agent_id":"b","tool":{"name":"f"},"invocation":{"duration_ms":3,"status":"success"},"context":{"environment":"qa"}}`},
		{"custom config ignores the default names", custom, base, nil, nil, "ignored s"},
		{"not a tool span", DefaultConfig(), map[string]any{"gen_ai.operation.name": "chat", "agent.id": "a"}, nil, nil, "ignored s"},
		{"tool.name on the resource does not make a tool span", DefaultConfig(), map[string]any{}, map[string]any{"tool.name": "x"}, nil, "ignored s"},
		{"execute_tool without a tool name", DefaultConfig(), map[string]any{"gen_ai.operation.name": "execute_tool", "agent.id": "a"}, nil, nil,
			"rejected s: tool.name: required"},
		{"missing span id", DefaultConfig(), base, nil, func(sp ptrace.Span) { sp.SetSpanID(pcommon.SpanID{}) },
			"rejected s: span_id: span has no span id"},
		{"missing start", DefaultConfig(), base, nil, func(sp ptrace.Span) { sp.SetStartTimestamp(0) },
			"rejected s: timestamp: span has no start time"},
		{"end before start", DefaultConfig(), base, nil,
			func(sp ptrace.Span) { sp.SetEndTimestamp(sp.StartTimestamp() - 1) },
			"rejected s: invocation.duration_ms: no duration attribute and the span's end time is missing or before its start"},
		{"negative duration attribute", DefaultConfig(), with("invocation.duration_ms", -1), nil, nil,
			"rejected s: invocation.duration_ms: must be a number >= 0"},
		{"duration attribute not a number", DefaultConfig(), with("invocation.duration_ms", true), nil, nil,
			"rejected s: invocation.duration_ms: attribute is not a number"},
		{"bad status attribute", DefaultConfig(), with("invocation.status", "ok"), nil, nil,
			"rejected s: invocation.status: must be one of success, error, denied, timeout"},
		{"fractional output bytes", DefaultConfig(), with("invocation.output_bytes", 1.5), nil, nil,
			"rejected s: invocation.output_bytes: attribute is not an integer"},
		{"permissions of wrong type", DefaultConfig(), with("permissions.used", int64(3)), nil, nil,
			"rejected s: invocation.permissions_used: attribute is not a string or string array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(bytes.TrimSuffix(mapAll(t, tc.cfg, span(tc.attrs, tc.res, tc.edit)), []byte("\n")))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func oneLine(s string) string { return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s) }
