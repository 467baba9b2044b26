package config

import (
	"reflect"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Detectors is the `detectors` section: one config section per detector of
// a registry (keys are the pattern names), in registry order, and each
// detector's params (the section with its override rules). Nothing here
// names a detector: the registry (detect/registry.Default unless
// DefaultWith/ParseWith got another) is the only list.
type Detectors struct {
	reg      *detect.Registry
	sections []detect.Section  // indexed like reg.Factories()
	params   []detect.ParamSet // built by Parse and Default
}

// Detector is one detector's entry: its factory, its decoded and validated
// base section and its params (base plus override rules).
type Detector struct {
	Factory detect.Factory
	Section detect.Section
	Params  detect.ParamSet
}

func newDetectors(reg *detect.Registry) Detectors {
	fs := reg.Factories()
	ds := Detectors{reg: reg, sections: make([]detect.Section, len(fs))}
	for i, f := range fs {
		ds.sections[i] = f.DefaultConfig()
	}
	return ds
}

// Registry is the detector table the section was built from.
func (ds *Detectors) Registry() *detect.Registry { return ds.reg }

// All returns every detector's entry in registry (routing) order, enabled
// or not.
func (ds *Detectors) All() []Detector {
	fs := ds.reg.Factories()
	out := make([]Detector, len(fs))
	for i, f := range fs {
		out[i] = Detector{Factory: f, Section: ds.sections[i]}
		if i < len(ds.params) {
			out[i].Params = ds.params[i]
		}
	}
	return out
}

// Lookup returns the entry of pattern.
func (ds *Detectors) Lookup(pattern string) (Detector, bool) {
	i := slices.Index(ds.reg.Patterns(), pattern)
	if i < 0 {
		return Detector{}, false
	}
	return ds.All()[i], true
}

// Validate implements the section validator: each detector's errors under
// its pattern name.
func (ds *Detectors) Validate() validate.Errors {
	var out validate.Errors
	for i, f := range ds.reg.Factories() {
		for _, e := range ds.sections[i].Validate() {
			out = append(out, validate.FieldError{Path: joinPath(f.Pattern(), e.Path), Msg: e.Msg})
		}
	}
	return out
}

var detectorsType = reflect.TypeFor[Detectors]()

// decodeDetectors applies the `detectors:` mapping onto the sections: each
// key must be a registered pattern, each value is decoded onto that
// detector's section by its yaml tags.
func (d *decoder) decodeDetectors(n *yaml.Node, ds *Detectors, path string, line int) {
	if isNull(n) {
		return // an empty section keeps its defaults
	}
	patterns := ds.reg.Patterns()
	for _, kv := range d.pairs(n, detectorsType, path, line) {
		k := kv[0]
		p := joinPath(path, k.Value)
		i := slices.Index(patterns, k.Value)
		if i < 0 {
			d.unknownKey(k.Line, p, k.Value, patterns)
			continue
		}
		d.decode(kv[1], reflect.ValueOf(ds.sections[i]).Elem(), p, k.Line)
	}
}

// buildParams builds every detector's params: a rule per override that
// names the detector, holding a copy of the base with the override decoded
// on top, validated like the base (unless the base itself is invalid,
// which is already reported).
func buildParams(d *decoder, c *Config) {
	ds := &c.Detectors
	ds.params = make([]detect.ParamSet, len(ds.sections))
	for i, f := range ds.reg.Factories() {
		ds.params[i] = f.NewParams(ds.sections[i])
		d.overrideRules(c, f.Pattern(), ds.sections[i], ds.params[i])
	}
}

// overrideRules adds to ps a rule per override naming key, each a deep copy
// of base with the override's keys decoded on top.
func (d *decoder) overrideRules(c *Config, key string, base detect.Section, ps detect.ParamSet) {
	baseOK := len(base.Validate()) == 0
	for i := range c.Overrides {
		o := &c.Overrides[i]
		k, n := o.overrideNode(key)
		if n == nil {
			continue
		}
		path := "overrides[" + strconv.Itoa(i) + "].detectors." + key
		cv := deepCopy(reflect.ValueOf(base).Elem())
		before := len(d.probs)
		d.decode(n, cv, path, k.Line)
		cfg := cv.Addr().Interface().(detect.Section)
		if baseOK && len(d.probs) == before {
			d.addValidation(path, cfg.Validate())
		}
		if err := ps.AddRule(o.Agent, o.Tool, cfg); err != nil {
			d.addf(k.Line, path, "%s", err) // a factory whose params do not take its own section: a programming error
		}
	}
}
