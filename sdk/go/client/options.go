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
