package dest

import (
	"strings"
	"testing"
)

// Per-call cost for a Go runtime: typical inputs and a 16 KiB output
// scanned as text.
func BenchmarkExtract(b *testing.B) {
	e, err := New(DefaultDestinations(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Quarterly numbers attached; see the thread with finance for details. ", 240)
	for _, c := range []struct {
		name, tool string
		dir        Direction
		raw        string
	}{
		{"send_email", "send_email", Input, `{"recipients":["bob@acme.com","jane@partner.example.co.uk"],"cc":"ops@acme.com","subject":"Q3","body":"Hi all, numbers attached."}`},
		{"send_money", "send_money", Input, `{"recipient":"DE89 3704 0044 0532 0130 00","amount":120.5,"subject":"rent","date":"2024-05-01"}`},
		{"post_webpage", "post_webpage", Input, `{"url":"https://www.example.com/upload?id=7","content":"x"}`},
		{"no_rule_args", "customer_lookup", Input, `{"customer_id":"C-42","fields":["name","tier"]}`},
		{"output_dense_16KiB", "list_contacts", Output, `"` + strings.Repeat("jane.doe42@example.com, ", 680) + `"`},
		{"output_16KiB", "read_inbox", Output, `{"emails":[{"sender":"emma@example.com","body":"` + body[:16000] + ` reply to mark@gmail.com"}]}`},
	} {
		raw := []byte(c.raw)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				e.Extract(c.tool, c.dir, raw)
			}
		})
	}
}
