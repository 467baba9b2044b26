package ingest

import "testing"

func TestAppendSubject(t *testing.T) {
	for _, tc := range []struct{ env, agent, want string }{
		{"production", "support-agent-01", "audit.records.production.support-agent-01"},
		{"", "a", "audit.records._.a"},
		{"prod.eu", "agent *x>y", "audit.records.prod_eu.agent__x_y"},
		{"staging", "", "audit.records.staging._"},
	} {
		if got := string(AppendRecordSubject(nil, "audit.records", tc.env, tc.agent)); got != tc.want {
			t.Errorf("AppendRecordSubject(%q, %q) = %q, want %q", tc.env, tc.agent, got, tc.want)
		}
	}
}
