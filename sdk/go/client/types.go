package client

import (
	"encoding/json"
	"fmt"
	"time"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/jsonx"
)

// Task states.
const (
	StateQueued       = "QUEUED"
	StateAssigned     = "ASSIGNED"
	StateRunning      = "RUNNING"
	StateSucceeded    = "SUCCEEDED"
	StateDeadLettered = "DEAD_LETTERED"
	StateCancelled    = "CANCELLED"
)

// TaskSpec is a task to submit. Only Type is required; the server's defaults apply to what is
// left zero.
type TaskSpec struct {
	// Type routes the task to workers that handle it.
	Type string
	// Payload is marshalled with encoding/json (a json.RawMessage is sent as is); nil means null.
	Payload any
	// Priority 0-9, 9 most urgent; nil means the default (5). See Priority.
	Priority *int
	// Requires are labels a worker must carry to run the task.
	Requires map[string]string
	// IdempotencyKey: a second submission with the same key inside the dedup window answers the
	// first task's id (Deduplicated) and writes nothing; one with other fields is a conflict
	// (codes.AlreadyExists from Submit, Conflict in SubmitMany's results).
	IdempotencyKey string
	// RunAt: not dispatched before this time (zero: at once).
	RunAt time.Time
	// Delay: alternative to RunAt, not dispatched sooner than this after submission.
	Delay time.Duration
	// ConcurrencyKey: tasks sharing it run at most ConcurrencyLimit (default 1) at a time.
	ConcurrencyKey   string
	ConcurrencyLimit int
	Retry            *RetryPolicy
	Timeouts         *Timeouts
	Metadata         map[string]string
}

// Priority returns a pointer to p, for TaskSpec.Priority.
func Priority(p int) *int { return &p }

// RetryPolicy of a task; zero fields take the server's defaults.
type RetryPolicy struct {
	MaxAttempts       int
	InitialBackoff    time.Duration
	BackoffMultiplier float64
	MaxBackoff        time.Duration
}

// Timeouts of a task; zero fields take the server's defaults.
type Timeouts struct {
	// ScheduleToStart bounds the wait in the queue.
	ScheduleToStart time.Duration
	// StartToClose bounds one attempt; the handler's context carries it as its deadline.
	StartToClose time.Duration
	// Heartbeat: an attempt that shows no sign of life (start, progress) for this long is failed.
	Heartbeat time.Duration
}

// SubmitResult is the answer to a submission.
type SubmitResult struct {
	ID string
	// Deduplicated: the idempotency key matched an earlier task, whose id this is.
	Deduplicated bool
	// Conflict (SubmitMany only): the idempotency key was first used for a request with other
	// fields; nothing was written and ID is that first request's task. Submit returns an error with
	// codes.AlreadyExists instead.
	Conflict bool
}

// Task is a task's current state.
type Task struct {
	ID    string
	Type  string
	State string // QUEUED, ASSIGNED, RUNNING, SUCCEEDED, DEAD_LETTERED or CANCELLED
	// Priority 0-9.
	Priority    int
	Attempt     int
	MaxAttempts int
	Payload     json.RawMessage
	// Result is the handler's result once SUCCEEDED; nil before.
	Result          json.RawMessage
	LastError       *TaskError
	IdempotencyKey  string
	Requires        map[string]string
	Metadata        map[string]string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	AvailableAt     time.Time // when a QUEUED task may be dispatched; zero otherwise
	CancelRequested bool
	Version         int
	WorkerID        string
}

// Done reports whether the task reached a terminal state.
func (t *Task) Done() bool {
	return t.State == StateSucceeded || t.State == StateDeadLettered || t.State == StateCancelled
}

// DecodeResult unmarshals the result into v.
func (t *Task) DecodeResult(v any) error { return json.Unmarshal(t.Result, v) }

// DecodePayload unmarshals the payload into v.
func (t *Task) DecodePayload(v any) error { return json.Unmarshal(t.Payload, v) }

// TaskError is the last failure of a task.
type TaskError struct {
	Message      string
	Type         string
	NonRetryable bool
}

// Event is one recorded event of a task's history.
type Event struct {
	Version int
	Type    string // e.g. TaskSubmitted, TaskStarted, TaskAttemptFailed, TaskSucceeded
	At      time.Time
	Data    json.RawMessage
}

// ListOptions select a page of tasks; all are optional.
type ListOptions struct {
	// State: only tasks in this state.
	State string
	// Type: only tasks of this type.
	Type string
	// PageSize: at most this many tasks (1-500; 0 means 100).
	PageSize int
	// PageToken: the NextPageToken of the previous page; "" for the first.
	PageToken string
}

// TaskPage is one page of a listing, oldest first.
type TaskPage struct {
	Tasks []*Task
	// NextPageToken fetches the next page; "" when this was the last.
	NextPageToken string
}

