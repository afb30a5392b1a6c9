package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

func TestRegistersRunsAnAssignmentAndReportsStartedThenCompleted(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	held := newGate()
	seen := make(chan *worker.Task, 1)
	var deadline time.Time
	var hasDeadline bool
	w := startWorker(t, map[string]worker.Handler{
		"echo": func(ctx context.Context, task *worker.Task) (any, error) {
			deadline, hasDeadline = ctx.Deadline()
			seen <- task
			held.wait() // a result in the same write as its start replaces the start
			var payload map[string]int
			if err := task.DecodePayload(&payload); err != nil {
				return nil, err
			}
			return map[string]any{"echoed": payload}, nil
		},
	}, worker.WithAddresses(d.Address), worker.WithName("w1"), worker.WithSlots(4),
		worker.WithLabels(map[string]string{"region": "eu"}))

	equal(t, "worker id", w.ID(), "w-1")
	want := &pb.Register{Name: "w1", Types: []string{"echo"}, Labels: map[string]string{"region": "eu"},
		Slots: 4, Sdk: "go/0.1.0", AcceptsBatches: true}
	if got := d.Registers()[0]; !proto.Equal(got, want) {
		t.Errorf("register = %v, want %v", got, want)
	}

	s := d.Stream(t, 0)
	due := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	s.Assign(&pb.Assignment{TaskId: "t1", Attempt: 2, Type: "echo", PayloadJson: `{"n":1}`,
		IdempotencyKey: "k1", Priority: 7, DeadlineUnixMs: due.UnixMilli(),
		Metadata: map[string]string{"tenant": "a"}, LastDetailsJson: `{"step":3}`, MaxAttempts: 5})
	if got := s.Next(t, "started").GetStarted(); got.TaskId != "t1" || got.Attempt != 2 {
		t.Errorf("started = %v", got)
	}
	held.open()
	c := completed(t, s)
	equal(t, "result", c.ResultJson, `{"echoed":{"n":1}}`)
	equal(t, "attempt", c.Attempt, int32(2))
	if got := s.Log(); !slices.Equal(got, []string{"started", "completed"}) {
		t.Errorf("messages = %v", got)
	}
	task := <-seen
	equal(t, "task id", task.ID, "t1")
	equal(t, "attempt", task.Attempt, 2)
	equal(t, "max attempts", task.MaxAttempts, 5)
	equal(t, "idempotency key", task.IdempotencyKey, "k1")
	equal(t, "priority", task.Priority, 7)
	equal(t, "metadata", task.Metadata["tenant"], "a")
	equal(t, "deadline", task.Deadline.Equal(due), true)
	equal(t, "ctx deadline", hasDeadline && deadline.Equal(due), true)
	equal(t, "last details", string(task.LastDetails), `{"step":3}`)
	equal(t, "traceparent", task.Traceparent, "")
	equal(t, "worker id", task.WorkerID, "w-1")
	var last struct{ Step int }
	if ok, err := task.DecodeLastDetails(&last); !ok || err != nil || last.Step != 3 {
		t.Errorf("DecodeLastDetails = %v, %v, %+v", ok, err, last)
	}
}

