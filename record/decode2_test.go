package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The differential tests of issue 13's decode2 rewrite: the production
// Decoder against refDecoder (reference_test.go, the decoder as it was) on
// the same bytes must give the same Record and the same error (field and
// reason, offsets included).

// sameDecode decodes data with d and ref (both reused across calls, so the
// intern tables and scratch buffers are exercised as in production) and
// fails t on any difference.
func sameDecode(t testing.TB, d *Decoder, ref *refDecoder, data []byte) error {
	t.Helper()
	var got, want Record
	err := d.Decode(data, &got)
	refErr := ref.Decode(data, &want)
	if err != nil || refErr != nil {
		var e, re *Error
		if !errors.As(err, &e) || !errors.As(refErr, &re) || *e != *re {
			t.Fatalf("errors differ on %q:\n decoder:   %v\n reference: %v", data, err, refErr)
		}
		return err
	}
	if !equalRecords(&got, &want) || got.Timestamp != want.Timestamp {
		t.Fatalf("records differ on %q:\n decoder:   %+v\n reference: %+v", data, got, want)
	}
	return nil
}

// validCorpus is every valid record at hand without a simulator: the
// testdata, the FuzzDecode seeds that decode, the chain test vectors and
// the compliance package's records, each also re-indented.
func validCorpus(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	add := func(b []byte) {
		if err := NewDecoder(DefaultLimits()).Decode(b, new(Record)); err == nil {
			out = append(out, b)
			var ind bytes.Buffer
			if json.Indent(&ind, b, "", "\t") == nil {
				out = append(out, ind.Bytes())
			}
		}
	}
	paths, _ := filepath.Glob("testdata/*.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		add(b)
	}
	for _, s := range fuzzSeeds() {
		add(s)
	}
	if b, err := os.ReadFile("../compliance/testdata/records.jsonl"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			add(bytes.Clone(sc.Bytes()))
		}
	}
	if b, err := os.ReadFile("../chain/testdata/vectors.json"); err == nil {
		var vs []struct {
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			var c bytes.Buffer
			if json.Compact(&c, v.Record) == nil {
				add(c.Bytes())
			}
		}
	}
	full := minimalRecord()
	full.ParentSpanID, full.AuthorizationMethod, full.RetentionPolicy = "p1", "oauth", "7y"
	full.Tool = Tool{Name: "n", Version: "1.2", Publisher: "p", TrustLevel: "bronze", VerificationScore: 12.75}
	full.Invocation.InputHash, full.Invocation.OutputHash = "sha256:00ff", "sha256:ff00"
	full.Invocation.PermissionsUsed = []string{"fs:read", "net:connect"}
	full.Invocation.PermissionsDenied = []string{"fs:write"}
	full.Invocation.OutputBytes, full.Invocation.InputBytes, full.Invocation.InputShape = 0, 1<<40, "json{a:str}"
	full.Invocation.Destinations = []string{"email:0123456789abcdef"}
	full.Invocation.OutputDestinations = []string{"host:0123456789abcdef0123", "domain:fedcba9876543210"}
	full.Context = Context{TaskID: "t", UserID: "u", DataClassification: "restricted", Environment: "prod"}
	full.DataSubjectsAffected, full.ImmutabilityProof = 7, "proof"
	full.Chain = Chain{Producer: "rt-1", Seq: 2, Prev: fill32(1), Hash: fill32(2), KeyID: "k1", Sig: fill64(3)}
	add(full.AppendJSON(nil))
	if len(out) < 20 {
		t.Fatalf("corpus has %d records", len(out))
	}
	return out
}

// mutationBytes are substituted and inserted at every position: the
// grammar's structural bytes, escapes, controls, UTF-8 lead, continuation
// and invalid bytes, number characters and whitespace.
var mutationBytes = []byte{'"', '\\', '/', 'u', 'n', 't', 'f', 'x', '{', '}', '[', ']', ',', ':',
	'0', '1', '9', '-', '+', '.', 'e', 'E', ' ', '\t', '\n', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xff}

