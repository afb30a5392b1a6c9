package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

func refs(register *pb.Register) []string {
	var out []string
	for _, ref := range register.Active {
		out = append(out, ref.TaskId+"#"+string(rune('0'+ref.Attempt)))
	}
	return out
}

func TestResendsAResultWhoseAckWasLostAfterRegisteringAgainWithTheAttempt(t *testing.T) {
	d := fake(t, fakedispatcher.Options{ManualAck: true, HeartbeatIntervalMs: 20})
	w := startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address))
	first := d.Stream(t, 0)
	first.Assign(&pb.Assignment{TaskId: "t1", Type: "echo", PayloadJson: "42"})
	completed(t, first)
	first.Close(codes.Unavailable, "connection reset")

	second := d.Stream(t, 1)
	if got := w.events.disconnects(); len(got) != 1 || got[0] != (worker.DisconnectedEvent{
		Address: d.Address, Code: codes.Unavailable, Details: "connection reset"}) {
		t.Errorf("disconnects = %v", got)
	}
	register := d.Registers()[1]
	equal(t, "worker id", register.WorkerId, "w-1")
	equal(t, "resume token", register.ResumeToken, "token-w-1")
	if got := refs(register); !slices.Equal(got, []string{"t1#1"}) {
		t.Errorf("active = %v", got)
	}
	if got := completed(t, second); !proto.Equal(got, &pb.AttemptCompleted{TaskId: "t1", Attempt: 1, ResultJson: "42"}) {
		t.Errorf("re-sent = %v", got)
	}
	// Re-sent results go out right after registration, before any heartbeat.
	equal(t, "first message on the new stream", second.Log()[0], "completed")
	hb := second.Next(t, "heartbeat").GetHeartbeat()
	if len(hb.Active) != 1 || hb.Active[0].TaskId != "t1" {
		t.Errorf("heartbeat lists %v, want the unacknowledged t1", hb.Active)
	}

	// Once acknowledged, the result is forgotten: the next stream neither lists nor re-sends it.
	second.Ack("t1", 1, true)
	fakedispatcher.WaitFor(t, 3*time.Second, "the ack", func() bool { return len(w.events.acks()) == 1 })
	second.Close(codes.Unavailable, "connection reset")
	third := d.Stream(t, 2)
	equal(t, "active after the ack", len(d.Registers()[2].Active), 0)
	third.Next(t, "heartbeat")
	if slices.Contains(third.Log(), "completed") {
		t.Errorf("an acknowledged result was re-sent: %v", third.Log())
	}
}

func TestResumesWithTheTokenAndRegistersAfreshWhenItIsRefused(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	w := startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address))
	equal(t, "first register's id", d.Registers()[0].WorkerId, "")
	d.Stream(t, 0).Close(codes.Unavailable, "connection reset")
	d.Stream(t, 1)
	equal(t, "resume id", d.Registers()[1].WorkerId, "w-1")
	equal(t, "resume token", d.Registers()[1].ResumeToken, "token-w-1")

	d.SetTokenSuffix("-rotated") // tokens issued so far prove nothing any more
	d.Stream(t, 1).Close(codes.Unavailable, "connection reset")
	d.Stream(t, 2)
	registers := d.Registers()
	if len(registers) != 4 {
		t.Fatalf("registers = %d, want 4 (resume refused, then fresh)", len(registers))
	}
	equal(t, "refused resume id", registers[2].WorkerId, "w-1")
	equal(t, "fresh id", registers[3].WorkerId, "")
	equal(t, "fresh token", registers[3].ResumeToken, "")
	fakedispatcher.WaitFor(t, 3*time.Second, "the new id", func() bool { return w.ID() == "w-2" })
	disconnects := w.events.disconnects()
	equal(t, "refusal code", disconnects[len(disconnects)-1].Code, codes.PermissionDenied)
}

func TestKeepsAHandlerRunningAcrossAReconnectAndReportsOnTheNewStream(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	ctxErr := make(chan error, 1)
	startWorker(t, map[string]worker.Handler{
		"hold": func(ctx context.Context, _ *worker.Task) (any, error) {
			release.wait()
			ctxErr <- ctx.Err()
			return "late", nil
		},
	}, worker.WithAddresses(d.Address))
	first := d.Stream(t, 0)
	first.Assign(&pb.Assignment{TaskId: "t1", Type: "hold", Attempt: 4})
	first.Next(t, "started")
	first.Close(codes.Unavailable, "connection reset")
	second := d.Stream(t, 1)
	if got := refs(d.Registers()[1]); !slices.Equal(got, []string{"t1#4"}) {
		t.Errorf("active = %v", got)
	}
	release.open()
	if got := completed(t, second); !proto.Equal(got, &pb.AttemptCompleted{TaskId: "t1", Attempt: 4, ResultJson: `"late"`}) {
		t.Errorf("completed = %v", got)
	}
	equal(t, "first stream", slices.Equal(first.Log(), []string{"started"}), true)
	equal(t, "handler context still live", <-ctxErr, nil)
}

