package demo

import (
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape/dest"
)

// The simulated deployment gains what the chain_integrity and egress
// patterns need: one agent runtime chains its records (as the producer/
// library does, without checkpoints), and send-email calls carry their
// recipients as keyed hashes (shape/dest), drawn from a few usual
// contacts, so the tool's destination vocabulary is closed after the
// history.
const (
	chainedAgent = "billing-agent-prod-01"
	mailTool     = "send-email"
)

// demoKey is the demo's destination-hashing key (public: a demo, not an
// organisation's secret).
var demoKey = []byte("toolwatch-demo-destination-key")

// The recipients send-email uses, and the one an injected document asks
// for (a look-alike of a customer's domain).
var (
	contacts = []string{"orders@acme-corp.example", "billing@acme-corp.example", "support@northwind.example",
		"ap@globex.example", "finance@initech.example", "helpdesk@acme-corp.example"}
	attackerAddr = "invoices@acme-c0rp-billing.example"
)

type destSets struct {
	contacts [][]string
	attacker []string
}

// hashedDests hashes the addresses once, as a runtime would with
// shape/dest's built-in argument map.
var hashedDests = sync.OnceValue(func() destSets {
	ex, err := dest.New(dest.DefaultDestinations(), demoKey)
	if err != nil {
		panic(err) // a constant key and the built-ins
	}
	to := func(addr string) []string {
		return ex.Extract(mailTool, dest.Input, []byte(`{"to":"`+addr+`"}`)).Destinations
	}
	var s destSets
	for _, c := range contacts {
		s.contacts = append(s.contacts, to(c))
	}
	s.attacker = to(attackerAddr)
	return s
})

// dresser completes each record in emission (event-time) order: it sets
// send-email's destinations on simulated records and chains the chained
// agent's records, every one of them, injected ones included (an agent
// seen chaining that sends an unchained record is itself a finding).
type dresser struct {
	producer string
	seq      int64
	prev     [32]byte
	scratch  []byte
}

// newDresser names the chain after the traffic's start, so each run of
// `detector simulate` is a new runtime instance with its own chain.
func newDresser(start time.Time) *dresser {
	return &dresser{producer: "billing-rt-" + strconv.FormatInt(start.Unix(), 36)}
}

func (d *dresser) dress(r *record.Record, inj *Injected) {
	if inj == nil { // simulated traffic; the generator may reuse r
		r.Invocation.Destinations = nil
		if r.Tool.Name == mailTool {
			h := fnv.New32a()
			h.Write([]byte(r.SpanID))
			h.Write([]byte(r.TraceID))
			cs := hashedDests().contacts
			r.Invocation.Destinations = cs[h.Sum32()%uint32(len(cs))]
		}
	}
	r.Chain = record.Chain{}
	if r.AgentID != chainedAgent {
		return
	}
	d.seq++
	d.scratch = chain.Link(r, d.producer, d.seq, d.prev, "", nil, d.scratch)
	d.prev = r.Chain.Hash
	if inj != nil {
		if a := anomalyOf(inj.Pattern); a != nil && a.tamper != nil {
			a.tamper(r) // after chaining: altered at rest or in transit
		}
	}
}

func anomalyOf(pattern string) *anomaly {
	for i := range anomalies {
		if anomalies[i].pattern == pattern {
			return &anomalies[i]
		}
	}
	return nil
}
