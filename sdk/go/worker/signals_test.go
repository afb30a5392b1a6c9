package worker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

// waitForDone is a handler that ends when its context does, with the context's error.
func waitForDone(causes chan<- error) worker.Handler {
	return func(ctx context.Context, _ *worker.Task) (any, error) {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}
}

func TestCancelEndsTheContextWithCancelledErrorAndReportsCancelled(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	causes := make(chan error, 1)
	startWorker(t, map[string]worker.Handler{"wait": waitForDone(causes)}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "wait", Attempt: 3})
	s.Next(t, "started")
	s.Cancel("t1", 2, "stale attempt: ignored")
	s.Cancel("t1", 3, "user asked")
	want := &pb.AttemptFailed{TaskId: "t1", Attempt: 3, Message: "cancelled: user asked",
		ErrorType: "CancelledError", Cancelled: true}
	if got := failed(t, s); !proto.Equal(got, want) {
		t.Errorf("failed = %v, want %v", got, want)
	}
	var cancelled *worker.CancelledError
	if cause := <-causes; !errors.As(cause, &cancelled) || cancelled.Reason != "user asked" {
		t.Errorf("cause = %v", cause)
	}
}

func TestAResultAfterACancelIsStillACompletion(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{
		"finish": func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			return "done anyway", nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "finish"})
	s.Next(t, "started")
	s.Cancel("t1", 1, "too late")
	equal(t, "result", completed(t, s).ResultJson, `"done anyway"`)
}

func TestTheDeadlineEndsTheContextAndFailsRetryably(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	causes := make(chan error, 1)
	startWorker(t, map[string]worker.Handler{"slow": waitForDone(causes)}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	due := time.Now().Add(50 * time.Millisecond)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "slow", DeadlineUnixMs: due.UnixMilli()})
	f := failed(t, s)
	equal(t, "type", f.ErrorType, "START_TO_CLOSE_TIMEOUT")
	equal(t, "cancelled", f.Cancelled, false)
	equal(t, "retryable", f.NonRetryable, false)
	equal(t, "message", strings.HasPrefix(f.Message, "deadline "), true)
	var exceeded *worker.DeadlineExceededError
	cause := <-causes
	if !errors.As(cause, &exceeded) || !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("cause = %v", cause)
	}
	if exceeded != nil && exceeded.Deadline.UnixMilli() != due.UnixMilli() {
		t.Errorf("deadline = %v, want %v", exceeded.Deadline, due)
	}
}

func TestAHandlerStoppedByItsDeadlineIsAStartToCloseTimeoutWhateverItReturns(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{
		"own-error": func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			return nil, &worker.Error{Type: "RolledBack", Message: "rolled back", NonRetryable: true}
		},
		"panics": func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			panic("gave up")
		},
		"early": func(context.Context, *worker.Task) (any, error) {
			return nil, worker.NewError("Early", "failed before its deadline")
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	due := time.Now().Add(50 * time.Millisecond).UnixMilli()
	s.Assign(&pb.Assignment{TaskId: "own", Type: "own-error", DeadlineUnixMs: due})
	s.Assign(&pb.Assignment{TaskId: "panic", Type: "panics", DeadlineUnixMs: due})
	s.Assign(&pb.Assignment{TaskId: "early", Type: "early", DeadlineUnixMs: time.Now().Add(time.Hour).UnixMilli()})
	got := map[string]*pb.AttemptFailed{}
	for range 3 {
		f := failed(t, s)
		got[f.TaskId] = f
	}
	want := map[string]*pb.AttemptFailed{
		"own": {TaskId: "own", Attempt: 1, Message: "rolled back", ErrorType: "START_TO_CLOSE_TIMEOUT"},
		"panic": {TaskId: "panic", Attempt: 1, Message: "handler panicked: gave up",
			ErrorType: "START_TO_CLOSE_TIMEOUT"},
		"early": {TaskId: "early", Attempt: 1, Message: "failed before its deadline", ErrorType: "Early"},
	}
	for id, w := range want {
		if !proto.Equal(got[id], w) {
			t.Errorf("%s failed = %v, want %v", id, got[id], w)
		}
	}
}

func TestACancelBeforeTheDeadlineIsReportedAsCancelled(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{
		"slow-cleanup": func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			time.Sleep(400 * time.Millisecond) // past the deadline
			return nil, ctx.Err()
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "slow-cleanup", DeadlineUnixMs: time.Now().Add(300 * time.Millisecond).UnixMilli()})
	s.Next(t, "started")
	s.Cancel("t1", 1, "user asked")
	want := &pb.AttemptFailed{TaskId: "t1", Attempt: 1, Message: "cancelled: user asked",
		ErrorType: "CancelledError", Cancelled: true}
	if got := failed(t, s); !proto.Equal(got, want) {
		t.Errorf("failed = %v, want %v", got, want)
	}
}

