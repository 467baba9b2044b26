package detect

import "path"

// Params is a detector's configuration with its per-tool / per-agent
// overrides (config section `overrides`). The config loader builds every
// Rule's Config in full (base with the override's keys decoded on top), so
// resolving is a glob match and nothing is merged at run time. Detectors
// resolve once per key, when the key is created, never per record.
type Params[T any] struct {
	Base  T
	Rules []Rule[T]
}

// Rule applies Config to keys whose agent and tool match the globs
// (path.Match syntax; "" or "*" matches everything). First match wins.
type Rule[T any] struct {
	Agent  string
	Tool   string
	Config T
}

// NewParams returns Params with no overrides.
func NewParams[T any](base T) *Params[T] { return &Params[T]{Base: base} }

// For returns the configuration for (agent, tool). agent "" asks for the
// tool-level configuration: only rules whose agent glob is "" or "*" apply.
func (p *Params[T]) For(agent, tool string) *T {
	for i := range p.Rules {
		r := &p.Rules[i]
		if globMatch(r.Tool, tool) && (globMatch(r.Agent, agent) && (agent != "" || r.Agent == "" || r.Agent == "*")) {
			return &r.Config
		}
	}
	return &p.Base
}

func globMatch(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
