package pipeline

import (
	"fmt"

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
	out := make(map[string][]byte, 2+len(p.eng.Detectors()))
	var err error
	if out[SectionEngine], err = p.eng.MarshalState(nil); err != nil {
		return nil, fmt.Errorf("marshal engine: %w", err)
	}
	if out[SectionAlerts], err = p.mgr.MarshalState(nil); err != nil {
		return nil, fmt.Errorf("marshal alerts: %w", err)
	}
	for _, d := range p.eng.Detectors() {
		s, ok := d.(detect.State)
		if !ok {
			continue
		}
		b, err := s.MarshalState(nil)
		if err != nil {
			return nil, fmt.Errorf("marshal detector %s: %w", d.Pattern(), err)
		}
		out[sectionDetector+d.Pattern()] = b
	}
	return out, nil
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
