package worker

import (
	"time"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// session is one registered stream's outgoing side: the reports queued for it and whether the
// dispatcher takes them batched. Its queue is guarded by the worker's mutex; one sender goroutine
// drains it, so whatever was queued while the previous write was in flight goes out together.
type session struct {
	address        string
	acceptsBatches bool
	queue          []*pb.WorkerMessage
	// corked holds the queue while a dispatcher batch is handled, so the reports it causes (its
	// assignments' starts) leave together.
	corked bool
	wake   chan struct{}
}

func newSession(address string, acceptsBatches bool, queue []*pb.WorkerMessage) *session {
	s := &session{address: address, acceptsBatches: acceptsBatches, queue: queue, wake: make(chan struct{}, 1)}
	s.signal()
	return s
}

// push queues a message (with the worker's mutex held).
func (s *session) push(msg *pb.WorkerMessage) {
	s.queue = append(s.queue, msg)
	if !s.corked {
		s.signal()
	}
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take empties the queue (with the worker's mutex held). For a dispatcher that records implied
// starts, a start whose result leaves in the same write is dropped.
func (s *session) take() []*pb.WorkerMessage {
	messages := s.queue
	s.queue = nil
	if s.acceptsBatches {
		messages = dropRedundantStarts(messages)
	}
	return messages
}

// sender writes the session's queue to the stream until the stream ends (ended is closed) or the
// worker closes it (closing: the queue is written, then the stream half-closed). It heartbeats at
// interval with the attempts the worker holds.
func (w *Worker) sender(s *session, stream pb.WorkerService_ConnectClient, interval time.Duration,
	closing <-chan struct{}, ended <-chan struct{}) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		closeNow := false
		select {
		case <-s.wake:
		case <-ticker.C:
			w.mu.Lock()
			s.queue = append(s.queue, &pb.WorkerMessage{Msg: &pb.WorkerMessage_Heartbeat{
				Heartbeat: &pb.Heartbeat{Active: w.heldLocked()},
			}})
			w.mu.Unlock()
		case <-closing:
			closeNow = true
		case <-ended:
			return
		}
		w.mu.Lock()
		messages := s.take()
		w.mu.Unlock()
		if !w.write(stream, s, messages) {
			return
		}
		if closeNow {
			// Half-close: the dispatcher sees a clean end and releases the session at once.
			_ = stream.CloseSend()
			return
		}
	}
}

// write sends messages: one alone, several as one WorkerBatch when the dispatcher accepts batches
// (one by one otherwise). When the stream fails, what was not written is set aside for the next
// stream (started/progress; results are kept until acknowledged anyway) and write returns false.
func (w *Worker) write(stream pb.WorkerService_ConnectClient, s *session, messages []*pb.WorkerMessage) bool {
	if len(messages) == 0 {
		return true
	}
	if len(messages) > 1 && s.acceptsBatches {
		batch := &pb.WorkerMessage{Msg: &pb.WorkerMessage_Batch{Batch: &pb.WorkerBatch{Messages: messages}}}
		if err := stream.Send(batch); err != nil {
			w.setAside(messages)
			return false
		}
		return true
	}
	for i, msg := range messages {
		if err := stream.Send(msg); err != nil {
			w.setAside(messages[i:])
			return false
		}
	}
	return true
}

func (w *Worker) setAside(messages []*pb.WorkerMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, msg := range messages {
		w.setAsideLocked(msg)
	}
}
