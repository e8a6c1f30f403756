//go:build ignore

// fnvcollide finds two IAM user names whose ARNs have the same 64-bit FNV-1a hash, the hash
// the report reader once used to spot repeated report rows (so such twins made one user's keys vanish).
// It is a parallel collision search with distinguished points (van Oorschot and Wiener): about
// 2^32 hash evaluations and a few thousand stored points, a few minutes on one core.
//
//	go run internal/source/testdata/fnvcollide.go
//
// prints the two names; fnv-collision.csv holds the pair it found.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
)

const (
	prefix   = "arn:aws:iam::123456789012:user/fnv-"
	alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	nameLen  = 13 // 13 base-32 characters carry 65 bits: every 64-bit value has its own name
	dpBits   = 20 // a point is distinguished when its top dpBits bits are zero
	maxChain = 40 << dpBits
)

func fnvStep(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

var base = fnvStep(14695981039346656037, prefix)

func name(x uint64) string {
	var b [nameLen]byte
	for i := range b {
		b[i] = alphabet[x&31]
		x >>= 5
	}
	return string(b[:])
}

// f is the hash of the ARN of the user named for x.
func f(x uint64) uint64 {
	h := base
	for i := 0; i < nameLen; i++ {
		h ^= uint64(alphabet[x&31])
		h *= 1099511628211
		x >>= 5
	}
	return h
}

type chain struct{ start, length uint64 }

func main() {
	var mu sync.Mutex
	points := map[uint64]chain{}
	found := make(chan [2]uint64, 1)
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		go func(seed uint64) {
			for s := seed; ; s += uint64(workers) {
				start := s*0x9E3779B97F4A7C15 + 12345
				x, n := start, uint64(0)
				for x>>(64-dpBits) != 0 && n < maxChain {
					x = f(x)
					n++
				}
				if n >= maxChain {
					continue // a cycle without a distinguished point
				}
				mu.Lock()
				other, ok := points[x]
				if !ok {
					points[x] = chain{start, n}
				}
				mu.Unlock()
				if ok && other.start != start {
					if a, b, ok := meet(chain{start, n}, other); ok {
						found <- [2]uint64{a, b}
						return
					}
				}
			}
		}(uint64(w))
	}
	p := <-found
	a, b := name(p[0]), name(p[1])
	fmt.Printf("fnv-%s\nfnv-%s\n", a, b)
	if fnvStep(base, a) != fnvStep(base, b) {
		fmt.Fprintln(os.Stderr, "not a collision")
		os.Exit(1)
	}
}

// meet walks two chains that end in the same point to where they merge: two different inputs
// with the same hash.
func meet(c1, c2 chain) (uint64, uint64, bool) {
	a, b := c1.start, c2.start
	for n := c1.length; n > c2.length; n-- {
		a = f(a)
	}
	for n := c2.length; n > c1.length; n-- {
		b = f(b)
	}
	for a != b {
		fa, fb := f(a), f(b)
		if fa == fb {
			return a, b, true
		}
		a, b = fa, fb
	}
	return 0, 0, false // one chain started on the other
}
