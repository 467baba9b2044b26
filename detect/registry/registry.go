// Package registry is the table of detectors: every detector the daemon
// ships, in routing order. config (the `detectors:` section and
// overrides), pipeline (build and hot reload), telemetry (pattern labels),
// the status page, eval and the demo all loop over it.
//
// Adding a detector is one new folder detect/<pattern> exporting a
// detect.Factory and one line here.
package registry

import (
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/chain"
	"github.com/toolwatch/toolwatch/detect/denials"
	"github.com/toolwatch/toolwatch/detect/egress"
	"github.com/toolwatch/toolwatch/detect/frequency"
	"github.com/toolwatch/toolwatch/detect/inputs"
	"github.com/toolwatch/toolwatch/detect/latency"
	"github.com/toolwatch/toolwatch/detect/outputsize"
)

// Default is the shipped detector table. The order is the engine's routing
// order, the order of the `detectors:` section and of reports.
var Default = detect.MustRegistry(
	frequency.Factory,
	inputs.Factory,
	denials.Factory,
	outputsize.Factory,
	latency.Factory,
	chain.Factory,
	egress.Factory,
)
