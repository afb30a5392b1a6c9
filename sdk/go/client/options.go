package client

import (
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taskstream/taskstream/sdk/go/internal/transport"
)

// Option configures a Client (see New).
type Option func(*config)

type config struct {
	transport transport.Settings
	timeout   time.Duration
	coalesce  bool
}

// WithTLS secures the connection with TLS; a nil cfg uses the system's roots.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.transport.SetTLS(cfg) } }

// WithTransportCredentials secures the connection with any gRPC transport credentials.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) { c.transport.Credentials = creds }
}

// WithAPIKey sends "authorization: Bearer <key>" with every call.
func WithAPIKey(key string) Option { return func(c *config) { c.transport.APIKey = key } }

// WithTimeout bounds each call whose context has no deadline of its own (default 30 s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithMaxReceiveMessageSize bounds one answer (default 256 MiB).
func WithMaxReceiveMessageSize(bytes int) Option {
	return func(c *config) { c.transport.MaxReceiveBytes = bytes }
}

// WithDialOptions appends gRPC dial options (interceptors, a custom dialer); they apply last.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.transport.Extra = append(c.transport.Extra, opts...) }
}

// WithSubmitCoalescing makes concurrent Submit calls share SubmitTasks calls (default off): one call
// is in flight at a time and what is submitted meanwhile goes together in the next, each task
// still validated, deduplicated and answered on its own (a batch refused as invalid is resent task
// by task). Under load one call then carries many tasks. A shared call runs with the client's
// timeout rather than the caller's context; a Submit whose context carries a trace or outgoing
// metadata is always sent alone.
func WithSubmitCoalescing(enabled bool) Option { return func(c *config) { c.coalesce = enabled } }
