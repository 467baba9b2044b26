package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a Standard Webhooks secret: whsec_<base64 key>.
const SecretPrefix = "whsec_"

// Verification errors.
var (
	ErrMissingHeaders       = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp     = errors.New("webhook: invalid webhook-timestamp")
	ErrTimestampOutOfWindow = errors.New("webhook: timestamp outside the tolerance")
	ErrNoMatchingSignature  = errors.New("webhook: no matching signature")
)

// ParseSecret turns a configured secret into the HMAC key: `whsec_<base64>`
// is decoded (Standard Webhooks form); anything else is used as raw bytes.
func ParseSecret(secret []byte) ([]byte, error) {
	s := strings.TrimSpace(string(secret))
	if rest, ok := strings.CutPrefix(s, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: whsec_ value is not base64: %w", err)
		}
		if len(key) == 0 {
			return nil, errors.New("webhook secret: empty key")
		}
		return key, nil
	}
	if s == "" {
		return nil, errors.New("webhook secret: empty")
	}
	return []byte(s), nil
}

// Sign returns the webhook-signature value "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" for an already parsed key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery the way a Toolwatch webhook receiver should:
// the three headers are present, webhook-timestamp is within tolerance of
// now (tolerance <= 0 skips that check; 5 minutes is the usual choice), and
// one of the space-separated "v1,<base64>" signatures matches body under
// secret (given in the same form as the sender's secret file: `whsec_…` or
// raw). Comparison is constant-time.
func Verify(secret []byte, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return ErrTimestampOutOfWindow
		}
	}
	want := mac(key, id, ts, body)
	for sig := range strings.FieldsSeq(sigs) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}
