package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/taskstream/taskstream/sdk/go/client"
	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// fakeAPI is an in-process TaskService that records what it is asked and answers from a script.
type fakeAPI struct {
	pb.UnimplementedTaskServiceServer
	mu        sync.Mutex
	requests  []proto.Message
	metadata  []metadata.MD
	deadlines []time.Time
	answer    func(req proto.Message) (proto.Message, error)
}

func (f *fakeAPI) record(ctx context.Context, req proto.Message) (proto.Message, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	deadline, _ := ctx.Deadline()
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.metadata = append(f.metadata, md)
	f.deadlines = append(f.deadlines, deadline)
	answer := f.answer
	f.mu.Unlock()
	return answer(req)
}

func (f *fakeAPI) SubmitTask(ctx context.Context, req *pb.SubmitTaskRequest) (*pb.SubmitTaskResponse, error) {
	res, err := f.record(ctx, req)
	return as[*pb.SubmitTaskResponse](res), err
}

func (f *fakeAPI) SubmitTasks(ctx context.Context, req *pb.SubmitTasksRequest) (*pb.SubmitTasksResponse, error) {
	res, err := f.record(ctx, req)
	return as[*pb.SubmitTasksResponse](res), err
}

func (f *fakeAPI) GetTask(ctx context.Context, req *pb.GetTaskRequest) (*pb.Task, error) {
	res, err := f.record(ctx, req)
	return as[*pb.Task](res), err
}

func (f *fakeAPI) CancelTask(ctx context.Context, req *pb.CancelTaskRequest) (*pb.CancelTaskResponse, error) {
	res, err := f.record(ctx, req)
	return as[*pb.CancelTaskResponse](res), err
}

func (f *fakeAPI) RetryTask(ctx context.Context, req *pb.RetryTaskRequest) (*pb.RetryTaskResponse, error) {
	res, err := f.record(ctx, req)
	return as[*pb.RetryTaskResponse](res), err
}

func (f *fakeAPI) GetTaskHistory(ctx context.Context, req *pb.GetTaskHistoryRequest) (*pb.GetTaskHistoryResponse, error) {
	res, err := f.record(ctx, req)
	return as[*pb.GetTaskHistoryResponse](res), err
}

func (f *fakeAPI) ListTasks(ctx context.Context, req *pb.ListTasksRequest) (*pb.ListTasksResponse, error) {
	res, err := f.record(ctx, req)
	return as[*pb.ListTasksResponse](res), err
}

func as[T proto.Message](m proto.Message) T {
	t, _ := m.(T)
	return t
}

func (f *fakeAPI) last() (proto.Message, metadata.MD, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.requests) - 1
	return f.requests[n], f.metadata[n], f.deadlines[n]
}

// serve starts the fake on 127.0.0.1 and returns a client of it.
func serve(t *testing.T, answer func(proto.Message) (proto.Message, error), opts ...client.Option) (*fakeAPI, *client.Client) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeAPI{answer: answer}
	server := grpc.NewServer()
	pb.RegisterTaskServiceServer(server, api)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	c, err := client.New(listener.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return api, c
}

var storedTask = &pb.Task{
	Id: "0193f1c2-0000-7000-8000-000000000001", Type: "echo", State: "SUCCEEDED", Priority: 7, Attempt: 2,
	MaxAttempts: 5, PayloadJson: `{"n":1}`, ResultJson: `{"echoed":1}`,
	LastError:      &pb.TaskError{Message: "attempt 1 fails", Type: "ConformanceError"},
	IdempotencyKey: "k1", Requires: map[string]string{"lang": "go"}, Metadata: map[string]string{"tenant": "a"},
	CreatedAt: "2026-01-02T03:04:05.678Z", UpdatedAt: "2026-01-02T03:04:06Z", Version: 6, WorkerId: "w-1",
}