func TestHeartbeatsAreThrottledTheLatestDetailsWin(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	var late *worker.Task
	startWorker(t, map[string]worker.Handler{
		"steps": func(_ context.Context, task *worker.Task) (any, error) {
			for step := 1; step <= 5; step++ {
				if err := task.Heartbeat(map[string]int{"step": step}); err != nil {
					return nil, err
				}
			}
			late = task
			release.wait()
			return "done", nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	// A heartbeat timeout of 250 ms: a window of 200 ms.
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "steps", HeartbeatTimeoutMs: 250})
	began := time.Now()
	equal(t, "first details, at once", s.Next(t, "progress").GetProgress().DetailsJson, `{"step":1}`)
	second := s.Next(t, "progress").GetProgress()
	took := time.Since(began)
	equal(t, "latest details at the window's end", second.DetailsJson, `{"step":5}`)
	if took < 150*time.Millisecond || took > time.Second {
		t.Errorf("second progress after %v, want about 200 ms", took)
	}
	release.open()
	completed(t, s)
	if err := late.Heartbeat(map[string]int{"step": 99}); err != nil {
		t.Errorf("late heartbeat = %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	reports := slices.DeleteFunc(s.Log(), func(kind string) bool { return kind == "heartbeat" })
	if !slices.Equal(reports, []string{"started", "progress", "progress", "completed"}) {
		t.Errorf("reports = %v", reports)
	}
}

func TestTheWindowIs80PercentOfTheTasksHeartbeatTimeoutNotOfTheInterval(t *testing.T) {
	// Heartbeats every 20 ms; the task's heartbeat timeout is 1 s: a window of 800 ms.
	d := fake(t, fakedispatcher.Options{HeartbeatIntervalMs: 20})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"steps": func(ctx context.Context, task *worker.Task) (any, error) {
			for step := 1; step <= 3; step++ {
				if err := task.Heartbeat(step); err != nil {
					return nil, err
				}
				time.Sleep(100 * time.Millisecond)
			}
			release.wait()
			return nil, nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "steps", HeartbeatTimeoutMs: 1000})
	equal(t, "first details, at once", s.Next(t, "progress").GetProgress().DetailsJson, "1")
	began := time.Now()
	second := s.Next(t, "progress").GetProgress()
	took := time.Since(began)
	equal(t, "latest details at the window's end", second.DetailsJson, "3")
	if took < 600*time.Millisecond || took > 2*time.Second {
		t.Errorf("second progress %v after the first, want about 800 ms", took)
	}
	release.open()
	completed(t, s)
}

func TestATaskWithoutHeartbeatTimeoutSendsProgressAtMostEvery30Seconds(t *testing.T) {
	d := fake(t, fakedispatcher.Options{HeartbeatIntervalMs: 20})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"steps": func(ctx context.Context, task *worker.Task) (any, error) {
			for step := 1; step <= 3; step++ {
				if err := task.Heartbeat(step); err != nil {
					return nil, err
				}
			}
			release.wait()
			return "done", nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "steps"})
	equal(t, "first details, at once", s.Next(t, "progress").GetProgress().DetailsJson, "1")
	time.Sleep(300 * time.Millisecond)
	release.open()
	completed(t, s)
	// The held-back "3" is dropped with the result: one progress message in all.
	reports := slices.DeleteFunc(s.Log(), func(kind string) bool { return kind == "heartbeat" })
	if !slices.Equal(reports, []string{"started", "progress", "completed"}) {
		t.Errorf("reports = %v", reports)
	}
}

func TestDetailsWaitingForTheirWindowAreSentBeforeAFailure(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{
		"fails": func(_ context.Context, task *worker.Task) (any, error) {
			_ = task.Heartbeat("first")
			_ = task.Heartbeat("second")
			_ = task.Heartbeat("third")
			return nil, errors.New("gave up")
		},
		"completes": func(_ context.Context, task *worker.Task) (any, error) {
			_ = task.Heartbeat("first")
			_ = task.Heartbeat("dropped")
			return "ok", nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "f", Type: "fails", HeartbeatTimeoutMs: 10_000})
	failed(t, s)
	var details []string
	for _, m := range s.Messages() {
		if p := m.GetProgress(); p != nil {
			details = append(details, p.DetailsJson)
		}
	}
	if !slices.Equal(details, []string{`"first"`, `"third"`}) {
		t.Errorf("progress before the failure = %v", details)
	}
	equal(t, "order", slices.Index(s.Log(), "failed") > slices.Index(s.Log(), "progress"), true)

	// A completion needs no details: the result supersedes them.
	s.Assign(&pb.Assignment{TaskId: "c", Type: "completes", HeartbeatTimeoutMs: 10_000})
	completed(t, s)
	count := 0
	for _, m := range s.Messages() {
		if p := m.GetProgress(); p != nil && p.TaskId == "c" {
			count++
		}
	}
	equal(t, "progress of the completed attempt", count, 1)
}

func TestHeartbeatRefusesDetailsThatCannotBeSent(t *testing.T) {
	d := fake(t, fakedispatcher.Options{MaxResultBytes: 50})
	errs := make(chan []error, 1)
	startWorker(t, map[string]worker.Handler{
		"bad": func(ctx context.Context, task *worker.Task) (any, error) {
			errs <- []error{
				task.Heartbeat(make(chan int)),
				task.Heartbeat(strings.Repeat("x", 60)),
				worker.Heartbeat(ctx, "via the context"),
				worker.Heartbeat(context.Background(), "outside a handler"),
			}
			return nil, nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "bad"})
	completed(t, s)
	got := <-errs
	if got[0] == nil || !strings.Contains(got[0].Error(), "not JSON-serializable") {
		t.Errorf("channel details: %v", got[0])
	}
	if got[1] == nil || !strings.Contains(got[1].Error(), "62 bytes exceed the limit of 50") {
		t.Errorf("large details: %v", got[1])
	}
	equal(t, "through the context", got[2], nil)
	equal(t, "outside a handler", got[3], nil)
	var details []string
	for _, m := range s.Messages() {
		if p := m.GetProgress(); p != nil {
			details = append(details, p.DetailsJson)
		}
	}
	if !slices.Equal(details, []string{`"via the context"`}) {
		t.Errorf("progress sent = %v", details)
	}
}

func TestHeartbeatsAtTheIntervalWithTheAttemptsItHolds(t *testing.T) {
	d := fake(t, fakedispatcher.Options{HeartbeatIntervalMs: 20, ManualAck: true})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"hold": func(context.Context, *worker.Task) (any, error) { release.wait(); return 1, nil },
		"echo": echo,
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "done", Type: "echo"})
	completed(t, s) // not acknowledged: still held
	s.Assign(&pb.Assignment{TaskId: "running", Type: "hold", Attempt: 2})
	s.Next(t, "started")
	fakedispatcher.WaitFor(t, 3*time.Second, "a heartbeat listing both", func() bool {
		hb := s.Next(t, "heartbeat").GetHeartbeat()
		var held []string
		for _, ref := range hb.Active {
			held = append(held, ref.TaskId)
		}
		slices.Sort(held)
		return slices.Equal(held, []string{"done", "running"})
	})
	release.open()
}

