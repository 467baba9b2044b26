package detect

import (
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Factory makes one detector pattern: its config section, its override
// rules and its detector. Each detect/<pattern> package exports one Factory
// value; the registry table lists them, and config, pipeline, telemetry,
// the status page, eval and the demo loop over that table (the OTel
// collector's component factories are the model). Adding a detector is one
// new folder and one line in the table.
type Factory interface {
	// Pattern is the alert pattern name. It is also the detector's key
	// under `detectors:` and in `overrides[].detectors` of config.yaml and
	// names its snapshot section.
	Pattern() string
	// DefaultConfig returns a pointer to a new config section holding the
	// documented defaults; the config loader decodes the file onto it by
	// its yaml tags. The pointee implements Section.
	DefaultConfig() Section
	// NewParams returns params with base (from DefaultConfig, decoded and
	// validated) and no override rules.
	NewParams(base Section) ParamSet
	// New builds the detector from params made by NewParams.
	New(p ParamSet, b baseline.Config) (Detector, error)
	// Reconfigure applies new params to a detector made by New (hot
	// reload); every learned baseline is kept.
	Reconfigure(d Detector, p ParamSet) error
}

// Section is a detector's config section.
type Section interface {
	// Validate checks ranges; the loader prefixes each error's key with the
	// section path.
	Validate() validate.Errors
	// On reports whether the detector is enabled.
	On() bool
}

// ParamSet is a type-erased *Params[T]: a base config and its override
// rules, each a full config.
type ParamSet interface {
	// BaseSection is the base config.
	BaseSection() Section
	// AddRule appends an override rule whose cfg is a Section of the same
	// type as the base (a decoded copy of it).
	AddRule(agent, tool string, cfg Section) error
}

// BaseSection implements ParamSet.
func (p *Params[T]) BaseSection() Section { return sectionOf(&p.Base) }

// AddRule implements ParamSet.
func (p *Params[T]) AddRule(agent, tool string, cfg Section) error {
	c, ok := any(cfg).(*T)
	if !ok {
		return fmt.Errorf("override config is %T, want %T", cfg, (*T)(nil))
	}
	p.Rules = append(p.Rules, Rule[T]{Agent: agent, Tool: tool, Config: *c})
	return nil
}

func sectionOf[T any](c *T) Section {
	s, ok := any(c).(Section)
	if !ok {
		panic(fmt.Sprintf("detect: %T does not implement Section", c))
	}
	return s
}

// FactoryOf is the Factory of a detector D configured by section T (*T
// implements Section). Detector packages declare one as a package value:
//
//	var Factory = detect.FactoryOf[Config, *Detector]{
//		Name: "latency", Defaults: DefaultConfig, Build: New, SetParams: (*Detector).SetParams,
//	}
type FactoryOf[T any, D Detector] struct {
	Name      string
	Defaults  func() T
	Build     func(p *Params[T], b baseline.Config) (D, error)
	SetParams func(d D, p *Params[T])
}

// Infallible adapts a constructor that cannot fail to FactoryOf.Build.
func Infallible[T any, D Detector](build func(*Params[T], baseline.Config) D) func(*Params[T], baseline.Config) (D, error) {
	return func(p *Params[T], b baseline.Config) (D, error) { return build(p, b), nil }
}

// Pattern implements Factory.
func (f FactoryOf[T, D]) Pattern() string { return f.Name }

// DefaultConfig implements Factory.
func (f FactoryOf[T, D]) DefaultConfig() Section {
	c := f.Defaults()
	return sectionOf(&c)
}

// NewParams implements Factory.
func (f FactoryOf[T, D]) NewParams(base Section) ParamSet {
	return NewParams(*any(base).(*T))
}

// New implements Factory.
func (f FactoryOf[T, D]) New(p ParamSet, b baseline.Config) (Detector, error) {
	tp, ok := p.(*Params[T])
	if !ok {
		return nil, fmt.Errorf("%s: params are %T, want %T", f.Name, p, tp)
	}
	d, err := f.Build(tp, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return d, nil
}

// Reconfigure implements Factory.
func (f FactoryOf[T, D]) Reconfigure(d Detector, p ParamSet) error {
	td, ok := d.(D)
	if !ok {
		return fmt.Errorf("%s: detector is %T, want %T", f.Name, d, td)
	}
	tp, ok := p.(*Params[T])
	if !ok {
		return fmt.Errorf("%s: params are %T, want %T", f.Name, p, tp)
	}
	f.SetParams(td, tp)
	return nil
}

// Registry is an ordered table of factories with unique pattern names. The
// order is the routing order of the engine and the order of config
// sections, metrics and reports.
type Registry struct {
	factories []Factory
	byPattern map[string]Factory
}

// MakeRegistry builds a registry, rejecting an empty or duplicate pattern
// name (as the OTel collector's MakeFactoryMap does).
func MakeRegistry(fs ...Factory) (*Registry, error) {
	r := &Registry{byPattern: make(map[string]Factory, len(fs))}
	for _, f := range fs {
		p := f.Pattern()
		if p == "" {
			return nil, fmt.Errorf("detector factory %T has no pattern name", f)
		}
		if _, dup := r.byPattern[p]; dup {
			return nil, fmt.Errorf("duplicate detector pattern %q", p)
		}
		r.byPattern[p] = f
		r.factories = append(r.factories, f)
	}
	return r, nil
}

// MustRegistry is MakeRegistry for package-level tables; it panics on a
// duplicate, which is a programming error caught by any test.
func MustRegistry(fs ...Factory) *Registry {
	r, err := MakeRegistry(fs...)
	if err != nil {
		panic(err)
	}
	return r
}

// Factories returns the factories in table order. Do not modify. A nil
// registry is empty.
func (r *Registry) Factories() []Factory {
	if r == nil {
		return nil
	}
	return r.factories
}

// Lookup returns the factory of pattern.
func (r *Registry) Lookup(pattern string) (Factory, bool) {
	if r == nil {
		return nil, false
	}
	f, ok := r.byPattern[pattern]
	return f, ok
}

// Patterns returns the pattern names in table order.
func (r *Registry) Patterns() []string {
	fs := r.Factories()
	ps := make([]string, len(fs))
	for i, f := range fs {
		ps[i] = f.Pattern()
	}
	return ps
}
