package worker

import (
	"testing"
	"time"
)

func TestTheThrottleWindowFollowsTheTasksHeartbeatTimeout(t *testing.T) {
	capped := time.Second
	cases := []struct {
		timeoutMs int64
		cap       *time.Duration
		want      time.Duration
	}{
		{timeoutMs: 0, want: 30 * time.Second},
		{timeoutMs: 1000, want: 800 * time.Millisecond},
		{timeoutMs: 10_000, want: 8 * time.Second},
		{timeoutMs: 10_000, cap: &capped, want: time.Second},
		{timeoutMs: 0, cap: &capped, want: time.Second},
		{timeoutMs: 250, cap: &capped, want: 200 * time.Millisecond},
	}
	for _, c := range cases {
		w := &Worker{cfg: config{heartbeatThrottle: c.cap}}
		if got := w.throttleWindow(c.timeoutMs); got != c.want {
			t.Errorf("timeout %d ms, cap %v: window %v, want %v", c.timeoutMs, c.cap, got, c.want)
		}
	}
}
