package client

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/tracecontext"
)

// maxCoalesced is the most tasks one coalesced SubmitTasks call carries (the API takes 1,000).
const maxCoalesced = 500

// submission is one Submit waiting for a coalesced call.
type submission struct {
	task   *pb.TaskSpec
	answer chan submitAnswer // buffered: the sender never blocks on a caller that gave up
}

type submitAnswer struct {
	result SubmitResult
	err    error
}

// coalescer merges concurrent single submissions into SubmitTasks calls, one call in flight at a
// time: what is submitted while a call is out waits and goes together in the next one. A lone
// submission goes at once as SubmitTask, so nothing waits when the client is idle; under load the
// calls grow instead of multiplying. SubmitTasks validates every task before writing any: when it
// is refused as invalid, each of its tasks is sent again alone so each caller gets its own answer
// (a refused call wrote nothing, and idempotency keys keep any repeat single).
type coalescer struct {
	client *Client

	mu       sync.Mutex
	waiting  []*submission
	inFlight bool
}

// submit queues a task and waits for its answer (or for ctx to end: the task may still be
// submitted then, as with any call whose answer was not awaited).
func (co *coalescer) submit(ctx context.Context, task *pb.TaskSpec) (SubmitResult, error) {
	s := &submission{task: task, answer: make(chan submitAnswer, 1)}
	co.mu.Lock()
	co.waiting = append(co.waiting, s)
	start := !co.inFlight
	co.inFlight = true
	co.mu.Unlock()
	if start {
		go co.send()
	}
	select {
	case a := <-s.answer:
		return a.result, a.err
	case <-ctx.Done():
		return SubmitResult{}, callError(status.FromContextError(ctx.Err()).Err(), nil)
	}
}

// send makes calls until nothing waits.
func (co *coalescer) send() {
	for {
		co.mu.Lock()
		n := min(len(co.waiting), maxCoalesced)
		if n == 0 {
			co.inFlight = false
			co.mu.Unlock()
			return
		}
		batch := co.waiting[:n:n]
		co.waiting = co.waiting[n:]
		co.mu.Unlock()
		co.call(batch)
	}
}

func (co *coalescer) call(batch []*submission) {
	// The callers' contexts may differ or end meanwhile: the call has the client's own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), co.client.timeout)
	defer cancel()
	if len(batch) == 1 {
		co.alone(ctx, batch[0])
		return
	}
	tasks := make([]*pb.TaskSpec, len(batch))
	for i, s := range batch {
		tasks[i] = s.task
	}
	res, err := call(ctx, co.client, co.client.tasks.SubmitTasks, &pb.SubmitTasksRequest{Tasks: tasks})
	switch {
	case err == nil && len(res.Results) == len(batch):
		for i, s := range batch {
			result, err := singleResult(s.task, res.Results[i])
			s.answer <- submitAnswer{result: result, err: err}
		}
	case err == nil || Code(err) == codes.InvalidArgument:
		// Some task is invalid (or the answer does not match): each alone, for its own answer.
		var wg sync.WaitGroup
		for _, s := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				co.alone(ctx, s)
			}()
		}
		wg.Wait()
	default:
		for _, s := range batch {
			s.answer <- submitAnswer{err: err}
		}
	}
}

func (co *coalescer) alone(ctx context.Context, s *submission) {
	res, err := call(ctx, co.client, co.client.tasks.SubmitTask, &pb.SubmitTaskRequest{Task: s.task})
	if err != nil {
		s.answer <- submitAnswer{err: err}
		return
	}
	result, err := singleResult(s.task, res)
	s.answer <- submitAnswer{result: result, err: err}
}

// coalescable reports whether a Submit may share a call: not when its context carries what a
// shared call would lose (a trace to continue, metadata of its own).
func coalescable(ctx context.Context) bool {
	if traceparent, _ := tracecontext.Headers(ctx); traceparent != "" {
		return false
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && md.Len() > 0 {
		return false
	}
	return true
}
