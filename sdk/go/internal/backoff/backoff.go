// Package backoff computes reconnection delays: exponential steps with "equal jitter", so a fleet
// of workers that lost the same leader does not reconnect in lockstep, yet no delay collapses to
// zero.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields growing delays; it is not safe for concurrent use.
type Backoff struct {
	initial, max time.Duration
	failures     int
	// random returns a value in [0, 1); tests inject a fixed one.
	random func() float64
}

// New returns a Backoff whose steps start at initial and double up to max.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{initial: initial, max: max, random: rand.Float64}
}

// WithRandom replaces the source of jitter (for tests).
func (b *Backoff) WithRandom(random func() float64) *Backoff {
	b.random = random
	return b
}

// Next is the delay before the next try: half the current step plus a random half of it. Each call
// doubles the step, up to the maximum.
func (b *Backoff) Next() time.Duration {
	step := b.initial << b.failures
	if step > b.max || step <= 0 {
		step = b.max
	}
	if b.failures < 30 {
		b.failures++
	}
	return step/2 + time.Duration(b.random()*float64(step/2))
}

// Reset goes back to the first step, after a success.
func (b *Backoff) Reset() { b.failures = 0 }
