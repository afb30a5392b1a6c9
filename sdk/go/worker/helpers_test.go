package worker_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

// quiet keeps test output clean.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// started is a worker running in the background of a test; the test's cleanup stops it with no
// grace, so a hung handler cannot hang the suite.
type started struct {
	*worker.Worker
	runErr chan error
	events *recorder
}

// startWorker creates a worker with handlers, runs it and waits until it has registered.
func startWorker(t *testing.T, handlers map[string]worker.Handler, opts ...worker.Option) *started {
	t.Helper()
	w := newWorker(t, handlers, opts...)
	select {
	case <-w.Ready():
	case err := <-w.runErr:
		t.Fatalf("Run returned before registering: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not register within 5 s")
	}
	return w
}

// newWorker creates and runs a worker without waiting for its registration.
func newWorker(t *testing.T, handlers map[string]worker.Handler, opts ...worker.Option) *started {
	t.Helper()
	events := &recorder{}
	all := append([]worker.Option{
		worker.WithLogger(quiet),
		worker.WithStopTimeouts(50*time.Millisecond, 50*time.Millisecond),
		worker.WithListener(events.record),
		worker.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond),
	}, opts...)
	w, err := worker.New(all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for taskType, handler := range handlers {
		if err := w.Register(taskType, handler); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	s := &started{Worker: w, runErr: make(chan error, 1), events: events}
	go func() { s.runErr <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace
		_ = w.Stop(ctx)
	})
	return s
}

// recorder keeps the worker's events for assertions.
type recorder struct {
	mu     sync.Mutex
	events []worker.Event
}

func (r *recorder) record(e worker.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// disconnects returns the DisconnectedEvents so far.
func (r *recorder) disconnects() []worker.DisconnectedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []worker.DisconnectedEvent
	for _, e := range r.events {
		if d, ok := e.(worker.DisconnectedEvent); ok {
			out = append(out, d)
		}
	}
	return out
}

// registrations returns the RegisteredEvents so far.
func (r *recorder) registrations() []worker.RegisteredEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []worker.RegisteredEvent
	for _, e := range r.events {
		if d, ok := e.(worker.RegisteredEvent); ok {
			out = append(out, d)
		}
	}
	return out
}

func (r *recorder) acks() []worker.AckedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []worker.AckedEvent
	for _, e := range r.events {
		if d, ok := e.(worker.AckedEvent); ok {
			out = append(out, d)
		}
	}
	return out
}

// gate holds handlers until the test opens it.
type gate chan struct{}

func newGate() gate  { return make(gate) }
func (g gate) open() { close(g) }
func (g gate) wait() { <-g }

// echo returns the payload.
func echo(_ context.Context, task *worker.Task) (any, error) { return task.Payload, nil }

func fake(t *testing.T, opts fakedispatcher.Options) *fakedispatcher.Dispatcher {
	return fakedispatcher.Start(t, opts)
}

func completed(t *testing.T, s *fakedispatcher.Stream) *pb.AttemptCompleted {
	t.Helper()
	return s.Next(t, "completed").GetCompleted()
}

func failed(t *testing.T, s *fakedispatcher.Stream) *pb.AttemptFailed {
	t.Helper()
	return s.Next(t, "failed").GetFailed()
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
