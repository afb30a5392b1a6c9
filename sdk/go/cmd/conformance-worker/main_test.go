package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

// startConformance runs the behaviours (prefix "cf") against a fake dispatcher, with effects
// written to a temporary file whose lines the returned function reads.
func startConformance(t *testing.T) (*fakedispatcher.Stream, func() []map[string]any) {
	t.Helper()
	d := fakedispatcher.Start(t, fakedispatcher.Options{})
	path := filepath.Join(t.TempDir(), "effects.jsonl")
	effects, err := openEffects(path, "go")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = effects.close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := worker.New(worker.WithAddresses(d.Address), worker.WithLogger(quiet),
		worker.WithStopTimeouts(50*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range behaviours {
		if err := w.Register("cf."+name, handler(name, body, effects, "go", quiet)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = w.Run(ctx) }()
	t.Cleanup(cancel)
	<-w.Ready()
	read := func() []map[string]any {
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		var lines []map[string]any
		scanner := bufio.NewScanner(file)
		for scanner.Scan() {
			var line map[string]any
			if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
				t.Fatalf("effects line %q: %v", scanner.Text(), err)
			}
			lines = append(lines, line)
		}
		return lines
	}
	return d.Stream(t, 0), read
}

func TestEchoWritesStartAndEndEffectsInTheSpecsShape(t *testing.T) {
	s, effects := startConformance(t)
	due := time.Now().Add(time.Minute).UnixMilli()
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "cf.echo", PayloadJson: `{"a":[1,2]}`, IdempotencyKey: "k",
		DeadlineUnixMs: due, LastDetailsJson: `{"step":1}`,
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	c := s.Next(t, "completed").GetCompleted()
	if c.ResultJson != `{"attempt":1,"echo":{"a":[1,2]},"lang":"go"}` {
		t.Errorf("result = %s", c.ResultJson)
	}
	lines := effects()
	if len(lines) != 2 {
		t.Fatalf("effects = %v", lines)
	}
	start, _ := json.Marshal(lines[0])
	want := `{"attempt":1,"deadlineMs":` + jsonNumber(due) + `,"event":"start","idempotencyKey":"k","lang":"go",` +
		`"lastDetails":{"step":1},"taskId":"t1","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",` +
		`"type":"echo","workerId":"w-1"}`
	if string(start) != want {
		t.Errorf("start = %s\nwant    %s", start, want)
	}
	end, _ := json.Marshal(lines[1])
	if string(end) != `{"attempt":1,"event":"end","lang":"go","outcome":"completed","taskId":"t1"}` {
		t.Errorf("end = %s", end)
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestAbsentValuesAreNullInTheStartEffect(t *testing.T) {
	s, effects := startConformance(t)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "cf.echo"})
	s.Next(t, "completed")
	start := effects()[0]
	for _, field := range []string{"lastDetails", "deadlineMs", "traceparent"} {
		if value, ok := start[field]; !ok || value != nil {
			t.Errorf("%s = %v, want null", field, value)
		}
	}
}

func TestBehavioursFailAsTheSpecSays(t *testing.T) {
	s, effects := startConformance(t)
	s.Assign(&pb.Assignment{TaskId: "f", Type: "cf.fail", PayloadJson: `{"times":2}`, Attempt: 2})
	want := &pb.AttemptFailed{TaskId: "f", Attempt: 2, Message: "attempt 2 fails", ErrorType: "ConformanceError"}
	if got := s.Next(t, "failed").GetFailed(); !proto.Equal(got, want) {
		t.Errorf("fail = %v", got)
	}
	s.Assign(&pb.Assignment{TaskId: "f", Type: "cf.fail", PayloadJson: `{"times":2}`, Attempt: 3})
	if got := s.Next(t, "completed").GetCompleted().ResultJson; got != `{"attempt":3}` {
		t.Errorf("third attempt = %s", got)
	}
	s.Assign(&pb.Assignment{TaskId: "x", Type: "cf.fatal"})
	want = &pb.AttemptFailed{TaskId: "x", Attempt: 1, Message: "fatal", ErrorType: "ConformanceFatal", NonRetryable: true}
	if got := s.Next(t, "failed").GetFailed(); !proto.Equal(got, want) {
		t.Errorf("fatal = %v", got)
	}
	s.Assign(&pb.Assignment{TaskId: "d", Type: "cf.details", Attempt: 2, LastDetailsJson: `{"step":1}`})
	if got := s.Next(t, "completed").GetCompleted().ResultJson; got != `{"lastDetails":{"step":1}}` {
		t.Errorf("details = %s", got)
	}
	s.Assign(&pb.Assignment{TaskId: "l", Type: "cf.large", PayloadJson: `{"bytes":5}`})
	if got := s.Next(t, "completed").GetCompleted().ResultJson; got != `"xxxxx"` {
		t.Errorf("large = %s", got)
	}
	outcomes := map[string]string{}
	for _, line := range effects() {
		if line["event"] == "end" {
			outcomes[line["taskId"].(string)] = line["outcome"].(string)
		}
	}
	if outcomes["x"] != "failed" || outcomes["l"] != "completed" {
		t.Errorf("outcomes = %v", outcomes)
	}
}

func TestEndOutcomesNameWhyTheContextEnded(t *testing.T) {
	s, effects := startConformance(t)
	s.Assign(&pb.Assignment{TaskId: "c", Type: "cf.wait-cancel"})
	s.Next(t, "started")
	s.Cancel("c", 1, "user asked")
	if got := s.Next(t, "failed").GetFailed(); !got.Cancelled || got.ErrorType != "CancelledError" {
		t.Errorf("cancelled = %v", got)
	}
	s.Assign(&pb.Assignment{TaskId: "d", Type: "cf.deadline", DeadlineUnixMs: time.Now().Add(50 * time.Millisecond).UnixMilli()})
	// SPEC.md's deadline scenario: the end effect says deadline, the report START_TO_CLOSE_TIMEOUT.
	if got := s.Next(t, "failed").GetFailed(); got.Cancelled || got.NonRetryable ||
		got.ErrorType != "START_TO_CLOSE_TIMEOUT" {
		t.Errorf("deadline = %v", got)
	}
	s.Assign(&pb.Assignment{TaskId: "h", Type: "cf.hang", PayloadJson: `{"hangAttempts":1}`, Attempt: 2})
	if got := s.Next(t, "completed").GetCompleted().ResultJson; got != `{"attempt":2}` {
		t.Errorf("hang on attempt 2 = %s", got)
	}
	s.Assign(&pb.Assignment{TaskId: "s", Type: "cf.slow", PayloadJson: `{"ms":10}`})
	if got := s.Next(t, "completed").GetCompleted().ResultJson; got != `{"slept":10}` {
		t.Errorf("slow = %s", got)
	}
	outcomes := map[string]string{}
	for _, line := range effects() {
		if line["event"] == "end" {
			outcomes[line["taskId"].(string)] = line["outcome"].(string)
		}
	}
	want := map[string]string{"c": "cancelled", "d": "deadline", "h": "completed", "s": "completed"}
	for id, outcome := range want {
		if outcomes[id] != outcome {
			t.Errorf("%s ended %q, want %q", id, outcomes[id], outcome)
		}
	}
}

func TestHeartbeatBehaviourSendsProgressAndReturnsItsBeats(t *testing.T) {
	s, _ := startConformance(t)
	s.Assign(&pb.Assignment{TaskId: "b", Type: "cf.heartbeat", PayloadJson: `{"beats":3,"everyMs":5}`})
	if got := s.Next(t, "progress").GetProgress().DetailsJson; got != `{"beat":1}` {
		t.Errorf("first progress = %s", got)
	}
	if got := s.Next(t, "completed").GetCompleted().ResultJson; got != `{"beats":3}` {
		t.Errorf("result = %s", got)
	}
}

func TestOutcomeOfAStoppingWorker(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(worker.ErrWorkerStopping)
	if got := outcomeOf(ctx, context.Cause(ctx)); got != "stopping" {
		t.Errorf("outcome = %s", got)
	}
	if got := outcomeOf(ctx, io.EOF); got != "failed" {
		t.Errorf("an unrelated error after the stop = %s", got)
	}
	if got := outcomeOf(context.Background(), nil); got != "completed" {
		t.Errorf("no error = %s", got)
	}
}

func TestSettingsComeFromTheEnvironmentWithClearErrors(t *testing.T) {
	t.Setenv("TASKSTREAM_ADDRESSES", " 127.0.0.1:1 , 127.0.0.1:2 ")
	t.Setenv("CONFORMANCE_PREFIX", "cf")
	t.Setenv("CONFORMANCE_LABELS", `{"lang":"go"}`)
	t.Setenv("CONFORMANCE_SLOTS", "")
	t.Setenv("CONFORMANCE_GRACE_MS", "250")
	t.Setenv("CONFORMANCE_LANG", "")
	s, err := readSettings()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.addresses) != 2 || s.addresses[1] != "127.0.0.1:2" || s.labels["lang"] != "go" || s.slots != 4 ||
		s.grace != 250*time.Millisecond || s.lang != "go" || s.name != "conformance-go" {
		t.Errorf("settings = %+v", s)
	}
	bad := map[string]string{
		"TASKSTREAM_ADDRESSES": "",
		"CONFORMANCE_PREFIX":   "",
		"CONFORMANCE_LABELS":   `{"lang":1}`,
		"CONFORMANCE_SLOTS":    "zero",
	}
	for name, value := range bad {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			if _, err := readSettings(); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v", name, value, err)
			}
		})
	}
}