// TestDecodeSameAsReferenceMutations decodes every record of validCorpus
// and its single-byte mutations with both decoders: at every position the
// byte deleted, duplicated, and replaced by and preceded by four of
// mutationBytes (rotating, so that each byte lands on every kind of
// position across the corpus), and the record truncated there.
func TestDecodeSameAsReferenceMutations(t *testing.T) {
	d, ref := NewDecoder(DefaultLimits()), refNewDecoder(DefaultLimits())
	corpus := validCorpus(t)
	var n, failed int
	buf := make([]byte, 0, 4096)
	for _, rec := range corpus {
		if err := sameDecode(t, d, ref, rec); err != nil {
			t.Fatalf("corpus record %q: %v", rec, err)
		}
		for i := range rec {
			buf = append(append(buf[:0], rec[:i]...), rec[i+1:]...) // delete
			if sameDecode(t, d, ref, buf) != nil {
				failed++
			}
			buf = append(append(buf[:0], rec[:i+1]...), rec[i:]...) // duplicate
			sameDecode(t, d, ref, buf)
			sameDecode(t, d, ref, rec[:i]) // truncate
			for k := range 4 {
				c := mutationBytes[(4*i+k)%len(mutationBytes)]
				buf = append(buf[:0], rec...) // replace
				buf[i] = c
				if sameDecode(t, d, ref, buf) != nil {
					failed++
				}
				buf = append(append(append(buf[:0], rec[:i]...), c), rec[i:]...) // insert
				sameDecode(t, d, ref, buf)
				n += 2
			}
			n += 3
		}
	}
	if failed == 0 || failed == n {
		t.Fatalf("%d of %d mutations failed to decode: the mutations do not exercise both paths", failed, n)
	}
	t.Logf("%d records, %d mutations, %d failing", len(corpus), n, failed)
}

// TestDecodeSameAsReferenceLimits compares the decoders at tight limits:
// the size bound and every depth from 1.
func TestDecodeSameAsReferenceLimits(t *testing.T) {
	corpus := validCorpus(t)
	deep := []byte(`{"a":[[[[[[[[[[[[[[[[[[[[{"b":[1]}]]]]]]]]]]]]]]]]]]],"tool":{"x":{"y":{"z":[{}]}}}}`)
	for _, l := range []Limits{{MaxRecordBytes: 100, MaxDepth: 1}, {MaxRecordBytes: 300, MaxDepth: 2}, {MaxDepth: 3}, {MaxDepth: 4}, {MaxDepth: 20}, {MaxDepth: 5000}} {
		d, ref := NewDecoder(l), refNewDecoder(l)
		sameDecode(t, d, ref, deep)
		for _, rec := range corpus {
			sameDecode(t, d, ref, rec)
		}
	}
}

// FuzzDecodeSameAsReference is the differential fuzz target: arbitrary
// bytes and the fuzzer's mutations of valid records (the corpus and the
// FuzzDecode seeds) decode to the same Record and error with both
// decoders.
func FuzzDecodeSameAsReference(f *testing.F) {
	for _, b := range validCorpus(f) {
		f.Add(b)
	}
	for _, b := range canonicalCorpus(f) { // the template path (decode3)
		f.Add(b)
	}
	f.Add([]byte(`"\u00e9"`))
	f.Add([]byte(`[1,2.5e-3,-0,{"a":null}]`))
	d, ref := NewDecoder(DefaultLimits()), refNewDecoder(DefaultLimits())
	small, smallRef := NewDecoder(Limits{MaxRecordBytes: 600, MaxDepth: 3}), refNewDecoder(Limits{MaxRecordBytes: 600, MaxDepth: 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, d, ref, data)
		sameDecode(t, small, smallRef, data)
	})
}

// TestParseTimestampSameAsReference sets every byte of a few timestamps to
// every value and compares parseTimestamp with the reference's.
func TestParseTimestampSameAsReference(t *testing.T) {
	for _, ts := range []string{"2026-03-23T14:30:00.123Z", "2024-02-29t23:59:59+05:30", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-00:01"} {
		b := []byte(ts)
		for i := range b {
			orig := b[i]
			for c := range 256 {
				b[i] = byte(c)
				got, ok := parseTimestamp(b)
				want, wantOK := refParseTimestamp(b)
				if ok != wantOK || got != want {
					t.Fatalf("%q: got %v %v, reference %v %v", b, got, ok, want, wantOK)
				}
			}
			b[i] = orig
		}
	}
}
