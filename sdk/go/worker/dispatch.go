package worker

import (
	"fmt"
	"time"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// handle acts on one message of a registered stream (batches are unpacked by the caller).
func (w *Worker) handle(msg *pb.DispatcherMessage) {
	switch m := msg.Msg.(type) {
	case *pb.DispatcherMessage_Assignment:
		w.onAssignment(m.Assignment)
	case *pb.DispatcherMessage_Cancel:
		w.mu.Lock()
		a := w.running[attemptKey{m.Cancel.TaskId, m.Cancel.Attempt}]
		w.mu.Unlock()
		// A cancel of an attempt this worker does not run (finished, or another attempt) is moot.
		if a != nil {
			a.requestCancel(m.Cancel.Reason)
		}
	case *pb.DispatcherMessage_Ack:
		ack := m.Ack
		w.mu.Lock()
		w.reports.acknowledge(attemptKey{ack.TaskId, ack.Attempt})
		w.notifyLocked()
		w.mu.Unlock()
		if !ack.Accepted {
			w.log.Warn("taskstream result not accepted", "taskId", ack.TaskId, "attempt", ack.Attempt, "reason", ack.Reason)
		}
		w.emit(AckedEvent{TaskID: ack.TaskId, Attempt: int(ack.Attempt), Accepted: ack.Accepted, Reason: ack.Reason})
	case *pb.DispatcherMessage_Registered, nil:
		// A second Registered on a registered stream says nothing new.
	}
}

// onAssignment starts a handler for the attempt, or fails the attempt at once when it cannot run
// here (stopping, no free slot, no handler).
func (w *Worker) onAssignment(a *pb.Assignment) {
	key := attemptKey{a.TaskId, a.Attempt}
	w.emit(AssignedEvent{TaskID: a.TaskId, Attempt: int(a.Attempt), Type: a.Type})
	w.mu.Lock()
	// The same attempt again (e.g. re-sent around a reconnect) must not run twice.
	if w.running[key] != nil || w.reports.holds(key) {
		w.mu.Unlock()
		w.log.Warn("taskstream duplicate assignment ignored", "taskId", a.TaskId, "attempt", a.Attempt)
		return
	}
	refuse := func(message, errorType string) {
		event := w.reportFailureLocked(key, failure{message: message, errorType: errorType}, false)
		w.mu.Unlock()
		w.emit(event)
	}
	handler := w.handlers[a.Type]
	switch {
	case w.state != stateRunning:
		refuse("the worker is stopping", "WORKER_STOPPING")
		return
	case len(w.running) >= w.cfg.slots:
		// The dispatcher counts free slots too; this guards against it being wrong.
		refuse("worker has no free slot", "NO_SLOT")
		return
	case handler == nil:
		refuse(fmt.Sprintf("no handler for task type %q", a.Type), "UNKNOWN_TASK_TYPE")
		return
	}
	p := &progress{
		window: w.throttleWindow(a.HeartbeatTimeoutMs),
		limit:  w.resultLimit,
	}
	run := newAttempt(w.base, a, handler, w.workerID, p)
	p.send = func(details string) { w.sendProgress(run, details) }
	w.running[key] = run
	w.enqueueLocked(&pb.WorkerMessage{Msg: &pb.WorkerMessage_Started{
		Started: &pb.AttemptStarted{TaskId: a.TaskId, Attempt: a.Attempt},
	}})
	w.mu.Unlock()
	go func() { w.finish(run, run.run(w.tracer)) }()
}

// sendProgress queues a progress report, unless the attempt has ended meanwhile: a report about a
// finished attempt would only be rejected as stale.
func (w *Worker) sendProgress(run *attempt, details string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[run.key] == run {
		w.enqueueLocked(progressMessage(run.key, details))
	}
}

// throttleWindow is the heartbeat throttle's window for a task whose heartbeat timeout is timeoutMs:
// 80% of it (30 s without one), shortened to the WithHeartbeatThrottle cap when one is set.
func (w *Worker) throttleWindow(timeoutMs int64) time.Duration {
	window := heartbeatWindow(timeoutMs)
	if w.cfg.heartbeatThrottle != nil {
		window = min(window, *w.cfg.heartbeatThrottle)
	}
	return window
}

func (w *Worker) resultLimit() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxResultBytes
}

