package pipeline

import (
	"fmt"
	"maps"
	"sync"

	"github.com/toolwatch/toolwatch/detect"
)

// Snapshot section names.
const (
	SectionEngine   = "engine"
	SectionAlerts   = "alerts"
	sectionDetector = "detector/"
)

// MarshalSections encodes the state of every component — the engine's
// event time, the alert manager and each detector — keyed by section name
// (a snapshot.Snapshot's Sections). Call it between two records.
func (p *Pipeline) MarshalSections() (map[string][]byte, error) {
	encode, err := p.CaptureSections()
	if err != nil {
		return nil, err
	}
	return encode()
}

// CaptureSections is MarshalSections in two steps, so that a snapshot
// does not stall the goroutine that owns the pipeline: it fixes every
// component's state at this point (call it between two records, on that
// goroutine) and returns encode, which writes the sections on any
// goroutine, once, while the pipeline goes on. Components that implement
// detect.Capturer are captured here (the detectors' key stores
// copy-on-write, which costs the number of slabs, not of keys: encode
// copies the keys the pipeline has not touched since); others are encoded
// here. The detectors are captured in parallel (they share no state; the
// caller's goroutine waits).
func (p *Pipeline) CaptureSections() (encode func() (map[string][]byte, error), err error) {
	return p.captureWhole(captureFull)
}

// SectionOrder prefixes the order record of a detect.DeltaCapturer's
// section in a base ("order/detector/latency"): the key positions its
// deltas are merged by.
const SectionOrder = "order/"

// CaptureBase is CaptureSections for the base of an incremental chain: it
// adds the order record of each detect.DeltaCapturer. Incremental
// snapshots are relative to the previous capture, so only the snapshot
// writer may capture a pipeline that it later captures with CaptureDelta.
func (p *Pipeline) CaptureBase() (encode func() (map[string][]byte, error), err error) {
	return p.captureWhole(captureBase)
}

// CaptureDelta captures what changed since the previous CaptureBase or
// CaptureDelta: encode returns the sections written whole (the engine,
// the alerts, detectors without deltas, and a DeltaCapturer that needs a
// new base of its own, with its order record) and the delta records of
// the others (changes). Apply them with UnmarshalChain.
func (p *Pipeline) CaptureDelta() (encode func() (whole, changes map[string][]byte, err error), err error) {
	return p.capture(captureDelta)
}

type captureMode int

const (
	captureFull captureMode = iota
	captureBase
	captureDelta
)

// captureWhole is capture for a mode that writes every section whole.
func (p *Pipeline) captureWhole(mode captureMode) (encode func() (map[string][]byte, error), err error) {
	enc, err := p.capture(mode)
	if err != nil {
		return nil, err
	}
	return func() (map[string][]byte, error) {
		whole, _, err := enc()
		return whole, err
	}, nil
}

func (p *Pipeline) capture(mode captureMode) (encode func() (whole, changes map[string][]byte, err error), err error) {
	type part struct {
		name   string
		enc    detect.Encoder
		change bool // a delta record
	}
	parts := make([]part, 0, 2+2*len(p.eng.Detectors()))
	eng, err := p.eng.MarshalState(nil) // 55 bytes
	if err != nil {
		return nil, fmt.Errorf("marshal engine: %w", err)
	}
	parts = append(parts, part{name: SectionEngine, enc: func(b []byte) ([]byte, error) { return append(b, eng...), nil }})
	mgr, err := p.mgr.CaptureState()
	if err != nil {
		return nil, fmt.Errorf("marshal alerts: %w", err)
	}
	parts = append(parts, part{name: SectionAlerts, enc: mgr})
	// Detectors share no state, so their captures run in parallel: the
	// consumer waits for the slowest instead of the sum.
	dets := p.eng.Detectors()
	type detParts struct {
		state, order detect.Encoder
		change       bool
		err          error
	}
	dps := make([]detParts, len(dets))
	var wg sync.WaitGroup
	for i, d := range dets {
		dp := &dps[i]
		switch s := d.(type) {
		case detect.DeltaCapturer:
			if mode == captureFull {
				wg.Go(func() { dp.state, dp.err = s.CaptureState() })
				continue
			}
			wg.Go(func() {
				if mode == captureDelta {
					if dp.state, dp.change, dp.err = s.CaptureDelta(); dp.change || dp.err != nil {
						return
					}
				}
				dp.state, dp.order, dp.err = s.CaptureBase()
			})
		case detect.Capturer:
			wg.Go(func() { dp.state, dp.err = s.CaptureState() })
		case detect.State:
			wg.Go(func() {
				b, err := s.MarshalState(nil)
				dp.state, dp.err = func(dst []byte) ([]byte, error) { return append(dst, b...), nil }, err
			})
		}
	}
	wg.Wait()
	for i, d := range dets {
		dp := &dps[i]
		if dp.err != nil {
			return nil, fmt.Errorf("marshal detector %s: %w", d.Pattern(), dp.err)
		}
		if dp.state != nil {
			parts = append(parts, part{name: sectionDetector + d.Pattern(), enc: dp.state, change: dp.change})
		}
		if dp.order != nil { // after its state: it is written from the state's capture
			parts = append(parts, part{name: SectionOrder + sectionDetector + d.Pattern(), enc: dp.order})
		}
	}
	return func() (whole, changes map[string][]byte, err error) {
		whole, changes = make(map[string][]byte, len(parts)), make(map[string][]byte)
		for _, pt := range parts {
			b, err := pt.enc(nil)
			if err != nil {
				return nil, nil, fmt.Errorf("marshal %s: %w", pt.name, err)
			}
			if pt.change {
				changes[pt.name] = b
			} else {
				whole[pt.name] = b
			}
		}
		return whole, changes, nil
	}, nil
}

