package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// SimulateConfig configures Simulate. Zero fields take the defaults noted.
type SimulateConfig struct {
	Seed uint64
	// Rate is the simulated traffic rate (sim.Config.Rate: mean calls/s of
	// the agents before the day/night factor of 0.4–1.6); default 1.5.
	Rate float64
	// Duration of the run; 0 runs until ctx is done.
	Duration time.Duration
	// SubjectPrefix: records go to <prefix>.<environment>.<agent_id>;
	// default "audit.records".
	SubjectPrefix string
	// Anomalies injects the demo's seven anomalies in turn, one every
	// AnomalyEvery (default 30s), the first after AnomalyEvery. Against a
	// detector without history only some of them can alert.
	Anomalies    bool
	AnomalyEvery time.Duration
	// FlushEvery bounds the messages between flushes; default 1000.
	FlushEvery int
	// JetStream publishes with acknowledgements (see PublishConfig).
	JetStream bool
	// Now is the wall clock; default time.Now.
	Now func() time.Time
	// Topology; nil means sim.DefaultTopology().
	Topology *sim.Topology
	// Progress, if not nil, is called once per second of traffic and when
	// an anomaly starts (Phase is PhaseLive).
	Progress func(Progress)
}

// forever stands for "until ctx is done": the simulation is streamed, so a
// long duration costs nothing up front.
const forever = 100 * 365 * 24 * time.Hour

// Simulate publishes simulated traffic to nc in real time, every record
// stamped with the wall clock when it is due, optionally with injected
// anomalies. It stops at cfg.Duration (nil error) or when ctx is done (an
// error wrapping ctx.Err()).
func Simulate(ctx context.Context, nc *nats.Conn, cfg SimulateConfig) error {
	if cfg.Rate <= 0 {
		cfg.Rate = 1.5
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "audit.records"
	}
	if cfg.AnomalyEvery <= 0 {
		cfg.AnomalyEvery = 30 * time.Second
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Topology == nil {
		t := sim.DefaultTopology()
		cfg.Topology = &t
	}
	if cfg.Progress == nil {
		cfg.Progress = func(Progress) {}
	}
	dur := cfg.Duration
	if dur <= 0 {
		dur = forever
	}
	if cfg.Anomalies {
		if err := checkTopology(cfg.Topology); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	p, err := newPublisher(nc, cfg.SubjectPrefix, cfg.FlushEvery, cfg.JetStream)
	if err != nil {
		return err
	}
	defer p.close()

	start := cfg.Now().UTC().Truncate(time.Millisecond)
	sc := sim.Config{Seed: cfg.Seed, Start: start, Duration: dur, Topology: cfg.Topology, Rate: cfg.Rate, NoAnomalies: true}
	inj := &injector{
		top: cfg.Topology, burst: min(5*time.Second, cfg.AnomalyEvery),
		burstCalls: burstCalls(50, meanPer5m(sc, anomalies[0].agent, anomalies[0].tool)),
		end:        start.Add(dur),
		schedule: func(j int) (time.Time, bool) {
			return start.Add(time.Duration(j+1) * cfg.AnomalyEvery), cfg.Anomalies
		},
	}
	n := 0
	_, err = paced(ctx, p, cfg.Now, func(emit func(*record.Record, *Injected) error) ([]Injected, error) {
		err := merge(sc, inj, newDresser(start), emit)
		return inj.list(), err
	}, &n, cfg.Progress)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	return nil
}

// meanPer5m is the mean number of calls per 5 minutes of (agent, tool) in
// the simulation sc at the day/night peak (factor 1.6), as sim distributes
// the rate: the agents present from the start share sc.Rate in proportion
// to their Rate, and each agent its calls by tool weight.
func meanPer5m(sc sim.Config, agent, tool string) float64 {
	var nominal float64
	for _, a := range sc.Topology.Agents {
		if a.Joins == 0 {
			nominal += a.Rate
		}
	}
	a := findAgent(sc.Topology, agent)
	if a == nil || nominal <= 0 {
		return 0
	}
	var sum, w float64
	for _, u := range a.Tools {
		sum += u.Weight
		if u.Tool == tool {
			w += u.Weight
		}
	}
	if sum <= 0 {
		return 0
	}
	return a.Rate / nominal * sc.Rate * w / sum * 300 * 1.6
}