func TestSendsProgressAndResultsMadeWhileDisconnectedInOrderOnReconnect(t *testing.T) {
	d := fake(t, fakedispatcher.Options{})
	release := newGate()
	disconnected := make(chan struct{}, 1)
	startWorker(t, map[string]worker.Handler{
		"hold": func(_ context.Context, task *worker.Task) (any, error) {
			release.wait()
			if err := task.Heartbeat(map[string]string{"at": "offline"}); err != nil {
				return nil, err
			}
			return "done", nil
		},
	}, worker.WithAddresses(d.Address), worker.WithReconnectBackoff(200*time.Millisecond, time.Second),
		worker.WithListener(func(e worker.Event) {
			if _, ok := e.(worker.DisconnectedEvent); ok {
				disconnected <- struct{}{}
			}
		}))
	first := d.Stream(t, 0)
	first.Assign(&pb.Assignment{TaskId: "t1", Type: "hold"})
	first.Next(t, "started")
	first.Close(codes.Unavailable, "connection reset")
	<-disconnected
	// Released while the stream is down: the reconnect waits at least 100 ms of backoff.
	release.open()
	second := d.Stream(t, 1)
	completed(t, second)
	if got := second.Log(); !slices.Equal(got, []string{"progress", "completed"}) {
		t.Errorf("new stream got %v", got)
	}
	equal(t, "details", second.Messages()[0].GetProgress().DetailsJson, `{"at":"offline"}`)
}

func TestMovesToTheNextAddressWhenTheFirstIsNotLeader(t *testing.T) {
	standby := fake(t, fakedispatcher.Options{Refuse: "not leader"})
	leader := fake(t, fakedispatcher.Options{})
	w := startWorker(t, map[string]worker.Handler{"echo": echo},
		worker.WithAddresses(standby.Address, leader.Address))
	equal(t, "registered at", w.events.registrations()[0].Address, leader.Address)
	equal(t, "standby registers", len(standby.Registers()), 1)
	if got := w.events.disconnects(); len(got) != 1 || got[0] != (worker.DisconnectedEvent{
		Address: standby.Address, Code: codes.Unavailable, Details: "not leader"}) {
		t.Errorf("disconnects = %v", got)
	}
	s := leader.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo", PayloadJson: `"hi"`})
	equal(t, "result", completed(t, s).ResultJson, `"hi"`)
}

func TestGoesRoundTheListUnreachableThenStandbyThenLeader(t *testing.T) {
	gone := fakedispatcher.Start(t, fakedispatcher.Options{})
	goneAddress := gone.Address
	gone.Stop()
	standby := fake(t, fakedispatcher.Options{Refuse: "not leader"})
	leader := fake(t, fakedispatcher.Options{})
	w := startWorker(t, map[string]worker.Handler{"echo": echo},
		worker.WithAddresses(goneAddress, standby.Address, leader.Address))
	var addresses []string
	for _, d := range w.events.disconnects() {
		addresses = append(addresses, d.Address)
	}
	if !slices.Equal(addresses, []string{goneAddress, standby.Address}) {
		t.Errorf("tried %v, want unreachable then standby", addresses)
	}
	equal(t, "unreachable code", w.events.disconnects()[0].Code, codes.Unavailable)
	equal(t, "id", w.ID(), "w-1")
}

func TestRetriesADispatcherWhoseStreamBrokeButMovesOnFromOneThatLostLeadership(t *testing.T) {
	a := fake(t, fakedispatcher.Options{})
	b := fake(t, fakedispatcher.Options{})
	startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(a.Address, b.Address))
	a.Stream(t, 0).Close(codes.Unavailable, "connection reset")
	a.Stream(t, 1).Close(codes.Unavailable, "not leader")
	b.Stream(t, 0)
	equal(t, "registers at a", len(a.Registers()), 2)
	equal(t, "resumed at b", b.Registers()[0].WorkerId, "w-1")
}

func TestMovesOnFromADispatcherWhoseLeaseLapsed(t *testing.T) {
	// "not leader: <why>": the dispatcher lost leadership while the stream was registered.
	a := fake(t, fakedispatcher.Options{})
	b := fake(t, fakedispatcher.Options{})
	w := startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(a.Address, b.Address))
	a.Stream(t, 0).Close(codes.Unavailable, "not leader: lease lost")
	s := b.Stream(t, 0)
	equal(t, "registers at a", len(a.Registers()), 1)
	equal(t, "resumed at b", b.Registers()[0].WorkerId, "w-1")
	equal(t, "disconnect details", w.events.disconnects()[0].Details, "not leader: lease lost")
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo", PayloadJson: `"hi"`})
	equal(t, "result", completed(t, s).ResultJson, `"hi"`)
}

func TestGivesUpOnADispatcherThatDoesNotAnswerRegister(t *testing.T) {
	silent := fake(t, fakedispatcher.Options{Silent: true})
	leader := fake(t, fakedispatcher.Options{})
	w := startWorker(t, map[string]worker.Handler{"echo": echo},
		worker.WithAddresses(silent.Address, leader.Address), worker.WithRegisterTimeout(100*time.Millisecond))
	equal(t, "registered at", w.events.registrations()[0].Address, leader.Address)
	equal(t, "silent registers", len(silent.Registers()), 1)
	equal(t, "given up with", w.events.disconnects()[0].Code, codes.Canceled)
}

func TestStaysWithALeaderThatIsStillStarting(t *testing.T) {
	starting := fake(t, fakedispatcher.Options{Refuse: "leader is starting", RefuseTimes: 1})
	other := fake(t, fakedispatcher.Options{Refuse: "not leader"})
	w := startWorker(t, map[string]worker.Handler{"echo": echo},
		worker.WithAddresses(starting.Address, other.Address))
	equal(t, "registered at", w.events.registrations()[0].Address, starting.Address)
	equal(t, "registers at the starting leader", len(starting.Registers()), 2)
	equal(t, "registers elsewhere", len(other.Registers()), 0)
}
