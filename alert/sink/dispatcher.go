package sink

import (
	"context"
	"errors"
	"sync"

	"github.com/toolwatch/toolwatch/alert"
)

// Dispatcher fans alerts out to every configured sink. Each sink queues
// independently, so a slow or dead receiver never delays the others, and
// Send never blocks the producer. Alerts are shared between sinks and must
// be treated as immutable after Send.
type Dispatcher struct {
	name  string
	sinks []Sink
}

// NewDispatcher fans out to sinks (in order).
func NewDispatcher(sinks ...Sink) *Dispatcher {
	return &Dispatcher{name: "dispatcher", sinks: append([]Sink(nil), sinks...)}
}

// Named sets the name the Dispatcher reports (e.g. "webhook" for one sink
// made of several per-URL queues) and returns d.
func (d *Dispatcher) Named(name string) *Dispatcher {
	d.name = name
	return d
}

// Name implements Sink.
func (d *Dispatcher) Name() string { return d.name }

// Sinks returns the fanned-out sinks.
func (d *Dispatcher) Sinks() []Sink { return append([]Sink(nil), d.sinks...) }

// Send hands alerts to every sink without blocking.
func (d *Dispatcher) Send(alerts ...alert.Alert) {
	for _, s := range d.sinks {
		s.Send(alerts...)
	}
}

// Resume ends the pause of every sink that is paused (see PauseError).
func (d *Dispatcher) Resume() {
	for _, s := range d.sinks {
		if r, ok := s.(Resumer); ok {
			r.Resume()
		}
	}
}

// Close flushes all sinks concurrently within ctx and joins their errors.
func (d *Dispatcher) Close(ctx context.Context) error {
	errs := make([]error, len(d.sinks))
	var wg sync.WaitGroup
	for i, s := range d.sinks {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
