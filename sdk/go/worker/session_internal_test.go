package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

func started(id string) *pb.WorkerMessage {
	return &pb.WorkerMessage{Msg: &pb.WorkerMessage_Started{Started: &pb.AttemptStarted{TaskId: id, Attempt: 1}}}
}

func completed(id string) *pb.WorkerMessage {
	return &pb.WorkerMessage{Msg: &pb.WorkerMessage_Completed{Completed: &pb.AttemptCompleted{TaskId: id, Attempt: 1}}}
}

func failedMsg(id string) *pb.WorkerMessage {
	return &pb.WorkerMessage{Msg: &pb.WorkerMessage_Failed{Failed: &pb.AttemptFailed{TaskId: id, Attempt: 1}}}
}

func progressOf(id string) *pb.WorkerMessage { return progressMessage(attemptKey{id, 1}, "null") }

func describeAll(messages []*pb.WorkerMessage) []string {
	out := make([]string, len(messages))
	for i, m := range messages {
		k := keyOf(m)
		switch m.Msg.(type) {
		case *pb.WorkerMessage_Started:
			out[i] = "started " + k.taskID
		case *pb.WorkerMessage_Progress:
			out[i] = "progress " + k.taskID
		case *pb.WorkerMessage_Completed:
			out[i] = "completed " + k.taskID
		case *pb.WorkerMessage_Failed:
			out[i] = "failed " + k.taskID
		case *pb.WorkerMessage_Heartbeat:
			out[i] = "heartbeat"
		case *pb.WorkerMessage_Batch:
			out[i] = "batch"
		}
	}
	return out
}

func TestDropRedundantStartsKeepsStartsWithProgressAndTheOrder(t *testing.T) {
	in := []*pb.WorkerMessage{started("a"), started("b"), started("c"), progressOf("c"), completed("a"),
		failedMsg("c"), completed("x")}
	got := describeAll(dropRedundantStarts(in))
	want := []string{"started b", "started c", "progress c", "completed a", "failed c", "completed x"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	alone := []*pb.WorkerMessage{started("a")}
	if got := dropRedundantStarts(alone); len(got) != 1 {
		t.Errorf("a lone start was dropped")
	}
}

func TestReportBufferDrainsSetAsideReportsThenResultsAndKeepsResultsUntilAcked(t *testing.T) {
	b := newReportBuffer()
	b.setAside(attemptKey{"a", 1}, started("a"))
	b.keep(attemptKey{"b", 1}, completed("b"))
	b.setAside(attemptKey{"a", 1}, progressMessage(attemptKey{"a", 1}, `"old"`))
	b.setAside(attemptKey{"a", 1}, progressMessage(attemptKey{"a", 1}, `"new"`))
	b.keep(attemptKey{"a", 1}, completed("a"))
	got := b.drain()
	if d := describeAll(got); !slices.Equal(d, []string{"started a", "progress a", "completed b", "completed a"}) {
		t.Errorf("drain = %v", d)
	}
	if details := got[1].GetProgress().DetailsJson; details != `"new"` {
		t.Errorf("progress details = %s, want the latest", details)
	}
	if d := describeAll(b.drain()); !slices.Equal(d, []string{"completed b", "completed a"}) {
		t.Errorf("second drain = %v (set-aside reports go once, results stay)", d)
	}
	if !b.acknowledge(attemptKey{"b", 1}) || b.acknowledge(attemptKey{"b", 1}) {
		t.Error("acknowledge should succeed once")
	}
	if keys := b.unacknowledged(); len(keys) != 1 || keys[0] != (attemptKey{"a", 1}) {
		t.Errorf("unacknowledged = %v", keys)
	}
}

// blockingStream is a Connect stream whose first Send waits until released, so the test controls
// what queues up meanwhile.
type blockingStream struct {
	grpc.ClientStream
	release chan struct{}
	mu      sync.Mutex
	sent    []*pb.WorkerMessage
	fail    bool
}

func (s *blockingStream) Send(m *pb.WorkerMessage) error {
	s.mu.Lock()
	first := len(s.sent) == 0
	s.sent = append(s.sent, m)
	fail := s.fail
	s.mu.Unlock()
	if first {
		<-s.release
	}
	if fail {
		return io.EOF
	}
	return nil
}

func (s *blockingStream) Recv() (*pb.DispatcherMessage, error) { return nil, errors.New("unused") }
func (s *blockingStream) CloseSend() error                     { return nil }

func (s *blockingStream) messages() []*pb.WorkerMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.WorkerMessage(nil), s.sent...)
}

func testWorker() *Worker {
	w, _ := New(WithAddresses("127.0.0.1:1"), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	w.base = context.Background()
	return w
}

func TestWhatQueuesWhileAWriteIsInFlightLeavesAsOneBatch(t *testing.T) {
	w := testWorker()
	stream := &blockingStream{release: make(chan struct{})}
	s := newSession("fake", true, nil)
	w.session = s
	closing, ended := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); w.sender(s, stream, time.Hour, closing, ended) }()

	w.mu.Lock()
	w.enqueueLocked(started("a"))
	w.mu.Unlock()
	waitUntil(t, func() bool { return len(stream.messages()) == 1 })
	w.mu.Lock()
	for _, m := range []*pb.WorkerMessage{completed("a"), started("b"), completed("b"), started("c"), progressOf("c")} {
		w.enqueueLocked(m)
	}
	w.mu.Unlock()
	close(stream.release)
	waitUntil(t, func() bool { return len(stream.messages()) == 2 })
	batch := stream.messages()[1].GetBatch()
	if batch == nil {
		t.Fatalf("second write = %v, want a batch", stream.messages()[1])
	}
	want := []string{"completed a", "completed b", "started c", "progress c"}
	if got := describeAll(batch.Messages); !slices.Equal(got, want) {
		t.Errorf("batch = %v, want %v", got, want)
	}
	close(closing)
	<-done
}

func TestReportsAFailedWriteCouldNotSendWaitForTheNextStream(t *testing.T) {
	w := testWorker()
	stream := &blockingStream{release: make(chan struct{}), fail: true}
	close(stream.release)
	s := newSession("fake", false, nil)
	w.session = s
	w.mu.Lock()
	w.reports.keep(attemptKey{"b", 1}, completed("b"))
	s.queue = append(s.queue, started("a"), progressOf("a"), completed("b"))
	messages := s.take()
	w.mu.Unlock()
	if w.write(stream, s, messages) {
		t.Fatal("write reported success on a broken stream")
	}
	w.onDisconnected(s)
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := describeAll(w.reports.drain()); !slices.Equal(got, []string{"started a", "progress a", "completed b"}) {
		t.Errorf("kept for the next stream: %v", got)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3 s")
		}
		time.Sleep(time.Millisecond)
	}
}
