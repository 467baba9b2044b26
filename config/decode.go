package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// decoder applies a yaml.Node tree onto Go values that already hold their
// defaults, walking the node and the type together. Doing the walk itself
// (rather than yaml's Decode with KnownFields) gives every problem its full
// key path and line, catches unknown and duplicate keys at any depth, and
// records where each key sits so Validate errors can be given a line.
//
// Rules: a struct takes a mapping whose keys are its yaml tags (",inline"
// struct fields flattened); keys not in the file keep their value. A null
// struct keeps its defaults; a null of any other type sets its zero value.
// A sequence replaces a slice. A map merges into the existing map. A
// time.Duration takes a Go duration string ("5m"). Types implementing
// yaml.Unmarshaler or encoding.TextUnmarshaler decode themselves; a
// yaml.Node field receives the raw node.
type decoder struct {
	lines map[string]int // full key path -> line of the key
	probs []Problem
}

func newDecoder() *decoder { return &decoder{lines: map[string]int{}} }

func (d *decoder) addf(line int, path, format string, args ...any) {
	d.probs = append(d.probs, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of path, or of its nearest ancestor in the file.
func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// addValidation records a section's Validate errors under prefix.
func (d *decoder) addValidation(prefix string, es validate.Errors) {
	for _, e := range es {
		p := joinPath(prefix, e.Path)
		d.addf(d.lineOf(p), p, "%s", e.Msg)
	}
}

func joinPath(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case key[0] == '[':
		return prefix + key
	}
	return prefix + "." + key
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
	unmarshalerT = reflect.TypeFor[yaml.Unmarshaler]()
	obsoleteT    = reflect.TypeFor[obsoleteUnmarshaler]()
	textUnmarshT = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// obsoleteUnmarshaler is yaml's func-style hook, the form STYLE.md
// recommends for custom decoding. Its unmarshal callback is served by the
// decoder itself, so the walk (unknown keys, lines) continues inside.
type obsoleteUnmarshaler interface {
	UnmarshalYAML(unmarshal func(any) error) error
}

// errReported tells an obsoleteUnmarshaler that the walk found problems
// (already recorded); it is not reported again.
var errReported = errors.New("invalid configuration")

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	}
	return fmt.Sprintf("%q", n.Value)
}

func typeDesc(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case reflect.PointerTo(t).Implements(textUnmarshT):
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a sequence"
	case reflect.Pointer:
		return typeDesc(t.Elem())
	}
	return t.String()
}

// decode applies n onto v (settable). line is the line of n's key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case t == detectorsType:
		d.decodeDetectors(n, v.Addr().Interface().(*Detectors), path, line)
		return
	case reflect.PointerTo(t).Implements(unmarshalerT):
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.addf(line, path, "%s", yamlErrMsg(err))
		}
		return
	case reflect.PointerTo(t).Implements(obsoleteT):
		before := len(d.probs)
		unmarshal := func(out any) error {
			ov := reflect.ValueOf(out)
			if ov.Kind() != reflect.Pointer || ov.IsNil() {
				return fmt.Errorf("unmarshal target must be a non-nil pointer")
			}
			start := len(d.probs)
			d.decode(n, ov.Elem(), path, line)
			if len(d.probs) > start {
				return errReported
			}
			return nil
		}
		err := v.Addr().Interface().(obsoleteUnmarshaler).UnmarshalYAML(unmarshal)
		if err != nil && !(errors.Is(err, errReported) && len(d.probs) > before) {
			d.addf(line, path, "%s", yamlErrMsg(err))
		}
		return
	case reflect.PointerTo(t).Implements(textUnmarshT):
		if n.Kind != yaml.ScalarNode {
			d.addf(line, path, "expected %s, got %s", typeDesc(t), kindName(n))
			return
		}
		val := reflect.New(t)
		text := n.Value
		if isNull(n) {
			text = ""
		}
		if err := val.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			d.addf(line, path, "%s", err)
			return
		}
		v.Set(val.Elem())
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path, line)
	case reflect.Pointer:
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path, line)
	case reflect.Slice:
		d.decodeSlice(n, v, path, line)
	case reflect.Map:
		d.decodeMap(n, v, path, line)
	case reflect.Interface:
		val := reflect.New(t)
		if err := n.Decode(val.Interface()); err != nil {
			d.addf(line, path, "%s", yamlErrMsg(err))
			return
		}
		v.Set(val.Elem())
	default:
		d.decodeScalar(n, v, path, line)
	}
}

