package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// ErrStopped is returned by Run when the worker was stopped before (a worker runs once).
var ErrStopped = errors.New("taskstream: the worker has been stopped")

// ErrRunning is returned by Run when the worker is already running.
var ErrRunning = errors.New("taskstream: the worker is already running")

const defaultHeartbeatInterval = 2 * time.Second

type state int

const (
	stateNew state = iota
	stateRunning
	stateStopping
	stateStopped
)

// Worker runs task handlers for the leading dispatcher over one gRPC stream: it registers its task
// types, runs up to its slots' worth of attempts at once, heartbeats, and reports every attempt's
// outcome until the dispatcher acknowledges it, across reconnects and failovers. Create it with
// New, add handlers with Register, then call Run.
type Worker struct {
	cfg      config
	log      *slog.Logger
	tracer   trace.Tracer
	handlers map[string]Handler

	// heartbeatInterval and heartbeatTimeout (nanoseconds) are those of the last registration.
	heartbeatInterval atomic.Int64
	heartbeatTimeout  atomic.Int64

	mu             sync.Mutex
	state          state
	base           context.Context // parent of handler contexts: Run's values, not its cancellation
	workerID       string
	resumeToken    string
	maxResultBytes int
	running        map[attemptKey]*attempt
	reports        reportBuffer
	session        *session      // the registered stream, nil while disconnected
	changed        chan struct{} // closed (and replaced) when running or reports change

	ready     chan struct{} // closed at the first registration
	readyOnce sync.Once
	stopReq   chan struct{} // closed by Stop
	stopOnce  sync.Once
	graceCut  chan struct{} // closed when Stop's context ends: the grace period is over
	graceOnce sync.Once
	done      chan struct{} // closed when Run has returned
	runErr    error
}

// New returns a worker configured by opts; WithAddresses is required.
func New(opts ...Option) (*Worker, error) {
	cfg := defaults()
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(warnLevel{slog.Default().Handler()})
	}
	tp := cfg.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	w := &Worker{
		cfg:      cfg,
		log:      log,
		tracer:   tracerFor(tp),
		handlers: map[string]Handler{},
		running:  map[attemptKey]*attempt{},
		reports:  newReportBuffer(),
		changed:  make(chan struct{}),
		ready:    make(chan struct{}),
		stopReq:  make(chan struct{}),
		graceCut: make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.heartbeatInterval.Store(int64(defaultHeartbeatInterval))
	w.heartbeatTimeout.Store(int64(10 * time.Second))
	return w, nil
}

// Register adds the handler of a task type; the worker registers for exactly the types it has
// handlers for. It must be called before Run.
func (w *Worker) Register(taskType string, handler Handler) error {
	if len(taskType) < 1 || len(taskType) > 128 || !typePattern.MatchString(taskType) {
		return fmt.Errorf("taskstream: task type %q must be 1 to 128 letters, digits and _ . : - /", taskType)
	}
	if handler == nil {
		return fmt.Errorf("taskstream: the handler of %q is nil", taskType)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateNew {
		return fmt.Errorf("taskstream: cannot register %q: the worker has started", taskType)
	}
	if _, dup := w.handlers[taskType]; dup {
		return fmt.Errorf("taskstream: task type %q is registered twice", taskType)
	}
	if len(w.handlers) >= 256 {
		return fmt.Errorf("taskstream: a worker handles at most 256 task types")
	}
	w.handlers[taskType] = handler
	return nil
}

// ID is the id the dispatcher gave this worker; "" until the first registration.
func (w *Worker) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.workerID
}

// Ready is closed once the worker has first registered with a dispatcher.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// ActiveCount is how many handlers are running now.
func (w *Worker) ActiveCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// Run connects to the leading dispatcher and runs handlers until the worker is shut down: when ctx
// is done or Stop is called, it stops gracefully (see Stop) and returns nil. It returns an error
// when the worker cannot run at all: no handlers, or a dispatcher refused its registration for
// good (invalid registration, authentication). Until a dispatcher accepts it, Run keeps retrying.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	switch {
	case w.state == stateRunning:
		w.mu.Unlock()
		return ErrRunning
	case w.state != stateNew:
		w.mu.Unlock()
		return ErrStopped
	case len(w.handlers) == 0:
		w.mu.Unlock()
		return errors.New("taskstream: a worker needs at least one handler (Register)")
	}
	w.state = stateRunning
	w.base = context.WithoutCancel(ctx)
	w.mu.Unlock()

	closing := make(chan struct{})
	connected := make(chan error, 1)
	go func() { connected <- w.connect(closing) }()

	var fatal error
	select {
	case <-ctx.Done():
	case <-w.stopReq:
	case fatal = <-connected:
		connected = nil
	}
	if fatal != nil {
		w.abort(fatal)
	} else {
		fatal = w.shutdown(closing, connected)
	}
	w.mu.Lock()
	w.state = stateStopped
	w.runErr = fatal
	w.mu.Unlock()
	close(w.done)
	return fatal
}

