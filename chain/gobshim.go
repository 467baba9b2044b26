package chain

// Temporary: the snapshot format moved to explicit records
// (internal/encoding); this package's state is converted next.

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
)

var (
	gobCRC     = crc32.MakeTable(crc32.Castagnoli)
	errCorrupt = errors.New("corrupt state")
)

func appendGob(b []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return b, fmt.Errorf("encode state: %w", err)
	}
	b = append(b, buf.Bytes()...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(buf.Bytes(), gobCRC)), nil
}

func decodeGob(data []byte, v any) error {
	if len(data) < 5 {
		return fmt.Errorf("decode state: %d bytes: %w", len(data), errCorrupt)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, gobCRC) != sum {
		return fmt.Errorf("decode state: checksum mismatch: %w", errCorrupt)
	}
	r := bytes.NewReader(body)
	if err := gob.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("decode state: %d trailing bytes: %w", r.Len(), errCorrupt)
	}
	return nil
}
