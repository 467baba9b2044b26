package record

import (
	"strings"
	"testing"
)

var (
	hashA = strings.Repeat("ab", 32)
	hashB = strings.Repeat("0f", 32)
	sigA  = strings.Repeat("c3", 64)
)

// withChain returns minimal with chain (a JSON object or value) appended.
func withChain(chain string) string {
	return strings.TrimSuffix(minimal, "}") + `,"chain":` + chain + `}`
}

func TestDecodeChain(t *testing.T) {
	tests := []struct {
		name, chain string
		want        Chain // Seq 0: no chain
	}{
		{"null", `null`, Chain{}},
		{"first", `{"producer":"rt-1","seq":1,"hash":"` + hashA + `"}`,
			Chain{Producer: "rt-1", Seq: 1, Hash: fill32(0xab)}},
		{"linked", `{"producer":"rt-1","seq":2,"prev":"` + hashB + `","hash":"` + hashA + `"}`,
			Chain{Producer: "rt-1", Seq: 2, Prev: fill32(0x0f), Hash: fill32(0xab)}},
		{"checkpoint", `{"producer":"rt-1","seq":1,"hash":"` + hashA + `","checkpoint":{"key_id":"k1","sig":"` + sigA + `"},"x":1}`,
			Chain{Producer: "rt-1", Seq: 1, Hash: fill32(0xab), KeyID: "k1", Sig: fill64(0xc3)}},
		{"max seq", `{"producer":"p","seq":9007199254740991,"prev":"` + hashB + `","hash":"` + hashA + `"}`,
			Chain{Producer: "p", Seq: MaxSeq, Prev: fill32(0x0f), Hash: fill32(0xab)}},
	}
	d := NewDecoder(DefaultLimits())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if err := d.Decode([]byte(withChain(tt.chain)), &r); err != nil {
				t.Fatal(err)
			}
			if r.Chain != tt.want {
				t.Fatalf("chain = %+v, want %+v", r.Chain, tt.want)
			}
			// Canonical round trip.
			var back Record
			enc := r.AppendJSON(nil)
			if err := d.Decode(enc, &back); err != nil {
				t.Fatalf("decode %s: %v", enc, err)
			}
			if back.Chain != r.Chain {
				t.Fatalf("round trip %s: %+v", enc, back.Chain)
			}
		})
	}
}

func TestDecodeChainInvalid(t *testing.T) {
	tests := []struct{ name, chain, want string }{
		{"not object", `"x"`, `chain: must be an object`},
		{"empty", `{}`, `chain.producer: required`},
		{"no seq", `{"producer":"p","hash":"` + hashA + `"}`, `chain.seq: required`},
		{"seq 0", `{"producer":"p","seq":0,"hash":"` + hashA + `"}`, `chain.seq: must be an integer >= 1`},
		{"seq negative", `{"producer":"p","seq":-1,"hash":"` + hashA + `"}`, `chain.seq: must be an integer >= 0`},
		{"seq too big", `{"producer":"p","seq":9007199254740992,"hash":"` + hashA + `"}`, `chain.seq: must be at most 9007199254740991`},
		{"seq fraction", `{"producer":"p","seq":1.5,"hash":"` + hashA + `"}`, `chain.seq: must be an integer >= 0`},
		{"no hash", `{"producer":"p","seq":1}`, `chain.hash: required`},
		{"no prev", `{"producer":"p","seq":2,"hash":"` + hashA + `"}`, `chain.prev: required when chain.seq > 1`},
		{"prev at 1", `{"producer":"p","seq":1,"prev":"` + hashB + `","hash":"` + hashA + `"}`, `chain.prev: must be absent when chain.seq is 1`},
		{"upper hex", `{"producer":"p","seq":1,"hash":"` + strings.ToUpper(hashA) + `"}`, `chain.hash: must be 64 lowercase hex digits`},
		{"short hash", `{"producer":"p","seq":1,"hash":"abcd"}`, `chain.hash: must be 64 lowercase hex digits`},
		{"hash number", `{"producer":"p","seq":1,"hash":5}`, `chain.hash: must be a string`},
		{"producer space", `{"producer":"a b","seq":1,"hash":"` + hashA + `"}`, `chain.producer: must be 1 to 128 printable ASCII characters without spaces`},
		{"producer long", `{"producer":"` + strings.Repeat("p", 129) + `","seq":1,"hash":"` + hashA + `"}`, `chain.producer: must be 1 to 128 printable ASCII characters without spaces`},
		{"producer non-ascii", `{"producer":"é","seq":1,"hash":"` + hashA + `"}`, `chain.producer: must be 1 to 128 printable ASCII characters without spaces`},
		{"checkpoint no sig", `{"producer":"p","seq":1,"hash":"` + hashA + `","checkpoint":{"key_id":"k"}}`, `chain.checkpoint.sig: required`},
		{"checkpoint no key", `{"producer":"p","seq":1,"hash":"` + hashA + `","checkpoint":{"sig":"` + sigA + `"}}`, `chain.checkpoint.key_id: required`},
		{"short sig", `{"producer":"p","seq":1,"hash":"` + hashA + `","checkpoint":{"key_id":"k","sig":"` + hashA + `"}}`, `chain.checkpoint.sig: must be 128 lowercase hex digits`},
		{"checkpoint array", `{"producer":"p","seq":1,"hash":"` + hashA + `","checkpoint":[]}`, `chain.checkpoint: must be an object`},
	}
	d := NewDecoder(DefaultLimits())
	fj := newFJDecoder(DefaultLimits())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			in := []byte(withChain(tt.chain))
			if got := Reason(d.Decode(in, &r)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if got := Reason(fj.Decode(in, &r)); got != tt.want {
				t.Fatalf("fastjson decoder: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChainInputOmitsSeal(t *testing.T) {
	r := minimalRecord()
	if string(r.AppendChainInput(nil)) != string(r.AppendJSON(nil)) {
		t.Fatal("unchained record: chain input differs from canonical form")
	}
	r.Chain = Chain{Producer: "p", Seq: 2, Prev: fill32(1), Hash: fill32(2), KeyID: "k", Sig: fill64(3)}
	in, full := string(r.AppendChainInput(nil)), string(r.AppendJSON(nil))
	wantIn := strings.TrimSuffix(minimal, "}") + `,"chain":{"producer":"p","seq":2,"prev":"` + strings.Repeat("01", 32) + `"}}`
	if in != wantIn {
		t.Fatalf("chain input\n got %s\nwant %s", in, wantIn)
	}
	wantFull := strings.TrimSuffix(wantIn, "}}") + `,"hash":"` + strings.Repeat("02", 32) +
		`","checkpoint":{"key_id":"k","sig":"` + strings.Repeat("03", 64) + `"}}}`
	if full != wantFull {
		t.Fatalf("canonical\n got %s\nwant %s", full, wantFull)
	}
}

func fill32(b byte) (a [32]byte) {
	for i := range a {
		a[i] = b
	}
	return a
}

func fill64(b byte) (a [64]byte) {
	for i := range a {
		a[i] = b
	}
	return a
}