func TestSubmitSendsEveryFieldOfTheSpec(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) {
		return &pb.SubmitTaskResponse{Id: "id-1", Deduplicated: true}, nil
	})
	runAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := c.Submit(context.Background(), client.TaskSpec{
		Type: "echo", Payload: map[string]int{"n": 1}, Priority: client.Priority(0),
		Requires: map[string]string{"lang": "go"}, IdempotencyKey: "k1", RunAt: runAt,
		ConcurrencyKey: "tenant-a", ConcurrencyLimit: 2,
		Retry:    &client.RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond, BackoffMultiplier: 1.5},
		Timeouts: &client.Timeouts{StartToClose: time.Second, Heartbeat: 2 * time.Second},
		Metadata: map[string]string{"tenant": "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res != (client.SubmitResult{ID: "id-1", Deduplicated: true}) {
		t.Errorf("result = %+v", res)
	}
	req, _, _ := api.last()
	zero, five, ten, one, two, limit := int32(0), int32(5), int64(10), int64(1000), int64(2000), int32(2)
	mult := 1.5
	want := &pb.SubmitTaskRequest{Task: &pb.TaskSpec{
		Type: "echo", PayloadJson: `{"n":1}`, Priority: &zero, Requires: map[string]string{"lang": "go"},
		IdempotencyKey: "k1", RunAt: "2030-01-02T03:04:05Z", ConcurrencyKey: "tenant-a", ConcurrencyLimit: &limit,
		Retry:    &pb.RetryPolicy{MaxAttempts: &five, InitialBackoffMs: &ten, BackoffMultiplier: &mult},
		Timeouts: &pb.Timeouts{StartToCloseMs: &one, HeartbeatMs: &two},
		Metadata: map[string]string{"tenant": "a"},
	}}
	if !proto.Equal(req, want) {
		t.Errorf("request = %v\nwant %v", req, want)
	}
}

func TestSubmitLeavesUnsetFieldsToTheServer(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) { return &pb.SubmitTaskResponse{Id: "x"}, nil })
	if _, err := c.Submit(context.Background(), client.TaskSpec{Type: "echo", Delay: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	req, _, _ := api.last()
	delay := int64(1500)
	if want := (&pb.SubmitTaskRequest{Task: &pb.TaskSpec{Type: "echo", DelayMs: &delay}}); !proto.Equal(req, want) {
		t.Errorf("request = %v, want %v", req, want)
	}
}

func TestSubmitManyKeepsTheOrderAndNamesABadPayload(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) {
		return &pb.SubmitTasksResponse{Results: []*pb.SubmitTaskResponse{{Id: "a"}, {Id: "b", Deduplicated: true}}}, nil
	})
	results, err := c.SubmitMany(context.Background(), []client.TaskSpec{{Type: "x"}, {Type: "y", Payload: json.RawMessage(`[1,2]`)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].ID != "a" || !results[1].Deduplicated {
		t.Errorf("results = %+v", results)
	}
	req, _, _ := api.last()
	if got := req.(*pb.SubmitTasksRequest).Tasks[1].PayloadJson; got != "[1,2]" {
		t.Errorf("raw payload sent as %s", got)
	}
	_, err = c.SubmitMany(context.Background(), []client.TaskSpec{{Type: "x"}, {Type: "y", Payload: make(chan int)}})
	if err == nil || !strings.Contains(err.Error(), "tasks[1].payload is not JSON-serializable") {
		t.Errorf("bad payload: %v", err)
	}
}

func TestSubmitManyFlagsAKeyReusedForAnotherRequest(t *testing.T) {
	_, c := serve(t, func(proto.Message) (proto.Message, error) {
		return &pb.SubmitTasksResponse{Results: []*pb.SubmitTaskResponse{
			{Id: "new"}, {Id: "first", Deduplicated: true, Conflict: true}}}, nil
	})
	results, err := c.SubmitMany(context.Background(), []client.TaskSpec{
		{Type: "x"}, {Type: "x", IdempotencyKey: "k", Payload: 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := []client.SubmitResult{{ID: "new"}, {ID: "first", Deduplicated: true, Conflict: true}}
	if !slices.Equal(results, want) {
		t.Errorf("results = %+v, want %+v", results, want)
	}
}

func TestSubmitFailsWithAlreadyExistsForAKeyReusedForAnotherRequest(t *testing.T) {
	const details = `idempotencyKey "k" was used for a different request (task first); use a new key for a new request`
	_, c := serve(t, func(proto.Message) (proto.Message, error) {
		return nil, status.Error(codes.AlreadyExists, details)
	})
	_, err := c.Submit(context.Background(), client.TaskSpec{Type: "x", IdempotencyKey: "k"})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != codes.AlreadyExists || e.Message != details ||
		status.Code(err) != codes.AlreadyExists {
		t.Errorf("Submit = %v", err)
	}
}

func TestGetReturnsTheTaskWithParsedTimesAndJSON(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) { return storedTask, nil })
	task, err := c.Get(context.Background(), storedTask.Id)
	if err != nil {
		t.Fatal(err)
	}
	if req, _, _ := api.last(); req.(*pb.GetTaskRequest).Id != storedTask.Id {
		t.Errorf("asked for %v", req)
	}
	var result struct{ Echoed int }
	if err := task.DecodeResult(&result); err != nil || result.Echoed != 1 {
		t.Errorf("result = %+v, %v", result, err)
	}
	checks := map[string]bool{
		"state":      task.State == client.StateSucceeded && task.Done(),
		"attempts":   task.Attempt == 2 && task.MaxAttempts == 5 && task.Priority == 7,
		"payload":    string(task.Payload) == `{"n":1}`,
		"last error": task.LastError != nil && task.LastError.Type == "ConformanceError",
		"created":    task.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)),
		"available":  task.AvailableAt.IsZero(),
		"labels":     task.Requires["lang"] == "go" && task.Metadata["tenant"] == "a",
		"worker":     task.WorkerID == "w-1" && task.Version == 6 && task.IdempotencyKey == "k1",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s wrong in %+v", what, task)
		}
	}
}

