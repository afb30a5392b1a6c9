package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/taskstream/taskstream/sdk/go/client"
	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// submitAll submits the types concurrently and returns each answer by type.
func submitAll(ctx context.Context, c *client.Client, types []string) map[string]client.SubmitResult {
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := map[string]client.SubmitResult{}
	for _, taskType := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Submit(ctx, client.TaskSpec{Type: taskType})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.ID = "error: " + status.Convert(err).Message()
			}
			results[taskType] = res
		}()
	}
	wg.Wait()
	return results
}

func TestCoalescedSubmitsShareOneCallWhileAnotherIsInFlight(t *testing.T) {
	release := make(chan struct{})
	api, c := serve(t, func(req proto.Message) (proto.Message, error) {
		switch r := req.(type) {
		case *pb.SubmitTaskRequest:
			<-release
			return &pb.SubmitTaskResponse{Id: "id-" + r.Task.Type}, nil
		case *pb.SubmitTasksRequest:
			res := &pb.SubmitTasksResponse{}
			for _, task := range r.Tasks {
				res.Results = append(res.Results, &pb.SubmitTaskResponse{Id: "id-" + task.Type})
			}
			return res, nil
		}
		return nil, status.Error(codes.Unimplemented, "")
	}, client.WithSubmitCoalescing(true))

	first := make(chan client.SubmitResult, 1)
	go func() {
		res, _ := c.Submit(context.Background(), client.TaskSpec{Type: "first"})
		first <- res
	}()
	waitForRequests(t, api, 1) // the lone submission went at once, as SubmitTask
	done := make(chan map[string]client.SubmitResult, 1)
	go func() { done <- submitAll(context.Background(), c, []string{"a", "b", "c", "d", "e"}) }()
	time.Sleep(50 * time.Millisecond) // they queue behind the call in flight
	close(release)
	if got := <-first; got.ID != "id-first" {
		t.Errorf("first = %+v", got)
	}
	results := <-done
	for _, taskType := range []string{"a", "b", "c", "d", "e"} {
		if results[taskType].ID != "id-"+taskType {
			t.Errorf("%s answered %+v", taskType, results[taskType])
		}
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.requests) != 2 {
		t.Fatalf("%d calls, want 2 (one alone, then one SubmitTasks)", len(api.requests))
	}
	if batch, ok := api.requests[1].(*pb.SubmitTasksRequest); !ok || len(batch.Tasks) != 5 {
		t.Errorf("second call = %v", api.requests[1])
	}
}

func TestACoalescedBatchRefusedAsInvalidIsResentTaskByTask(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	api, c := serve(t, func(req proto.Message) (proto.Message, error) {
		switch r := req.(type) {
		case *pb.SubmitTaskRequest:
			once.Do(func() { <-release })
			if r.Task.Type == "bad" {
				return nil, status.Error(codes.InvalidArgument, "task.type: bad")
			}
			return &pb.SubmitTaskResponse{Id: "id-" + r.Task.Type}, nil
		case *pb.SubmitTasksRequest:
			return nil, status.Error(codes.InvalidArgument, "tasks[1].type: bad")
		}
		return nil, status.Error(codes.Unimplemented, "")
	}, client.WithSubmitCoalescing(true))
	go func() { _, _ = c.Submit(context.Background(), client.TaskSpec{Type: "first"}) }()
	waitForRequests(t, api, 1)
	done := make(chan map[string]client.SubmitResult, 1)
	go func() { done <- submitAll(context.Background(), c, []string{"ok1", "bad", "ok2"}) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	results := <-done
	want := map[string]string{"ok1": "id-ok1", "bad": "error: task.type: bad", "ok2": "id-ok2"}
	for taskType, id := range want {
		if results[taskType].ID != id {
			t.Errorf("%s answered %+v, want %s", taskType, results[taskType], id)
		}
	}
}

func TestACoalescedSubmitWhoseKeyConflictsFailsWithAlreadyExists(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	api, c := serve(t, func(req proto.Message) (proto.Message, error) {
		switch r := req.(type) {
		case *pb.SubmitTaskRequest:
			once.Do(func() { <-release })
			return &pb.SubmitTaskResponse{Id: "id-" + r.Task.Type}, nil
		case *pb.SubmitTasksRequest:
			res := &pb.SubmitTasksResponse{}
			for _, task := range r.Tasks {
				if task.IdempotencyKey == "reused" {
					res.Results = append(res.Results, &pb.SubmitTaskResponse{Id: "first", Deduplicated: true, Conflict: true})
				} else {
					res.Results = append(res.Results, &pb.SubmitTaskResponse{Id: "id-" + task.Type})
				}
			}
			return res, nil
		}
		return nil, status.Error(codes.Unimplemented, "")
	}, client.WithSubmitCoalescing(true))
	go func() { _, _ = c.Submit(context.Background(), client.TaskSpec{Type: "first"}) }()
	waitForRequests(t, api, 1)
	type answer struct {
		result client.SubmitResult
		err    error
	}
	answers := make(chan answer, 2)
	for _, spec := range []client.TaskSpec{{Type: "fresh"}, {Type: "again", IdempotencyKey: "reused"}} {
		go func() {
			res, err := c.Submit(context.Background(), spec)
			answers <- answer{res, err}
		}()
	}
	time.Sleep(50 * time.Millisecond) // both queue behind the call in flight
	close(release)
	var fresh, conflict answer
	for range 2 {
		if a := <-answers; a.err == nil {
			fresh = a
		} else {
			conflict = a
		}
	}
	if fresh.result != (client.SubmitResult{ID: "id-fresh"}) {
		t.Errorf("fresh = %+v", fresh)
	}
	var e *client.Error
	if !errors.As(conflict.err, &e) || e.Code != codes.AlreadyExists || status.Code(conflict.err) != codes.AlreadyExists ||
		e.Message != `idempotencyKey "reused" was used for a different request (task first); use a new key for a new request` {
		t.Errorf("conflicting submit = %+v", conflict)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if batch, ok := api.requests[1].(*pb.SubmitTasksRequest); !ok || len(batch.Tasks) != 2 {
		t.Errorf("second call = %v, want one SubmitTasks of both", api.requests[1])
	}
}

func TestATracedSubmitIsSentAloneWithItsTraceContext(t *testing.T) {
	api, c := serve(t, func(proto.Message) (proto.Message, error) { return &pb.SubmitTaskResponse{Id: "x"}, nil },
		client.WithSubmitCoalescing(true))
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	if _, err := c.Submit(ctx, client.TaskSpec{Type: "traced"}); err != nil {
		t.Fatal(err)
	}
	_, md, _ := api.last()
	if len(md.Get("traceparent")) != 1 {
		t.Errorf("traceparent not sent: %v", md)
	}
}

func TestACallerWhoseContextEndsStopsWaiting(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, c := serve(t, func(proto.Message) (proto.Message, error) {
		<-release
		return &pb.SubmitTaskResponse{Id: "late"}, nil
	}, client.WithSubmitCoalescing(true))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Submit(ctx, client.TaskSpec{Type: "x"})
	if client.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Submit = %v, want DEADLINE_EXCEEDED", err)
	}
}

func waitForRequests(t *testing.T, api *fakeAPI, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		api.mu.Lock()
		got := len(api.requests)
		api.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
