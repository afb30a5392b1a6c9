package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Handler runs one attempt of a task type. It returns the result (any value encoding/json can
// marshal; nil becomes null) or an error:
//
//   - a returned error fails the attempt, and the dispatcher retries it per the task's policy;
//   - an error wrapped with NonRetryable (or an *Error with NonRetryable set) dead-letters the task;
//   - an error returned after the dispatcher cancelled the attempt is reported as cancelled;
//   - an error returned once the attempt's deadline has passed (ctx ended with a
//     *DeadlineExceededError) is reported as a retryable START_TO_CLOSE_TIMEOUT, whatever it is.
//
// ctx is cancelled when the attempt is cancelled, at its deadline (ctx.Deadline reports it) and
// when the worker stops after its grace period; context.Cause(ctx) says which (*CancelledError,
// *DeadlineExceededError, ErrWorkerStopping).
type Handler func(ctx context.Context, task *Task) (any, error)

// Typed adapts a handler that takes its payload decoded into P. A payload that does not decode
// fails the attempt as non-retryable (type INVALID_PAYLOAD) without calling fn.
func Typed[P, R any](fn func(ctx context.Context, task *Task, payload P) (R, error)) Handler {
	return func(ctx context.Context, task *Task) (any, error) {
		var payload P
		if err := task.DecodePayload(&payload); err != nil {
			return nil, &Error{
				Type:         "INVALID_PAYLOAD",
				Message:      fmt.Sprintf("payload does not decode into %T: %v", payload, err),
				NonRetryable: true,
				Cause:        err,
			}
		}
		return fn(ctx, task, payload)
	}
}

// Task is one attempt of a task, as its handler sees it.
type Task struct {
	// ID of the task.
	ID string
	// Type of the task (the name the handler was registered under).
	Type string
	// Attempt is 1 for the first attempt; it is also the fencing token the dispatcher checks on
	// every report, so a late report of an attempt that was given up on is rejected.
	Attempt int
	// MaxAttempts the task's retry policy allows.
	MaxAttempts int
	// IdempotencyKey the task was submitted with ("" when none): use it to make side effects
	// idempotent, as an attempt may run again after a worker failure.
	IdempotencyKey string
	// Priority 0-9, 9 most urgent.
	Priority int
	// Metadata the task was submitted with.
	Metadata map[string]string
	// Deadline by which the attempt must finish; the zero time when unbounded. The handler's ctx
	// ends at this time.
	Deadline time.Time
	// Payload is the task's JSON payload ("null" when it was submitted without one).
	Payload json.RawMessage
	// LastDetails are the details the previous attempt passed to Heartbeat; nil when none.
	LastDetails json.RawMessage
	// Traceparent is the W3C traceparent the handler runs under (its span's, or the submission's
	// when no tracer provider records spans); "" when the task carries no trace.
	Traceparent string
	// WorkerID is the id the dispatcher gave this worker.
	WorkerID string

	progress *progress
}

// DecodePayload unmarshals the payload into v.
func (t *Task) DecodePayload(v any) error {
	return json.Unmarshal(t.Payload, v)
}

// DecodeLastDetails unmarshals the previous attempt's heartbeat details into v; false when there
// are none (v is then untouched).
func (t *Task) DecodeLastDetails(v any) (bool, error) {
	if len(t.LastDetails) == 0 {
		return false, nil
	}
	return true, json.Unmarshal(t.LastDetails, v)
}

// Heartbeat records progress details (any value encoding/json can marshal; nil is null): a sign of
// life for the task's heartbeat timeout, and the next attempt's LastDetails. The first details go
// out at once, then at most one message per window of 80% of the task's heartbeat timeout (30 s
// when the task has none); details recorded meanwhile replace each other and the latest is sent
// when the window ends. When the attempt fails, details still held back are sent before the failure
// (the next attempt starts from them); when it succeeds they are dropped. After the attempt has
// ended, Heartbeat does nothing. It fails when the details cannot be marshalled or exceed the
// dispatcher's size limit; nothing is sent then.
func (t *Task) Heartbeat(details any) error {
	if t.progress == nil {
		return nil
	}
	return t.progress.record(details)
}

type taskKey struct{}

// TaskFrom returns the task whose handler ctx belongs to, for code deep below the handler that
// needs to heartbeat; nil outside a handler.
func TaskFrom(ctx context.Context) *Task {
	task, _ := ctx.Value(taskKey{}).(*Task)
	return task
}

// Heartbeat records progress details for the task whose handler ctx belongs to (see
// Task.Heartbeat); it does nothing outside a handler.
func Heartbeat(ctx context.Context, details any) error {
	if task := TaskFrom(ctx); task != nil {
		return task.Heartbeat(details)
	}
	return nil
}
