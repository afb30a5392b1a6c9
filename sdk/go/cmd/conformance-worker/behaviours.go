package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/taskstream/taskstream/sdk/go/worker"
)

// input is a behaviour's payload: a JSON object whose missing fields take their defaults.
type input map[string]json.RawMessage

// number reads a numeric field, or fallback when it is absent or not a number.
func (in input) number(field string, fallback int) int {
	var n float64
	if raw, ok := in[field]; ok && json.Unmarshal(raw, &n) == nil {
		return int(n)
	}
	return fallback
}

// behaviour is one task type of tests/conformance/SPEC.md, after the prefix.
type behaviour func(ctx context.Context, task *worker.Task, in input, lang string) (any, error)

// behaviours are the handlers SPEC.md lists, keyed by behaviour name.
var behaviours = map[string]behaviour{
	"echo": func(_ context.Context, task *worker.Task, _ input, lang string) (any, error) {
		return map[string]any{"echo": task.Payload, "attempt": task.Attempt, "lang": lang}, nil
	},

	"fail": func(_ context.Context, task *worker.Task, in input, _ string) (any, error) {
		if task.Attempt <= in.number("times", 1) {
			return nil, worker.NewError("ConformanceError", fmt.Sprintf("attempt %d fails", task.Attempt))
		}
		return map[string]any{"attempt": task.Attempt}, nil
	},

	"fatal": func(context.Context, *worker.Task, input, string) (any, error) {
		return nil, &worker.Error{Type: "ConformanceFatal", Message: "fatal", NonRetryable: true}
	},

	"details": func(ctx context.Context, task *worker.Task, _ input, _ string) (any, error) {
		if task.Attempt >= 2 {
			last := task.LastDetails
			if last == nil {
				last = json.RawMessage("null")
			}
			return map[string]any{"lastDetails": last}, nil
		}
		if err := task.Heartbeat(map[string]int{"step": 1}); err != nil {
			return nil, err
		}
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return nil, err
		}
		return nil, worker.NewError("ConformanceError", fmt.Sprintf("attempt %d fails", task.Attempt))
	},

	"hang": func(ctx context.Context, task *worker.Task, in input, _ string) (any, error) {
		if task.Attempt <= in.number("hangAttempts", 1) {
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
		return map[string]any{"attempt": task.Attempt}, nil
	},

	"wait-cancel": func(ctx context.Context, _ *worker.Task, _ input, _ string) (any, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	},

	"deadline": func(ctx context.Context, _ *worker.Task, _ input, _ string) (any, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	},

	"slow": func(ctx context.Context, _ *worker.Task, in input, _ string) (any, error) {
		ms := in.number("ms", 1000)
		if err := sleep(ctx, time.Duration(ms)*time.Millisecond); err != nil {
			return nil, err
		}
		return map[string]any{"slept": ms}, nil
	},

	"large": func(_ context.Context, _ *worker.Task, in input, _ string) (any, error) {
		return strings.Repeat("x", max(in.number("bytes", 0), 0)), nil
	},

	"heartbeat": func(ctx context.Context, task *worker.Task, in input, _ string) (any, error) {
		beats, every := in.number("beats", 5), in.number("everyMs", 50)
		for beat := 1; beat <= beats; beat++ {
			if beat > 1 {
				if err := sleep(ctx, time.Duration(every)*time.Millisecond); err != nil {
					return nil, err
				}
			}
			if err := task.Heartbeat(map[string]int{"beat": beat}); err != nil {
				return nil, err
			}
		}
		return map[string]any{"beats": beats}, nil
	},
}

// sleep waits for d, or returns the context's cause (cancellation, deadline, shutdown) at once.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