// Stop shuts the worker down gracefully and returns once Run has returned (with Run's error):
//
//  1. it stops taking work: assignments that arrive meanwhile are failed with WORKER_STOPPING, so
//     the dispatcher gives them to another worker at once;
//  2. running handlers may finish until the grace period (WithGracePeriod) ends or ctx is done,
//     whichever is first; then their contexts are cancelled with ErrWorkerStopping;
//  3. handlers still running a settle time later are reported failed with WORKER_STOPPING;
//  4. it waits (up to the flush timeout) for the dispatcher to acknowledge the last results, and
//     closes the stream.
//
// Cancelling Run's context does the same. Stop on a worker that never ran only marks it stopped.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if w.state == stateNew {
		w.state = stateStopped
		w.mu.Unlock()
		close(w.done)
		return nil
	}
	w.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stopReq) })
	select {
	case <-w.done:
	case <-ctx.Done():
		w.graceOnce.Do(func() { close(w.graceCut) })
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runErr
}

// shutdown is the graceful stop; it returns a fatal error the connection met meanwhile, if any.
func (w *Worker) shutdown(closing chan struct{}, connected <-chan error) error {
	w.mu.Lock()
	w.state = stateStopping
	w.mu.Unlock()
	grace := time.NewTimer(w.cfg.gracePeriod)
	defer grace.Stop()
	if !w.waitFor(w.idleLocked, grace.C, w.graceCut) {
		w.cancelAll(ErrWorkerStopping)
		if !w.waitFor(w.idleLocked, time.After(w.cfg.settleTimeout), nil) {
			w.abandonRunning()
		}
	}
	if !w.waitFor(w.ackedLocked, time.After(w.cfg.flushTimeout), nil) {
		w.mu.Lock()
		unacked := w.reports.size()
		w.mu.Unlock()
		w.log.Warn("taskstream worker stopping with unacknowledged results", "count", unacked)
	}
	close(closing)
	return <-connected
}

// abort ends the handlers after a fatal error: their contexts are cancelled and those still running
// after the settle time are left behind (there is no stream to report them on).
func (w *Worker) abort(cause error) {
	w.cancelAll(cause)
	w.waitFor(w.idleLocked, time.After(w.cfg.settleTimeout), nil)
}

func (w *Worker) idleLocked() bool  { return len(w.running) == 0 }
func (w *Worker) ackedLocked() bool { return w.reports.size() == 0 }

// waitFor waits until cond (called with w.mu held) holds; false when timeout or cut fires first.
func (w *Worker) waitFor(cond func() bool, timeout <-chan time.Time, cut <-chan struct{}) bool {
	for {
		w.mu.Lock()
		ok, changed := cond(), w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timeout:
			return false
		case <-cut:
			return false
		}
	}
}

// notifyLocked wakes every waitFor.
func (w *Worker) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// cancelAll cancels every running handler's context with cause.
func (w *Worker) cancelAll(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.running {
		a.cancel(cause)
	}
}

// abandonRunning reports handlers that ignored their cancelled context as failed, so their tasks
// are retried now rather than when the dispatcher notices the worker is gone.
func (w *Worker) abandonRunning() {
	w.mu.Lock()
	var events []Event
	for key, a := range w.running {
		delete(w.running, key)
		w.flushProgressLocked(a)
		f := failure{message: "the worker stopped before the handler finished", errorType: "WORKER_STOPPING"}
		events = append(events, w.reportFailureLocked(key, f, false))
		w.log.Warn("taskstream handler ignored its cancelled context; reported as WORKER_STOPPING",
			"taskId", key.taskID, "attempt", key.attempt)
	}
	w.notifyLocked()
	w.mu.Unlock()
	w.emit(events...)
}

// heldLocked lists the attempts this worker holds: the running ones and those whose result is not
// acknowledged yet. The latter count too: the dispatcher fails an attempt a reconnecting worker does
// not list, and the re-sent result would then be rejected as stale.
func (w *Worker) heldLocked() []*pb.AttemptRef {
	seen := make(map[attemptKey]bool, len(w.running)+w.reports.size())
	refs := make([]*pb.AttemptRef, 0, len(w.running)+w.reports.size())
	add := func(key attemptKey) {
		if !seen[key] {
			seen[key] = true
			refs = append(refs, &pb.AttemptRef{TaskId: key.taskID, Attempt: key.attempt})
		}
	}
	for key := range w.running {
		add(key)
	}
	for _, key := range w.reports.unacknowledged() {
		add(key)
	}
	return refs
}

func (w *Worker) emit(events ...Event) {
	if w.cfg.listener == nil {
		return
	}
	for _, e := range events {
		if e != nil {
			w.cfg.listener(e)
		}
	}
}