func TestFailedCallsReturnAnErrorWithTheCodeAndTheServersDetails(t *testing.T) {
	_, c := serve(t, func(req proto.Message) (proto.Message, error) {
		switch req.(type) {
		case *pb.GetTaskRequest:
			return nil, status.Error(codes.NotFound, "task nope not found")
		case *pb.SubmitTaskRequest:
			return nil, status.Error(codes.InvalidArgument, "task.priority: must be 0 to 9")
		}
		return nil, status.Error(codes.ResourceExhausted, "backlog full")
	})
	_, err := c.Get(context.Background(), "nope")
	var e *client.Error
	if !errors.As(err, &e) || e.Code != codes.NotFound || e.Message != "task nope not found" {
		t.Fatalf("Get = %v", err)
	}
	if status.Code(err) != codes.NotFound || client.Code(err) != codes.NotFound {
		t.Errorf("status.Code = %v", status.Code(err))
	}
	if err.Error() != "taskstream: NOT_FOUND: task nope not found" {
		t.Errorf("message = %q", err.Error())
	}
	_, err = c.Submit(context.Background(), client.TaskSpec{Type: "x", Priority: client.Priority(12)})
	if client.Code(err) != codes.InvalidArgument {
		t.Errorf("Submit = %v", err)
	}
}

// trailerAPI answers with trailers, as the server does for validation errors and backpressure.
type trailerAPI struct {
	pb.UnimplementedTaskServiceServer
}

func (trailerAPI) SubmitTask(ctx context.Context, _ *pb.SubmitTaskRequest) (*pb.SubmitTaskResponse, error) {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("field-errors", `[{"field":"task.type","reason":"is required"}]`))
	return nil, status.Error(codes.InvalidArgument, "task.type: is required")
}

func (trailerAPI) SubmitTasks(ctx context.Context, _ *pb.SubmitTasksRequest) (*pb.SubmitTasksResponse, error) {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after-ms", "1500"))
	return nil, status.Error(codes.ResourceExhausted, "backlog full")
}

func TestErrorsCarryFieldErrorsAndRetryHintsFromTheTrailers(t *testing.T) {
	listener, _ := net.Listen("tcp", "127.0.0.1:0")
	server := grpc.NewServer()
	pb.RegisterTaskServiceServer(server, trailerAPI{})
	go func() { _ = server.Serve(listener) }()
	defer server.Stop()
	c, _ := client.New(listener.Addr().String())
	defer c.Close()
	_, err := c.Submit(context.Background(), client.TaskSpec{})
	var e *client.Error
	if !errors.As(err, &e) || len(e.FieldErrors) != 1 || e.FieldErrors[0] != (client.FieldError{Field: "task.type", Reason: "is required"}) {
		t.Errorf("Submit = %v (%+v)", err, e)
	}
	_, err = c.SubmitMany(context.Background(), []client.TaskSpec{{Type: "x"}})
	if !errors.As(err, &e) || e.Code != codes.ResourceExhausted || e.RetryAfter != 1500*time.Millisecond {
		t.Errorf("SubmitMany = %v (%+v)", err, e)
	}
}

