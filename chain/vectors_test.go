package chain_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/record"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and the golden state records")

// vector is one worked example for producers in other languages: decode
// Record, re-encode it canonically, hash the chain input, sign the message.
type vector struct {
	Name       string          `json:"name"`
	Record     json.RawMessage `json:"record"`
	Canonical  string          `json:"canonical"`
	ChainInput string          `json:"chain_input"`
	Hash       string          `json:"hash"`
	// Test-only key: Ed25519 seed (RFC 8032 private key) and public key.
	KeySeed   string `json:"key_seed,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
	Message   string `json:"message,omitempty"`
	Sig       string `json:"sig,omitempty"`
}

const vectorsFile = "testdata/vectors.json"

func makeVectors(t *testing.T) []vector {
	ref, err := os.ReadFile("../record/testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var refRec record.Record
	if err := record.NewDecoder(record.DefaultLimits()).Decode(ref, &refRec); err != nil {
		t.Fatal(err)
	}
	first := chaintest.Base("agent-a", "search", time.Date(2026, 3, 23, 14, 30, 0, 123e6, time.UTC), 1)
	second := chaintest.Base("agent-a", "search", time.Date(2026, 3, 23, 14, 30, 1, 5e6, time.UTC), 2)
	second.Tool.Name = "wéb \"search\"\n\u2028<tag>&"
	second.Invocation.DurationMS = 0.0000001
	second.Tool.VerificationScore = 99.5
	second.Invocation.PermissionsUsed = []string{"network:connect", "data_access:read"}
	second.Context.DataClassification = "confidential"
	third := refRec.Clone()

	key := chaintest.Key(7)
	var vs []vector
	prev := [32]byte{}
	for i, c := range []struct {
		name string
		r    *record.Record
		sign bool
	}{
		{"seq 1, signed checkpoint", first, true},
		{"seq 2, escapes and float forms, no checkpoint", second, false},
		{"seq 3, the docs/design.md reference record, signed checkpoint", third, true},
	} {
		seq := int64(i + 1)
		var k ed25519.PrivateKey
		if c.sign {
			k = key
		}
		chain.Link(c.r, "rt-7f3a", seq, prev, "test-key-1", k, nil)
		prev = c.r.Chain.Hash
		v := vector{
			Name:       c.name,
			Record:     c.r.AppendJSON(nil),
			Canonical:  string(c.r.AppendJSON(nil)),
			ChainInput: string(c.r.AppendChainInput(nil)),
			Hash:       hex.EncodeToString(c.r.Chain.Hash[:]),
		}
		if c.sign {
			v.KeySeed = hex.EncodeToString(key.Seed())
			v.PublicKey = hex.EncodeToString(key.Public().(ed25519.PublicKey))
			v.KeyID = "test-key-1"
			v.Message = string(chain.AppendMessage(nil, "rt-7f3a", seq, c.r.Chain.Hash))
			v.Sig = hex.EncodeToString(c.r.Chain.Sig[:])
		}
		vs = append(vs, v)
	}
	return vs
}

// TestVectors checks testdata/vectors.json from first principles (SHA-256
// of chain_input, Ed25519 over message) and against this implementation.
func TestVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 3 {
		t.Fatalf("%d vectors", len(vs))
	}
	d := record.NewDecoder(record.DefaultLimits())
	var prev [32]byte
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			var r record.Record
			if err := d.Decode(v.Record, &r); err != nil {
				t.Fatal(err)
			}
			if got := string(r.AppendJSON(nil)); got != v.Canonical {
				t.Fatalf("canonical\n got %s\nwant %s", got, v.Canonical)
			}
			if got := string(r.AppendChainInput(nil)); got != v.ChainInput {
				t.Fatalf("chain input\n got %s\nwant %s", got, v.ChainInput)
			}
			sum := sha256.Sum256([]byte(v.ChainInput))
			if hex.EncodeToString(sum[:]) != v.Hash || sum != r.Chain.Hash {
				t.Fatalf("hash %x, vector %s, record %x", sum, v.Hash, r.Chain.Hash)
			}
			if h, _ := chain.Hash(&r, nil); h != sum {
				t.Fatalf("chain.Hash %x", h)
			}
			if r.Chain.Seq > 1 && r.Chain.Prev != prev {
				t.Fatalf("prev %x, want the previous vector's hash %x", r.Chain.Prev, prev)
			}
			prev = sum
			if v.Sig == "" {
				if r.Chain.KeyID != "" {
					t.Fatal("record carries a checkpoint the vector does not list")
				}
				return
			}
			seed, _ := hex.DecodeString(v.KeySeed)
			key := ed25519.NewKeyFromSeed(seed)
			if hex.EncodeToString(key.Public().(ed25519.PublicKey)) != v.PublicKey {
				t.Fatal("public key does not match seed")
			}
			if msg := string(chain.AppendMessage(nil, r.Chain.Producer, r.Chain.Seq, sum)); msg != v.Message {
				t.Fatalf("message %q, want %q", msg, v.Message)
			}
			sig := ed25519.Sign(key, []byte(v.Message))
			if hex.EncodeToString(sig) != v.Sig || string(sig) != string(r.Chain.Sig[:]) {
				t.Fatalf("sig %x, vector %s", sig, v.Sig)
			}
			if ok, _ := chain.VerifyCheckpoint(key.Public().(ed25519.PublicKey), r.Chain.Producer, r.Chain.Seq, r.Chain.Hash, r.Chain.Sig, nil); !ok {
				t.Fatal("VerifyCheckpoint rejects the vector")
			}
		})
	}
}
