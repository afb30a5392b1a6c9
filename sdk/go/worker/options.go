package worker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taskstream/taskstream/sdk/go/internal/transport"
)

// Option configures a Worker (see New).
type Option func(*config)

type config struct {
	addresses         []string
	name              string
	slots             int
	labels            map[string]string
	logger            *slog.Logger
	transport         transport.Settings
	heartbeatInterval time.Duration  // 0: the dispatcher's
	heartbeatThrottle *time.Duration // a cap on the throttle window; nil: none
	backoffInitial    time.Duration
	backoffMax        time.Duration
	registerTimeout   time.Duration
	keepaliveTime     time.Duration // 0: derived from the dispatcher's heartbeat timeout
	keepaliveTimeout  time.Duration
	gracePeriod       time.Duration
	settleTimeout     time.Duration
	flushTimeout      time.Duration
	closeTimeout      time.Duration
	tracerProvider    trace.TracerProvider // nil: the global provider
	listener          func(Event)
}

func defaults() config {
	return config{
		name:            fmt.Sprintf("go-worker-%d", os.Getpid()),
		slots:           10,
		labels:          map[string]string{},
		backoffInitial:  100 * time.Millisecond,
		backoffMax:      5 * time.Second,
		registerTimeout: 10 * time.Second,
		gracePeriod:     30 * time.Second,
		settleTimeout:   time.Second,
		flushTimeout:    5 * time.Second,
		closeTimeout:    2 * time.Second,
	}
}

// WithAddresses sets the dispatcher addresses (host:port). Required. With several, the worker tries
// them round-robin until one leads.
func WithAddresses(addresses ...string) Option {
	return func(c *config) { c.addresses = append([]string(nil), addresses...) }
}

// WithName sets the name shown in the dispatcher's worker list (default "go-worker-<pid>").
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithSlots sets how many attempts run at once (default 10).
func WithSlots(slots int) Option { return func(c *config) { c.slots = slots } }

// WithLabels sets the labels matched against the tasks' requires (default none).
func WithLabels(labels map[string]string) Option {
	return func(c *config) {
		c.labels = make(map[string]string, len(labels))
		for k, v := range labels {
			c.labels[k] = v
		}
	}
}

// WithLogger sets where the worker writes its own diagnostics (default: slog.Default(), warnings
// and errors only matter there; debug and info are routine).
func WithLogger(logger *slog.Logger) Option { return func(c *config) { c.logger = logger } }

// WithTLS secures the connection with TLS; a nil cfg uses the system's roots.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.transport.SetTLS(cfg) } }

// WithTransportCredentials secures the connection with any gRPC transport credentials.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) { c.transport.Credentials = creds }
}

// WithAPIKey sends "authorization: Bearer <key>" with the stream.
func WithAPIKey(key string) Option { return func(c *config) { c.transport.APIKey = key } }

// WithMaxReceiveMessageSize bounds one message from the dispatcher (default 256 MiB).
func WithMaxReceiveMessageSize(bytes int) Option {
	return func(c *config) { c.transport.MaxReceiveBytes = bytes }
}

// WithDialOptions appends gRPC dial options (interceptors, a custom dialer); they apply last.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.transport.Extra = append(c.transport.Extra, opts...) }
}

// WithHeartbeatInterval overrides the heartbeat interval the dispatcher asks for (default 2 s from
// the dispatcher): how often the worker tells the dispatcher it is alive and which attempts it
// holds. Task.Heartbeat's progress follows each task's own heartbeat timeout, not this interval.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(c *config) { c.heartbeatInterval = d }
}

// WithHeartbeatThrottle caps the window of Task.Heartbeat's throttle. An advanced option: by default
// each attempt sends at most one progress message per 80% of its task's heartbeat timeout (per 30 s
// when the task has none), which keeps the task alive without flooding the stream. A cap shortens
// longer windows (0 sends every heartbeat at once), e.g. to make progress visible sooner; it never
// lengthens one.
func WithHeartbeatThrottle(window time.Duration) Option {
	return func(c *config) { c.heartbeatThrottle = &window }
}

