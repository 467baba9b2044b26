package pipeline

import (
	"fmt"
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
	type part struct {
		name string
		enc  detect.Encoder
	}
	parts := make([]part, 0, 2+len(p.eng.Detectors()))
	eng, err := p.eng.MarshalState(nil) // 55 bytes
	if err != nil {
		return nil, fmt.Errorf("marshal engine: %w", err)
	}
	parts = append(parts, part{SectionEngine, func(b []byte) ([]byte, error) { return append(b, eng...), nil }})
	mgr, err := p.mgr.CaptureState()
	if err != nil {
		return nil, fmt.Errorf("marshal alerts: %w", err)
	}
	parts = append(parts, part{SectionAlerts, mgr})
	// Detectors share no state, so their captures run in parallel: the
	// consumer waits for the slowest instead of the sum.
	dets := p.eng.Detectors()
	encs := make([]detect.Encoder, len(dets))
	errs := make([]error, len(dets))
	var wg sync.WaitGroup
	for i, d := range dets {
		switch s := d.(type) {
		case detect.Capturer:
			wg.Go(func() { encs[i], errs[i] = s.CaptureState() })
		case detect.State:
			wg.Go(func() {
				b, err := s.MarshalState(nil)
				encs[i], errs[i] = func(dst []byte) ([]byte, error) { return append(dst, b...), nil }, err
			})
		}
	}
	wg.Wait()
	for i, d := range dets {
		if errs[i] != nil {
			return nil, fmt.Errorf("marshal detector %s: %w", d.Pattern(), errs[i])
		}
		if encs[i] != nil {
			parts = append(parts, part{sectionDetector + d.Pattern(), encs[i]})
		}
	}
	return func() (map[string][]byte, error) {
		out := make(map[string][]byte, len(parts))
		for _, pt := range parts {
			b, err := pt.enc(nil)
			if err != nil {
				return nil, fmt.Errorf("marshal %s: %w", pt.name, err)
			}
			out[pt.name] = b
		}
		return out, nil
	}, nil
}

// UnmarshalSections restores every component from sections. Use it on a
// fresh pipeline: on error some components may already hold restored
// state, so the caller discards the pipeline. A detector without a section
// (enabled after the snapshot was taken) starts empty and is reported in
// missing.
func (p *Pipeline) UnmarshalSections(sections map[string][]byte) (missing []string, err error) {
	eng, ok := sections[SectionEngine]
	if !ok {
		return nil, fmt.Errorf("snapshot has no %q section", SectionEngine)
	}
	if err := p.eng.UnmarshalState(eng); err != nil {
		return nil, fmt.Errorf("restore engine: %w", err)
	}
	mgr, ok := sections[SectionAlerts]
	if !ok {
		return nil, fmt.Errorf("snapshot has no %q section", SectionAlerts)
	}
	if err := p.mgr.UnmarshalState(mgr); err != nil {
		return nil, fmt.Errorf("restore alerts: %w", err)
	}
	for _, d := range p.eng.Detectors() {
		s, ok := d.(detect.State)
		if !ok {
			continue
		}
		b, ok := sections[sectionDetector+d.Pattern()]
		if !ok {
			missing = append(missing, d.Pattern())
			continue
		}
		if err := s.UnmarshalState(b); err != nil {
			return nil, fmt.Errorf("restore detector %s: %w", d.Pattern(), err)
		}
	}
	return missing, nil
}
