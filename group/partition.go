package group

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Transform returns the stream subject transform that appends the
// partition of a record's agent_id to its subject:
// <prefix>.<environment>.<agent_id> is stored as
// <prefix>.<environment>.<agent_id>.<partition>, the partition being the
// server's hash of the agent_id token modulo n (subject mapping
// {{partition(n,2)}}). subject is the ingest subject and must be
// <prefix>.> (the documented record subjects).
func Transform(subject string, n int) (jetstream.SubjectTransformConfig, error) {
	prefix, ok := strings.CutSuffix(subject, ".>")
	if !ok || prefix == "" || strings.ContainsAny(prefix, "*>") {
		return jetstream.SubjectTransformConfig{}, fmt.Errorf("group: ingest.subject %q must be <prefix>.> (records on <prefix>.<environment>.<agent_id>)", subject)
	}
	return jetstream.SubjectTransformConfig{
		Source:      prefix + ".*.*",
		Destination: prefix + ".{{wildcard(1)}}.{{wildcard(2)}}.{{partition(" + strconv.Itoa(n) + ",2)}}",
	}, nil
}

// Filter is the consumer filter subject of partition p.
func Filter(subject string, p int) string {
	return strings.TrimSuffix(subject, ".>") + ".*.*." + strconv.Itoa(p)
}

// Of is the partition the server assigns agentID out of n: FNV-1a (32 bit)
// of the subject token, modulo n, as nats-server's getHashPartition. The
// daemon never needs it (the server partitions); tests and tools use it to
// tell where an agent lives. agentID must already be a subject token
// (ingest.AppendSubjectToken).
func Of(agentID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(agentID))
	return int(h.Sum32() % uint32(n))
}

// EnsureStream creates the stream with the partition transform, or adds
// the transform to an existing stream that has none. Records stored before
// the transform carry no partition token and belong to no partition. An
// existing different transform (another partition count) is an error:
// changing it would move agents between partitions whose snapshots hold
// their baselines.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, n int) (added bool, err error) {
	tr, err := Transform(cfg.Subjects[0], n)
	if err != nil {
		return false, err
	}
	s, err := js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		cfg.SubjectTransform = &tr
		if _, err = js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return false, fmt.Errorf("group: create stream %s: %w", cfg.Name, err)
		}
		if err == nil {
			return true, nil
		}
		if s, err = js.Stream(ctx, cfg.Name); err != nil {
			return false, fmt.Errorf("group: stream %s: %w", cfg.Name, err)
		}
	case err != nil:
		return false, fmt.Errorf("group: stream %s: %w", cfg.Name, err)
	}
	cur := s.CachedInfo().Config
	switch {
	case cur.SubjectTransform == nil:
		if !slices.Contains(cur.Subjects, cfg.Subjects[0]) {
			return false, fmt.Errorf("group: stream %s has subjects %v, not %s", cfg.Name, cur.Subjects, cfg.Subjects[0])
		}
		cur.SubjectTransform = &tr
		if _, err := js.UpdateStream(ctx, cur); err != nil {
			return false, fmt.Errorf("group: add the partition transform to stream %s: %w", cfg.Name, err)
		}
		return true, nil
	case *cur.SubjectTransform != tr:
		return false, fmt.Errorf("group: stream %s partitions with %s -> %s, want %s (group.partitions changed? partition counts cannot change on a stream)",
			cfg.Name, cur.SubjectTransform.Source, cur.SubjectTransform.Destination, tr.Destination)
	}
	return false, nil
}
