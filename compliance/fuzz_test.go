package compliance

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/toolwatch/toolwatch/alert"
)

// Free text from records and from the chain detector (retention policies,
// environments, producers, kinds; not necessarily UTF-8 when built in
// code) never panics client_golang, stays within the label caps, and every
// record is counted once in each breakdown.
func FuzzLabels(f *testing.F) {
	f.Add("7y-sox", "production", "runtime-a", "gap", uint8(3))
	f.Add("", "", "", "", uint8(0))
	f.Add("other", "none", "other", "other", uint8(7))
	f.Add("\xff\xfe", "prod\x00", "\xc3\x28", "altered\xff", uint8(200))
	f.Fuzz(func(t *testing.T, policy, env, producer, kind string, n uint8) {
		reg := prometheus.NewPedanticRegistry()
		v := New(reg, Config{MaxRetentionPolicies: 2, MaxProducers: 2})
		r := complete()
		for i := range int(n%8) + 1 {
			r.RetentionPolicy, r.Context.Environment = policy+string(rune('a'+i%4)), env
			if i%3 == 0 {
				r.RetentionPolicy = policy
			}
			v.ObserveRecord(r)
			v.Chained(producer+string(rune('a'+i%3)), i%2 == 0)
			v.Finding(producer, kind, uint64(n))
			v.ObserveAlert(&alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: kind}})
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
		s := v.Summary()
		var ret, cls uint64
		for _, c := range s.RetentionPolicies {
			ret += c.N
		}
		for _, c := range s.Classifications {
			cls += c.N
		}
		if ret != s.Records || cls != s.Records {
			t.Fatalf("records %d, by retention %d, by classification %d", s.Records, ret, cls)
		}
		if len(s.RetentionPolicies) > 2+2 || len(s.Chain.Producers) > 2+1 {
			t.Fatalf("label caps exceeded: %d policies, %d producers", len(s.RetentionPolicies), len(s.Chain.Producers))
		}
		if n := testutil.CollectAndCount(v.chain.alertVec); n != len(ChainKinds) {
			t.Fatalf("%d chain alert series", n)
		}
	})
}
