// Package chain is the "chain_integrity" detector: it verifies the hash
// chains and signed checkpoints of audit records as they stream by
// (format and verification in package chain at the repository root,
// docs/design.md §2.1) and raises a finding the moment a record is
// missing, altered, replayed with different content or forged.
//
// Per producer it keeps the next expected seq, the hash of the record
// before it, the hashes of the newest `history` seqs and up to
// `max_pending` records that arrived ahead of a missing one. Redelivery of
// an identical record (at-least-once) is never a finding; a record that
// arrives out of order within the engine's allowed lateness plus
// `gap_grace` fills its place silently; a missing seq is declared a gap on
// the Tick whose watermark passes that point. Records without a chain cost
// one counter (and one map lookup once any agent chains). An agent that
// chains must chain in every runtime: an unchained record from an agent
// seen chaining is stopped_chaining (once, until it chains again).
//
// # Findings (Detail) and scores
//
// The evidence is cryptographic or exact, not statistical, so each kind
// has a fixed score on the detect/score scale, stated as decades of odds
// against a benign cause:
//
//	altered            100  chain.hash does not match the content (a matching forgery needs a SHA-256 second preimage)
//	fork               100  two different, self-consistent records with one seq
//	prev_mismatch      100  chain.prev is not the hash of the record before: one was replaced or reordered and re-hashed
//	bad_signature      100  a checkpoint whose Ed25519 signature does not verify (forged or altered head)
//	gap                 90  seqs missing: deleted in transit or at rest, or lost by the producer
//	stopped_chaining    80  an agent whose records were chained sent one without (a downgrade)
//	unknown_key         70  a checkpoint under a key id with no configured public key
//	missing_checkpoint  70  more than checkpoint_every records or checkpoint_max_age without a valid checkpoint
//
// so tampering is critical (>= 80) and configuration-like causes are
// warnings. Each finding names the producer and the seq (or range) in its
// summary and in details {kind, producer, seq, ...} (kind is the Detail
// above, which the compliance view counts alerts by); identity and trace fields
// are those of the record that revealed it (for a gap, the first record
// after it).
package chain

import (
	"fmt"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Pattern is the alert pattern name.
const Pattern = detect.PatternChainIntegrity

// Factory registers the detector in the detector table.
var Factory = detect.FactoryOf[Config, *Detector]{
	Name: Pattern, Defaults: DefaultConfig, Build: New, SetParams: (*Detector).SetParams,
}

// Scores of the finding kinds (see the package doc).
var scores = map[string]float64{
	core.Altered: 100, core.Fork: 100, core.PrevMismatch: 100, core.BadSignature: 100,
	core.Gap: 90, core.StoppedChaining: 80, core.UnknownKey: 70, core.MissingCheckpoint: 70,
}

// Detector is the chain_integrity detector.
type Detector struct {
	cfg    Config
	v      *core.Verifier
	issues []core.Issue
	stats  compliance.ChainStats // nil until the daemon attaches its view
}

var (
	_ detect.Detector          = (*Detector)(nil)
	_ detect.State             = (*Detector)(nil)
	_ detect.Stats             = (*Detector)(nil)
	_ compliance.ChainReporter = (*Detector)(nil)
	_ core.Reporter            = (compliance.ChainStats)(nil)
)

// New builds the detector from validated params (Validate loaded the keys).
func New(p *detect.Params[Config], _ baseline.Config) (*Detector, error) {
	cfg := p.Base
	if cfg.keys == nil && len(cfg.Keys) > 0 {
		if es := cfg.Validate(); len(es) > 0 {
			return nil, es.Err()
		}
	}
	return &Detector{cfg: cfg, v: core.NewVerifier(cfg.params(), cfg.keys)}, nil
}

// SetParams applies a new validated config (hot reload); chain state is kept.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	cfg := p.Base
	if cfg.keys == nil && len(cfg.Keys) > 0 {
		if es := cfg.Validate(); len(es) > 0 {
			return // not validated: keep the running keys
		}
	}
	d.cfg = cfg
	d.v.SetParams(cfg.params(), cfg.keys)
}

// ReportChainTo implements compliance.ChainReporter: s gets one verdict
// per chained record (from the verifier, no allocation) and one Finding
// per finding.
func (d *Detector) ReportChainTo(s compliance.ChainStats) {
	d.stats = s
	d.v.ReportTo(s)
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return Pattern }

// Verifier returns the verifier (counters for metrics).
func (d *Detector) Verifier() *core.Verifier { return d.v }

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	d.issues = d.v.Observe(r, 0, d.issues[:0])
	return d.findings(out)
}

