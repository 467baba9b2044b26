package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ObjectStore keeps snapshots in a JetStream object store bucket, in two
// objects used in turn ("snapshot.0", "snapshot.1"), each carrying a
// generation number in its metadata; Save overwrites the older one, so the
// newer is always intact while a Save is in flight.
//
// Why the object store and not a key-value bucket: a KV value is a single
// message, limited by the server's max_payload (1 MiB by default), and the
// snapshot of 200k keys per detector is far bigger. The object store
// chunks an object (128 KiB chunks), publishes its metadata only after the
// last chunk, and verifies a SHA-256 digest on read — no home-grown chunk
// manifest to get wrong. The snapshot's own checksum is checked on top.
//
// Deltas are objects "delta.<base ID, 16 hex>.<index, 6 digits>"; an
// object appears only once complete.
type ObjectStore struct {
	obs    jetstream.ObjectStore
	bucket string
	prefix string // of the object names (Sub)
}

const (
	objectPrefix  = "snapshot."
	deltaPrefix   = "delta."
	generationKey = "toolwatch-generation"
	idKey         = "toolwatch-id" // ID of the snapshot (Prune)
)

// OpenObjectStore opens bucket, creating it (file storage, replicas) when
// it does not exist.
func OpenObjectStore(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*ObjectStore, error) {
	obs, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      bucket,
			Description: "Toolwatch baseline snapshots",
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = js.ObjectStore(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot object store %s: %w", bucket, err)
	}
	return &ObjectStore{obs: obs, bucket: bucket}, nil
}

// Sub returns the store of the same bucket whose two objects are named
// prefix+"snapshot.0" and prefix+"snapshot.1": one bucket holds the
// snapshots of a consumer group's partitions ("<group>/<partition>/").
func (o *ObjectStore) Sub(prefix string) *ObjectStore {
	return &ObjectStore{obs: o.obs, bucket: o.bucket, prefix: o.prefix + prefix}
}

// String implements Store.
func (o *ObjectStore) String() string {
	if o.prefix == "" {
		return "nats object store " + o.bucket
	}
	return "nats object store " + o.bucket + " " + o.prefix
}

type slot struct {
	name string
	gen  uint64
	id   uint64 // 0: unknown (written before deltas)
	ok   bool   // the object exists
}

// slots returns both slots, newest first.
func (o *ObjectStore) slots(ctx context.Context) ([]slot, error) {
	out := make([]slot, 0, 2)
	for i := range 2 {
		s := slot{name: o.prefix + objectPrefix + strconv.Itoa(i)}
		info, err := o.obs.GetInfo(ctx, s.name)
		switch {
		case errors.Is(err, jetstream.ErrObjectNotFound):
		case err != nil:
			return nil, fmt.Errorf("snapshot object %s/%s: %w", o.bucket, s.name, err)
		default:
			s.ok = true
			// A missing or unparsable generation sorts oldest.
			s.gen, _ = strconv.ParseUint(info.Metadata[generationKey], 10, 64)
			s.id, _ = strconv.ParseUint(info.Metadata[idKey], 16, 64)
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b slot) int {
		switch {
		case a.ok != b.ok:
			if a.ok {
				return -1
			}
			return 1
		case a.gen > b.gen:
			return -1
		case a.gen < b.gen:
			return 1
		}
		return 0
	})
	return out, nil
}

// Save implements Store: it overwrites the older slot.
func (o *ObjectStore) Save(ctx context.Context, data []byte) error {
	slots, err := o.slots(ctx)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	newest, target := slots[0], slots[1]
	meta := jetstream.ObjectMeta{
		Name:        target.name,
		Description: "toolwatch snapshot",
		Metadata: map[string]string{generationKey: strconv.FormatUint(newest.gen+1, 10),
			idKey: fmt.Sprintf("%016x", ID(data))},
	}
	if _, err := o.obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("save snapshot %s/%s: %w", o.bucket, target.name, err)
	}
	return nil
}

// Read implements Store. A digest mismatch is reported as ErrChecksum.
func (o *ObjectStore) Read(ctx context.Context) ([]Blob, error) {
	slots, err := o.slots(ctx)
	if err != nil {
		return nil, fmt.Errorf("read snapshots: %w", err)
	}
	var out []Blob
	for _, s := range slots {
		if !s.ok {
			continue
		}
		if b, ok := o.get(ctx, s.name); ok { // else deleted since slots()
			out = append(out, b)
		}
	}
	return out, nil
}

func deltaName(base uint64, index uint32) string {
	return fmt.Sprintf("%s%016x.%06d", deltaPrefix, base, index)
}

// SaveDelta implements Store.
func (o *ObjectStore) SaveDelta(ctx context.Context, base uint64, index uint32, data []byte) error {
	name := o.prefix + deltaName(base, index)
	meta := jetstream.ObjectMeta{Name: name, Description: "toolwatch snapshot delta"}
	if _, err := o.obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("save delta %s/%s: %w", o.bucket, name, err)
	}
	return nil
}

// deltas lists the delta objects: base ID -> index -> name.
func (o *ObjectStore) deltas(ctx context.Context) (map[uint64]map[uint32]string, error) {
	infos, err := o.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]map[uint32]string)
	for _, info := range infos {
		// Only this store's deltas: a bucket shared through Sub holds
		// other stores' chains, which Prune must not touch.
		rest, ok := strings.CutPrefix(info.Name, o.prefix+deltaPrefix)
		if !ok {
			continue
		}
		addDelta(out, rest, ".", info.Name)
	}
	return out, nil
}

// ReadDeltas implements Store. A digest mismatch is reported as
// ErrChecksum.
func (o *ObjectStore) ReadDeltas(ctx context.Context, base uint64) ([]Blob, error) {
	all, err := o.deltas(ctx)
	if err != nil {
		return nil, fmt.Errorf("read deltas: %w", err)
	}
	idx := make([]uint32, 0, len(all[base]))
	for n := range all[base] {
		idx = append(idx, n)
	}
	slices.Sort(idx)
	out := make([]Blob, 0, len(idx))
	for _, n := range idx {
		if b, ok := o.get(ctx, all[base][n]); ok { // else pruned since
			out = append(out, b)
		}
	}
	return out, nil
}

// get reads object name as a Blob (a read error in Blob.Err); ok is false
// when the object does not exist (any more).
func (o *ObjectStore) get(ctx context.Context, name string) (b Blob, ok bool) {
	src := o.bucket + "/" + name
	data, err := o.obs.GetBytes(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return Blob{}, false
	case errors.Is(err, jetstream.ErrDigestMismatch):
		err = fmt.Errorf("read %s: %w (%w)", src, ErrChecksum, err)
	case err != nil:
		err = fmt.Errorf("read %s: %w", src, err)
	}
	return Blob{Source: src, Data: data, Err: err}, true
}

// Prune implements Store: it keeps the deltas of the bases in both slots.
func (o *ObjectStore) Prune(ctx context.Context) error {
	slots, err := o.slots(ctx)
	if err != nil {
		return fmt.Errorf("prune deltas: %w", err)
	}
	keep := map[uint64]bool{}
	for _, s := range slots {
		if s.ok && s.id != 0 {
			keep[s.id] = true
		}
	}
	all, err := o.deltas(ctx)
	if err != nil {
		return fmt.Errorf("prune deltas: %w", err)
	}
	return errors.Join(pruneDeltas(all, keep, func(name string) error {
		if err := o.obs.Delete(ctx, name); !errors.Is(err, jetstream.ErrObjectNotFound) {
			return err
		}
		return nil
	})...)
}
