package otlp

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/toolwatch/toolwatch/record"
)

// Any bytes a client sends, as protobuf or JSON: decoding either fails
// cleanly or every tool span becomes a record the record package accepts
// on a subject of exactly prefix.environment.agent, or a rejection.
func FuzzExportRequest(f *testing.F) {
	f.Add(requestProto(f), false)
	f.Add(requestJSON(f), true)
	f.Add([]byte("\x0a\x02\x0a\x00"), false)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","attributes":[{"key":"tool.name","value":{"intValue":"1"}}]}]}]}]}`), true)
	cfg := DefaultConfig()
	dec := record.NewDecoder(record.DefaultLimits())
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		req := ptraceotlp.NewExportRequest()
		var err error
		if isJSON {
			err = req.UnmarshalJSON(data)
		} else {
			err = req.UnmarshalProto(data)
		}
		if err != nil {
			return
		}
		var r record.Record
		for l := range strings.Lines(string(mapAll(t, cfg, req.Traces()))) {
			rest, ok := strings.CutPrefix(l, "record ")
			if !ok {
				if !strings.HasPrefix(l, "ignored ") && !strings.HasPrefix(l, "rejected ") {
					t.Fatalf("unexpected line %q", l)
				}
				continue
			}
			subj, js, _ := strings.Cut(strings.TrimSuffix(rest, "\n"), " ")
			toks := strings.Split(subj, ".")
			if len(toks) != 4 || strings.ContainsAny(subj, "*> \t\r\n") || toks[2] == "" || toks[3] == "" {
				t.Fatalf("bad subject %q", subj)
			}
			if err := dec.Decode([]byte(js), &r); err != nil {
				t.Fatalf("published record does not decode: %v: %s", err, js)
			}
		}
	})
}