// Tick implements detect.Detector: declares gaps whose grace has passed
// and evicts idle producers.
func (d *Detector) Tick(wm time.Time, out []detect.Finding) []detect.Finding {
	d.issues = d.v.Tick(wm, d.issues[:0])
	return d.findings(out)
}

// KeyStats implements detect.Stats (producers).
func (d *Detector) KeyStats() (live int, idle, capacity uint64) { return d.v.KeyStats() }

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) { return d.v.MarshalState(b) }

// UnmarshalState implements detect.State.
func (d *Detector) UnmarshalState(data []byte) error { return d.v.UnmarshalState(data) }

func (d *Detector) findings(out []detect.Finding) []detect.Finding {
	for i := range d.issues {
		is := &d.issues[i]
		if d.stats != nil {
			var missing uint64
			if is.Kind == core.Gap {
				missing = uint64(is.To - is.Seq + 1)
			}
			p := is.Producer
			if is.Kind == core.StoppedChaining {
				p = is.AgentID // an unchained record names no producer
			}
			d.stats.Finding(p, is.Kind, missing)
		}
		out = append(out, d.finding(is))
	}
	clear(d.issues) // drop the strings
	return out
}

func (d *Detector) finding(is *core.Issue) detect.Finding {
	f := detect.Finding{
		Pattern: Pattern, Detail: is.Kind, Score: scores[is.Kind],
		AgentID: is.AgentID, Tool: is.Tool, ToolVersion: is.ToolVersion, Environment: is.Environment,
		Observed: 1, Unit: "records",
		EventTime: is.Time, TraceID: is.TraceID, SpanID: is.SpanID, TaskID: is.TaskID,
		Details: map[string]any{compliance.ChainKindKey: is.Kind, "producer": is.Producer, "seq": is.Seq},
	}
	f.Summary = Summary(is)
	switch is.Kind {
	case core.Gap:
		f.Observed = float64(is.To - is.Seq + 1)
		f.Details["to"] = is.To
		f.Details["missing"] = is.To - is.Seq + 1
	case core.MissingCheckpoint:
		f.Observed, f.Expected = float64(is.Seq-is.Expected), float64(d.cfg.CheckpointEvery)
		f.Details["last_checkpoint_seq"] = is.Expected
		f.Details["since_checkpoint"] = is.Since.String()
	case core.BadSignature, core.UnknownKey:
		f.Details["key_id"] = is.KeyID
	case core.StoppedChaining:
		delete(f.Details, "producer")
		delete(f.Details, "seq")
	}
	return f
}

// Summary is the one-sentence description of an issue, shared by the
// detector's findings and `detector verify`.
func Summary(is *core.Issue) string {
	switch is.Kind {
	case core.Gap:
		if is.To == is.Seq {
			return fmt.Sprintf("chain %s: record seq %d is missing (next seen: %d)", is.Producer, is.Seq, is.To+1)
		}
		return fmt.Sprintf("chain %s: records seq %d-%d are missing (%d records; next seen: %d)", is.Producer, is.Seq, is.To, is.To-is.Seq+1, is.To+1)
	case core.Fork:
		return fmt.Sprintf("chain %s: fork at seq %d: a second, different record with this seq", is.Producer, is.Seq)
	case core.Altered:
		return fmt.Sprintf("chain %s: record seq %d was altered: its content does not match chain.hash", is.Producer, is.Seq)
	case core.PrevMismatch:
		return fmt.Sprintf("chain %s: record seq %d does not link to seq %d (chain.prev mismatch: a record was replaced, deleted or reordered)", is.Producer, is.Seq, is.Seq-1)
	case core.BadSignature:
		return fmt.Sprintf("chain %s: checkpoint at seq %d has a bad signature (key %s)", is.Producer, is.Seq, is.KeyID)
	case core.UnknownKey:
		return fmt.Sprintf("chain %s: checkpoint at seq %d is signed with unknown key %s", is.Producer, is.Seq, is.KeyID)
	case core.MissingCheckpoint:
		return fmt.Sprintf("chain %s: no valid checkpoint for %d records (%s of event time) after seq %d, at seq %d", is.Producer, is.Seq-is.Expected, is.Since, is.Expected, is.Seq)
	case core.StoppedChaining:
		return fmt.Sprintf("agent %s sent a record without a chain after chaining its records", is.AgentID)
	}
	return fmt.Sprintf("chain %s: %s at seq %d", is.Producer, is.Kind, is.Seq)
}
