// Package buildinfo says which build of Toolwatch is running: the release
// version, the VCS commit and the Go toolchain. Version and Commit can be
// set at link time:
//
//	go build -ldflags "-X github.com/toolwatch/toolwatch/internal/buildinfo.Version=1.2.0 \
//	  -X github.com/toolwatch/toolwatch/internal/buildinfo.Commit=$(git rev-parse HEAD)" ./cmd/detector
//
// Without -X, Commit comes from the vcs.revision the go command stamps into
// binaries built inside a Git checkout (runtime/debug.ReadBuildInfo); test
// binaries and `go run` of a file carry none, and read "unknown".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the release version (set with -ldflags -X).
var Version = "0.1.0-dev"

// Commit overrides the VCS revision from the build info (set with
// -ldflags -X).
var Commit = ""

// Info describes one build.
type Info struct {
	Version   string
	Commit    string // full revision, or "unknown"
	Modified  bool   // built from a working tree with uncommitted changes
	Time      string // commit time (RFC 3339) when stamped, else ""
	GoVersion string // e.g. "go1.26.0"
	Platform  string // GOOS/GOARCH
}

// Read returns the running binary's Info.
func Read() Info {
	i := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		i.GoVersion = bi.GoVersion
		var rev string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				i.Time = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
		if i.Commit == "" {
			i.Commit = rev
		} else if rev != "" && !strings.HasPrefix(rev, i.Commit) && !strings.HasPrefix(i.Commit, rev) {
			i.Time, i.Modified = "", false // the stamp describes another revision
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}

// Short is "0.1.0-dev (3f2a9c1d0e4b, go1.26.0)", for logs and the status page.
// The commit is left out when unknown.
func (i Info) Short() string {
	if i.Commit == "unknown" || i.Commit == "" {
		return fmt.Sprintf("%s (%s)", i.Version, i.GoVersion)
	}
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "-dirty"
	}
	return fmt.Sprintf("%s (%s, %s)", i.Version, c, i.GoVersion)
}

// String is the multi-line form printed by `detector version`.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "detector %s\n", i.Version)
	c := i.Commit
	if i.Modified {
		c += " (modified)"
	}
	fmt.Fprintf(&b, "commit:   %s\n", c)
	if i.Time != "" {
		fmt.Fprintf(&b, "date:     %s\n", i.Time)
	}
	fmt.Fprintf(&b, "go:       %s %s\n", i.GoVersion, i.Platform)
	return b.String()
}
