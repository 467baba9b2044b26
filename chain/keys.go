package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"sort"
)

// Keys maps a checkpoint key id to the producer's Ed25519 public key.
type Keys map[string]ed25519.PublicKey

// LoadKeys reads the public key file of every key id (config
// detectors.chain_integrity.keys). Relative paths are taken as given
// (the caller resolves them against the config file's directory).
func LoadKeys(files map[string]string) (Keys, error) {
	ks := make(Keys, len(files))
	ids := make([]string, 0, len(files))
	for id := range files {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic first error
	for _, id := range ids {
		data, err := os.ReadFile(files[id])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		k, err := ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("key %q (%s): %w", id, files[id], err)
		}
		ks[id] = k
	}
	return ks, nil
}

// ParsePublicKey accepts a PEM "PUBLIC KEY" block (PKIX, as written by
// `openssl pkey -pubout`), 32 raw bytes, or 64 hex / 44 base64 characters
// of the raw key (surrounding whitespace ignored).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q, want PUBLIC KEY", blk.Type)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want Ed25519", k)
		}
		return pub, nil
	}
	if len(data) == ed25519.PublicKeySize {
		return ed25519.PublicKey(bytes.Clone(data)), nil
	}
	s := bytes.TrimSpace(data)
	if b, err := hex.DecodeString(string(s)); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(string(s)); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	return nil, fmt.Errorf("not an Ed25519 public key (PEM, 32 raw bytes, hex or base64)")
}

// MarshalPublicKeyPEM returns pub as a PEM "PUBLIC KEY" block.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // cannot fail for an Ed25519 key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