// field is a struct key: its index path (through ",inline" structs).
type field struct {
	key   string
	index []int
}

func structFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			for _, sub := range structFields(f.Type) {
				out = append(out, field{sub.key, append([]int{i}, sub.index...)})
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, field{name, []int{i}})
	}
	return out
}

// Keys returns the yaml keys of struct type t, in field order.
func keysOf(t reflect.Type) []string {
	fs := structFields(t)
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return keys
}

// pairs checks that n is a mapping with string keys and no duplicates and
// returns the usable key/value pairs, recording each key's line.
func (d *decoder) pairs(n *yaml.Node, t reflect.Type, path string, line int) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.addf(line, path, "expected %s, got %s", typeDesc(t), kindName(n))
		return nil
	}
	var out [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			d.addf(k.Line, path, "keys must be plain strings (merge keys and complex keys are not supported)")
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.addf(k.Line, p, "duplicate key (first defined at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[p] = k.Line
		out = append(out, [2]*yaml.Node{k, val})
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		return // an empty section keeps its defaults
	}
	t := v.Type()
	fields := structFields(t)
	for _, kv := range d.pairs(n, t, path, line) {
		k := kv[0]
		p := joinPath(path, k.Value)
		var f *field
		for i := range fields {
			if fields[i].key == k.Value {
				f = &fields[i]
				break
			}
		}
		if f == nil {
			if r, ok := v.Interface().(removedKeys); ok {
				if msg, ok := r.RemovedKeys()[k.Value]; ok {
					d.addf(k.Line, p, "%s", msg)
					continue
				}
			}
			d.unknownKey(k.Line, p, k.Value, keysOf(t))
			continue
		}
		d.decode(kv[1], v.FieldByIndex(f.index), p, k.Line)
	}
}

// removedKeys is implemented by sections that name the replacement of keys
// an earlier version accepted (key → message).
type removedKeys interface{ RemovedKeys() map[string]string }

func (d *decoder) unknownKey(line int, path, key string, known []string) {
	if s := suggest(key, known); s != "" {
		d.addf(line, path, "unknown key (did you mean %q?)", s)
		return
	}
	d.addf(line, path, "unknown key")
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(line, path, "expected a sequence, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		v.Set(reflect.Zero(v.Type())) // nil, so "[]" equals an absent list
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, el := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		d.lines[p] = el.Line
		d.decode(el, s.Index(i), p, el.Line)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.addf(line, path, "unsupported map key type %s", t.Key())
		return
	}
	for _, kv := range d.pairs(n, t, path, line) {
		k := kv[0]
		key := reflect.ValueOf(k.Value).Convert(t.Key())
		el := reflect.New(t.Elem()).Elem()
		if !v.IsNil() {
			if old := v.MapIndex(key); old.IsValid() {
				el.Set(deepCopy(old))
			}
		}
		d.decode(kv[1], el, joinPath(path, k.Value), k.Line)
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		v.SetMapIndex(key, el)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string, line int) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.addf(line, path, "expected %s, got %s", typeDesc(t), kindName(n))
		return
	}
	if isNull(n) {
		v.Set(reflect.Zero(t))
		return
	}
	if t == durationType {
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.addf(line, path, "cannot parse %q as a duration (e.g. \"30s\", \"5m\", \"1h30m\")", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	val := reflect.New(t)
	if err := n.Decode(val.Interface()); err != nil {
		d.addf(line, path, "cannot parse %q as %s", n.Value, typeDesc(t))
		return
	}
	if k := t.Kind(); k == reflect.Float32 || k == reflect.Float64 {
		if f := val.Elem().Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			d.addf(line, path, "must be a finite number")
			return
		}
	}
	v.Set(val.Elem())
}

// yamlErrMsg strips yaml's "yaml: unmarshal errors:" wrapping.
func yamlErrMsg(err error) string {
	if te, ok := err.(*yaml.TypeError); ok {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// deepCopy returns a copy of v sharing no maps, slices or pointers with it,
// so an override decoded onto a copy of a base config cannot change the base.
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	out.Set(v)
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(deepCopy(v.Elem()))
			out.Set(p)
		}
	case reflect.Slice:
		if !v.IsNil() {
			s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := range v.Len() {
				s.Index(i).Set(deepCopy(v.Index(i)))
			}
			out.Set(s)
		}
	case reflect.Map:
		if !v.IsNil() {
			m := reflect.MakeMapWithSize(v.Type(), v.Len())
			iter := v.MapRange()
			for iter.Next() {
				m.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
			}
			out.Set(m)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
	}
	return out
}
