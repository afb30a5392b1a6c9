package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"

	"github.com/taskstream/taskstream/sdk/go/worker"
)

// effects is the JSONL log of SPEC.md: one line when a handler starts and one when it ends. Each
// line is one write on a file opened in append mode (no buffering here), so the lines of concurrent
// handlers never interleave and the suite sees each line as soon as it is written.
type effects struct {
	mu   sync.Mutex
	file *os.File // nil: no effects file configured
	lang string
}

func openEffects(path, lang string) (*effects, error) {
	e := &effects{lang: lang}
	if path == "" {
		return e, nil
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	e.file = file
	return e, nil
}

// startEffect is the start line, its fields in SPEC.md's order.
type startEffect struct {
	Event          string          `json:"event"`
	Lang           string          `json:"lang"`
	TaskID         string          `json:"taskId"`
	Attempt        int             `json:"attempt"`
	Type           string          `json:"type"`
	IdempotencyKey string          `json:"idempotencyKey"`
	LastDetails    json.RawMessage `json:"lastDetails"`
	DeadlineMs     *int64          `json:"deadlineMs"`
	Traceparent    *string         `json:"traceparent"`
	WorkerID       string          `json:"workerId"`
}

type endEffect struct {
	Event   string `json:"event"`
	Lang    string `json:"lang"`
	TaskID  string `json:"taskId"`
	Attempt int    `json:"attempt"`
	Outcome string `json:"outcome"`
}

func (e *effects) start(behaviour string, task *worker.Task) error {
	line := startEffect{
		Event: "start", Lang: e.lang, TaskID: task.ID, Attempt: task.Attempt, Type: behaviour,
		IdempotencyKey: task.IdempotencyKey, LastDetails: task.LastDetails, WorkerID: task.WorkerID,
	}
	if line.LastDetails == nil {
		line.LastDetails = json.RawMessage("null")
	}
	if !task.Deadline.IsZero() {
		ms := task.Deadline.UnixMilli()
		line.DeadlineMs = &ms
	}
	if task.Traceparent != "" {
		line.Traceparent = &task.Traceparent
	}
	return e.write(line)
}

func (e *effects) end(task *worker.Task, outcome string) error {
	return e.write(endEffect{Event: "end", Lang: e.lang, TaskID: task.ID, Attempt: task.Attempt, Outcome: outcome})
}

func (e *effects) write(line any) error {
	if e.file == nil {
		return nil
	}
	encoded, err := json.Marshal(line)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.file.Write(append(encoded, '\n'))
	return err
}

func (e *effects) close() error {
	if e.file == nil {
		return nil
	}
	return e.file.Close()
}

// outcomeOf names how a handler ended: its error, if it gave up because its context ended, says
// why (SPEC.md's cancelled, deadline, stopping); any other error is failed.
func outcomeOf(ctx context.Context, err error) string {
	if err == nil {
		return "completed"
	}
	var cancelled *worker.CancelledError
	var deadline *worker.DeadlineExceededError
	switch cause := context.Cause(ctx); {
	case !errors.Is(err, cause) || cause == nil:
		return "failed"
	case errors.As(cause, &cancelled):
		return "cancelled"
	case errors.As(cause, &deadline):
		return "deadline"
	case errors.Is(cause, worker.ErrWorkerStopping):
		return "stopping"
	}
	return "failed"
}
