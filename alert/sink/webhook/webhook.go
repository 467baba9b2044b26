// Package webhook delivers each alert as one signed JSON POST (the alert
// wire object of docs/design.md §5) following the Standard Webhooks spec:
// webhook-id is the alert's id (stable per emission, identical on every
// retry, so receivers can deduplicate), webhook-timestamp the attempt's unix
// seconds, webhook-signature "v1,<base64 HMAC-SHA256(id.timestamp.body)>".
// Every URL has its own queue. 5xx, 429 and network errors are retried with
// exponential backoff and jitter, waiting at least Retry-After; other 4xx
// are not retried. 410 Gone pauses the URL's queue: its alerts are held
// (bounded by queue_size, the oldest dropped and counted), and the URL is
// tried again after gone_retry_interval or at the next configuration
// reload (any reload, also of an unchanged file), whichever comes first.
// Receivers check deliveries with Verify.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/internal/secret"
)

// MinKeyBytes is the shortest HMAC key the sender accepts.
const MinKeyBytes = 16

// ErrGone is returned (inside a sink.PauseError) when a receiver answered
// 410 Gone.
var ErrGone = errors.New("webhook: receiver answered 410 Gone")

// Options are the dependencies of the webhook sink.
type Options struct {
	// Client sends the requests; default: an http.Client with cfg.Timeout.
	Client *http.Client
	// Now stamps webhook-timestamp; default time.Now.
	Now     func() time.Time
	Metrics *sink.Metrics
	Logger  zerolog.Logger
	// Queue overrides queue tuning (Size, MaxBatch, MaxAttempts, Metrics
	// and Logger are filled from the config and the fields above).
	Queue sink.QueueOptions
}

func (o *Options) defaults(cfg sink.WebhookConfig) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = sink.NewMetrics(nil)
	}
}

// LoadSecret reads the signing secret named by cfg (secret_file or
// secret_env) and returns the HMAC key.
func LoadSecret(cfg sink.WebhookConfig) ([]byte, error) {
	raw, err := secret.Read("webhook", "secret", cfg.SecretFile, cfg.SecretEnv)
	if err != nil {
		return nil, err
	}
	key, err := ParseSecret([]byte(raw))
	if err != nil {
		return nil, err
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("webhook secret: key is %d bytes, want at least %d", len(key), MinKeyBytes)
	}
	return key, nil
}

// Notifier POSTs signed alerts to one URL. It implements sink.Notifier.
type Notifier struct {
	name   string
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
	log    zerolog.Logger
	// goneRetry is how long a 410 pauses the URL (gone_retry_interval).
	goneRetry time.Duration
}

// NewNotifier builds the notifier of one URL with an HMAC key (see
// LoadSecret).
func NewNotifier(rawURL string, key []byte, cfg sink.WebhookConfig, opts Options) (*Notifier, error) {
	opts.defaults(cfg)
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("webhook url %q: %w", rawURL, err)
	}
	name := "webhook:" + u.Host + strings.TrimSuffix(u.Path, "/")
	return &Notifier{
		name: name, url: rawURL, key: key, client: opts.Client, now: opts.Now,
		log:       opts.Logger.With().Str("component", "sink").Str("sink", name).Logger(),
		goneRetry: cfg.GoneRetryInterval,
	}, nil
}

// Name is "webhook:<host><path>", the metrics' sink label.
func (n *Notifier) Name() string { return n.name }

// Notify sends each alert in its own request, in order, stopping at the
// first failure.
func (n *Notifier) Notify(ctx context.Context, alerts ...alert.Alert) (bool, error) {
	for _, a := range alerts {
		if retry, err := n.post(ctx, a); err != nil {
			return retry, err
		}
	}
	return false, nil
}

func (n *Notifier) post(ctx context.Context, a alert.Alert) (bool, error) {
	body, err := sink.MarshalAlert(a)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook: build request: %w", err)
	}
	ts, id := n.now(), MessageID(a)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "toolwatch")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(n.key, id, ts, body))
	resp, err := n.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("webhook: post %s: %w", n.name, err)
	}
	if resp.StatusCode == http.StatusGone {
		_, _ = sink.CheckResponse(resp, n.now())
		return true, &sink.PauseError{After: n.goneRetry, Err: ErrGone}
	}
	retry, err := sink.CheckResponse(resp, n.now())
	if err != nil {
		return retry, fmt.Errorf("webhook: post %s: %w", n.name, err)
	}
	return false, nil
}

// MessageID is the webhook-id of a: its id (unique per emission, the same
// on every retry). An alert without one gets an id derived from its
// fingerprint, status and start, which is just as stable.
func MessageID(a alert.Alert) string {
	if a.ID != "" {
		return a.ID
	}
	return a.Fingerprint + "-" + a.Status + "-" + strconv.FormatInt(a.StartsAt.UnixNano(), 10)
}

// New builds one queue per configured URL, fanned out by a Dispatcher. The
// secret is read here (a missing or short secret is an error).
func New(cfg sink.WebhookConfig, opts Options) (*sink.Dispatcher, error) {
	opts.defaults(cfg)
	if len(cfg.URLs) == 0 {
		return nil, errors.New("webhook sink: no urls")
	}
	key, err := LoadSecret(cfg)
	if err != nil {
		return nil, err
	}
	notifiers := make([]*Notifier, 0, len(cfg.URLs))
	for _, u := range cfg.URLs {
		n, err := NewNotifier(u, key, cfg, opts)
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, n)
	}
	sinks := make([]sink.Sink, 0, len(notifiers))
	for _, n := range notifiers {
		qo := opts.Queue
		qo.Size, qo.MaxBatch, qo.MaxAttempts = cfg.QueueSize, 1, cfg.MaxRetries+1
		qo.Metrics, qo.Logger = opts.Metrics, opts.Logger
		sinks = append(sinks, sink.NewQueue(n, qo))
	}
	return sink.NewDispatcher(sinks...).Named("webhook"), nil
}
