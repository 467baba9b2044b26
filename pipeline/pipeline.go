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
	"github.com/toolwatch/toolwatch/detect/denials"
	"github.com/toolwatch/toolwatch/detect/frequency"
	"github.com/toolwatch/toolwatch/detect/inputs"
	"github.com/toolwatch/toolwatch/detect/latency"
	"github.com/toolwatch/toolwatch/detect/outputsize"
	"github.com/toolwatch/toolwatch/record"
)

// Pipeline is decoder → engine → alert manager.
type Pipeline struct {
	dec      *record.Decoder
	rec      record.Record
	eng      *detect.Engine
	mgr      *alert.Manager
	skew     time.Duration
	findings []alert.Finding
	alerts   []alert.Alert
}

// New builds a pipeline from a validated configuration. wall is the wall
// clock, read only to reject records stamped in the future.
func New(cfg *config.Config, wall func() time.Time) *Pipeline {
	return &Pipeline{
		dec:  record.NewDecoder(cfg.Limits),
		eng:  detect.NewEngine(cfg.Time, wall, Detectors(cfg)...),
		mgr:  alert.NewManager(cfg.Alerts),
		skew: cfg.Time.MaxClockSkew,
	}
}

// Detectors builds the enabled detectors of cfg in a fixed order.
func Detectors(cfg *config.Config) []detect.Detector {
	var ds []detect.Detector
	if cfg.Detectors.Frequency.Enabled {
		ds = append(ds, frequency.New(cfg.Params.Frequency, cfg.Baseline))
	}
	if cfg.Detectors.InputNovelty.Enabled {
		ds = append(ds, inputs.New(cfg.Params.InputNovelty, cfg.Baseline))
	}
	if cfg.Detectors.DenialSpike.Enabled {
		ds = append(ds, denials.New(cfg.Params.DenialSpike, cfg.Baseline))
	}
	if cfg.Detectors.OutputSize.Enabled {
		ds = append(ds, outputsize.New(cfg.Params.OutputSize, cfg.Baseline))
	}
	if cfg.Detectors.Latency.Enabled {
		ds = append(ds, latency.New(cfg.Params.Latency, cfg.Baseline))
	}
	return ds
}

// Engine exposes the engine (watermark, counts, detector stats).
func (p *Pipeline) Engine() *detect.Engine { return p.eng }

// Manager exposes the alert manager (firing alerts, counters).
func (p *Pipeline) Manager() *alert.Manager { return p.mgr }

// Record is the last decoded record; valid until the next Handle.
func (p *Pipeline) Record() *record.Record { return &p.rec }

// Handle decodes one message and applies it. It returns the alerts it
// raised or resolved, the outcome, and for record.Invalid the reason.
func (p *Pipeline) Handle(data []byte) ([]alert.Alert, record.Outcome, error) {
	if err := p.dec.Decode(data, &p.rec); err != nil {
		return nil, record.Invalid, err
	}
	var outcome record.Outcome
	p.findings, outcome = p.eng.Process(&p.rec, p.findings[:0])
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
// `baseline` section (key caps, digest compression, epochs) is read only
// when the pipeline is built.
func (p *Pipeline) Reconfigure(cfg *config.Config) {
	p.dec = record.NewDecoder(cfg.Limits)
	p.eng.SetTimeConfig(cfg.Time)
	p.skew = cfg.Time.MaxClockSkew
	p.mgr.SetConfig(cfg.Alerts)
	for _, d := range p.eng.Detectors() {
		switch d := d.(type) {
		case *frequency.Detector:
			d.SetParams(cfg.Params.Frequency)
		case *inputs.Detector:
			d.SetParams(cfg.Params.InputNovelty)
		case *denials.Detector:
			d.SetParams(cfg.Params.DenialSpike)
		case *outputsize.Detector:
			d.SetParams(cfg.Params.OutputSize)
		case *latency.Detector:
			d.SetParams(cfg.Params.Latency)
		}
	}
}
