// A copy of bench/webhook's histogram, so that both report percentiles the
// same way.

package benchkit

import (
	"math"
	"math/bits"
	"time"
)

// Hist is an HDR-style log-linear latency histogram in nanoseconds: values
// below 256 ns are exact, above that each power of two is split into 128
// buckets, so a percentile read from it is within 0.4 % of the true value.
// Recording is an index computation and an increment; one Hist belongs to
// one goroutine, and merge adds them up after a round.
type Hist struct {
	counts [histBuckets]uint64
	Total  uint64
	Max    uint64
}

const (
	subBits     = 7
	subCount    = 1 << subBits // buckets per power of two
	maxExp      = 40           // 2^40 ns ≈ 18 min: anything longer is clamped
	histBuckets = 2*subCount + (maxExp-subBits)*subCount
)

func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	if v >= 1<<maxExp {
		v = 1<<maxExp - 1
	}
	e := bits.Len64(v) - (subBits + 1) // v>>e is in [128, 256)
	return 2*subCount + (e-1)*subCount + int(v>>uint(e)) - subCount
}

// bucketRange is the smallest and largest value bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	i -= 2 * subCount
	e := uint(i/subCount + 1)
	m := uint64(i%subCount + subCount)
	return m << e, (m+1)<<e - 1
}

func (h *Hist) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.Total++
	h.Max = max(h.Max, v)
}

func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.Total += o.Total
	h.Max = max(h.Max, o.Max)
}

// quantile returns the value below which a fraction q of the samples lie
// (the middle of the bucket that holds the ceil(q·n)-th sample).
func (h *Hist) Quantile(q float64) time.Duration {
	if h.Total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Total)))
	rank = min(max(rank, 1), h.Total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return time.Duration(min(lo+(hi-lo)/2, h.Max))
		}
	}
	return time.Duration(h.Max)
}
