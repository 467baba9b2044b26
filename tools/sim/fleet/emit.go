package fleet

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape"
	"github.com/toolwatch/toolwatch/tools/sim"
)

var words = []string{"order", "refund", "invoice", "delay", "account", "please", "check", "status", "shipment", "customer",
	"report", "quarterly", "error", "retry", "summary", "the", "of", "and", "for", "with", "update", "latest", "plan", "data"}

func sentence(r *rand.Rand, n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[r.IntN(len(words))]...)
	}
	return b
}

var sqlTemplates = []string{
	"SELECT id, status, total FROM orders WHERE customer_id = %d LIMIT 20",
	"SELECT count(*) FROM tickets WHERE opened_at > now() - interval '%d days'",
	"SELECT region, sum(amount) FROM payments WHERE year = 2026 GROUP BY region ORDER BY 2 DESC LIMIT %d",
	"UPDATE jobs SET state = 'done' WHERE id = %d",
	"SELECT * FROM inventory WHERE sku = 'SKU-%d'",
}

// input builds the raw JSON input of a call: the tool's fields, optional
// ones present with their probability once they exist.
func (g *gen) input(c *call, t *toolInst) []byte {
	if c.input == inputBinary {
		r := rand.New(rand.NewPCG(c.seed, 3))
		b := make([]byte, 256+r.IntN(512))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		b[0] = 0
		return b
	}
	r := rand.New(rand.NewPCG(c.seed, 1))
	f := g.frac(c.at)
	b := []byte{'{'}
	wrong := -1
	if c.input == inputWrong {
		wrong = r.IntN(len(t.spec.args))
	}
	first := true
	var sent [8]bool // per argument (catalogue tools have at most 4)
	for i, fd := range t.spec.args {
		if fd.from > f || (fd.opt > 0 && r.Float64() >= fd.opt) || fd.from > 0 && !g.pickedUp(c, &fd) {
			continue
		}
		if j := argIndex(t.spec.args[:i], fd.with); fd.with != "" && (j < 0 || !sent[j]) {
			continue // a companion argument, sent only with its field
		}
		sent[i] = true
		if !first {
			b = append(b, ',')
		}
		first = false
		name := fd.name
		if i == wrong { // a misnamed argument
			name = fd.name + "_" + []string{"id", "value", "str"}[r.IntN(3)]
			if len(t.spec.args) > 0 && r.IntN(2) == 0 {
				name = "input"
			}
		}
		b = strconv.AppendQuote(append(b, ""...), name)
		b = append(b, ':')
		b = g.value(b, r, fd.kind, c)
	}
	return append(b, '}')
}

// pickedUp reports whether the instance of call c has the client version
// with release field fd: it picks it up at its own time within
// rolloutSpread of the release (a hash of instance and field, so no
// random draw: the rest of the run is unchanged).
func (g *gen) pickedUp(c *call, fd *field) bool {
	at := g.start + int64(fd.from*float64(g.end-g.start))
	h := baseline.Hash64(g.insts[c.inst].id + "\x00" + fd.name)
	return c.at >= at+int64(h%uint64(rolloutSpread))
}

func argIndex(args []field, name string) int {
	for i, a := range args {
		if a.name == name {
			return i
		}
	}
	return -1
}

func (g *gen) value(b []byte, r *rand.Rand, kind string, c *call) []byte {
	switch kind {
	case "id":
		return strconv.AppendQuote(b, fmt.Sprintf("%c-%d", 'A'+rune(r.IntN(6)), r.IntN(100000)))
	case "num":
		return strconv.AppendInt(b, int64(r.IntN(1000)), 10)
	case "bool":
		return strconv.AppendBool(b, r.IntN(2) == 0)
	case "sql":
		if c.input == inputSQLi {
			return strconv.AppendQuote(b, "SELECT * FROM users WHERE name = '' OR '1'='1' -- ")
		}
		return strconv.AppendQuote(b, fmt.Sprintf(sqlTemplates[r.IntN(len(sqlTemplates))], r.IntN(5000)))
	case "url":
		return strconv.AppendQuote(b, fmt.Sprintf("https://site%d.example.org/%s/%d", r.IntN(500), words[r.IntN(len(words))], r.IntN(1000)))
	case "path":
		return strconv.AppendQuote(b, fmt.Sprintf("/srv/%s/%s-%d.csv", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(10000)))
	case "text":
		return strconv.AppendQuote(b, string(sentence(r, 3+r.IntN(12))))
	case "prompt":
		n := promptLen(c.seed)
		return strconv.AppendQuote(b, string(sentence(r, n/6+1)))
	case "email":
		return strconv.AppendQuote(b, contactAddr("x", int32(r.IntN(bookSize))))
	case "list":
		return append(b, `["name","email","tier"]`...)
	case "obj":
		return append(b, `{"type":"json_object"}`...)
	}
	return append(b, "null"...)
}

