package chain

import "github.com/toolwatch/toolwatch/detect"

var _ detect.Capturer = (*Detector)(nil)

// CaptureState implements detect.Capturer: every producer's chain state
// is copied here (per producer its position, remembered hashes and pending
// records); the record (chain.StateV1) is written by the Encoder.
func (d *Detector) CaptureState() (detect.Encoder, error) {
	enc := d.v.CaptureState()
	return func(b []byte) ([]byte, error) { return enc(b), nil }, nil
}
