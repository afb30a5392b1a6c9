// Package client submits, reads, cancels and lists Taskstream tasks over gRPC (TaskService).
//
// Payloads and results are JSON; the trace context of each call's ctx travels as W3C traceparent
// metadata, so a task's handler continues the caller's trace. A refused call returns an *Error
// carrying the gRPC code.
package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/tracecontext"
)

// Client talks to any Taskstream API process. It is safe for concurrent use.
type Client struct {
	conn      *grpc.ClientConn
	tasks     pb.TaskServiceClient
	timeout   time.Duration
	coalescer *coalescer // nil unless WithSubmitCoalescing
}

// New returns a client of the API at address (host:port). It connects lazily, on the first call.
func New(address string, opts ...Option) (*Client, error) {
	if address == "" {
		return nil, errors.New("taskstream: the API address is required")
	}
	cfg := config{timeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("taskstream: the call timeout must be positive, got %v", cfg.timeout)
	}
	if err := cfg.transport.Validate(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(address, cfg.transport.DialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("taskstream: cannot connect to %q: %w", address, err)
	}
	c := &Client{conn: conn, tasks: pb.NewTaskServiceClient(conn), timeout: cfg.timeout}
	if cfg.coalesce {
		c.coalescer = &coalescer{client: c}
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Submit submits one task. An idempotency key seen inside the dedup window answers the first
// task's id with Deduplicated set; a key first used for a request with other fields fails with
// codes.AlreadyExists (and writes nothing). With WithSubmitCoalescing, concurrent calls may share
// one SubmitTasks call, with the same answers.
func (c *Client) Submit(ctx context.Context, spec TaskSpec) (SubmitResult, error) {
	task, err := spec.toProto(-1)
	if err != nil {
		return SubmitResult{}, err
	}
	if c.coalescer != nil && coalescable(ctx) {
		return c.coalescer.submit(ctx, task)
	}
	res, err := call(ctx, c, c.tasks.SubmitTask, &pb.SubmitTaskRequest{Task: task})
	if err != nil {
		return SubmitResult{}, err
	}
	return singleResult(task, res)
}

// singleResult is a single submission's answer: a conflict, whether SubmitTask answered it with
// ALREADY_EXISTS or SubmitTasks flagged it, is the same error to the caller.
func singleResult(task *pb.TaskSpec, res *pb.SubmitTaskResponse) (SubmitResult, error) {
	if res.Conflict {
		return SubmitResult{}, conflictError(task.IdempotencyKey, res.Id)
	}
	return SubmitResult{ID: res.Id, Deduplicated: res.Deduplicated}, nil
}

// SubmitMany submits up to 1,000 tasks in one call: all are validated before any is written, so
// either every task is accepted or none. Results are in the order of specs; an entry whose
// idempotency key was first used for a request with other fields has Conflict set (nothing was
// written for it, and its ID is the first request's task).
func (c *Client) SubmitMany(ctx context.Context, specs []TaskSpec) ([]SubmitResult, error) {
	tasks := make([]*pb.TaskSpec, len(specs))
	for i := range specs {
		task, err := specs[i].toProto(i)
		if err != nil {
			return nil, err
		}
		tasks[i] = task
	}
	res, err := call(ctx, c, c.tasks.SubmitTasks, &pb.SubmitTasksRequest{Tasks: tasks})
	if err != nil {
		return nil, err
	}
	results := make([]SubmitResult, len(res.Results))
	for i, r := range res.Results {
		results[i] = SubmitResult{ID: r.Id, Deduplicated: r.Deduplicated, Conflict: r.Conflict}
	}
	return results, nil
}

// Get reads a task's current state, folded from its events (it sees the caller's own writes). An
// unknown id fails with codes.NotFound.
func (c *Client) Get(ctx context.Context, id string) (*Task, error) {
	res, err := call(ctx, c, c.tasks.GetTask, &pb.GetTaskRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return taskOf(res), nil
}

// Cancel cancels a task: at once when it waits, through its worker when it runs. It returns the
// task's state after the request.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*Task, error) {
	res, err := call(ctx, c, c.tasks.CancelTask, &pb.CancelTaskRequest{Id: id, Reason: reason})
	if err != nil {
		return nil, err
	}
	if res.Task == nil {
		return nil, fmt.Errorf("taskstream: the cancel of %s was answered without the task", id)
	}
	return taskOf(res.Task), nil
}

// Retry revives a dead-lettered task with fresh attempts and returns its state.
func (c *Client) Retry(ctx context.Context, id string) (*Task, error) {
	res, err := call(ctx, c, c.tasks.RetryTask, &pb.RetryTaskRequest{Id: id})
	if err != nil {
		return nil, err
	}
	if res.Task == nil {
		return nil, fmt.Errorf("taskstream: the retry of %s was answered without the task", id)
	}
	return taskOf(res.Task), nil
}

// History returns every event recorded for a task, in order.
func (c *Client) History(ctx context.Context, id string) ([]Event, error) {
	res, err := call(ctx, c, c.tasks.GetTaskHistory, &pb.GetTaskHistoryRequest{Id: id})
	if err != nil {
		return nil, err
	}
	events := make([]Event, len(res.Events))
	for i, e := range res.Events {
		events[i] = eventOf(e)
	}
	return events, nil
}

// List returns one page of tasks from the read model (the projection of the log, which may lag
// the log slightly), oldest first.
func (c *Client) List(ctx context.Context, opts ListOptions) (*TaskPage, error) {
	req := &pb.ListTasksRequest{State: opts.State, Type: opts.Type, PageSize: int32(opts.PageSize),
		PageToken: opts.PageToken}
	res, err := call(ctx, c, c.tasks.ListTasks, req)
	if err != nil {
		return nil, err
	}
	page := &TaskPage{Tasks: make([]*Task, len(res.Tasks)), NextPageToken: res.NextPageToken}
	for i, t := range res.Tasks {
		page.Tasks[i] = taskOf(t)
	}
	return page, nil
}

// call runs one unary call with the default timeout (when ctx has no deadline) and ctx's trace
// context as metadata, and turns a failure into an *Error.
func call[Req, Res any](ctx context.Context, c *Client,
	method func(context.Context, Req, ...grpc.CallOption) (Res, error), req Req) (Res, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if traceparent, tracestate := tracecontext.Headers(ctx); traceparent != "" {
		pairs := []string{"traceparent", traceparent}
		if tracestate != "" {
			pairs = append(pairs, "tracestate", tracestate)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
	}
	var trailer metadata.MD
	res, err := method(ctx, req, grpc.Trailer(&trailer))
	if err != nil {
		var zero Res
		return zero, callError(err, trailer)
	}
	return res, nil
}
