package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/toolwatch/toolwatch/internal/buildinfo"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update if intended):\n%s", path, got)
	}
}

// Every way of asking for help prints the same text, on stdout, exit 0.
func TestHelpGolden(t *testing.T) {
	code, out, errs := runCLI(t, "", "help")
	if code != 0 || errs != "" {
		t.Fatalf("help: exit %d, stderr %q", code, errs)
	}
	golden(t, "help.golden", out)
	for _, alias := range [][]string{{"--help"}, {"-h"}} {
		if code, o, _ := runCLI(t, "", alias...); code != 0 || o != out {
			t.Errorf("%v: exit %d, output differs from 'detector help'", alias, code)
		}
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "", "help", c.name)
			if code != 0 || errs != "" {
				t.Fatalf("help %s: exit %d, stderr %q", c.name, code, errs)
			}
			golden(t, "help-"+c.name+".golden", out)
			for _, alias := range [][]string{{c.name, "--help"}, {c.name, "-h"}} {
				if code, o, _ := runCLI(t, "", alias...); code != 0 || o != out {
					t.Errorf("%v: exit %d, output differs from 'detector help %s':\n%s", alias, code, c.name, o)
				}
			}
			// Each command is listed with its summary, and its help has an example.
			if _, list, _ := runCLI(t, "", "help"); !strings.Contains(list, "  "+c.name+" ") || !strings.Contains(list, c.summary) {
				t.Errorf("'detector help' does not list %s with its summary", c.name)
			}
			if !strings.Contains(out, "Examples:\n  detector ") {
				t.Errorf("help %s has no example", c.name)
			}
		})
	}
}

// The version output's variable parts (version, commit, date, Go version,
// platform) are normalised; the golden pins its form.
func TestVersionGolden(t *testing.T) {
	code, out, errs := runCLI(t, "", "version")
	if code != 0 || errs != "" {
		t.Fatalf("version: exit %d, stderr %q", code, errs)
	}
	if _, o, _ := runCLI(t, "", "--version"); o != out {
		t.Errorf("--version differs from version:\n%s", o)
	}
	norm := out
	for _, r := range []struct{ re, repl string }{
		{`(?m)^detector \S+$`, "detector <version>"},
		{`(?m)^commit:   \S+( \(modified\))?$`, "commit:   <commit>"},
		{`(?m)^date:     \S+\n`, ""},
		{`(?m)^go:       go\S+ [a-z0-9]+/[a-z0-9]+$`, "go:       <go version> <os>/<arch>"},
	} {
		norm = regexp.MustCompile(r.re).ReplaceAllString(norm, r.repl)
	}
	golden(t, "version.golden", norm)

	// An -ldflags -X override of the commit wins over the build info.
	defer func(v, c string) { buildinfo.Version, buildinfo.Commit = v, c }(buildinfo.Version, buildinfo.Commit)
	buildinfo.Version, buildinfo.Commit = "1.2.3", "0123456789abcdef0123456789abcdef01234567"
	_, out, _ = runCLI(t, "", "version")
	if !strings.HasPrefix(out, "detector 1.2.3\ncommit:   0123456789abcdef0123456789abcdef01234567\n") {
		t.Errorf("ldflags override not shown:\n%s", out)
	}
}
