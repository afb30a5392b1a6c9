// Package fakedispatcher is an in-process WorkerService for the SDK's tests: a real gRPC server on
// 127.0.0.1 with scripted behaviour, so the worker is tested over the transport it uses in
// production. It answers Register as the real dispatcher does (ids, resume tokens, refusals) and
// records every message it receives for assertions.
package fakedispatcher

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
)

// Options script how the fake answers.
type Options struct {
	// Refuse ends every stream at its Register with UNAVAILABLE and this message (a standby).
	Refuse string
	// RefuseCode ends every stream at its Register with this code instead (with Refuse's text).
	RefuseCode codes.Code
	// RefuseTimes limits the refusals to the first RefuseTimes registers (0: every one).
	RefuseTimes int
	// Silent never answers Register (the stream stays open until the worker gives up).
	Silent bool
	// ManualAck turns off acknowledging completed/failed reports at once.
	ManualAck bool
	// HeartbeatIntervalMs is announced in Registered (default 2000).
	HeartbeatIntervalMs int32
	// NoBatches announces accepts_batches = false in Registered.
	NoBatches bool
	// MaxResultBytes is announced in Registered (default 0: none).
	MaxResultBytes int32
	// TLS serves over TLS with this configuration (plaintext when nil).
	TLS *tls.Config
}

// Dispatcher is the fake WorkerService.
type Dispatcher struct {
	pb.UnimplementedWorkerServiceServer
	Address string
	opts    Options
	server  *grpc.Server

	mu          sync.Mutex
	streams     []*Stream
	registers   []*pb.Register
	metadata    []metadata.MD
	tokenSuffix string
	nextID      int
}

// Start serves a fake dispatcher on 127.0.0.1 until the test ends.
func Start(t testing.TB, opts Options) *Dispatcher {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var serverOpts []grpc.ServerOption
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	d := &Dispatcher{Address: listener.Addr().String(), opts: opts, server: grpc.NewServer(serverOpts...)}
	pb.RegisterWorkerServiceServer(d.server, d)
	go func() { _ = d.server.Serve(listener) }()
	t.Cleanup(d.Stop)
	return d
}

// Stop closes every stream and the listener at once.
func (d *Dispatcher) Stop() { d.server.Stop() }

// SetTokenSuffix invalidates every resume token issued before (as a new cluster secret would).
func (d *Dispatcher) SetTokenSuffix(suffix string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tokenSuffix = suffix
}

// Registers returns every Register received so far, in order.
func (d *Dispatcher) Registers() []*pb.Register {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*pb.Register(nil), d.registers...)
}

// Metadata returns the request metadata of every stream opened so far, in order.
func (d *Dispatcher) Metadata() []metadata.MD {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]metadata.MD(nil), d.metadata...)
}

// Stream waits for the index-th registered stream (0-based).
func (d *Dispatcher) Stream(t testing.TB, index int) *Stream {
	t.Helper()
	var s *Stream
	WaitFor(t, 5*time.Second, fmt.Sprintf("registered stream #%d", index), func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.streams) > index {
			s = d.streams[index]
		}
		return s != nil
	})
	return s
}

// Connect serves one worker stream.
func (d *Dispatcher) Connect(srv pb.WorkerService_ConnectServer) error {
	md, _ := metadata.FromIncomingContext(srv.Context())
	d.mu.Lock()
	d.metadata = append(d.metadata, md)
	d.mu.Unlock()
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	register := first.GetRegister()
	if register == nil {
		return status.Error(codes.FailedPrecondition, "the first message must be register")
	}
	d.mu.Lock()
	d.registers = append(d.registers, proto.Clone(register).(*pb.Register))
	suffix := d.tokenSuffix
	refuse := d.opts.Refuse != "" && (d.opts.RefuseTimes == 0 || len(d.registers) <= d.opts.RefuseTimes)
	d.mu.Unlock()
	if d.opts.Silent {
		<-srv.Context().Done()
		return srv.Context().Err()
	}
	if refuse {
		code := d.opts.RefuseCode
		if code == codes.OK {
			code = codes.Unavailable
		}
		return status.Error(code, d.opts.Refuse)
	}
	workerID := register.WorkerId
	if workerID != "" && register.ResumeToken != "token-"+workerID+suffix {
		return status.Error(codes.PermissionDenied, "register.resume_token: does not prove the worker")
	}
	d.mu.Lock()
	if workerID == "" {
		d.nextID++
		workerID = fmt.Sprintf("w-%d", d.nextID)
	}
	d.mu.Unlock()
	s := &Stream{srv: srv, closed: make(chan error, 1), ended: make(chan struct{})}
	interval := d.opts.HeartbeatIntervalMs
	if interval == 0 {
		interval = 2000
	}
	s.Send(&pb.DispatcherMessage{Msg: &pb.DispatcherMessage_Registered{Registered: &pb.Registered{
		WorkerId:            workerID,
		HeartbeatIntervalMs: interval,
		HeartbeatTimeoutMs:  10_000,
		AcceptsBatches:      !d.opts.NoBatches,
		ResumeToken:         "token-" + workerID + suffix,
		MaxResultBytes:      d.opts.MaxResultBytes,
	}}})
	d.mu.Lock()
	d.streams = append(d.streams, s)
	d.mu.Unlock()
	go s.receive(!d.opts.ManualAck)
	defer close(s.ended)
	return <-s.closed
}

