//go:build integration

// Package integration runs the worker and the client against a real Taskstream. It needs a running
// server: TASKSTREAM_GRPC_ADDRESS (host:port of a process serving the api and dispatcher roles)
// and, for the result-size test, TASKSTREAM_MAX_RESULT_BYTES as that server has it (default 1 MiB).
// sdk/go/integration.sh starts one and runs these tests: go test -tags integration ./integration/
package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"

	"github.com/taskstream/taskstream/sdk/go/client"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

func address(t *testing.T) string {
	address := os.Getenv("TASKSTREAM_GRPC_ADDRESS")
	if address == "" {
		t.Skip("TASKSTREAM_GRPC_ADDRESS is not set (sdk/go/integration.sh starts a Taskstream)")
	}
	return address
}

// prefix makes this run's task types its own, so leftovers of other runs never reach its workers.
var prefix = fmt.Sprintf("goit%d", rand.Uint32())

func taskType(name string) string { return prefix + "." + name }

// env is a running worker with the given handlers and a client, both stopped after the test.
func env(t *testing.T, handlers map[string]worker.Handler, opts ...worker.Option) (*worker.Worker, *client.Client) {
	t.Helper()
	addr := address(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := worker.New(append([]worker.Option{worker.WithAddresses(addr), worker.WithLogger(quiet),
		worker.WithGracePeriod(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range handlers {
		if err := w.Register(taskType(name), h); err != nil {
			t.Fatal(err)
		}
	}
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(context.Background()) }()
	select {
	case <-w.Ready():
	case err := <-runErr:
		t.Fatalf("Run: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the worker did not register")
	}
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return w, c
}

// await polls the task until it is done.
func await(t *testing.T, c *client.Client, id string) *client.Task {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		task, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		if task.Done() {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s", id, task.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func submit(t *testing.T, c *client.Client, spec client.TaskSpec) string {
	t.Helper()
	spec.Type = taskType(spec.Type)
	res, err := c.Submit(context.Background(), spec)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return res.ID
}

func eventTypes(t *testing.T, c *client.Client, id string) []string {
	t.Helper()
	events, err := c.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	types := make([]string, len(events))
	for i, e := range events {
		types[i] = e.Type
	}
	return types
}

func TestEchoRoundTripWithIdempotencyAndHistory(t *testing.T) {
	_, c := env(t, map[string]worker.Handler{
		"echo": func(_ context.Context, task *worker.Task) (any, error) {
			return map[string]any{"echo": task.Payload, "attempt": task.Attempt}, nil
		},
	})
	key := prefix + "-key"
	id := submit(t, c, client.TaskSpec{Type: "echo", Payload: map[string]string{"hello": "world"},
		Priority: client.Priority(7), IdempotencyKey: key})
	task := await(t, c, id)
	if task.State != client.StateSucceeded || string(task.Result) != `{"attempt":1,"echo":{"hello":"world"}}` {
		t.Fatalf("task = %s %s", task.State, task.Result)
	}
	if task.Priority != 7 || task.IdempotencyKey != key || task.WorkerID == "" {
		t.Errorf("task = %+v", task)
	}
	again, err := c.Submit(context.Background(), client.TaskSpec{Type: taskType("echo"), IdempotencyKey: key})
	if err != nil || again.ID != id || !again.Deduplicated {
		t.Errorf("second submission = %+v, %v", again, err)
	}
	types := eventTypes(t, c, id)
	if types[0] != "TaskSubmitted" || types[len(types)-1] != "TaskSucceeded" || !slices.Contains(types, "TaskStarted") {
		t.Errorf("history = %v", types)
	}
	_, err = c.Get(context.Background(), "01a22800-0000-7000-8000-000000000000")
	if client.Code(err) != codes.NotFound {
		t.Errorf("Get of an unknown id = %v", err)
	}
}

func TestFailuresRetriesDeadLettersAndRetry(t *testing.T) {
	var fatalRuns atomic.Int32
	_, c := env(t, map[string]worker.Handler{
		"flaky": func(_ context.Context, task *worker.Task) (any, error) {
			if task.Attempt <= 2 {
				return nil, worker.NewError("Flaky", fmt.Sprintf("attempt %d fails", task.Attempt))
			}
			return task.Attempt, nil
		},
		"fatal": func(_ context.Context, task *worker.Task) (any, error) {
			if fatalRuns.Add(1) == 1 {
				return nil, worker.NonRetryable(errors.New("bad input"))
			}
			return "revived", nil
		},
	})
	flaky := submit(t, c, client.TaskSpec{Type: "flaky",
		Retry: &client.RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond}})
	fatal := submit(t, c, client.TaskSpec{Type: "fatal", Retry: &client.RetryPolicy{MaxAttempts: 5}})

	task := await(t, c, flaky)
	if task.State != client.StateSucceeded || task.Attempt != 3 || string(task.Result) != "3" {
		t.Errorf("flaky = %s attempt %d result %s", task.State, task.Attempt, task.Result)
	}
	if failures := slices.DeleteFunc(eventTypes(t, c, flaky), func(e string) bool { return e != "TaskAttemptFailed" }); len(failures) != 2 {
		t.Errorf("flaky failures = %v", failures)
	}
	task = await(t, c, fatal)
	if task.State != client.StateDeadLettered || task.Attempt != 1 || task.LastError == nil ||
		task.LastError.Type != "Error" || !task.LastError.NonRetryable {
		t.Fatalf("fatal = %+v (%+v)", task, task.LastError)
	}
	revived, err := c.Retry(context.Background(), fatal)
	if err != nil || revived.Done() {
		t.Fatalf("Retry = %+v, %v", revived, err)
	}
	if task = await(t, c, fatal); task.State != client.StateSucceeded || string(task.Result) != `"revived"` {
		t.Errorf("after Retry = %s %s", task.State, task.Result)
	}
}

func TestCancelReachesTheRunningHandler(t *testing.T) {
	started := make(chan struct{}, 1)
	causes := make(chan error, 1)
	_, c := env(t, map[string]worker.Handler{
		"wait": func(ctx context.Context, _ *worker.Task) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return nil, ctx.Err()
		},
	})
	id := submit(t, c, client.TaskSpec{Type: "wait"})
	<-started
	if _, err := c.Cancel(context.Background(), id, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	if task := await(t, c, id); task.State != client.StateCancelled {
		t.Errorf("state = %s", task.State)
	}
	var cancelled *worker.CancelledError
	if cause := <-causes; !errors.As(cause, &cancelled) {
		t.Errorf("cause = %v", cause)
	}
}

func TestHeartbeatDetailsReachTheNextAttemptAndDeadlinesTheContext(t *testing.T) {
	deadlines := make(chan time.Duration, 2)
	_, c := env(t, map[string]worker.Handler{
		"resume": func(ctx context.Context, task *worker.Task) (any, error) {
			if d, ok := ctx.Deadline(); ok {
				deadlines <- time.Until(d)
			}
			var last struct{ Step int }
			if ok, err := task.DecodeLastDetails(&last); err != nil || ok {
				return map[string]any{"resumedFrom": last.Step}, err
			}
			if err := task.Heartbeat(map[string]int{"step": 7}); err != nil {
				return nil, err
			}
			time.Sleep(300 * time.Millisecond) // the details are recorded meanwhile
			return nil, errors.New("first attempt fails")
		},
	})
	id := submit(t, c, client.TaskSpec{Type: "resume", Timeouts: &client.Timeouts{StartToClose: 30 * time.Second},
		Retry: &client.RetryPolicy{InitialBackoff: 10 * time.Millisecond}})
	task := await(t, c, id)
	if task.State != client.StateSucceeded || string(task.Result) != `{"resumedFrom":7}` {
		t.Errorf("task = %s %s", task.State, task.Result)
	}
	if left := <-deadlines; left < 25*time.Second || left > 31*time.Second {
		t.Errorf("ctx deadline %v away, want about 30 s", left)
	}
	if !slices.Contains(eventTypes(t, c, id), "TaskProgressRecorded") {
		t.Error("no TaskProgressRecorded in the history")
	}
}

func TestAResultOverTheServersLimitDeadLettersAndTheStreamCarriesOn(t *testing.T) {
	limit := 1 << 20
	if text := os.Getenv("TASKSTREAM_MAX_RESULT_BYTES"); text != "" {
		limit, _ = strconv.Atoi(text)
	}
	_, c := env(t, map[string]worker.Handler{
		"large": func(context.Context, *worker.Task) (any, error) { return strings.Repeat("x", limit+1), nil },
		"echo":  func(_ context.Context, task *worker.Task) (any, error) { return task.Payload, nil },
	})
	large := await(t, c, submit(t, c, client.TaskSpec{Type: "large"}))
	if large.State != client.StateDeadLettered || large.LastError == nil || large.LastError.Type != "RESULT_TOO_LARGE" {
		t.Errorf("large = %s %+v", large.State, large.LastError)
	}
	if echo := await(t, c, submit(t, c, client.TaskSpec{Type: "echo", Payload: 1})); echo.State != client.StateSucceeded {
		t.Errorf("echo after it = %s", echo.State)
	}
}

func TestTheHandlerSpanContinuesTheSubmittersTrace(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	traceparents := make(chan string, 1)
	_, c := env(t, map[string]worker.Handler{
		"traced": func(_ context.Context, task *worker.Task) (any, error) {
			traceparents <- task.Traceparent
			return nil, nil
		},
	}, worker.WithTracerProvider(provider))
	ctx, span := provider.Tracer("integration").Start(context.Background(), "submit")
	res, err := c.Submit(ctx, client.TaskSpec{Type: taskType("traced")})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	await(t, c, res.ID)
	traceparent := <-traceparents
	if !strings.HasPrefix(traceparent, "00-"+span.SpanContext().TraceID().String()+"-") {
		t.Errorf("handler traceparent %s is not in the submitter's trace %s", traceparent, span.SpanContext().TraceID())
	}
	var handlerSpans int
	for _, s := range recorder.Ended() {
		if s.Name() == "task "+taskType("traced") && s.SpanContext().TraceID() == span.SpanContext().TraceID() {
			handlerSpans++
		}
	}
	if handlerSpans != 1 {
		t.Errorf("%d handler spans in the submitter's trace, want 1", handlerSpans)
	}
}

func TestGracefulStopLetsARunningHandlerFinish(t *testing.T) {
	started := make(chan struct{}, 1)
	w, c := env(t, map[string]worker.Handler{
		"slow": func(context.Context, *worker.Task) (any, error) {
			started <- struct{}{}
			time.Sleep(500 * time.Millisecond)
			return "finished", nil
		},
	})
	id := submit(t, c, client.TaskSpec{Type: "slow"})
	<-started
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if task := await(t, c, id); task.State != client.StateSucceeded || task.Attempt != 1 {
		t.Errorf("task = %s attempt %d", task.State, task.Attempt)
	}
}

func TestSubmitManyAndListFromTheReadModel(t *testing.T) {
	_, c := env(t, map[string]worker.Handler{
		"batch": func(_ context.Context, task *worker.Task) (any, error) { return task.Payload, nil },
	})
	specs := make([]client.TaskSpec, 5)
	for i := range specs {
		specs[i] = client.TaskSpec{Type: taskType("batch"), Payload: i}
	}
	results, err := c.SubmitMany(context.Background(), specs)
	if err != nil || len(results) != 5 {
		t.Fatalf("SubmitMany = %v, %v", results, err)
	}
	for _, r := range results {
		await(t, c, r.ID)
	}
	// The read model follows the log: wait until it has every task, two pages of three.
	deadline := time.Now().Add(10 * time.Second)
	for {
		first, err := c.List(context.Background(), client.ListOptions{Type: taskType("batch"), State: client.StateSucceeded, PageSize: 3})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(first.Tasks) == 3 && first.NextPageToken != "" {
			second, err := c.List(context.Background(), client.ListOptions{Type: taskType("batch"),
				State: client.StateSucceeded, PageSize: 3, PageToken: first.NextPageToken})
			if err != nil {
				t.Fatalf("List page 2: %v", err)
			}
			if len(second.Tasks) == 2 && second.NextPageToken == "" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read model did not list the 5 tasks in two pages")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBadSubmissionsNameTheField(t *testing.T) {
	c, err := client.New(address(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Submit(context.Background(), client.TaskSpec{Type: taskType("x"), Priority: client.Priority(12)})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.FieldErrors) == 0 ||
		!strings.Contains(e.FieldErrors[0].Field, "priority") {
		t.Errorf("Submit = %v (%+v)", err, e)
	}
}
