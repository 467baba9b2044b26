package encoding

import "slices"

// AppendRecord appends to b one record: uvarint version, what put writes,
// and the CRC-32C of both. size is a guess of put's bytes (presizing).
func AppendRecord(b []byte, version uint64, size int, put func(*Encbuf)) []byte {
	e := Encbuf{B: slices.Grow(b, size)}
	e.PutUvarint(version)
	put(&e)
	e.PutCRC32(len(b))
	return e.Get()
}
