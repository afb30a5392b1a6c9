package worker

import (
	"testing"
	"time"
)

func TestKeepaliveFollowsTheDispatchersHeartbeatTimeout(t *testing.T) {
	w, err := New(WithAddresses("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	// Before any registration: the dispatchers' default timeout of 10 s; gRPC's floor of 10 s.
	if p := w.keepalive(); p.Time != 10*time.Second || p.Timeout != 2500*time.Millisecond {
		t.Errorf("default = %+v", p)
	}
	w.heartbeatTimeout.Store(int64(60 * time.Second))
	if p := w.keepalive(); p.Time != 30*time.Second || p.Timeout != 15*time.Second {
		t.Errorf("after a 60 s timeout = %+v", p)
	}
	w.heartbeatTimeout.Store(int64(2 * time.Second))
	if p := w.keepalive(); p.Time != 10*time.Second || p.Timeout != time.Second {
		t.Errorf("after a 2 s timeout = %+v", p)
	}
	set, _ := New(WithAddresses("127.0.0.1:1"), WithKeepalive(20*time.Second, 3*time.Second))
	if p := set.keepalive(); p.Time != 20*time.Second || p.Timeout != 3*time.Second {
		t.Errorf("configured = %+v", p)
	}
}
