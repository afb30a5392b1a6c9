package worker

import (
	"fmt"
	"sync"
	"time"

	"github.com/taskstream/taskstream/sdk/go/internal/jsonx"
)

// defaultHeartbeatWindow is the throttle window of a task without a heartbeat timeout: its progress
// is then only advisory.
const defaultHeartbeatWindow = 30 * time.Second

// heartbeatWindow is the throttle window of a task whose heartbeat timeout is timeoutMs (0: none):
// 80% of the timeout, so a steady heartbeat always lands in time, or 30 s without one.
func heartbeatWindow(timeoutMs int64) time.Duration {
	if timeoutMs <= 0 {
		return defaultHeartbeatWindow
	}
	return time.Duration(timeoutMs) * time.Millisecond * 4 / 5
}

// progress throttles one attempt's heartbeats, as Temporal's SDKs do: the first details go out at
// once, then at most one message per window (see heartbeatWindow). Details recorded inside a window
// replace each other; the latest is sent when the window ends. A handler may heartbeat in a tight
// loop without flooding the stream or the task's history.
type progress struct {
	// send queues a progress report (it drops it when the attempt has ended meanwhile).
	send func(detailsJSON string)
	// window is the attempt's throttle window; limit the largest details accepted (0: none).
	window time.Duration
	limit  func() int

	mu      sync.Mutex
	last    time.Time // when details were last sent
	pending *string   // details waiting for the window's end
	timer   *time.Timer
	done    bool
}

func (p *progress) record(details any) error {
	encoded, err := jsonx.Marshal(details)
	if err != nil {
		return fmt.Errorf("taskstream: heartbeat details are not JSON-serializable: %w", err)
	}
	if limit := p.limit(); limit > 0 && len(encoded) > limit {
		return fmt.Errorf("taskstream: heartbeat details of %d bytes exceed the limit of %d bytes", len(encoded), limit)
	}
	text := string(encoded)
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	now := time.Now()
	window := p.window
	if p.timer == nil && now.Sub(p.last) >= window {
		p.last = now
		p.mu.Unlock()
		// Sent outside the lock: send takes the worker's lock, which may be held while finish runs.
		p.send(text)
		return nil
	}
	p.pending = &text
	if p.timer == nil {
		p.timer = time.AfterFunc(p.last.Add(window).Sub(now), p.flush)
	}
	p.mu.Unlock()
	return nil
}

// flush sends the details that waited for the window's end.
func (p *progress) flush() {
	p.mu.Lock()
	p.timer = nil
	pending := p.pending
	p.pending = nil
	if p.done || pending == nil {
		p.mu.Unlock()
		return
	}
	p.last = time.Now()
	p.mu.Unlock()
	p.send(*pending)
}

// finish ends the attempt's heartbeats and returns the details still waiting for their window
// (nil when none): the worker sends them before a failure (the next attempt starts from them) and
// drops them after a success.
func (p *progress) finish() *string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	pending := p.pending
	p.pending = nil
	return pending
}
