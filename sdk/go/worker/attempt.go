package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/jsonx"
	"github.com/taskstream/taskstream/sdk/go/internal/tracecontext"
	"github.com/taskstream/taskstream/sdk/go/internal/version"
)

// errAttemptOver cancels a handler's context once its outcome is known, to release its timers.
var errAttemptOver = errors.New("taskstream: the attempt is over")

// outcome is how an attempt ended: a result to report as completed, or a failure.
type outcome struct {
	resultJSON []byte
	failed     *failure
	// cancelled: the failure follows the dispatcher's cancel request.
	cancelled bool
}

// startToCloseTimeout is the error type of a handler stopped by its attempt's deadline: the type the
// dispatcher records when its own deadline timer fires first.
const startToCloseTimeout = "START_TO_CLOSE_TIMEOUT"

// attempt is one attempt running in this worker: it owns the handler's context (cancelled on the
// dispatcher's cancel, at the deadline and at shutdown) and turns whatever the handler does into an
// outcome. Every way a handler can end, panics included, becomes a report.
type attempt struct {
	key        attemptKey
	assignment *pb.Assignment
	handler    Handler
	task       *Task
	ctx        context.Context
	cancel     context.CancelCauseFunc

	mu              sync.Mutex
	cancelRequested bool
}

// newAttempt prepares an attempt's context and task from its assignment. base carries the values
// of Run's context without its cancellation; the trace context is the submission's.
func newAttempt(base context.Context, a *pb.Assignment, handler Handler, workerID string, p *progress) *attempt {
	ctx, cancel := context.WithCancelCause(base)
	task := &Task{
		ID:             a.TaskId,
		Type:           a.Type,
		Attempt:        int(a.Attempt),
		MaxAttempts:    int(a.MaxAttempts),
		IdempotencyKey: a.IdempotencyKey,
		Priority:       int(a.Priority),
		Metadata:       a.Metadata,
		Payload:        payloadOf(a.PayloadJson),
		LastDetails:    lastDetailsOf(a.LastDetailsJson),
		WorkerID:       workerID,
		progress:       p,
	}
	if task.Metadata == nil {
		task.Metadata = map[string]string{}
	}
	if a.DeadlineUnixMs > 0 {
		task.Deadline = time.UnixMilli(a.DeadlineUnixMs)
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, task.Deadline, &DeadlineExceededError{Deadline: task.Deadline})
		cancel = chainCancel(cancel, stop)
	}
	ctx = tracecontext.Extract(ctx, a.Traceparent, a.Tracestate)
	return &attempt{
		key:        attemptKey{a.TaskId, a.Attempt},
		assignment: a,
		handler:    handler,
		task:       task,
		ctx:        ctx,
		cancel:     cancel,
	}
}

func chainCancel(cancel context.CancelCauseFunc, stop context.CancelFunc) context.CancelCauseFunc {
	return func(cause error) {
		cancel(cause)
		stop()
	}
}

// requestCancel cancels the handler's context because the dispatcher cancelled the attempt; a
// failure after this is reported as cancelled.
func (a *attempt) requestCancel(reason string) {
	a.mu.Lock()
	a.cancelRequested = true
	a.mu.Unlock()
	a.cancel(&CancelledError{Reason: reason})
}

func (a *attempt) wasCancelled() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cancelRequested
}

// run calls the handler inside a span "task <type>" and returns the outcome.
func (a *attempt) run(tracer trace.Tracer) outcome {
	defer a.cancel(errAttemptOver)
	if !json.Valid(a.task.Payload) {
		var v any
		err := json.Unmarshal(a.task.Payload, &v)
		// The same bytes would fail on every attempt: not retryable.
		return outcome{failed: &failure{
			message:      fmt.Sprintf("payload is not valid JSON: %v", err),
			errorType:    "INVALID_PAYLOAD",
			nonRetryable: true,
		}, cancelled: a.wasCancelled()}
	}
	ctx, span := tracer.Start(a.ctx, "task "+a.task.Type,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("taskstream.task.id", a.task.ID),
			attribute.String("taskstream.task.type", a.task.Type),
			attribute.Int("taskstream.task.attempt", a.task.Attempt),
		))
	defer span.End()
	a.task.Traceparent, _ = tracecontext.Headers(ctx)
	ctx = context.WithValue(ctx, taskKey{}, a.task)

	result, err := a.call(ctx)
	if err != nil {
		out := a.failed(err, context.Cause(ctx))
		span.RecordError(err)
		span.SetStatus(codes.Error, out.failed.message)
		return out
	}
	encoded, err := jsonx.Marshal(result)
	if err != nil {
		span.SetStatus(codes.Error, "result is not JSON-serializable")
		return outcome{failed: &failure{
			message:      fmt.Sprintf("result is not JSON-serializable: %v", err),
			errorType:    "INVALID_RESULT",
			nonRetryable: true,
		}, cancelled: a.wasCancelled()}
	}
	return outcome{resultJSON: encoded}
}

// failed is the outcome of a handler that returned err (or panicked) while its context's cause was
// cause. After the dispatcher's cancel request it is cancelled. Otherwise a handler stopped by its
// deadline fails as a retryable START_TO_CLOSE_TIMEOUT whatever it returned, so the task's outcome
// is the same whether this report or the dispatcher's own deadline timer reaches the log first.
func (a *attempt) failed(err, cause error) outcome {
	f := describe(err, cause)
	if a.wasCancelled() {
		return outcome{failed: &f, cancelled: true}
	}
	var deadline *DeadlineExceededError
	if errors.As(cause, &deadline) {
		f.errorType = startToCloseTimeout
		f.nonRetryable = false
	}
	return outcome{failed: &f}
}

// call runs the handler, turning a panic into a failure instead of a crashed worker.
func (a *attempt) call(ctx context.Context) (result any, err error) {
	defer func() {
		if value := recover(); value != nil {
			result, err = nil, &PanicError{Value: value, Stack: debug.Stack()}
		}
	}()
	return a.handler(ctx, a.task)
}

// payloadOf is the payload's JSON; the proto's empty string means null.
func payloadOf(text string) json.RawMessage {
	if text == "" {
		return json.RawMessage("null")
	}
	return json.RawMessage(text)
}

// lastDetailsOf is the previous attempt's details; text that is not JSON (never stored by the
// dispatcher, but a read must not fail over it) is handed over as a JSON string.
func lastDetailsOf(text string) json.RawMessage {
	if text == "" {
		return nil
	}
	if json.Valid([]byte(text)) {
		return json.RawMessage(text)
	}
	quoted, _ := json.Marshal(text)
	return quoted
}

// tracerFor is the tracer of the handler spans.
func tracerFor(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer("github.com/taskstream/taskstream/sdk/go/worker", trace.WithInstrumentationVersion(version.Version))
}