// UnmarshalSections restores every component from sections. Use it on a
// fresh pipeline: on error some components may already hold restored
// state, so the caller discards the pipeline. A detector without a section
// (enabled after the snapshot was taken) starts empty and is reported in
// missing.
func (p *Pipeline) UnmarshalSections(sections map[string][]byte) (missing []string, err error) {
	return p.UnmarshalChain(sections, nil)
}

// Link is one delta of a chain as CaptureDelta encoded it.
type Link struct {
	Whole, Changes map[string][]byte
}

// UnmarshalChain restores every component from a base (CaptureBase's
// sections) and the deltas after it, in order: a section written whole
// replaces the one before, a delta record is applied to it
// (detect.DeltaCapturer.RestoreChain). Like UnmarshalSections, use it on
// a fresh pipeline.
func (p *Pipeline) UnmarshalChain(base map[string][]byte, links []Link) (missing []string, err error) {
	sections := maps.Clone(base)
	pending := make(map[string][][]byte)
	for i, l := range links {
		for name, data := range l.Whole {
			if _, ok := l.Changes[name]; ok {
				return nil, fmt.Errorf("delta %d: section %q both whole and changed", i+1, name)
			}
			sections[name] = data
			delete(pending, name)
		}
		for name, data := range l.Changes {
			if _, ok := sections[name]; !ok {
				return nil, fmt.Errorf("delta %d: changes to section %q that no earlier link holds", i+1, name)
			}
			pending[name] = append(pending[name], data)
		}
	}
	// The engine and the alerts are required sections (named as they are
	// in errors).
	for _, c := range []struct {
		name      string
		unmarshal func([]byte) error
	}{{SectionEngine, p.eng.UnmarshalState}, {SectionAlerts, p.mgr.UnmarshalState}} {
		b, ok := sections[c.name]
		if !ok {
			return nil, fmt.Errorf("snapshot has no %q section", c.name)
		}
		if err := c.unmarshal(b); err != nil {
			return nil, fmt.Errorf("restore %s: %w", c.name, err)
		}
	}
	for _, d := range p.eng.Detectors() {
		s, ok := d.(detect.State)
		if !ok {
			continue
		}
		name := sectionDetector + d.Pattern()
		b, ok := sections[name]
		if !ok {
			missing = append(missing, d.Pattern())
			continue
		}
		if ds := pending[name]; len(ds) > 0 {
			dc, ok := d.(detect.DeltaCapturer)
			if !ok {
				return nil, fmt.Errorf("restore detector %s: the snapshot holds deltas of it and it takes none", d.Pattern())
			}
			if err := dc.RestoreChain(b, sections[SectionOrder+name], ds); err != nil {
				return nil, fmt.Errorf("restore detector %s: %w", d.Pattern(), err)
			}
			continue
		}
		if err := s.UnmarshalState(b); err != nil {
			return nil, fmt.Errorf("restore detector %s: %w", d.Pattern(), err)
		}
	}
	return missing, nil
}
