package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/server"
)

func guarded(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	opts.PublicAddr, opts.AdminAddr, opts.AdminToken = "127.0.0.1:0", "127.0.0.1:0", token
	opts.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	opts.ShutdownTimeout = 2 * time.Second
	srv := server.New(opts)
	ok := func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); w.Write([]byte("ok")) }
	srv.Admin.HandleFunc("POST /rpc", ok)
	srv.Admin.HandleFunc("POST /enclave", ok)
	srv.Admin.HandleFunc("POST /console/decide", ok)
	srv.AdminAPI.HandleFunc("PUT /admin/v1/thing", ok)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

// Every admin route checks Host (DNS rebinding), Origin (cross-site) and a JSON content type
// on bodies (simple cross-site posts), except the console's forms (CSRF tokens) and the
// enclave's endpoints (their own token): issue 11, defect 1.
func TestAdminGuard(t *testing.T) {
	t.Parallel()
	srv := guarded(t, server.Options{
		AdminHosts: []string{"vaspgate-admin.internal", "ops.example.com:8443"}, AdminOrigins: []string{"https://ops.example.com"},
		AdminFormPrefixes: []string{"/console/"}, AdminExemptPaths: []string{"/enclave"},
	})
	admin := srv.AdminAddr()
	_, port, _ := net.SplitHostPort(admin)
	tests := []struct {
		name, method, path, host, origin, ctype, body string
		want                                          int
	}{
		{"rpc json", "POST", "/rpc", "", "", "application/json", `{}`, 200},
		{"rpc json with charset", "POST", "/rpc", "", "", "application/json; charset=utf-8", `{}`, 200},
		{"rpc text/plain", "POST", "/rpc", "", "", "text/plain", `{}`, 415},
		{"rpc form", "POST", "/rpc", "", "", "application/x-www-form-urlencoded", `a=b`, 415},
		{"rpc no content type", "POST", "/rpc", "", "", "", `{}`, 415},
		{"rpc foreign origin", "POST", "/rpc", "", "https://evil.example", "application/json", `{}`, 403},
		{"rpc null origin", "POST", "/rpc", "", "null", "application/json", `{}`, 403},
		{"rpc own origin", "POST", "/rpc", "", "http://" + admin, "application/json", `{}`, 200},
		{"rpc configured origin", "POST", "/rpc", "", "https://ops.example.com", "application/json", `{}`, 200},
		{"rpc rebinding host", "POST", "/rpc", "evil.example:" + port, "", "application/json", `{}`, 403},
		{"rpc localhost", "POST", "/rpc", "localhost:" + port, "", "application/json", `{}`, 200},
		{"rpc ip literal", "POST", "/rpc", "10.0.0.5:" + port, "", "application/json", `{}`, 200},
		{"rpc ipv6 literal", "POST", "/rpc", "[::1]:" + port, "", "application/json", `{}`, 200},
		{"rpc configured host", "POST", "/rpc", "vaspgate-admin.internal:" + port, "", "application/json", `{}`, 200},
		{"rpc configured host:port", "POST", "/rpc", "ops.example.com:8443", "", "application/json", `{}`, 200},
		{"rpc configured host other port", "POST", "/rpc", "ops.example.com:9", "", "application/json", `{}`, 403},
		{"metrics rebinding host", "GET", "/metrics", "evil.example", "", "", "", 403},
		{"readyz rebinding host", "GET", "/readyz", "evil.example", "", "", "", 403},
		{"admin api text/plain", "PUT", "/admin/v1/thing", "", "", "text/plain", `{}`, 415},
		{"admin api json", "PUT", "/admin/v1/thing", "", "", "application/json", `{}`, 200},
		{"admin api foreign origin", "PUT", "/admin/v1/thing", "", "https://evil.example", "application/json", `{}`, 403},
		{"console form", "POST", "/console/decide", "", "http://" + admin, "application/x-www-form-urlencoded", `a=b`, 200},
		{"console foreign origin", "POST", "/console/decide", "", "https://evil.example", "application/x-www-form-urlencoded", `a=b`, 403},
		{"enclave any host and type", "POST", "/enclave", "enclave-peer.example", "", "text/plain", `{}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, "http://"+admin+tt.path, body)
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, b, tt.want)
			}
		})
	}
}

// With a certificate and key the admin listener serves TLS only.
func TestAdminTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vaspgate admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)

	srv := guarded(t, server.Options{AdminTLSCertFile: certFile, AdminTLSKeyFile: keyFile})
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Post("https://"+srv.AdminAddr()+"/rpc", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("over TLS = %d", resp.StatusCode)
	}
	if resp, err := http.Post("http://"+srv.AdminAddr()+"/rpc", "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain http to the TLS listener = %d, want refused", resp.StatusCode)
		}
	}
	// A missing key file is an error naming the settings, not a plain-text listener.
	bad := server.New(server.Options{PublicAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", AdminTLSCertFile: certFile, AdminTLSKeyFile: filepath.Join(dir, "nope")})
	if err := bad.Listen(); err == nil || !strings.Contains(err.Error(), "admin.tls_cert_file") {
		t.Fatalf("Listen with a missing key = %v", err)
	}
}
