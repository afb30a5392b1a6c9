package worker_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

const (
	traceID = "0af7651916cd43dd8448eb211c80319c"
	parent  = "00-" + traceID + "-b7ad6b7169203331-01"
)

func TestRunsTheHandlerInASpanThatIsAChildOfTheSubmission(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	d := fake(t, fakedispatcher.Options{})
	seen := make(chan *worker.Task, 1)
	spans := make(chan trace.SpanContext, 1)
	startWorker(t, map[string]worker.Handler{
		"echo": func(ctx context.Context, task *worker.Task) (any, error) {
			seen <- task
			spans <- trace.SpanContextFromContext(ctx)
			return nil, nil
		},
		"boom": func(context.Context, *worker.Task) (any, error) { return nil, worker.NewError("Boom", "boom") },
	}, worker.WithAddresses(d.Address), worker.WithTracerProvider(provider))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo", Traceparent: parent, Tracestate: "vendor=x"})
	completed(t, s)
	s.Assign(&pb.Assignment{TaskId: "t2", Type: "boom", Traceparent: parent})
	failed(t, s)

	ended := recorder.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want 2", len(ended))
	}
	ok, bad := ended[0], ended[1]
	equal(t, "name", ok.Name(), "task echo")
	equal(t, "kind", ok.SpanKind(), trace.SpanKindConsumer)
	equal(t, "parent span", ok.Parent().SpanID().String(), "b7ad6b7169203331")
	equal(t, "trace", ok.SpanContext().TraceID().String(), traceID)
	equal(t, "trace state", ok.SpanContext().TraceState().Get("vendor"), "x")
	attrs := map[attribute.Key]attribute.Value{}
	for _, a := range ok.Attributes() {
		attrs[a.Key] = a.Value
	}
	equal(t, "task id attribute", attrs["taskstream.task.id"].AsString(), "t1")
	equal(t, "attempt attribute", attrs["taskstream.task.attempt"].AsInt64(), int64(1))
	task := <-seen
	equal(t, "traceparent", task.Traceparent, "00-"+traceID+"-"+ok.SpanContext().SpanID().String()+"-01")
	equal(t, "context span", (<-spans).SpanID(), ok.SpanContext().SpanID())
	equal(t, "failed span", bad.Name(), "task boom")
	equal(t, "failed status", bad.Status().Code, codes.Error)
}

func TestHandsTheSubmissionsTraceparentThroughWithoutATracerProvider(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	seen := make(chan string, 3)
	startWorker(t, map[string]worker.Handler{
		"echo": func(_ context.Context, task *worker.Task) (any, error) { seen <- task.Traceparent; return nil, nil },
	}, worker.WithAddresses(d.Address))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo", Traceparent: parent})
	completed(t, s)
	equal(t, "traceparent", <-seen, parent)
	s.Assign(&pb.Assignment{TaskId: "t2", Type: "echo", Traceparent: "garbage"})
	completed(t, s)
	equal(t, "garbage traceparent", <-seen, "")
	s.Assign(&pb.Assignment{TaskId: "t3", Type: "echo"})
	completed(t, s)
	equal(t, "no traceparent", <-seen, "")
}

func TestAHandlerDoesNotInheritTheTraceActiveWhereRunWasCalled(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	provider := sdktrace.NewTracerProvider()
	outer, span := provider.Tracer("test").Start(context.Background(), "outer")
	defer span.End()
	w, err := worker.New(worker.WithAddresses(d.Address), worker.WithLogger(quiet), worker.WithTracerProvider(provider))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan trace.SpanContext, 1)
	_ = w.Register("echo", func(ctx context.Context, _ *worker.Task) (any, error) {
		seen <- trace.SpanContextFromContext(ctx)
		return nil, nil
	})
	ctx, cancel := context.WithCancel(outer)
	defer cancel()
	go func() { _ = w.Run(ctx) }()
	<-w.Ready()
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo"})
	completed(t, s)
	if got := <-seen; got.TraceID() == span.SpanContext().TraceID() {
		t.Errorf("the handler's span joined the trace active at Run")
	}
}
