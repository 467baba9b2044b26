package outputsize

import (
	"github.com/toolwatch/toolwatch/detect"
)

// Factory is this detector's entry in the detector table (detect/registry):
// its pattern name, config section, constructor and hot reload.
var Factory = detect.FactoryOf[Config, *Detector]{
	Name:      detect.PatternOutputSize,
	Defaults:  DefaultConfig,
	Build:     detect.Infallible(New),
	SetParams: (*Detector).SetParams,
}

// On implements detect.Section: whether the detector is enabled.
func (c *Config) On() bool { return c.Enabled }
