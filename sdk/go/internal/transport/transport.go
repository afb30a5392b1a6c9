// Package transport builds the gRPC dial options the worker and the client share: transport
// security, the API key as per-call metadata, the user agent and the message size limit.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/taskstream/taskstream/sdk/go/internal/version"
)

// DefaultMaxReceiveBytes bounds one message from the server. Payloads may be configured up to
// 64 MiB and a dispatcher batch carries several assignments, so gRPC's 4 MiB default is too small.
const DefaultMaxReceiveBytes = 256 << 20

// Settings are the connection options common to the worker and the client.
type Settings struct {
	// Credentials secure the transport; nil means plaintext (insecure), as for a local server.
	Credentials credentials.TransportCredentials
	// APIKey, when set, is sent as "authorization: Bearer <key>" on every call.
	APIKey string
	// MaxReceiveBytes bounds one received message (DefaultMaxReceiveBytes when 0).
	MaxReceiveBytes int
	// Extra dial options, appended last so they can override the others.
	Extra []grpc.DialOption
}

// SetTLS secures the transport with cfg (a nil cfg uses the system roots and default settings).
func (s *Settings) SetTLS(cfg *tls.Config) {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	s.Credentials = credentials.NewTLS(cfg)
}

// Validate reports settings that cannot work.
func (s *Settings) Validate() error {
	if strings.ContainsAny(s.APIKey, "\r\n") {
		return errors.New("taskstream: the API key must not contain line breaks")
	}
	if s.MaxReceiveBytes < 0 {
		return fmt.Errorf("taskstream: the maximum receive size must not be negative, got %d", s.MaxReceiveBytes)
	}
	return nil
}

// DialOptions are the gRPC options for a connection with these settings.
func (s *Settings) DialOptions() []grpc.DialOption {
	creds := s.Credentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	maxReceive := s.MaxReceiveBytes
	if maxReceive == 0 {
		maxReceive = DefaultMaxReceiveBytes
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("taskstream-" + strings.ReplaceAll(version.SDKName, "/", "-")),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReceive)),
	}
	if s.APIKey != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(s.APIKey)))
	}
	return append(opts, s.Extra...)
}

// bearer sends an API key as "authorization: Bearer <key>" metadata.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so a development server on loopback can be reached without
// TLS; across a network the key should travel over TLS (WithTLS).
func (bearer) RequireTransportSecurity() bool { return false }
