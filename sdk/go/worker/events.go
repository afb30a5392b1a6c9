package worker

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
)

// Event is something that happened to a Worker, passed to the WithListener function. It is one of
// RegisteredEvent, AssignedEvent, CompletedEvent, FailedEvent, AckedEvent or DisconnectedEvent.
type Event interface{ isEvent() }

// RegisteredEvent: a dispatcher accepted the worker (after every connect and reconnect).
type RegisteredEvent struct {
	WorkerID          string
	Address           string
	HeartbeatInterval time.Duration
}

// AssignedEvent: the dispatcher handed the worker an attempt (it may still be refused, see FailedEvent).
type AssignedEvent struct {
	TaskID  string
	Attempt int
	Type    string
}

// CompletedEvent: an attempt's result was reported.
type CompletedEvent struct {
	TaskID     string
	Attempt    int
	ResultJSON []byte
}

// FailedEvent: an attempt's failure was reported.
type FailedEvent struct {
	TaskID       string
	Attempt      int
	Message      string
	ErrorType    string
	NonRetryable bool
	Cancelled    bool
}

// AckedEvent: the dispatcher answered a result; Accepted false means it was rejected (Reason says
// why, e.g. STALE_ATTEMPT).
type AckedEvent struct {
	TaskID   string
	Attempt  int
	Accepted bool
	Reason   string
}

// DisconnectedEvent: the stream to a dispatcher ended (or could not be opened); the worker
// reconnects unless it is stopping.
type DisconnectedEvent struct {
	Address string
	Code    codes.Code
	Details string
}

func (RegisteredEvent) isEvent()   {}
func (AssignedEvent) isEvent()     {}
func (CompletedEvent) isEvent()    {}
func (FailedEvent) isEvent()       {}
func (AckedEvent) isEvent()        {}
func (DisconnectedEvent) isEvent() {}

// warnLevel passes on only warnings and errors: the default logger stays quiet about routine
// events (registrations, reconnects), as a library should.
type warnLevel struct{ slog.Handler }

func (h warnLevel) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && h.Handler.Enabled(ctx, level)
}

func (h warnLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnLevel{h.Handler.WithAttrs(attrs)}
}

func (h warnLevel) WithGroup(name string) slog.Handler { return warnLevel{h.Handler.WithGroup(name)} }
