// Package alertmanager delivers alerts to Prometheus Alertmanager through
// its API v2 (POST /api/v2/alerts, a JSON array of postableAlerts), the way
// Prometheus does: every URL has its own queue; the set of firing alerts is
// re-sent every resend_interval with endsAt = now + 4×resend_interval, so
// Alertmanager expires them if the detector dies; a resolved alert is sent
// with endsAt = its ends_at and re-sent for resolve_retention.
//
// Labels: alertname=AgentToolAnomaly, pattern, severity, agent_id, tool,
// environment (empty values are left out, as Prometheus treats an empty
// label as absent). Annotations: summary, score, observed, expected,
// trace_id, and trace_url and runbook_url when the alert has them
// (alerts.trace_url, alerts.runbook_urls). Alertmanager identifies an alert by its labels, so alerts with
// different fingerprints but equal labels are one Alertmanager alert, which
// resolves only when all of them have resolved.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/internal/secret"
)

// AlertName is the alertname label of every alert.
const AlertName = "AgentToolAnomaly"

// APIPath is appended to each configured Alertmanager base URL.
const APIPath = "/api/v2/alerts"

// PostableAlert is one element of the API v2 postAlerts body.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Labels returns the Alertmanager label set of a.
func Labels(a alert.Alert) map[string]string {
	l := map[string]string{"alertname": AlertName}
	for _, kv := range [...][2]string{
		{"pattern", a.Pattern}, {"severity", a.Severity}, {"agent_id", a.AgentID},
		{"tool", a.Tool}, {"environment", a.Environment},
	} {
		if kv[1] != "" {
			l[kv[0]] = kv[1]
		}
	}
	return l
}

// labelKey identifies a's Alertmanager alert (its label set).
func labelKey(a alert.Alert) string {
	return strings.Join([]string{a.AgentID, a.Environment, a.Pattern, a.Severity, a.Tool}, "\xff")
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Postable converts a. A firing alert ends at now + 4×resend (at least
// 4×resend after its start, so a start stamped slightly in the future is
// still accepted); a resolved one at its ends_at (never before its start).
func Postable(a alert.Alert, now time.Time, resend time.Duration, generatorBase string) PostableAlert {
	p := PostableAlert{
		Labels: Labels(a),
		Annotations: map[string]string{
			"summary":  a.Summary,
			"score":    fmtFloat(a.Score),
			"observed": fmtFloat(a.Observed),
			"expected": fmtFloat(a.Expected),
			"trace_id": a.TraceID,
		},
		StartsAt: a.StartsAt,
	}
	if a.TraceURL != "" {
		p.Annotations["trace_url"] = a.TraceURL
	}
	if a.RunbookURL != "" {
		p.Annotations["runbook_url"] = a.RunbookURL
	}
	if a.Status == alert.StatusResolved {
		p.EndsAt = now
		if a.EndsAt != nil {
			p.EndsAt = *a.EndsAt
		}
		if !a.StartsAt.IsZero() && p.EndsAt.Before(a.StartsAt) {
			p.EndsAt = a.StartsAt
		}
	} else {
		p.EndsAt = now.Add(4 * resend)
		if !a.StartsAt.IsZero() && !p.EndsAt.After(a.StartsAt) {
			p.EndsAt = a.StartsAt.Add(4 * resend)
		}
	}
	if generatorBase != "" {
		sep := "?"
		if strings.Contains(generatorBase, "?") {
			sep = "&"
		}
		p.GeneratorURL = generatorBase + sep + "fingerprint=" + url.QueryEscape(a.Fingerprint)
	}
	return p
}

// Notifier POSTs batches to one Alertmanager. It implements sink.Notifier.
type Notifier struct {
	name          string
	endpoint      string
	client        *http.Client
	now           func() time.Time
	resend        time.Duration
	generatorBase string
	authorize     func(*http.Request)
}

// NewNotifier builds the notifier of one Alertmanager base URL. Secrets are
// read once, here.
func NewNotifier(baseURL string, cfg sink.AlertmanagerConfig, opts Options) (*Notifier, error) {
	opts.defaults(cfg)
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager url %q: %w", baseURL, err)
	}
	authorize, err := authorizer(cfg)
	if err != nil {
		return nil, err
	}
	return &Notifier{
		name:          "alertmanager:" + u.Host + strings.TrimSuffix(u.Path, "/"),
		endpoint:      strings.TrimSuffix(baseURL, "/") + APIPath,
		client:        opts.Client,
		now:           opts.Now,
		resend:        cfg.ResendInterval,
		generatorBase: cfg.GeneratorURL,
		authorize:     authorize,
	}, nil
}

func authorizer(cfg sink.AlertmanagerConfig) (func(*http.Request), error) {
	switch {
	case cfg.BasicAuth.Username != "":
		pass, err := secret.Read("alertmanager", "basic_auth.password", cfg.BasicAuth.PasswordFile, "")
		if err != nil {
			return nil, err
		}
		user := cfg.BasicAuth.Username
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }, nil
	case cfg.BearerTokenFile != "":
		tok, err := secret.Read("alertmanager", "bearer_token", cfg.BearerTokenFile, "")
		if err != nil {
			return nil, err
		}
		h := "Bearer " + tok
		return func(r *http.Request) { r.Header.Set("Authorization", h) }, nil
	}
	return func(*http.Request) {}, nil
}

// Name is "alertmanager:<host><path>", the metrics' sink label.
func (n *Notifier) Name() string { return n.name }

// Notify POSTs alerts as one postableAlerts array. Alerts with the same
// label set are folded (the last wins). 5xx, 429 and network errors are
// retryable; other 4xx are not.
func (n *Notifier) Notify(ctx context.Context, alerts ...alert.Alert) (bool, error) {
	now := n.now()
	body := make([]PostableAlert, 0, len(alerts))
	index := make(map[string]int, len(alerts))
	for _, a := range alerts {
		p := Postable(a, now, n.resend, n.generatorBase)
		if i, ok := index[labelKey(a)]; ok {
			body[i] = p
			continue
		}
		index[labelKey(a)] = len(body)
		body = append(body, p)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return false, fmt.Errorf("alertmanager: encode alerts: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.endpoint, bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("alertmanager: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "toolwatch")
	n.authorize(req)
	resp, err := n.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("alertmanager: post %s: %w", n.endpoint, err)
	}
	retry, err := sink.CheckResponse(resp, n.now())
	if err != nil {
		return retry, fmt.Errorf("alertmanager: post %s: %w", n.endpoint, err)
	}
	return false, nil
}
