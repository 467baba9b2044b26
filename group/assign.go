package group

import (
	"hash/fnv"
	"strconv"
)

// Owner is the member that should own partition p: rendezvous (highest
// random weight) hashing over the live members, so every member computes
// the same answer from the same member list, the partitions spread evenly,
// and a member joining or leaving moves only the partitions it takes or
// gives up (about 1/N of them). "" when there is no member.
func Owner(members []string, p int) string {
	var (
		best  string
		bestW uint64
	)
	ps := strconv.Itoa(p)
	for _, m := range members {
		h := fnv.New64a()
		h.Write([]byte(m))
		h.Write([]byte{0})
		h.Write([]byte(ps))
		w := mix(h.Sum64())
		if best == "" || w > bestW || w == bestW && m < best {
			best, bestW = m, w
		}
	}
	return best
}

// mix is the splitmix64 finaliser: FNV alone differs little between
// names that differ only in the last byte (member-1, member-2).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
