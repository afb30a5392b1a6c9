package worker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Error is a handler failure with an explicit error type (recorded as the task's lastError.type)
// and retry decision. Any error works as a handler's failure; use Error to choose the type.
type Error struct {
	// Type names the kind of failure, e.g. "QuotaExceeded"; "Error" when empty.
	Type string
	// Message is recorded as the failure's message; the cause's text when empty.
	Message string
	// NonRetryable dead-letters the task at once instead of retrying it.
	NonRetryable bool
	// Cause is the underlying error, if any (reachable with errors.Is and errors.As).
	Cause error
}

// NewError returns a retryable failure of the given type.
func NewError(errorType, message string) *Error {
	return &Error{Type: errorType, Message: message}
}

func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.Cause != nil:
		return e.Cause.Error()
	default:
		return e.ErrorType()
	}
}

// ErrorType is the type recorded for this failure.
func (e *Error) ErrorType() string {
	if e.Type == "" {
		return "Error"
	}
	return e.Type
}

func (e *Error) Unwrap() error { return e.Cause }

// IsNonRetryable reports the NonRetryable field.
func (e *Error) IsNonRetryable() bool { return e.NonRetryable }

// NonRetryableError marks its wrapped error as not worth retrying: the task is dead-lettered at
// once. Create it with NonRetryable.
type NonRetryableError struct{ Err error }

// NonRetryable wraps err so the attempt's failure is reported as non-retryable (bad input, a
// permanent refusal). It returns nil for a nil err.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &NonRetryableError{Err: err}
}

func (e *NonRetryableError) Error() string        { return e.Err.Error() }
func (e *NonRetryableError) Unwrap() error        { return e.Err }
func (e *NonRetryableError) IsNonRetryable() bool { return true }

// CancelledError is the cause (context.Cause) of a handler's context when the dispatcher cancelled
// the attempt. A failure after a cancellation is reported with cancelled = true.
type CancelledError struct {
	// Reason is the dispatcher's reason, e.g. "HEARTBEAT_TIMEOUT" or a user's cancel reason.
	Reason string
}

func (e *CancelledError) Error() string {
	if e.Reason == "" {
		return "cancelled"
	}
	return "cancelled: " + e.Reason
}

// ErrorType is "CancelledError", as in every Taskstream SDK.
func (e *CancelledError) ErrorType() string { return "CancelledError" }

// Unwrap makes errors.Is(err, context.Canceled) hold, as it does for ctx.Err().
func (e *CancelledError) Unwrap() error { return context.Canceled }

// DeadlineExceededError is the cause (context.Cause) of a handler's context when the attempt's
// deadline passed. A handler stopped by it fails as a retryable START_TO_CLOSE_TIMEOUT whatever
// error it returns (the type the dispatcher records when its own deadline timer fires first), unless
// the dispatcher cancelled the attempt before.
type DeadlineExceededError struct {
	Deadline time.Time
}

func (e *DeadlineExceededError) Error() string {
	return fmt.Sprintf("deadline %s exceeded", e.Deadline.UTC().Format(time.RFC3339Nano))
}

// ErrorType is "DeadlineExceededError", as in every Taskstream SDK.
func (e *DeadlineExceededError) ErrorType() string { return "DeadlineExceededError" }

// Unwrap makes errors.Is(err, context.DeadlineExceeded) hold, as it does for ctx.Err().
func (e *DeadlineExceededError) Unwrap() error { return context.DeadlineExceeded }

// ErrWorkerStopping is the cause (context.Cause) of a handler's context when the worker stopped
// and the handler outlived the grace period.
var ErrWorkerStopping error = stoppingError{}

type stoppingError struct{}

func (stoppingError) Error() string     { return "the worker is stopping" }
func (stoppingError) ErrorType() string { return "WorkerStoppingError" }
func (stoppingError) Unwrap() error     { return context.Canceled }

// PanicError reports a handler that panicked; the attempt fails (retryably) instead of the process.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string     { return fmt.Sprintf("handler panicked: %v", e.Value) }
func (e *PanicError) ErrorType() string { return "PanicError" }

// failure is what the dispatcher records of a handler's error.
type failure struct {
	message      string
	errorType    string
	nonRetryable bool
}

// describe turns a handler's error into a report. A handler that gives up with ctx.Err() is
// described by the context's cause, so a cancellation reads "cancelled: <reason>" rather than
// "context canceled". The type is the first ErrorType() in the chain, else the Go type's name.
func describe(err error, cause error) failure {
	if cause != nil && (err == context.Canceled || err == context.DeadlineExceeded) {
		err = cause
	}
	return failure{message: err.Error(), errorType: errorType(err), nonRetryable: nonRetryable(err)}
}

func errorType(err error) string {
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		return typed.ErrorType()
	}
	// Wrappers (fmt.Errorf's, NonRetryable's) name nothing: the type of what they wrap does.
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		if _, isNonRetryable := err.(*NonRetryableError); !isNonRetryable && !isFmtWrapper(err) {
			break
		}
		err = next
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch name := t.Name(); {
	case t.PkgPath() == "errors" || t.PkgPath() == "fmt" || name == "":
		return "Error"
	default:
		return name
	}
}

func isFmtWrapper(err error) bool {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "fmt"
}

func nonRetryable(err error) bool {
	for err != nil {
		var marked interface{ IsNonRetryable() bool }
		if !errors.As(err, &marked) {
			return false
		}
		if marked.IsNonRetryable() {
			return true
		}
		// An *Error with NonRetryable false may wrap one that is: keep looking below it.
		found, _ := marked.(error)
		err = errors.Unwrap(found)
	}
	return false
}
