package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Error is a call the server refused or that failed on the way: its gRPC code (codes.NotFound for
// an unknown task, codes.InvalidArgument for bad input, codes.AlreadyExists for an idempotency key
// first used for another request, codes.ResourceExhausted under backpressure), the server's
// message, and what the server added. status.Code(err) and status.FromError work on it too.
type Error struct {
	Code    codes.Code
	Message string
	// FieldErrors name each invalid field of a refused submission (codes.InvalidArgument).
	FieldErrors []FieldError
	// RetryAfter is the server's hint when it sheds load (codes.ResourceExhausted); 0 when none.
	RetryAfter time.Duration

	status *status.Status
}

// FieldError is one invalid field and why, e.g. {"task.priority", "must be 0 to 9"}.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("taskstream: %s: %s", StatusName(e.Code), e.Message)
}

// GRPCStatus lets status.FromError and status.Code see the call's status.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Code returns the gRPC code of an error from this package (codes.OK for nil, codes.Unknown for an
// error that carries no status).
func Code(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}

// StatusName is a code's canonical name, e.g. NOT_FOUND, as the other SDKs and the docs spell it.
func StatusName(code codes.Code) string {
	if name, ok := statusNames[code]; ok {
		return name
	}
	return "CODE_" + strconv.Itoa(int(code))
}

var statusNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL",
	codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// conflictError is a single submission's error when its idempotency key was first used for a
// request with other fields (taskID is that request's task): ALREADY_EXISTS, with the text
// SubmitTask answers, for a submission that SubmitTasks answered with conflict = true.
func conflictError(key, taskID string) error {
	message := fmt.Sprintf("idempotencyKey %q was used for a different request (task %s); use a new key for a new request", key, taskID)
	return &Error{Code: codes.AlreadyExists, Message: message, status: status.New(codes.AlreadyExists, message)}
}

// callError wraps a failed call's error with what its trailers say.
func callError(err error, trailer metadata.MD) error {
	st := status.Convert(err)
	e := &Error{Code: st.Code(), Message: st.Message(), status: st}
	if fields := trailer.Get("field-errors"); len(fields) > 0 {
		_ = json.Unmarshal([]byte(fields[0]), &e.FieldErrors)
	}
	if retry := trailer.Get("retry-after-ms"); len(retry) > 0 {
		if ms, perr := strconv.ParseInt(strings.TrimSpace(retry[0]), 10, 64); perr == nil && ms > 0 {
			e.RetryAfter = time.Duration(ms) * time.Millisecond
		}
	}
	return e
}