// finish reports an attempt's outcome, unless the attempt was abandoned at shutdown (and reported
// as WORKER_STOPPING already).
func (w *Worker) finish(run *attempt, out outcome) {
	w.mu.Lock()
	if w.running[run.key] != run {
		w.mu.Unlock()
		return
	}
	delete(w.running, run.key)
	var event Event
	switch {
	case out.failed != nil:
		w.flushProgressLocked(run)
		event = w.reportFailureLocked(run.key, *out.failed, out.cancelled)
	case w.maxResultBytes > 0 && len(out.resultJSON) > w.maxResultBytes:
		// The handler succeeded: its held-back details are dropped, as with a result.
		run.task.progress.finish()
		// Sent, it would be refused (or end the stream past the message limit): fail the attempt.
		f := failure{
			message:      fmt.Sprintf("result of %d bytes exceeds the limit of %d bytes", len(out.resultJSON), w.maxResultBytes),
			errorType:    "RESULT_TOO_LARGE",
			nonRetryable: true,
		}
		event = w.reportFailureLocked(run.key, f, false)
	default:
		// The result supersedes details still waiting for their window: no attempt will read them.
		run.task.progress.finish()
		msg := &pb.WorkerMessage{Msg: &pb.WorkerMessage_Completed{Completed: &pb.AttemptCompleted{
			TaskId: run.key.taskID, Attempt: run.key.attempt, ResultJson: string(out.resultJSON),
		}}}
		w.reports.keep(run.key, msg)
		w.enqueueLocked(msg)
		event = CompletedEvent{TaskID: run.key.taskID, Attempt: int(run.key.attempt), ResultJSON: out.resultJSON}
	}
	w.notifyLocked()
	w.mu.Unlock()
	w.emit(event)
}

// flushProgressLocked ends an attempt's heartbeats before its failure is reported: details still
// waiting for their throttle window go first, so the next attempt starts from them.
func (w *Worker) flushProgressLocked(run *attempt) {
	if pending := run.task.progress.finish(); pending != nil {
		w.enqueueLocked(progressMessage(run.key, *pending))
	}
}

// reportFailureLocked keeps and queues a failed report; it returns the event to emit once w.mu is
// released.
func (w *Worker) reportFailureLocked(key attemptKey, f failure, cancelled bool) Event {
	msg := &pb.WorkerMessage{Msg: &pb.WorkerMessage_Failed{Failed: &pb.AttemptFailed{
		TaskId:       key.taskID,
		Attempt:      key.attempt,
		Message:      f.message,
		ErrorType:    f.errorType,
		NonRetryable: f.nonRetryable,
		Cancelled:    cancelled,
	}}}
	w.reports.keep(key, msg)
	w.enqueueLocked(msg)
	return FailedEvent{
		TaskID:       key.taskID,
		Attempt:      int(key.attempt),
		Message:      f.message,
		ErrorType:    f.errorType,
		NonRetryable: f.nonRetryable,
		Cancelled:    cancelled,
	}
}

// enqueueLocked queues a message for the registered stream. While disconnected, started and
// progress reports are set aside for the next stream; results are kept until acknowledged anyway,
// and a heartbeat only matters now.
func (w *Worker) enqueueLocked(msg *pb.WorkerMessage) {
	if w.session != nil {
		w.session.push(msg)
		return
	}
	w.setAsideLocked(msg)
}

func (w *Worker) setAsideLocked(msg *pb.WorkerMessage) {
	switch msg.Msg.(type) {
	case *pb.WorkerMessage_Started, *pb.WorkerMessage_Progress:
		w.reports.setAside(keyOf(msg), msg)
	}
}

func progressMessage(key attemptKey, details string) *pb.WorkerMessage {
	return &pb.WorkerMessage{Msg: &pb.WorkerMessage_Progress{Progress: &pb.AttemptProgress{
		TaskId: key.taskID, Attempt: key.attempt, DetailsJson: details,
	}}}
}
