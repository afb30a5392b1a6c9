package worker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	pb "github.com/taskstream/taskstream/sdk/go/gen/taskstream/v1"
	"github.com/taskstream/taskstream/sdk/go/internal/fakedispatcher"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake dispatcher"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestConnectsOverTLSWithTheAPIKey(t *testing.T) {
	cert, pool := selfSigned(t)
	d := fake(t, fakedispatcher.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	startWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address),
		worker.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}), worker.WithAPIKey("k"))
	s := d.Stream(t, 0)
	s.Assign(&pb.Assignment{TaskId: "t1", Type: "echo", PayloadJson: `"over tls"`})
	equal(t, "result", completed(t, s).ResultJson, `"over tls"`)
	equal(t, "authorization", d.Metadata()[0].Get("authorization")[0], "Bearer k")
}

func TestAPlaintextWorkerCannotRegisterWithATLSDispatcher(t *testing.T) {
	cert, _ := selfSigned(t)
	d := fake(t, fakedispatcher.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	w := newWorker(t, map[string]worker.Handler{"echo": echo}, worker.WithAddresses(d.Address))
	fakedispatcher.WaitFor(t, 3*time.Second, "a failed connection", func() bool { return len(w.events.disconnects()) > 0 })
	select {
	case <-w.Ready():
		t.Fatal("registered over plaintext with a TLS server")
	default:
	}
	equal(t, "registers", len(d.Registers()), 0)
}
