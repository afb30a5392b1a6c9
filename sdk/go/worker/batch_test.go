package worker_test

import (
	"context"
	"slices"
	"testing"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

func assignmentBatch(taskType string, ids ...string) *pb.DispatcherMessage {
	messages := make([]*pb.DispatcherMessage, len(ids))
	for i, id := range ids {
		messages[i] = &pb.DispatcherMessage{Msg: &pb.DispatcherMessage_Assignment{Assignment: &pb.Assignment{
			TaskId: id, Attempt: 1, Type: taskType, MaxAttempts: 3,
		}}}
	}
	return &pb.DispatcherMessage{Msg: &pb.DispatcherMessage_Batch{Batch: &pb.DispatcherBatch{Messages: messages}}}
}

func TestHandlesADispatcherBatchAndSendsTheStartsItCausesAsOneWorkerBatch(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"hold": func(context.Context, *worker.Task) (any, error) { release.wait(); return 1, nil },
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Send(assignmentBatch("hold", "a", "b", "c"))
	for range 3 {
		s.Next(t, "started")
	}
	if got := s.Wire(); !slices.Equal(got, []string{"batch[started,started,started]"}) {
		t.Errorf("wire = %v", got)
	}
	release.open()
	done := map[string]bool{}
	for range 3 {
		done[completed(t, s).TaskId] = true
	}
	equal(t, "all completed", len(done), 3)
}

func TestIgnoresABatchInsideABatch(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	nested := assignmentBatch("echo", "outer")
	nested.GetBatch().Messages = append(nested.GetBatch().Messages, assignmentBatch("echo", "inner"))
	s.Send(nested)
	equal(t, "completed", completed(t, s).TaskId, "outer")
	s.Assign(&pb.Assignment{TaskId: "after", Type: "echo"})
	equal(t, "next completed", completed(t, s).TaskId, "after")
}

func TestSendsReportsOneByOneStartsIncludedToADispatcherWithoutBatches(t *testing.T) {
	d := fake(t, fakedispatcher.Options{NoBatches: true})
	startWorker(t, map[string]worker.Handler{
		"noop": func(context.Context, *worker.Task) (any, error) { return 1, nil },
	}, worker.WithAddresses(d.Address), worker.WithSlots(10))
	s := d.Stream(t, 0)
	for _, id := range []string{"a", "b", "c"} {
		s.Assign(&pb.Assignment{TaskId: id, Type: "noop"})
	}
	for range 3 {
		completed(t, s)
	}
	wire := s.Wire()
	for _, kind := range wire {
		if kind != "started" && kind != "completed" && kind != "heartbeat" {
			t.Errorf("sent %s to a dispatcher without batches", kind)
		}
	}
	equal(t, "starts", len(slices.DeleteFunc(wire, func(k string) bool { return k != "started" })), 3)
}

func TestSendsAReportAloneWhenItIsTheOnlyOneQueued(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	startWorker(t, map[string]worker.Handler{
		"slow": func(context.Context, *worker.Task) (any, error) { release.wait(); return 1, nil },
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t", Type: "slow"})
	s.Next(t, "started")
	release.open()
	completed(t, s)
	if got := s.Wire(); !slices.Equal(got, []string{"started", "completed"}) {
		t.Errorf("wire = %v", got)
	}
}
