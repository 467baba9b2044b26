// Package deploy holds the files operators ship with Toolwatch: Grafana
// dashboards (grafana/), Prometheus recording and alerting rules with their
// unit tests (prometheus/), an Alertmanager routing example (alertmanager/)
// and a hardened systemd unit (systemd/). It has no Go code; its tests
// validate those files with promtool, amtool and systemd-analyze, and check
// that every metric a dashboard or rule queries is one the daemon exports.
package deploy