// toProto is the wire form of a spec; index names the spec in errors of a batch (-1 for one).
func (s *TaskSpec) toProto(index int) (*pb.TaskSpec, error) {
	field := "task"
	if index >= 0 {
		field = fmt.Sprintf("tasks[%d]", index)
	}
	if s == nil {
		return nil, fmt.Errorf("taskstream: %s is nil", field)
	}
	spec := &pb.TaskSpec{
		Type:           s.Type,
		Requires:       s.Requires,
		IdempotencyKey: s.IdempotencyKey,
		ConcurrencyKey: s.ConcurrencyKey,
		Metadata:       s.Metadata,
	}
	if s.Payload != nil {
		payload, err := jsonx.Marshal(s.Payload)
		if err != nil {
			return nil, fmt.Errorf("taskstream: %s.payload is not JSON-serializable: %w", field, err)
		}
		spec.PayloadJson = string(payload)
	}
	if s.Priority != nil {
		spec.Priority = ptr(int32(*s.Priority))
	}
	if !s.RunAt.IsZero() {
		spec.RunAt = s.RunAt.UTC().Format(time.RFC3339Nano)
	}
	if s.Delay != 0 {
		spec.DelayMs = ptr(s.Delay.Milliseconds())
	}
	if s.ConcurrencyLimit != 0 {
		spec.ConcurrencyLimit = ptr(int32(s.ConcurrencyLimit))
	}
	if r := s.Retry; r != nil {
		spec.Retry = &pb.RetryPolicy{}
		if r.MaxAttempts != 0 {
			spec.Retry.MaxAttempts = ptr(int32(r.MaxAttempts))
		}
		if r.InitialBackoff != 0 {
			spec.Retry.InitialBackoffMs = ptr(r.InitialBackoff.Milliseconds())
		}
		if r.BackoffMultiplier != 0 {
			spec.Retry.BackoffMultiplier = ptr(r.BackoffMultiplier)
		}
		if r.MaxBackoff != 0 {
			spec.Retry.MaxBackoffMs = ptr(r.MaxBackoff.Milliseconds())
		}
	}
	if t := s.Timeouts; t != nil {
		spec.Timeouts = &pb.Timeouts{}
		if t.ScheduleToStart != 0 {
			spec.Timeouts.ScheduleToStartMs = ptr(t.ScheduleToStart.Milliseconds())
		}
		if t.StartToClose != 0 {
			spec.Timeouts.StartToCloseMs = ptr(t.StartToClose.Milliseconds())
		}
		if t.Heartbeat != 0 {
			spec.Timeouts.HeartbeatMs = ptr(t.Heartbeat.Milliseconds())
		}
	}
	return spec, nil
}

func ptr[T any](v T) *T { return &v }

// taskOf is a task as the client returns it.
func taskOf(t *pb.Task) *Task {
	task := &Task{
		ID:              t.Id,
		Type:            t.Type,
		State:           t.State,
		Priority:        int(t.Priority),
		Attempt:         int(t.Attempt),
		MaxAttempts:     int(t.MaxAttempts),
		Payload:         jsonOf(t.PayloadJson, "null"),
		Result:          jsonOf(t.ResultJson, ""),
		IdempotencyKey:  t.IdempotencyKey,
		Requires:        t.Requires,
		Metadata:        t.Metadata,
		CreatedAt:       timeOf(t.CreatedAt),
		UpdatedAt:       timeOf(t.UpdatedAt),
		AvailableAt:     timeOf(t.AvailableAt),
		CancelRequested: t.CancelRequested,
		Version:         int(t.Version),
		WorkerID:        t.WorkerId,
	}
	if e := t.LastError; e != nil {
		task.LastError = &TaskError{Message: e.Message, Type: e.Type, NonRetryable: e.NonRetryable}
	}
	return task
}

func eventOf(e *pb.TaskEvent) Event {
	return Event{Version: int(e.Version), Type: e.Type, At: timeOf(e.At), Data: jsonOf(e.DataJson, "null")}
}

// jsonOf is a JSON field's text; empty means empty (nil when empty is ""). Text that is not JSON
// (the server stores only JSON, but a read must not fail over a display detail) becomes a string.
func jsonOf(text, empty string) json.RawMessage {
	if text == "" {
		if empty == "" {
			return nil
		}
		return json.RawMessage(empty)
	}
	if !json.Valid([]byte(text)) {
		quoted, _ := json.Marshal(text)
		return quoted
	}
	return json.RawMessage(text)
}

// timeOf parses the server's RFC 3339 times; "" (or anything unparsable) is the zero time.
func timeOf(text string) time.Time {
	if text == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}
	}
	return t
}
