package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/group"
)

// toolShare shares the member's partitions' tool-level baselines with the
// group (group.Sharer, docs/design.md §3a): every group.share_interval it
// exports each owned partition's tool sketches (detect.ToolSharer),
// publishes them, and installs in each partition the view merged from
// every other partition's latest sketches. Each step holds the member's
// lock for one partition at a time, between records.
type toolShare struct {
	g         *groupMember
	s         *group.Sharer
	log       zerolog.Logger
	published prometheus.Counter
	rounds    prometheus.Counter
	errs      *prometheus.CounterVec
}

func newToolShare(g *groupMember, s *group.Sharer, reg prometheus.Registerer) *toolShare {
	t := &toolShare{g: g, s: s, log: g.log.With().Str("component", "group-share").Logger(),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_group_sketches_published_total",
			Help: "Tool sketch values (one per partition and tool) this member put into the group's sketch bucket.",
		}),
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_group_share_rounds_total",
			Help: "Sharing rounds done (every group.share_interval: publish this member's tool sketches, install the others').",
		}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_group_sketch_errors_total",
			Help: "Tool sketches skipped: stage publish (a put failed), decode (a value or a detector's sketch did not decode).",
		}, []string{"stage"}),
	}
	reg.MustRegister(t.published, t.rounds, t.errs, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "toolwatch_group_sketch_values_malformed_total",
		Help: "Values of the group's sketch bucket skipped as malformed (bad key or encoding).",
	}, func() float64 { return float64(s.Bad()) }))
	for _, st := range []string{"publish", "decode"} {
		t.errs.WithLabelValues(st)
	}
	return t
}

// run shares every interval until ctx is cancelled.
func (t *toolShare) run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.round(ctx)
		}
	}
}

// sharers returns the detectors of w's pipeline that share tool state.
func sharers(w *worker) []detect.ToolSharer {
	var out []detect.ToolSharer
	for _, d := range w.p.Engine().Detectors() {
		if s, ok := d.(detect.ToolSharer); ok {
			out = append(out, s)
		}
	}
	return out
}

// export returns partition p's sketches by tool (nil if p is not running
// here). Called with the member's lock held.
func export(w *worker) map[string]group.ToolSketches {
	tools := map[string]group.ToolSketches{}
	for _, d := range sharers(w) {
		pat := d.Pattern()
		d.ToolSketches(func(tool string, sk []byte) {
			m := tools[tool]
			if m == nil {
				m = group.ToolSketches{}
				tools[tool] = m
			}
			m[pat] = sk
		})
	}
	return tools
}

// round publishes every owned partition's sketches, then installs the
// merged views.
func (t *toolShare) round(ctx context.Context) {
	for _, p := range t.g.partitions() {
		t.g.mu.Lock()
		r := t.g.runs[p]
		var tools map[string]group.ToolSketches
		if r != nil {
			tools = export(r.w)
		}
		t.g.mu.Unlock()
		if r == nil {
			continue
		}
		if err := t.s.Publish(ctx, p, tools); err != nil {
			t.errs.WithLabelValues("publish").Inc()
			t.log.Warn().Err(err).Int("partition", p).Msg("publishing tool sketches failed; the others use the previous ones until share_max_age")
		}
		t.published.Add(float64(len(tools)))
	}
	for _, p := range t.g.partitions() {
		others := t.s.Others(p)
		t.g.mu.Lock()
		if r := t.g.runs[p]; r != nil {
			t.install(p, r.w, others)
		}
		t.g.mu.Unlock()
	}
	t.rounds.Inc()
}

// install gives partition p's detectors the other partitions' sketches
// (called with the lock held, or before p consumes).
func (t *toolShare) install(p int, w *worker, others map[string]map[string][][]byte) {
	for _, d := range sharers(w) {
		if err := d.SetSharedTools(others[d.Pattern()]); err != nil {
			t.errs.WithLabelValues("decode").Inc()
			t.log.Warn().Err(err).Int("partition", p).Str("detector", d.Pattern()).Msg("tool sketches skipped")
		}
	}
}
