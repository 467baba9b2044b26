// Package pipeline wires one audit-record message through decoding, the
// detection engine and the alert manager. The daemon and `detector replay`
// share it, so a replay of a file yields exactly the alerts the live run
// would have raised on the same records.
//
// A Pipeline is single-goroutine. The slices it returns are reused by the
// next call: consume them before calling again.
package pipeline

import (
	"fmt"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Pipeline is decoder → engine → alert manager.
type Pipeline struct {
	dec      *record.Decoder
	rec      record.Record
	cur      *record.Record // the record of the last Handle or Apply
	eng      *detect.Engine
	mgr      *alert.Manager
	skew     time.Duration
	findings []detect.Finding
	alerts   []alert.Alert
	// factories[i] made the engine's i-th detector (hot reload).
	factories []detect.Factory
}

// Build builds a pipeline from a validated configuration: the enabled
// detectors of cfg's registry, in registry order. wall is the wall clock,
// read only to reject records stamped in the future.
func Build(cfg *config.Config, wall func() time.Time) (*Pipeline, error) {
	var ds []detect.Detector
	var fs []detect.Factory
	for _, e := range cfg.Detectors.All() {
		if !e.Section.On() {
			continue
		}
		d, err := e.Factory.New(e.Params, cfg.Baseline)
		if err != nil {
			return nil, fmt.Errorf("build detector: %w", err)
		}
		if d.Pattern() != e.Factory.Pattern() {
			return nil, fmt.Errorf("detector %q built by factory %q: the pattern names its config and snapshot section, they must agree", d.Pattern(), e.Factory.Pattern())
		}
		ds, fs = append(ds, d), append(fs, e.Factory)
	}
	return &Pipeline{
		dec:       record.NewDecoder(cfg.Limits),
		eng:       detect.NewEngine(cfg.Time, wall, ds...),
		mgr:       alert.NewManager(cfg.Alerts),
		skew:      cfg.Time.MaxClockSkew,
		factories: fs,
	}, nil
}

// New is Build for detectors whose constructors cannot fail on a validated
// configuration (every shipped one); it panics on a Build error.
func New(cfg *config.Config, wall func() time.Time) *Pipeline {
	p, err := Build(cfg, wall)
	if err != nil {
		panic("pipeline: " + err.Error())
	}
	return p
}

// Engine exposes the engine (watermark, counts, detector stats).
func (p *Pipeline) Engine() *detect.Engine { return p.eng }

// Manager exposes the alert manager (firing alerts, counters).
func (p *Pipeline) Manager() *alert.Manager { return p.mgr }

// Record is the record of the last Handle or Apply; valid until the next
// one (and, after Apply, while the caller keeps its record).
func (p *Pipeline) Record() *record.Record {
	if p.cur != nil {
		return p.cur
	}
	return &p.rec
}

// Handle decodes one message and applies it. It returns the alerts it
// raised or resolved, the outcome, and for record.Invalid the reason.
func (p *Pipeline) Handle(data []byte) ([]alert.Alert, record.Outcome, error) {
	return p.Apply(&p.rec, p.dec.Decode(data, &p.rec))
}

// Apply applies a record decoded elsewhere (by a record.Decoder with this
// configuration's limits; decodeErr is what its Decode returned), so that
// decoding can run on another goroutine ahead of detection. The result is
// Handle's for the same message. r is not kept after the next Handle or
// Apply.
func (p *Pipeline) Apply(r *record.Record, decodeErr error) ([]alert.Alert, record.Outcome, error) {
	p.cur = r
	if decodeErr != nil {
		return nil, record.Invalid, decodeErr
	}
	var outcome record.Outcome
	p.findings, outcome = p.eng.Process(r, p.findings[:0])
	switch outcome {
	case record.Invalid: // the engine rejects only records from the future
		return nil, record.Invalid, &record.Error{Field: "timestamp", Reason: fmt.Sprintf("more than %s in the future", p.skew)}
	case record.Late:
		return nil, record.Late, nil
	}
	return p.collect(), record.Applied, nil
}

// Advance moves event time on the wall clock while the consumer is caught
// up and idle (docs/design.md §4), closing windows and resolving alerts.
func (p *Pipeline) Advance(now time.Time) []alert.Alert {
	p.findings = p.eng.Advance(now, p.findings[:0])
	return p.collect()
}

// Flush closes the event-time state at the newest record seen (end of a
// replay) and returns what that raises or resolves.
func (p *Pipeline) Flush() []alert.Alert {
	p.findings = p.eng.Flush(p.findings[:0])
	return p.collect()
}

func (p *Pipeline) collect() []alert.Alert {
	p.alerts = p.alerts[:0]
	for i := range p.findings {
		p.alerts = p.mgr.Add(p.findings[i], p.alerts)
	}
	if wm, ok := p.eng.Ticked(); ok {
		p.alerts = p.mgr.Tick(wm, p.alerts)
	}
	return p.alerts
}

// Reconfigure applies a new, validated configuration between two records:
// thresholds, overrides, severity bands, cooldowns and event-time settings
// change; every learned baseline and every firing alert is kept. The
// `baseline` section (key caps, digest compression, epochs) and which
// detectors are enabled are read only when the pipeline is built. A cfg
// whose registry lacks a running detector is refused before anything
// changes.
func (p *Pipeline) Reconfigure(cfg *config.Config) error {
	ds := p.eng.Detectors()
	entries := make([]config.Detector, len(ds))
	for i, f := range p.factories {
		e, ok := cfg.Detectors.Lookup(f.Pattern())
		if !ok {
			return fmt.Errorf("reconfigure: the new configuration has no detector %q", f.Pattern())
		}
		entries[i] = e
	}
	p.dec = record.NewDecoder(cfg.Limits)
	p.eng.SetTimeConfig(cfg.Time)
	p.skew = cfg.Time.MaxClockSkew
	p.mgr.SetConfig(cfg.Alerts)
	for i, d := range ds {
		if err := p.factories[i].Reconfigure(d, entries[i].Params); err != nil {
			return fmt.Errorf("reconfigure: %w", err)
		}
	}
	return nil
}