// WithReconnectBackoff sets the reconnection delays: exponential from initial, doubling up to max,
// with jitter (defaults 100 ms and 5 s).
func WithReconnectBackoff(initial, max time.Duration) Option {
	return func(c *config) { c.backoffInitial, c.backoffMax = initial, max }
}

// WithRegisterTimeout sets how long a dispatcher may take to answer Register before the worker
// gives up on it and tries again (default 10 s).
func WithRegisterTimeout(d time.Duration) Option { return func(c *config) { c.registerTimeout = d } }

// WithKeepalive sets the gRPC keepalive pings that notice a dead connection: a ping after time
// without activity, the connection closed when its answer takes longer than timeout. By default
// time is half the dispatcher's heartbeat timeout and timeout a quarter of it (gRPC allows no
// time below 10 s).
func WithKeepalive(time, timeout time.Duration) Option {
	return func(c *config) { c.keepaliveTime, c.keepaliveTimeout = time, timeout }
}

// WithGracePeriod sets how long running handlers may finish after a stop before their contexts are
// cancelled with ErrWorkerStopping (default 30 s).
func WithGracePeriod(d time.Duration) Option { return func(c *config) { c.gracePeriod = d } }

// WithStopTimeouts sets the later steps of a stop: how long cancelled handlers get to return before
// they are reported failed with WORKER_STOPPING (settle, default 1 s), and how long to wait for
// the dispatcher to acknowledge the last results (flush, default 5 s).
func WithStopTimeouts(settle, flush time.Duration) Option {
	return func(c *config) { c.settleTimeout, c.flushTimeout = settle, flush }
}

// WithTracerProvider sets the provider of the handler spans ("task <type>"); by default the
// global one (otel.GetTracerProvider), which records nothing until an application installs one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithListener calls fn with every Event (registered, assigned, completed, failed, acknowledged,
// disconnected), for metrics, logs and tests. fn runs on the worker's goroutines: keep it quick.
func WithListener(fn func(Event)) Option { return func(c *config) { c.listener = fn } }

// typePattern is the dispatcher's rule for task types, so a bad one fails Register rather than every
// registration with the dispatcher.
var typePattern = regexp.MustCompile(`^[A-Za-z0-9_.:\-/]+$`)

func (c *config) validate() error {
	if len(c.addresses) == 0 {
		return fmt.Errorf("taskstream: at least one dispatcher address is required (WithAddresses)")
	}
	for i, address := range c.addresses {
		if address == "" {
			return fmt.Errorf("taskstream: dispatcher address %d is empty", i)
		}
	}
	if c.slots < 1 {
		return fmt.Errorf("taskstream: slots must be at least 1, got %d", c.slots)
	}
	if len(c.name) > 128 {
		return fmt.Errorf("taskstream: the worker name must be at most 128 characters, got %d", len(c.name))
	}
	if len(c.labels) > 64 {
		return fmt.Errorf("taskstream: at most 64 labels, got %d", len(c.labels))
	}
	for k, v := range c.labels {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return fmt.Errorf("taskstream: label %q: keys must be 1 to 128 characters, values at most 256", k)
		}
	}
	type bound struct {
		name       string
		value, min time.Duration
	}
	durations := []bound{
		{"heartbeat interval", c.heartbeatInterval, 0},
		{"initial backoff", c.backoffInitial, time.Millisecond},
		{"maximum backoff", c.backoffMax, c.backoffInitial},
		{"register timeout", c.registerTimeout, time.Millisecond},
		{"keepalive time", c.keepaliveTime, 0},
		{"keepalive timeout", c.keepaliveTimeout, 0},
		{"grace period", c.gracePeriod, 0},
		{"settle timeout", c.settleTimeout, 0},
		{"flush timeout", c.flushTimeout, 0},
	}
	if c.heartbeatThrottle != nil {
		durations = append(durations, bound{"heartbeat throttle", *c.heartbeatThrottle, 0})
	}
	for _, d := range durations {
		if d.value < d.min {
			return fmt.Errorf("taskstream: the %s must be at least %v, got %v", d.name, d.min, d.value)
		}
	}
	return c.transport.Validate()
}
