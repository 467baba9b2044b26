package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/shape"
	"github.com/toolwatch/toolwatch/shape/dest"
)

// maxShapeInput bounds what `detector shape` reads from stdin.
const maxShapeInput = 64 << 20

// shapeOut is the record fields `detector shape` prints, named as in the
// record's invocation object.
type shapeOut struct {
	InputShape         *string   `json:"input_shape,omitempty"`
	Destinations       *[]string `json:"destinations,omitempty"`
	OutputDestinations *[]string `json:"output_destinations,omitempty"`
}

func cmdShape(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("shape", stderr)
	tool := fs.String("tool", "", "the tool's name (selects the argument map's rules)")
	keyFile := fs.String("key-file", "", "file holding the organisation's destination key (default: destinations.key_file or key_env of --config)")
	cfgPath := fs.String("config", "", "read the destinations section (argument map, key_file) of this configuration file (default: the built-in rules)")
	output := fs.Bool("output", false, "stdin is the tool's output: print output_destinations instead of input_shape and destinations")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shape: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *tool == "" {
		fmt.Fprintln(stderr, "shape: --tool is required")
		return 2
	}
	cfg := dest.DefaultDestinations()
	if *cfgPath != "" {
		var err error
		if cfg, err = loadDestinations(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "shape: %v\n", err)
			return 1
		}
	}
	var key []byte
	var err error
	switch {
	case *keyFile != "":
		key, err = dest.LoadKey(*keyFile, "")
	case cfg.KeyFile != "" || cfg.KeyEnv != "":
		key, err = dest.LoadKey(cfg.KeyFile, cfg.KeyEnv)
	default:
		fmt.Fprintln(stderr, "shape: no destination key: pass --key-file or set destinations.key_file in --config")
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "shape: %v\n", err)
		return 1
	}
	ex, err := dest.New(cfg, key)
	if err != nil {
		fmt.Fprintf(stderr, "shape: destinations: %v\n", err)
		return 1
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, maxShapeInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "shape: read stdin: %v\n", err)
		return 1
	}
	if len(raw) > maxShapeInput {
		fmt.Fprintf(stderr, "shape: stdin is larger than %d bytes\n", maxShapeInput)
		return 1
	}
	dir := dest.Input
	if *output {
		dir = dest.Output
	}
	r := ex.Extract(*tool, dir, raw)
	for _, s := range r.Skipped {
		fmt.Fprintf(stderr, "shape: skipped %s\n", s)
	}
	if r.Truncated {
		fmt.Fprintf(stderr, "shape: more destinations than the %d kept\n", len(r.Destinations))
	}
	ds := r.Destinations
	if ds == nil {
		ds = []string{}
	}
	var out shapeOut
	if *output {
		out.OutputDestinations = &ds
	} else {
		s := shape.Of(raw)
		out.InputShape, out.Destinations = &s, &ds
	}
	b, _ := json.Marshal(out)
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}

// loadDestinations reads the destinations section of a configuration
// file, strictly (unknown keys are errors), ignoring the other sections.
func loadDestinations(path string) (dest.Config, error) {
	cfg := dest.DefaultDestinations()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	var top struct {
		Destinations yaml.Node `yaml:"destinations"`
	}
	if err := yaml.Unmarshal(b, &top); err != nil {
		return cfg, fmt.Errorf("%s: %v", path, err)
	}
	if top.Destinations.Kind == 0 {
		return cfg, nil
	}
	sec, err := yaml.Marshal(&top.Destinations)
	if err != nil {
		return cfg, fmt.Errorf("%s: destinations: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(sec))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s: destinations (line %d): %v", path, top.Destinations.Line, err)
	}
	if es := cfg.Validate(); len(es) > 0 {
		return cfg, fmt.Errorf("%s: %v", path, es.Prefix("destinations"))
	}
	return cfg, nil
}
