package worker_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

func TestStopWaitsForAnInFlightHandlerRefusesNewWorkThenCloses(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	causes := make(chan error, 1)
	w := startWorker(t, map[string]worker.Handler{
		"hold": func(ctx context.Context, _ *worker.Task) (any, error) {
			release.wait()
			causes <- context.Cause(ctx)
			return "finished", nil
		},
	}, worker.WithAddresses(d.Address), worker.WithGracePeriod(10*time.Second))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "hold"})
	s.Next(t, "started")

	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	fakedispatcher.WaitFor(t, 3*time.Second, "the worker to stop taking work", func() bool {
		s.Assign(&pb.Assignment{TaskId: "t2", Type: "hold"})
		time.Sleep(20 * time.Millisecond)
		for _, m := range s.Messages() {
			if f := m.GetFailed(); f != nil && f.TaskId == "t2" {
				return f.ErrorType == "WORKER_STOPPING" && !f.NonRetryable
			}
		}
		return false
	})
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler ran", err)
	default:
	}
	equal(t, "stream ended early", s.Ended(), false)

	release.open()
	if got := completed(t, s); !proto.Equal(got, &pb.AttemptCompleted{TaskId: "t1", Attempt: 1, ResultJson: `"finished"`}) {
		t.Errorf("completed = %v", got)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop = %v", err)
	}
	equal(t, "handler context cause", <-causes, nil)
	fakedispatcher.WaitFor(t, 3*time.Second, "the stream to end", s.Ended)
	if err := <-w.runErr; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestStopCancelsHandlersAfterTheGraceAndReportsHowTheyEnded(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	w := startWorker(t, map[string]worker.Handler{
		"polite": func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
		"stubborn": func(context.Context, *worker.Task) (any, error) { select {} },
	}, worker.WithAddresses(d.Address), worker.WithGracePeriod(50*time.Millisecond))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "p", Type: "polite"})
	s.Assign(&pb.Assignment{TaskId: "s", Type: "stubborn"})
	s.Next(t, "started")
	s.Next(t, "started")
	began := time.Now()
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Stop took %v", took)
	}
	failures := map[string]*pb.AttemptFailed{}
	for _, m := range s.Messages() {
		if f := m.GetFailed(); f != nil {
			failures[f.TaskId] = f
		}
	}
	want := map[string]*pb.AttemptFailed{
		"p": {TaskId: "p", Attempt: 1, Message: "the worker is stopping", ErrorType: "WorkerStoppingError"},
		"s": {TaskId: "s", Attempt: 1, Message: "the worker stopped before the handler finished", ErrorType: "WORKER_STOPPING"},
	}
	for id, f := range want {
		if !proto.Equal(failures[id], f) {
			t.Errorf("%s failed = %v, want %v", id, failures[id], f)
		}
	}
	fakedispatcher.WaitFor(t, 3*time.Second, "the stream to end", s.Ended)
}

func TestAHandlerGivenUpOnAtStopHasItsHeldBackDetailsSentFirst(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	beating := newGate()
	w := startWorker(t, map[string]worker.Handler{
		"stubborn": func(_ context.Context, task *worker.Task) (any, error) {
			_ = task.Heartbeat("first")
			_ = task.Heartbeat("latest")
			beating.open()
			select {}
		},
	}, worker.WithAddresses(d.Address), worker.WithGracePeriod(20*time.Millisecond))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "s", Type: "stubborn", HeartbeatTimeoutMs: 60_000})
	beating.wait()
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	var reports []string
	for _, m := range s.Messages() {
		switch {
		case m.GetProgress() != nil:
			reports = append(reports, "progress "+m.GetProgress().DetailsJson)
		case m.GetFailed() != nil:
			reports = append(reports, "failed "+m.GetFailed().ErrorType)
		}
	}
	want := []string{`progress "first"`, `progress "latest"`, "failed WORKER_STOPPING"}
	if !slices.Equal(reports, want) {
		t.Errorf("reports = %v, want %v", reports, want)
	}
}

func TestStopsContextCutsTheGraceShort(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	causes := make(chan error, 1)
	w := startWorker(t, map[string]worker.Handler{
		"polite": func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return nil, ctx.Err()
		},
	}, worker.WithAddresses(d.Address), worker.WithGracePeriod(time.Hour))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "p", Type: "polite"})
	s.Next(t, "started")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if cause := <-causes; !errors.Is(cause, worker.ErrWorkerStopping) || !errors.Is(cause, context.Canceled) {
		t.Errorf("cause = %v, want ErrWorkerStopping", cause)
	}
	equal(t, "reported", failed(t, s).ErrorType, "WorkerStoppingError")
}

func TestStopWaitsForTheAcksOfTheLastResults(t *testing.T) {
	d := fake(t, fakedispatcher.Options{ManualAck: true})
	w := startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address),
		worker.WithStopTimeouts(time.Second, 5*time.Second))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo"})
	completed(t, s)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("Stop returned before the result was acknowledged")
	default:
	}
	s.Ack("t1", 1, true)
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop = %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Stop did not return after the ack")
	}
	fakedispatcher.WaitFor(t, 3*time.Second, "the stream to end", s.Ended)
}

func TestStopBeforeAnyDispatcherAcceptedTheWorker(t *testing.T) {
	standby := fake(t, fakedispatcher.Options{Refuse: "not leader"})
	w := newWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(standby.Address))
	fakedispatcher.WaitFor(t, 3*time.Second, "a register", func() bool { return len(standby.Registers()) > 0 })
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := <-w.runErr; err != nil {
		t.Errorf("Run = %v", err)
	}
	select {
	case <-w.Ready():
		t.Error("Ready closed although the worker never registered")
	default:
	}
}

func TestStopOfAWorkerThatNeverRan(t *testing.T) {
	w, err := worker.New(worker.WithAddresses("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Register("echo", echo)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := w.Run(context.Background()); !errors.Is(err, worker.ErrStopped) {
		t.Errorf("Run after Stop = %v", err)
	}
}
