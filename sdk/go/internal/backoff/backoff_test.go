package backoff

import (
	"testing"
	"time"
)

func TestStepsDoubleUpToTheCapWithEqualJitter(t *testing.T) {
	low := New(100*time.Millisecond, 5*time.Second).WithRandom(func() float64 { return 0 })
	high := New(100*time.Millisecond, 5*time.Second).WithRandom(func() float64 { return 0.999999 })
	wantSteps := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i, step := range wantSteps {
		step *= time.Millisecond
		if got := low.Next(); got != step/2 {
			t.Errorf("try %d: lowest delay %v, want %v", i, got, step/2)
		}
		if got := high.Next(); got < step*99/100 || got > step {
			t.Errorf("try %d: highest delay %v, want just under %v", i, got, step)
		}
	}
}

func TestResetStartsOverAndManyFailuresDoNotOverflow(t *testing.T) {
	b := New(100*time.Millisecond, 5*time.Second).WithRandom(func() float64 { return 0 })
	for range 100 {
		if d := b.Next(); d <= 0 || d > 5*time.Second {
			t.Fatalf("delay %v out of range", d)
		}
	}
	b.Reset()
	if d := b.Next(); d != 50*time.Millisecond {
		t.Fatalf("after reset: %v, want 50ms", d)
	}
}
