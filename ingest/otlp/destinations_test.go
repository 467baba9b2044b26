package otlp

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/toolwatch/toolwatch/record"
)

func TestDestinationsAttribute(t *testing.T) {
	const (
		h1 = "email:0123456789abcdef0123456789abcdef"
		h2 = "host:fedcba9876543210fedcba9876543210"
	)
	m := newMapper(DefaultConfig().ToolSpans, DefaultAttributes(), record.DefaultLimits())
	names := DefaultAttributes().Destinations
	for _, c := range []struct {
		name   string
		set    func(pcommon.Map)
		want   []string
		reason string
	}{
		{"absent", func(pcommon.Map) {}, nil, ""},
		{"string array", func(a pcommon.Map) {
			s := a.PutEmptySlice("toolwatch.destinations")
			s.AppendEmpty().SetStr(h1)
			s.AppendEmpty().SetStr(" " + h2 + " ")
		}, []string{h1, h2}, ""},
		{"comma-separated string", func(a pcommon.Map) { a.PutStr("toolwatch.destinations", h1+", "+h2) }, []string{h1, h2}, ""},
		{"raw address", func(a pcommon.Map) { a.PutStr("toolwatch.destinations", h1+",bob@acme.com") },
			nil, "value 2 is not a hashed destination"},
		{"upper-case hex", func(a pcommon.Map) { a.PutStr("toolwatch.destinations", strings.ToUpper(h1)) },
			nil, "value 1 is not a hashed destination"},
		{"not a string", func(a pcommon.Map) { a.PutInt("toolwatch.destinations", 7) }, nil, "not a string or string array"},
		{"too many", func(a pcommon.Map) {
			s := a.PutEmptySlice("toolwatch.destinations")
			for range 257 {
				s.AppendEmpty().SetStr(h1)
			}
		}, nil, "more than 256 values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			span := pcommon.NewMap()
			c.set(span)
			got, rej := m.destinations(nil, names, span, pcommon.NewMap(), "invocation.destinations")
			switch {
			case c.reason != "":
				if rej == nil || rej.Field != "invocation.destinations" || !strings.Contains(rej.Reason, c.reason) {
					t.Fatalf("rejection %v, want %q", rej, c.reason)
				}
				if strings.Contains(rej.Reason, "bob@") || len(got) != 0 {
					t.Errorf("rejection reveals or keeps the value: %q %q", rej.Reason, got)
				}
			case rej != nil:
				t.Fatalf("rejected: %v", rej)
			case strings.Join(got, "|") != strings.Join(c.want, "|"):
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	// Resource attributes are read too (like every other field), span first.
	res := pcommon.NewMap()
	res.PutStr("toolwatch.output_destinations", h2)
	if got, rej := m.destinations(nil, DefaultAttributes().OutputDestinations, pcommon.NewMap(), res, "invocation.output_destinations"); rej != nil || len(got) != 1 || got[0] != h2 {
		t.Errorf("resource attribute: %q %v", got, rej)
	}
}