func TestCancelRetryHistoryAndListMapRequestsAndAnswers(t *testing.T) {
	api, c := serve(t, func(req proto.Message) (proto.Message, error) {
		switch req.(type) {
		case *pb.CancelTaskRequest:
			return &pb.CancelTaskResponse{Task: &pb.Task{Id: "a", State: "CANCELLED", PayloadJson: "null"}}, nil
		case *pb.RetryTaskRequest:
			return &pb.RetryTaskResponse{Task: &pb.Task{Id: "a", State: "QUEUED", AvailableAt: "2026-01-01T00:00:00Z"}}, nil
		case *pb.GetTaskHistoryRequest:
			return &pb.GetTaskHistoryResponse{Events: []*pb.TaskEvent{
				{Version: 1, Type: "TaskSubmitted", At: "2026-01-01T00:00:00.5Z", DataJson: `{"type":"echo"}`},
				{Version: 2, Type: "TaskCancelled", At: "2026-01-01T00:00:01Z", DataJson: ""},
			}}, nil
		}
		return &pb.ListTasksResponse{Tasks: []*pb.Task{storedTask}, NextPageToken: "next"}, nil
	})
	ctx := context.Background()
	cancelled, err := c.Cancel(ctx, "a", "no longer needed")
	if err != nil || cancelled.State != client.StateCancelled || !cancelled.Done() {
		t.Fatalf("Cancel = %+v, %v", cancelled, err)
	}
	if req, _, _ := api.last(); !proto.Equal(req, &pb.CancelTaskRequest{Id: "a", Reason: "no longer needed"}) {
		t.Errorf("cancel request = %v", req)
	}
	retried, err := c.Retry(ctx, "a")
	if err != nil || retried.State != client.StateQueued || retried.Done() || retried.AvailableAt.IsZero() {
		t.Fatalf("Retry = %+v, %v", retried, err)
	}
	events, err := c.History(ctx, "a")
	if err != nil || len(events) != 2 {
		t.Fatalf("History = %v, %v", events, err)
	}
	if events[0].Type != "TaskSubmitted" || string(events[0].Data) != `{"type":"echo"}` ||
		events[0].At.UnixMilli() != time.Date(2026, 1, 1, 0, 0, 0, 5e8, time.UTC).UnixMilli() || string(events[1].Data) != "null" {
		t.Errorf("events = %+v", events)
	}
	page, err := c.List(ctx, client.ListOptions{State: client.StateSucceeded, Type: "echo", PageSize: 20, PageToken: "abc"})
	if err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != storedTask.Id || page.NextPageToken != "next" {
		t.Fatalf("List = %+v, %v", page, err)
	}
	if req, _, _ := api.last(); !proto.Equal(req, &pb.ListTasksRequest{State: "SUCCEEDED", Type: "echo", PageSize: 20, PageToken: "abc"}) {
		t.Errorf("list request = %v", req)
	}
}

func TestCallsCarryTheAPIKeyTheTraceContextAndADefaultDeadline(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) { return storedTask, nil },
		client.WithAPIKey("k-123"), client.WithTimeout(5*time.Second))
	provider := sdktrace.NewTracerProvider()
	ctx, span := provider.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	before := time.Now()
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	_, md, deadline := api.last()
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer k-123" {
		t.Errorf("authorization = %v", got)
	}
	sc := span.SpanContext()
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if got := md.Get("traceparent"); len(got) != 1 || got[0] != want {
		t.Errorf("traceparent = %v, want %s", got, want)
	}
	if left := deadline.Sub(before); left < 4*time.Second || left > 6*time.Second {
		t.Errorf("deadline %v after the call, want about 5 s", left)
	}
	// A context with its own deadline keeps it; one without a span sends no traceparent.
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Get(short, "a"); err != nil {
		t.Fatal(err)
	}
	_, md, deadline = api.last()
	if left := deadline.Sub(before); left > 2*time.Second {
		t.Errorf("the caller's deadline was replaced: %v", left)
	}
	if got := md.Get("traceparent"); len(got) != 0 {
		t.Errorf("traceparent without a span: %v", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := client.New(""); err == nil {
		t.Error("New accepted an empty address")
	}
	if _, err := client.New("127.0.0.1:1", client.WithTimeout(0)); err == nil {
		t.Error("New accepted a zero timeout")
	}
	if _, err := client.New("127.0.0.1:1", client.WithAPIKey("a\r\nb")); err == nil {
		t.Error("New accepted an API key with a line break")
	}
}

func TestPayloadsKeepHTMLCharactersAsWritten(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) { return &pb.SubmitTaskResponse{Id: "x"}, nil })
	if _, err := c.Submit(context.Background(), client.TaskSpec{Type: "t", Payload: "<p>&</p>"}); err != nil {
		t.Fatal(err)
	}
	req, _, _ := api.last()
	if got := req.(*pb.SubmitTaskRequest).Task.PayloadJson; got != `"<p>&</p>"` {
		t.Errorf("payload sent as %s", got)
	}
}