func TestEmptyPayloadIsNullAndNilResultIsNull(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	payloads := make(chan string, 1)
	startWorker(t, map[string]worker.Handler{
		"noop": func(_ context.Context, task *worker.Task) (any, error) {
			payloads <- string(task.Payload)
			return nil, nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "noop"})
	equal(t, "result", completed(t, s).ResultJson, "null")
	equal(t, "payload", <-payloads, "null")
}

type quotaError struct{ left int }

func (e *quotaError) Error() string { return fmt.Sprintf("over quota (%d left)", e.left) }

func TestReportsErrorsWithMessageTypeAndRetryability(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	fail := func(err error) worker.Handler {
		return func(context.Context, *worker.Task) (any, error) { return nil, err }
	}
	startWorker(t, map[string]worker.Handler{
		"plain":     fail(errors.New("bad input")),
		"custom":    fail(fmt.Errorf("charging: %w", &quotaError{left: 0})),
		"typed":     fail(worker.NewError("ConformanceError", "attempt 1 fails")),
		"wrapped":   fail(worker.NonRetryable(&fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist})),
		"fatal":     fail(&worker.Error{Type: "ConformanceFatal", Message: "fatal", NonRetryable: true}),
		"deep":      fail(fmt.Errorf("outer: %w", &worker.Error{Type: "Outer", Cause: worker.NonRetryable(errors.New("inner"))})),
		"panicking": func(context.Context, *worker.Task) (any, error) { panic("boom") },
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	cases := []struct {
		taskType, message, errorType string
		nonRetryable                 bool
	}{
		{"plain", "bad input", "Error", false},
		{"custom", "charging: over quota (0 left)", "quotaError", false},
		{"typed", "attempt 1 fails", "ConformanceError", false},
		{"wrapped", "open /x: file does not exist", "PathError", true},
		{"fatal", "fatal", "ConformanceFatal", true},
		{"deep", "outer: inner", "Outer", true},
		{"panicking", "handler panicked: boom", "PanicError", false},
	}
	for i, c := range cases {
		taskID := fmt.Sprintf("t%d", i)
		s.Assign(&pb.Assignment{TaskId: taskID, Type: c.taskType})
		got := failed(t, s)
		want := &pb.AttemptFailed{TaskId: taskID, Attempt: 1, Message: c.message, ErrorType: c.errorType,
			NonRetryable: c.nonRetryable}
		if !proto.Equal(got, want) {
			t.Errorf("%s: failed = %v, want %v", c.taskType, got, want)
		}
	}
}

func TestFailsInvalidPayloadsAndUnknownTypesWithoutRunningAHandler(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	runs := 0
	type order struct{ Quantity int }
	startWorker(t, map[string]worker.Handler{
		"echo": func(_ context.Context, task *worker.Task) (any, error) { runs++; return task.Payload, nil },
		"order": worker.Typed(func(_ context.Context, _ *worker.Task, o order) (int, error) {
			runs++
			return o.Quantity, nil
		}),
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)

	s.Assign(&pb.Assignment{TaskId: "a", Type: "echo", PayloadJson: "{nope"})
	f := failed(t, s)
	equal(t, "type", f.ErrorType, "INVALID_PAYLOAD")
	equal(t, "non-retryable", f.NonRetryable, true)
	equal(t, "message", strings.HasPrefix(f.Message, "payload is not valid JSON: "), true)

	s.Assign(&pb.Assignment{TaskId: "b", Type: "toString"})
	f = failed(t, s)
	equal(t, "type", f.ErrorType, "UNKNOWN_TASK_TYPE")
	equal(t, "message", f.Message, `no handler for task type "toString"`)

	s.Assign(&pb.Assignment{TaskId: "c", Type: "order", PayloadJson: `{"Quantity":"many"}`})
	f = failed(t, s)
	equal(t, "type", f.ErrorType, "INVALID_PAYLOAD")
	equal(t, "non-retryable", f.NonRetryable, true)
	equal(t, "handler runs", runs, 0)

	s.Assign(&pb.Assignment{TaskId: "d", Type: "order", PayloadJson: `{"Quantity":3}`})
	equal(t, "typed result", completed(t, s).ResultJson, "3")
}

func TestFailsAResultOverTheDispatchersLimitInsteadOfSendingIt(t *testing.T) {
	d := fake(t, fakedispatcher.Options{MaxResultBytes: 100})
	startWorker(t, map[string]worker.Handler{
		"big":   func(context.Context, *worker.Task) (any, error) { return strings.Repeat("x", 500), nil },
		"small": func(context.Context, *worker.Task) (any, error) { return strings.Repeat("x", 98), nil },
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "big"})
	f := failed(t, s)
	want := &pb.AttemptFailed{TaskId: "t1", Attempt: 1, ErrorType: "RESULT_TOO_LARGE", NonRetryable: true,
		Message: "result of 502 bytes exceeds the limit of 100 bytes"}
	if !proto.Equal(f, want) {
		t.Errorf("failed = %v, want %v", f, want)
	}
	// Exactly at the limit (98 characters and two quotes) is fine.
	s.Assign(&pb.Assignment{TaskId: "t2", Type: "small"})
	equal(t, "completed", completed(t, s).TaskId, "t2")
	for _, m := range s.Messages() {
		if c := m.GetCompleted(); c != nil && c.TaskId == "t1" {
			t.Errorf("the too-large result was sent: %v", c)
		}
	}
}

func TestFailsAnAssignmentBeyondTheFreeSlotsWithNoSlot(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"hold": func(context.Context, *worker.Task) (any, error) { release.wait(); return "done", nil },
	}, worker.WithAddresses(d.Address), worker.WithSlots(1))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "a", Type: "hold"})
	s.Next(t, "started")
	s.Assign(&pb.Assignment{TaskId: "b", Type: "hold"})
	f := failed(t, s)
	equal(t, "task", f.TaskId, "b")
	equal(t, "type", f.ErrorType, "NO_SLOT")
	equal(t, "retryable", f.NonRetryable, false)
	release.open()
	equal(t, "completed", completed(t, s).TaskId, "a")
}

