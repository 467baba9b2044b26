package ingest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNakSubject(t *testing.T) {
	tests := []struct {
		reply string
		want  string // "" : not an ack subject
	}{
		{"$JS.ACK.AUDIT.toolwatch-detector.1.6.6.1764892800000000000.14",
			"$JS.ACK.AUDIT.toolwatch-detector.1.5.6.1764892800000000000.14"},
		{"$JS.ACK.AUDIT.toolwatch-detector.3.6.9.1764892800000000000.14",
			"$JS.ACK.AUDIT.toolwatch-detector.1.5.6.1764892800000000000.14"},
		{"$JS.ACK.hub.ACCHASH.AUDIT.toolwatch-detector.1.6.6.1764892800000000000.14.rnd",
			"$JS.ACK.hub.ACCHASH.AUDIT.toolwatch-detector.1.5.6.1764892800000000000.14.rnd"},
		{"_INBOX.abc.def", ""},
		{"$JS.API.CONSUMER.INFO.AUDIT.x.1.2.3", ""},
	}
	for _, tt := range tests {
		got, ok := nakSubject(tt.reply, 5, 6)
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("nakSubject(%q) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}

// A first delivery lost in flight (seq 5, ack_wait 30 s) is NAKed as soon
// as the next delivery shows the gap in delivery sequences: it is applied,
// and everything acked, long before ack_wait, with no record applied twice
// and no ack past it before it is applied. On the embedded server and on
// the Debian binary (an older server).
func TestJetStreamLostDeliveryNakedEarly(t *testing.T) {
	for _, srv := range []string{"embedded", "debian"} {
		t.Run(srv, func(t *testing.T) {
			var url string
			if srv == "embedded" {
				_, url = startEmbedded(t, 0, t.TempDir())
			} else {
				url = startBinary(t, "-js", "-sd", t.TempDir())
			}
			nc := connect(t, url)
			cfg := testConfig()
			cfg.AckWait = 30 * time.Second
			ensureStream(t, nc, cfg)
			publishMany(t, nc, 0, 40)

			c, m := newConsumer(t, nc, cfg, time.Second)
			h, lost, _ := loseFirstDelivery(t, c, 5)
			start := time.Now()
			stop := run(t, c, h)
			waitFor(t, "seq 5 redelivered and everything acked", acked(nc, cfg, 40))
			took := time.Since(start)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if took >= 10*time.Second {
				t.Errorf("lost record applied after %s; ack_wait is %s", took, cfg.AckWait)
			}
			_, count, _, _ := h.snapshot()
			for seq := uint64(1); seq <= 40; seq++ {
				if count[seq] != 1 {
					t.Errorf("seq %d handled %d times", seq, count[seq])
				}
			}
			if !lost.Load() {
				t.Fatal("nothing was lost")
			}
			if got := testutil.ToFloat64(m.nakLost); got != 1 {
				t.Errorf("naks of lost records = %v, want 1", got)
			}
			t.Log(fmt.Sprintf("all applied and acked after %s", took.Round(time.Millisecond)))
		})
	}
}

// serverAckInfo is nats-server's ackReplyInfo (consumer.go): how the
// server reads stream seq, delivery seq and count from an ack subject.
func serverAckInfo(subject string) (sseq, dseq, dc uint64, ok bool) {
	tokens := strings.Split(subject, ".")
	if (len(tokens) != 9 && len(tokens) < 11) || tokens[0] != "$JS" || tokens[1] != "ACK" {
		return 0, 0, 0, false
	}
	off := 2
	if len(tokens) >= 11 {
		off = 4
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	return num(tokens[off+3]), num(tokens[off+4]), num(tokens[off+2]), true
}

// Whatever the reply subject, nakSubject either refuses it or returns one
// the server reads as (sseq, dseq, one delivery), with every other token
// of the reply kept.
func FuzzNakSubject(f *testing.F) {
	f.Add("$JS.ACK.AUDIT.toolwatch-detector.1.6.6.1764892800000000000.14", uint64(5), uint64(6))
	f.Add("$JS.ACK.hub.ACCHASH.AUDIT.c.2.6.9.1764892800000000000.14.rnd", uint64(1), uint64(9))
	f.Add("$JS.ACK.a.b", uint64(1), uint64(1))
	f.Add("", uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, reply string, sseq, dseq uint64) {
		got, ok := nakSubject(reply, sseq, dseq)
		_, _, _, serverOK := serverAckInfo(reply)
		if ok != serverOK {
			t.Fatalf("nakSubject(%q) ok=%v, the server reads it: %v", reply, ok, serverOK)
		}
		if !ok {
			return
		}
		s, d, dc, sok := serverAckInfo(got)
		if !sok || s != sseq || d != dseq || dc != 1 {
			t.Fatalf("nakSubject(%q, %d, %d) = %q, read by the server as (%d, %d, %d)", reply, sseq, dseq, got, s, d, dc)
		}
		if a, b := strings.Split(reply, "."), strings.Split(got, "."); len(a) != len(b) {
			t.Fatalf("%q has %d tokens, the reply %d", got, len(b), len(a))
		}
	})
}

// parseAckReply reads what the server writes into a delivery's ack
// subject, in both formats, and refuses anything else.
func TestParseAckReply(t *testing.T) {
	tests := []struct {
		reply                string
		ok                   bool
		dc, sseq, dseq, pend uint64
	}{
		{"$JS.ACK.AUDIT.toolwatch-detector.1.6.7.1764892800000000000.14", true, 1, 6, 7, 14},
		{"$JS.ACK.hub.ACCHASH.AUDIT.c.3.600000.600123.1764892800000000000.0", true, 3, 600000, 600123, 0},
		{"$JS.ACK.hub.ACCHASH.AUDIT.c.3.6.9.1764892800000000000.5.rnd", true, 3, 6, 9, 5},
		{"$JS.ACK.AUDIT.c.1.6.7.1764892800000000000", false, 0, 0, 0, 0},     // 8 tokens
		{"$JS.ACK.AUDIT.c.1.6.7.17.14.x", false, 0, 0, 0, 0},                 // 10 tokens
		{"$JS.ACK.AUDIT.c.1.-6.7.1764892800000000000.14", false, 0, 0, 0, 0}, // not a number
		{"$JS.ACK.AUDIT.c.1.6.7.1.99999999999999999999", false, 0, 0, 0, 0},  // overflows
		{"_INBOX.x.1.6.7.1.2.3.4", false, 0, 0, 0, 0},
		{"", false, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		var md jetstream.MsgMetadata
		ok := parseAckReply(tt.reply, &md)
		if ok != tt.ok {
			t.Errorf("parseAckReply(%q) ok = %v, want %v", tt.reply, ok, tt.ok)
			continue
		}
		if ok && (md.NumDelivered != tt.dc || md.Sequence.Stream != tt.sseq || md.Sequence.Consumer != tt.dseq || md.NumPending != tt.pend) {
			t.Errorf("parseAckReply(%q) = dc %d sseq %d dseq %d pending %d", tt.reply, md.NumDelivered, md.Sequence.Stream, md.Sequence.Consumer, md.NumPending)
		}
	}
}

// Whatever the subject, parseAckReply accepts it only if the server would
// read it as an ack subject, and then reads the same numbers; it never
// panics.
func FuzzParseAckReply(f *testing.F) {
	f.Add("$JS.ACK.AUDIT.toolwatch-detector.1.6.7.1764892800000000000.14")
	f.Add("$JS.ACK.hub.ACCHASH.AUDIT.c.3.6.9.1764892800000000000.5.rnd")
	f.Add("$JS.ACK....")
	f.Add("$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m.n")
	f.Fuzz(func(t *testing.T, reply string) {
		var md jetstream.MsgMetadata
		ok := parseAckReply(reply, &md)
		sseq, dseq, dc, serverOK := serverAckInfo(reply)
		if ok && !serverOK {
			t.Fatalf("parseAckReply(%q) accepted a subject the server does not read", reply)
		}
		if ok && (md.Sequence.Stream != sseq || md.Sequence.Consumer != dseq || md.NumDelivered != dc) {
			t.Fatalf("parseAckReply(%q) = (%d, %d, %d), the server reads (%d, %d, %d)", reply,
				md.Sequence.Stream, md.Sequence.Consumer, md.NumDelivered, sseq, dseq, dc)
		}
		if serverOK && !ok {
			// Refused only for a number the server would read as -1 (not
			// decimal digits, or too large).
			tokens := strings.Split(reply, ".")
			off := 2
			if len(tokens) >= 11 {
				off = 4
			}
			for _, i := range []int{off + 2, off + 3, off + 4, off + 6} {
				if _, err := strconv.ParseUint(tokens[i], 10, 64); err != nil || strings.ContainsAny(tokens[i], "+-") {
					return
				}
			}
			t.Fatalf("parseAckReply(%q) refused a subject with valid numbers", reply)
		}
	})
}
