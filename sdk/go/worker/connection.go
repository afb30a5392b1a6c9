package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/backoff"
	"github.com/taskstream/taskstream/sdk/go/internal/version"
)

// RegistrationError is Run's error when a dispatcher refused the worker's registration for a reason
// retrying cannot fix: an invalid Register (INVALID_ARGUMENT) or missing authorisation
// (UNAUTHENTICATED, or PERMISSION_DENIED for a fresh identity).
type RegistrationError struct {
	Address string
	Code    codes.Code
	Details string
}

func (e *RegistrationError) Error() string {
	return fmt.Sprintf("taskstream: dispatcher %s refused the registration: %s: %s", e.Address, e.Code, e.Details)
}

// streamEnd is how one stream ended.
type streamEnd struct {
	address    string
	code       codes.Code
	details    string
	registered bool // the stream had been registered (false: refused, unreachable, timed out)
	resuming   bool // its Register named a worker id (a resume)
	fatal      error
}

// connect keeps one stream open to the leading dispatcher until closing is closed, and returns nil
// then; it returns an error only for a refusal that retrying cannot fix. It registers on every
// (re)connect, tries the addresses round-robin while they refuse (not leader, unreachable), and
// backs off exponentially between tries.
func (w *Worker) connect(closing <-chan struct{}) error {
	delays := backoff.New(w.cfg.backoffInitial, w.cfg.backoffMax)
	index := 0
	for {
		address := w.cfg.addresses[index%len(w.cfg.addresses)]
		end := w.runStream(address, closing, delays)
		w.emit(DisconnectedEvent{Address: end.address, Code: end.code, Details: end.details})
		if isClosed(closing) {
			return nil
		}
		if end.fatal != nil {
			return end.fatal
		}
		if w.nextAddress(end) {
			index++
		}
		resumeRefused := !end.registered && end.resuming && end.code == codes.PermissionDenied
		delay := delays.Next()
		if resumeRefused {
			w.forgetIdentity(end.details)
			// The same dispatcher at once, now as a new worker.
			delay = 0
		}
		w.log.Info("taskstream dispatcher stream ended; reconnecting", "address", end.address,
			"code", end.code.String(), "details", end.details, "registered", end.registered, "delay", delay)
		timer := time.NewTimer(delay)
		select {
		case <-closing:
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// nextAddress decides where to reconnect. A registered stream that broke: its dispatcher probably
// still leads, so it is tried again first. One that never registered (unreachable, refused, silent)
// or that lost leadership: the next address. Two refusals keep the address: a refused resume (the
// same dispatcher at once, as a new worker) and a leader that is still starting (it leads; it
// takes workers once it has rebuilt its state from the log).
func (w *Worker) nextAddress(end streamEnd) bool {
	// "not leader", or "not leader: <why>" from a dispatcher that just lost its lease.
	if end.code == codes.Unavailable && strings.HasPrefix(end.details, "not leader") {
		return true
	}
	if end.registered {
		return false
	}
	resumeRefused := end.resuming && end.code == codes.PermissionDenied
	starting := end.code == codes.Unavailable &&
		(end.details == "leader is starting" || end.details == "dispatcher is starting")
	return !resumeRefused && !starting
}

// forgetIdentity drops the worker id and resume token a dispatcher would not accept (say, after
// the cluster's secret was replaced): the worker registers as a new one. Results of attempts held
// under the old identity will be refused, and those attempts retried elsewhere.
func (w *Worker) forgetIdentity(details string) {
	w.mu.Lock()
	old := w.workerID
	w.workerID, w.resumeToken = "", ""
	w.mu.Unlock()
	w.log.Warn("taskstream worker identity not resumed; registering as a new worker", "workerId", old, "details", details)
}

// runStream opens one stream to address, registers, and serves it until it ends.
func (w *Worker) runStream(address string, closing <-chan struct{}, delays *backoff.Backoff) streamEnd {
	opts := append(w.cfg.transport.DialOptions(), grpc.WithKeepaliveParams(w.keepalive()))
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		return streamEnd{address: address, code: codes.InvalidArgument, details: err.Error(),
			fatal: fmt.Errorf("taskstream: cannot connect to %q: %w", address, err)}
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	registered := make(chan struct{})
	go closeWhen(closing, registered, ctx, cancel, w.cfg.closeTimeout)

	register := w.registerMessage()
	end := streamEnd{address: address, resuming: register.WorkerId != ""}
	stream, err := pb.NewWorkerServiceClient(conn).Connect(ctx)
	if err != nil {
		return ended(end, err)
	}
	timeout := time.AfterFunc(w.cfg.registerTimeout, func() {
		w.log.Warn("taskstream dispatcher did not answer register in time", "address", address)
		cancel()
	})
	// A failed Send shows as the stream's status in Recv.
	_ = stream.Send(&pb.WorkerMessage{Msg: &pb.WorkerMessage_Register{Register: register}})
	reg, rest, err := awaitRegistered(stream)
	timeout.Stop()
	if err != nil {
		return ended(end, err)
	}
	if fatal := w.checkRegistered(reg); fatal != nil {
		end.code, end.details, end.fatal = codes.FailedPrecondition, fatal.Error(), fatal
		return end
	}
	end.registered = true
	delays.Reset()
	s, interval := w.onRegistered(reg, address)
	close(registered)

	senderDone := make(chan struct{})
	receiveEnded := make(chan struct{})
	go func() {
		defer close(senderDone)
		w.sender(s, stream, interval, closing, receiveEnded)
	}()
	w.receive(s, rest)
	for {
		msg, err := stream.Recv()
		if err != nil {
			end = ended(end, err)
			break
		}
		w.receive(s, []*pb.DispatcherMessage{msg})
	}
	close(receiveEnded)
	<-senderDone
	w.onDisconnected(s)
	return end
}

// closeWhen ends a stream when the worker closes: at once before registration, else after a
// grace for the dispatcher to end the half-closed stream (the sender half-closes it).
func closeWhen(closing <-chan struct{}, registered <-chan struct{}, ctx context.Context,
	cancel context.CancelFunc, grace time.Duration) {
	select {
	case <-closing:
	case <-ctx.Done():
		return
	}
	select {
	case <-registered:
	default:
		cancel()
		return
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-timer.C:
		cancel()
	case <-ctx.Done():
	}
}

// awaitRegistered reads until the dispatcher's Registered; it returns the messages that followed
// it in the same batch. Anything before Registered is ignored.
func awaitRegistered(stream pb.WorkerService_ConnectClient) (*pb.Registered, []*pb.DispatcherMessage, error) {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil, nil, err
		}
		messages := []*pb.DispatcherMessage{msg}
		if batch := msg.GetBatch(); batch != nil {
			messages = batch.Messages
		}
		for i, m := range messages {
			if reg := m.GetRegistered(); reg != nil {
				return reg, messages[i+1:], nil
			}
		}
	}
}

// receive handles messages in order; a batch's messages as if they had arrived one by one, with
// the reports they cause held back until the whole batch is handled.
func (w *Worker) receive(s *session, messages []*pb.DispatcherMessage) {
	for _, msg := range messages {
		batch := msg.GetBatch()
		if batch == nil {
			w.handle(msg)
			continue
		}
		w.mu.Lock()
		s.corked = true
		w.mu.Unlock()
		for _, inner := range batch.Messages {
			if inner.GetBatch() != nil {
				w.log.Warn("taskstream nested batch ignored", "address", s.address)
				continue
			}
			w.handle(inner)
		}
		w.mu.Lock()
		s.corked = false
		s.signal()
		w.mu.Unlock()
	}
}

// ended fills in how a stream ended from the error Recv (or Connect) returned.
func ended(end streamEnd, err error) streamEnd {
	if errors.Is(err, io.EOF) {
		end.code, end.details = codes.OK, "stream ended by the dispatcher"
	} else {
		st := status.Convert(err)
		end.code, end.details = st.Code(), st.Message()
	}
	if !end.registered {
		switch {
		case end.code == codes.InvalidArgument, end.code == codes.Unauthenticated,
			end.code == codes.PermissionDenied && !end.resuming:
			end.fatal = &RegistrationError{Address: end.address, Code: end.code, Details: end.details}
		}
	}
	return end
}

// checkRegistered rejects a Registered the worker cannot work with.
func (w *Worker) checkRegistered(reg *pb.Registered) error {
	if reg.WorkerId == "" {
		return errors.New("taskstream: the dispatcher registered the worker without an id")
	}
	return nil
}

func (w *Worker) registerMessage() *pb.Register {
	w.mu.Lock()
	defer w.mu.Unlock()
	types := make([]string, 0, len(w.handlers))
	for t := range w.handlers {
		types = append(types, t)
	}
	return &pb.Register{
		WorkerId:       w.workerID,
		ResumeToken:    w.resumeToken,
		Name:           w.cfg.name,
		Types:          types,
		Labels:         w.cfg.labels,
		Slots:          int32(w.cfg.slots),
		Sdk:            version.SDKName,
		Active:         w.heldLocked(),
		AcceptsBatches: true,
	}
}

// onRegistered takes the dispatcher's answer: the identity to resume with, the limits, the
// heartbeat interval; it opens the session with the reports that wait for a stream (set-aside
// starts and progress, then every unacknowledged result).
func (w *Worker) onRegistered(reg *pb.Registered, address string) (*session, time.Duration) {
	interval := w.cfg.heartbeatInterval
	if interval == 0 {
		interval = time.Duration(reg.HeartbeatIntervalMs) * time.Millisecond
	}
	if interval <= 0 {
		interval = defaultHeartbeatInterval
	}
	w.heartbeatInterval.Store(int64(interval))
	if reg.HeartbeatTimeoutMs > 0 {
		w.heartbeatTimeout.Store(int64(time.Duration(reg.HeartbeatTimeoutMs) * time.Millisecond))
	}
	w.mu.Lock()
	w.workerID = reg.WorkerId
	w.resumeToken = reg.ResumeToken
	w.maxResultBytes = int(reg.MaxResultBytes)
	s := newSession(address, reg.AcceptsBatches, w.reports.drain())
	w.session = s
	w.mu.Unlock()
	w.log.Info("taskstream worker registered", "workerId", reg.WorkerId, "address", address)
	w.emit(RegisteredEvent{WorkerID: reg.WorkerId, Address: address, HeartbeatInterval: interval})
	// After the event, so a listener has seen the registration by the time Ready is closed.
	w.readyOnce.Do(func() { close(w.ready) })
	return s, interval
}

// onDisconnected detaches the session: what it had not written waits for the next stream.
func (w *Worker) onDisconnected(s *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.session == s {
		w.session = nil
	}
	for _, msg := range s.queue {
		w.setAsideLocked(msg)
	}
	s.queue = nil
}

// keepalive pings a quiet connection so a dead dispatcher (or network path) is noticed even while
// the worker has nothing to say: by default after half the dispatcher's heartbeat timeout, with a
// quarter of it to answer. gRPC raises any time below 10 s to 10 s; it is set so here already.
func (w *Worker) keepalive() keepalive.ClientParameters {
	timeout := time.Duration(w.heartbeatTimeout.Load())
	params := keepalive.ClientParameters{Time: w.cfg.keepaliveTime, Timeout: w.cfg.keepaliveTimeout}
	if params.Time == 0 {
		params.Time = timeout / 2
	}
	if params.Timeout == 0 {
		params.Timeout = max(timeout/4, time.Second)
	}
	params.Time = max(params.Time, 10*time.Second)
	return params
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