func contactAddr(tenant string, k int32) string {
	return fmt.Sprintf("contact-%d@d%d.%s-partners.example", k, k%37, tenant)
}

// emit sorts the calls by event time, links chains, builds the records and
// hands them to fn.
func (g *gen) emit(fn func(*record.Record, sim.Truth) error) (Summary, error) {
	slices.SortStableFunc(g.calls, func(a, b call) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	sum := Summary{Plan: g.plan, Behaviours: g.behaviours}
	seqs := make([]int64, len(g.insts))
	heads := make([][32]byte, len(g.insts))
	seen := make([]bool, len(g.insts))
	destCache := map[string]string{}
	hash := func(typ, v string) string {
		k := typ + ":" + v
		if h, ok := destCache[k]; ok {
			return h
		}
		h := g.hasher.Hash(typ, v)
		destCache[k] = h
		return h
	}
	var rec record.Record
	var scratch []byte
	for i := range g.calls {
		c := &g.calls[i]
		t := &g.tools[c.tool]
		in := &g.insts[c.inst]
		ses := &g.sessions[c.session]
		p := &g.pools[in.pool]
		ten := &g.tenants[p.tenant] // the caller's tenant (shared tools serve all)
		rec.Reset()
		rec.TraceID = fmt.Sprintf("%s-task-%07d", ten.name, c.session)
		rec.SpanID = "call-" + strconv.Itoa(i)
		rec.ParentSpanID = fmt.Sprintf("turn-%d", c.turn)
		rec.Timestamp = time.Unix(0, c.at).UTC()
		rec.AgentID = in.id
		rec.Tool = record.Tool{Name: t.name, Version: g.versions[c.version], Publisher: t.spec.publisher,
			TrustLevel: t.spec.trust, VerificationScore: t.spec.score}
		raw := g.input(c, t)
		inv := &rec.Invocation
		inv.InputShape = shape.Of(raw)
		inv.InputHash = sha(raw)
		inv.InputBytes = int64(len(raw))
		inv.DurationMS = float64(int64(c.dur*10)) / 10
		inv.Status = statusName[c.status]
		inv.OutputBytes = c.out
		if c.status == stSuccess {
			inv.OutputHash = sha([]byte(inv.InputHash + t.name))
		}
		if c.denied >= 0 {
			inv.PermissionsDenied = append(inv.PermissionsDenied, g.perms[c.denied])
		} else {
			inv.PermissionsUsed = append(inv.PermissionsUsed, t.spec.perms...)
		}
		switch {
		case c.contact >= 0 && t.spec.dest == "email":
			addr := contactAddr(ten.name, c.contact)
			if c.contact >= attacker {
				addr = fmt.Sprintf("payout-%d@mailbox-secure.example", c.contact-attacker)
			}
			dom := addr[indexByte(addr, '@')+1:]
			inv.Destinations = append(inv.Destinations, hash("email", addr), hash("email_domain", dom))
		case c.contact >= 0 && t.spec.dest == "host":
			host := fmt.Sprintf("api.partner%d.%s.example.com", c.contact, ten.name)
			inv.Destinations = append(inv.Destinations, hash("host", host), hash("domain", host[indexByte(host, '.')+1:]))
		}
		for k := range int(c.nMent) {
			inv.OutputDestinations = append(inv.OutputDestinations, hash("email", contactAddr(ten.name, c.mentions[k])))
		}
		rec.Context = record.Context{TaskID: rec.TraceID, UserID: ses.user, DataClassification: t.spec.class, Environment: p.env}
		if ten.chained {
			seqs[c.inst]++
			scratch = chain.Link(&rec, in.id, seqs[c.inst], heads[c.inst], "", nil, scratch)
			heads[c.inst] = rec.Chain.Hash
			if c.alter { // tampered after hashing
				inv.OutputBytes = inv.OutputBytes/3 + 1
			}
		}
		if !seen[c.inst] {
			seen[c.inst] = true
			sum.Agents++
		}
		truth := sim.Truth{}
		if c.anomaly >= 0 {
			truth.AnomalyID = g.plan[c.anomaly].ID
		} else {
			sum.Normal++
		}
		sum.Records++
		if err := fn(&rec, truth); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}