func TestTheWorkersHeartbeatIntervalOverridesTheDispatchers(t *testing.T) {
	d := fake(t, fakedispatcher.Options{HeartbeatIntervalMs: 60_000})
	w := startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address),
		worker.WithHeartbeatInterval(30*time.Millisecond))
	equal(t, "interval", w.events.registrations()[0].HeartbeatInterval, 30*time.Millisecond)
	s := d.Stream(t, 0)
	s.Next(t, "heartbeat")
	s.Next(t, "heartbeat")
}

func TestTheThrottleOptionOnlyShortensTheWindow(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"steps": func(ctx context.Context, task *worker.Task) (any, error) {
			for step := 1; step <= 3; step++ {
				if err := task.Heartbeat(step); err != nil {
					return nil, err
				}
			}
			release.wait()
			return nil, nil
		},
	}, worker.WithAddresses(d.Address), worker.WithHeartbeatThrottle(time.Hour))
	s := d.Stream(t, 0)
	// The task's window (200 ms) is shorter than the cap: the task's wins.
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "steps", HeartbeatTimeoutMs: 250})
	equal(t, "first", s.Next(t, "progress").GetProgress().DetailsJson, "1")
	equal(t, "latest at the window's end", s.Next(t, "progress").GetProgress().DetailsJson, "3")
	release.open()
	completed(t, s)
}

func TestAZeroThrottleSendsEveryHeartbeat(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{
		"steps": func(_ context.Context, task *worker.Task) (any, error) {
			for step := 1; step <= 3; step++ {
				if err := task.Heartbeat(step); err != nil {
					return nil, err
				}
			}
			return nil, nil
		},
	}, worker.WithAddresses(d.Address), worker.WithHeartbeatThrottle(0))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "steps", HeartbeatTimeoutMs: 10_000})
	completed(t, s)
	var details []string
	for _, m := range s.Messages() {
		if p := m.GetProgress(); p != nil {
			details = append(details, p.DetailsJson)
		}
	}
	if !slices.Equal(details, []string{"1", "2", "3"}) {
		t.Errorf("progress = %v", details)
	}
}