// Stream is one registered worker stream as the fake sees it.
type Stream struct {
	srv    pb.WorkerService_ConnectServer
	sendMu sync.Mutex
	closed chan error
	ended  chan struct{}

	mu       sync.Mutex
	received []*pb.WorkerMessage // not consumed yet by Next, batches unpacked
	log      []*pb.WorkerMessage // every message received, batches unpacked
	wire     []*pb.WorkerMessage // every message as it came, batches not unpacked
}

func (s *Stream) receive(autoAck bool) {
	for {
		msg, err := s.srv.Recv()
		if err != nil {
			// The worker half-closed (or went away): end the call as the real dispatcher does.
			s.end(nil)
			return
		}
		s.mu.Lock()
		s.wire = append(s.wire, msg)
		inner := []*pb.WorkerMessage{msg}
		if batch := msg.GetBatch(); batch != nil {
			inner = batch.Messages
		}
		s.received = append(s.received, inner...)
		s.log = append(s.log, inner...)
		s.mu.Unlock()
		if !autoAck {
			continue
		}
		for _, m := range inner {
			if c := m.GetCompleted(); c != nil {
				s.Ack(c.TaskId, c.Attempt, true)
			}
			if f := m.GetFailed(); f != nil {
				s.Ack(f.TaskId, f.Attempt, true)
			}
		}
	}
}

// Send writes a message to the worker.
func (s *Stream) Send(msg *pb.DispatcherMessage) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	_ = s.srv.Send(msg)
}

// Assign pushes an assignment; Attempt 0 becomes 1 and MaxAttempts 0 becomes 3.
func (s *Stream) Assign(a *pb.Assignment) {
	if a.Attempt == 0 {
		a.Attempt = 1
	}
	if a.MaxAttempts == 0 {
		a.MaxAttempts = 3
	}
	s.Send(&pb.DispatcherMessage{Msg: &pb.DispatcherMessage_Assignment{Assignment: a}})
}

// Cancel asks the worker to cancel an attempt.
func (s *Stream) Cancel(taskID string, attempt int32, reason string) {
	s.Send(&pb.DispatcherMessage{Msg: &pb.DispatcherMessage_Cancel{Cancel: &pb.CancelAttempt{
		TaskId: taskID, Attempt: attempt, Reason: reason,
	}}})
}

// Ack answers a result.
func (s *Stream) Ack(taskID string, attempt int32, accepted bool) {
	reason := ""
	if !accepted {
		reason = "STALE_ATTEMPT"
	}
	s.Send(&pb.DispatcherMessage{Msg: &pb.DispatcherMessage_Ack{Ack: &pb.ReportAck{
		TaskId: taskID, Attempt: attempt, Accepted: accepted, Reason: reason,
	}}})
}

// Close ends the stream with a status, as the real dispatcher does.
func (s *Stream) Close(code codes.Code, details string) { s.end(status.Error(code, details)) }

func (s *Stream) end(err error) {
	select {
	case s.closed <- err:
	default:
	}
}

// Ended reports whether the call has ended.
func (s *Stream) Ended() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

// Next waits for and consumes the next message of a kind: "started", "progress", "completed",
// "failed" or "heartbeat".
func (s *Stream) Next(t testing.TB, kind string) *pb.WorkerMessage {
	t.Helper()
	var found *pb.WorkerMessage
	WaitFor(t, 5*time.Second, "a "+kind+" message", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, m := range s.received {
			if Kind(m) == kind {
				found = m
				s.received = append(s.received[:i:i], s.received[i+1:]...)
				return true
			}
		}
		return false
	})
	return found
}

// Log returns the kinds of every message received so far, batches unpacked.
func (s *Stream) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := make([]string, len(s.log))
	for i, m := range s.log {
		kinds[i] = Kind(m)
	}
	return kinds
}

// Messages returns every message received so far, batches unpacked.
func (s *Stream) Messages() []*pb.WorkerMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.WorkerMessage(nil), s.log...)
}

// Wire returns the kinds of the messages as they came over the stream (batches not unpacked).
func (s *Stream) Wire() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := make([]string, len(s.wire))
	for i, m := range s.wire {
		kinds[i] = Kind(m)
		if batch := m.GetBatch(); batch != nil {
			inner := make([]string, len(batch.Messages))
			for j, b := range batch.Messages {
				inner[j] = Kind(b)
			}
			kinds[i] = "batch[" + strings.Join(inner, ",") + "]"
		}
	}
	return kinds
}

// Kind names a worker message's case.
func Kind(m *pb.WorkerMessage) string {
	switch m.Msg.(type) {
	case *pb.WorkerMessage_Register:
		return "register"
	case *pb.WorkerMessage_Heartbeat:
		return "heartbeat"
	case *pb.WorkerMessage_Started:
		return "started"
	case *pb.WorkerMessage_Progress:
		return "progress"
	case *pb.WorkerMessage_Completed:
		return "completed"
	case *pb.WorkerMessage_Failed:
		return "failed"
	case *pb.WorkerMessage_Batch:
		return "batch"
	}
	return "unknown"
}

// WaitFor polls cond every few milliseconds until it holds; the test fails after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not seen within %v", what, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