func TestIgnoresTheSameAttemptAssignedTwice(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	runs := make(chan string, 4)
	startWorker(t, map[string]worker.Handler{
		"hold": func(_ context.Context, task *worker.Task) (any, error) {
			runs <- task.ID
			release.wait()
			return "done", nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "a", Type: "hold"})
	s.Next(t, "started")
	s.Assign(&pb.Assignment{TaskId: "a", Type: "hold"})
	s.Assign(&pb.Assignment{TaskId: "a", Attempt: 2, Type: "hold"}) // another attempt does run
	s.Next(t, "started")
	release.open()
	completed(t, s)
	completed(t, s)
	equal(t, "runs", len(runs), 2)
}

func TestNewAndRegisterRejectBadConfiguration(t *testing.T) {
	bad := [][]worker.Option{
		{},
		{worker.WithAddresses("")},
		{worker.WithAddresses("x:1"), worker.WithSlots(0)},
		{worker.WithAddresses("x:1"), worker.WithName(strings.Repeat("n", 129))},
		{worker.WithAddresses("x:1"), worker.WithAPIKey("a\nb")},
		{worker.WithAddresses("x:1"), worker.WithReconnectBackoff(time.Second, time.Millisecond)},
	}
	for i, opts := range bad {
		if _, err := worker.New(opts...); err == nil {
			t.Errorf("options #%d: New accepted them", i)
		}
	}
	w, err := worker.New(worker.WithAddresses("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, taskType := range []string{"", "has space", strings.Repeat("t", 129)} {
		if err := w.Register(taskType, echo); err == nil {
			t.Errorf("Register(%q) accepted it", taskType)
		}
	}
	if err := w.Register("echo", echo); err != nil {
		t.Fatal(err)
	}
	if err := w.Register("echo", echo); err == nil {
		t.Error("Register accepted a type twice")
	}
	empty, _ := worker.New(worker.WithAddresses("127.0.0.1:1"))
	if err := empty.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "at least one handler") {
		t.Errorf("Run without handlers = %v", err)
	}
}

func TestRunFailsWhenTheDispatcherRefusesTheRegistrationForGood(t *testing.T) {
	d := fake(t, fakedispatcher.Options{Refuse: "register.slots: must be between 1 and 1000",
		RefuseCode: codes.InvalidArgument})
	w := newWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address))
	select {
	case err := <-w.runErr:
		var refused *worker.RegistrationError
		if !errors.As(err, &refused) || refused.Code != codes.InvalidArgument ||
			refused.Details != "register.slots: must be between 1 and 1000" {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept retrying an invalid registration")
	}
	equal(t, "registers", len(d.Registers()), 1)
}

func TestSendsTheAPIKeyAsBearerMetadata(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address),
		worker.WithAPIKey("secret-key"))
	md := d.Metadata()[0]
	if got := md.Get("authorization"); !reflect.DeepEqual(got, []string{"Bearer secret-key"}) {
		t.Errorf("authorization = %v", got)
	}
	if ua := strings.Join(md.Get("user-agent"), " "); !strings.Contains(ua, "taskstream-go-0.1.0") {
		t.Errorf("user-agent = %q", ua)
	}
}

func TestRunReturnsNilAfterItsContextEnds(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	w, err := worker.New(worker.WithAddresses(d.Address), worker.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Register("echo", echo)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.Ready()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	fakedispatcher.WaitFor(t, 3*time.Second, "the stream to end", d.Stream(t, 0).Ended)
	if err := w.Run(context.Background()); !errors.Is(err, worker.ErrStopped) {
		t.Errorf("second Run = %v", err)
	}
}

func TestResultsAndDetailsKeepHTMLCharactersAsWritten(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{
		"html": func(_ context.Context, task *worker.Task) (any, error) {
			if err := task.Heartbeat("<b>&</b>"); err != nil {
				return nil, err
			}
			return map[string]string{"html": "<a>&</a>"}, nil
		},
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "html"})
	equal(t, "result", completed(t, s).ResultJson, `{"html":"<a>&</a>"}`)
	equal(t, "details", s.Next(t, "progress").GetProgress().DetailsJson, `"<b>&</b>"`)
}
