package worker

import (
	"sort"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// attemptKey identifies one attempt: a task id and its attempt number (the fencing token).
type attemptKey struct {
	taskID  string
	attempt int32
}

// kept is a report with the order it was first kept in.
type kept struct {
	seq uint64
	msg *pb.WorkerMessage
}

// transientKey identifies a started or progress report of an attempt.
type transientKey struct {
	attemptKey
	progress bool
}

// reportBuffer holds the reports the dispatcher has not confirmed. A completed or failed report is
// kept until its ack arrives and re-sent after every reconnect, so a result survives a stream that
// breaks between completion and ack (the dispatcher deduplicates a report it already recorded).
// Started and progress reports are not acknowledged; only those that could not be written at all
// (while disconnected) are kept, and only the latest progress of each attempt. Not safe for
// concurrent use: the worker's mutex guards it.
type reportBuffer struct {
	seq       uint64
	finals    map[attemptKey]kept
	transient map[transientKey]kept
}

func newReportBuffer() reportBuffer {
	return reportBuffer{finals: map[attemptKey]kept{}, transient: map[transientKey]kept{}}
}

// keep holds a completed or failed report until acknowledge.
func (b *reportBuffer) keep(key attemptKey, msg *pb.WorkerMessage) {
	b.seq++
	b.finals[key] = kept{seq: b.seq, msg: msg}
}

// setAside holds a started or progress report that could not be written, for the next stream. A
// later progress of the same attempt replaces the earlier one but keeps its place.
func (b *reportBuffer) setAside(key attemptKey, msg *pb.WorkerMessage) {
	k := transientKey{attemptKey: key, progress: msg.GetProgress() != nil}
	if old, ok := b.transient[k]; ok {
		b.transient[k] = kept{seq: old.seq, msg: msg}
		return
	}
	b.seq++
	b.transient[k] = kept{seq: b.seq, msg: msg}
}

// acknowledge forgets an acknowledged result; false when none was kept (a duplicate ack).
func (b *reportBuffer) acknowledge(key attemptKey) bool {
	_, ok := b.finals[key]
	delete(b.finals, key)
	return ok
}

// drain returns everything to send on a fresh stream, in order: set-aside started/progress reports
// first (an attempt's start before its result), then every unacknowledged result. Set-aside
// reports are handed over once; results stay until acknowledged.
func (b *reportBuffer) drain() []*pb.WorkerMessage {
	transient := make([]kept, 0, len(b.transient))
	for _, k := range b.transient {
		transient = append(transient, k)
	}
	clear(b.transient)
	messages := make([]*pb.WorkerMessage, 0, len(transient)+len(b.finals))
	for _, k := range inOrder(transient) {
		messages = append(messages, k.msg)
	}
	for _, k := range b.finalsInOrder() {
		messages = append(messages, k.msg)
	}
	return messages
}

// holds reports whether a result of this attempt awaits an ack.
func (b *reportBuffer) holds(key attemptKey) bool {
	_, ok := b.finals[key]
	return ok
}

// unacknowledged lists the attempts whose result awaits an ack, oldest first.
func (b *reportBuffer) unacknowledged() []attemptKey {
	keys := make([]attemptKey, 0, len(b.finals))
	for _, k := range b.finalsInOrder() {
		keys = append(keys, keyOf(k.msg))
	}
	return keys
}

// size is how many results await an ack.
func (b *reportBuffer) size() int { return len(b.finals) }

func (b *reportBuffer) finalsInOrder() []kept {
	finals := make([]kept, 0, len(b.finals))
	for _, k := range b.finals {
		finals = append(finals, k)
	}
	return inOrder(finals)
}

func inOrder(reports []kept) []kept {
	sort.Slice(reports, func(i, j int) bool { return reports[i].seq < reports[j].seq })
	return reports
}

// keyOf is the attempt a report is about (the zero key for messages about none).
func keyOf(msg *pb.WorkerMessage) attemptKey {
	switch m := msg.Msg.(type) {
	case *pb.WorkerMessage_Started:
		return attemptKey{m.Started.TaskId, m.Started.Attempt}
	case *pb.WorkerMessage_Progress:
		return attemptKey{m.Progress.TaskId, m.Progress.Attempt}
	case *pb.WorkerMessage_Completed:
		return attemptKey{m.Completed.TaskId, m.Completed.Attempt}
	case *pb.WorkerMessage_Failed:
		return attemptKey{m.Failed.TaskId, m.Failed.Attempt}
	}
	return attemptKey{}
}

// dropRedundantStarts leaves out every started report whose attempt's result (completed or
// failed) is in the same list: a dispatcher that accepts batches records the start with the
// result. A start is kept when a progress report of its attempt is in the list too, so the history
// never shows progress before the start. The order of what remains is kept.
func dropRedundantStarts(messages []*pb.WorkerMessage) []*pb.WorkerMessage {
	var finals, progressing map[attemptKey]bool
	for _, m := range messages {
		switch m.Msg.(type) {
		case *pb.WorkerMessage_Completed, *pb.WorkerMessage_Failed:
			if finals == nil {
				finals = map[attemptKey]bool{}
			}
			finals[keyOf(m)] = true
		case *pb.WorkerMessage_Progress:
			if progressing == nil {
				progressing = map[attemptKey]bool{}
			}
			progressing[keyOf(m)] = true
		}
	}
	if finals == nil {
		return messages
	}
	kept := messages[:0:0]
	for _, m := range messages {
		if m.GetStarted() != nil && finals[keyOf(m)] && !progressing[keyOf(m)] {
			continue
		}
		kept = append(kept, m)
	}
	return kept
}
