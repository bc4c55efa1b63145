package callback

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestGuardRanges(t *testing.T) {
	t.Parallel()
	refused := []string{
		"0.0.0.0", "10.1.2.3", "100.64.0.1", "127.0.0.1", "127.8.8.8", "169.254.169.254",
		"172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1", "198.18.0.1",
		"198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
		"100::1", "2001:db8::1", "2002:7f00:1::", "5f00::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
		"fd00:ec2::254",
	}
	allowed := []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2606:4700::1111"}
	var g Guard
	for _, s := range refused {
		if g.Allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range allowed {
		if !g.Allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
	allow, err := ParseAllow([]string{"127.0.0.0/8", "10.9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	g = Guard{Allow: allow}
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.9.9.9"} {
		if !g.Allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s refused despite the allow-list", s)
		}
	}
	if g.Allowed(netip.MustParseAddr("10.9.9.8")) || g.Allowed(netip.MustParseAddr("169.254.169.254")) {
		t.Error("allow-list too wide")
	}
	if _, err := ParseAllow([]string{"nope"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestClientRefusesForbiddenDestinations(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit <- struct{}{} }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := NewHTTPClient(ClientOptions{})
	for _, u := range []string{
		srv.URL,                          // 127.0.0.1 literal
		"http://localhost" + port,        // a name resolving to loopback: judged after resolution
		"http://169.254.169.254/latest/", // cloud metadata
		"http://[::1]" + port,
	} {
		resp, err := c.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: request went through", u)
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", u, err)
		}
		if r := Classify(0, err); r.Outcome != Permanent || r.Code != CodeInvalidTarget {
			t.Errorf("%s: classified %+v", u, r)
		}
	}
	select {
	case <-hit:
		t.Fatal("the receiver was reached")
	default:
	}
	// With loopback on the allow-list the same name works.
	allow, _ := ParseAllow([]string{"127.0.0.0/8", "::1/128"})
	c = NewHTTPClient(ClientOptions{Guard: Guard{Allow: allow}})
	resp, err := c.Post("http://localhost"+port, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-hit
}

func TestClientNoRedirectsTimeoutsAndCap(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	targetHit := make(chan struct{}, 1)
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) { targetHit <- struct{}{} })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100<<10))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	allow, _ := ParseAllow([]string{"127.0.0.0/8"})
	c := NewHTTPClient(ClientOptions{Guard: Guard{Allow: allow}, Timeout: 200 * time.Millisecond})

	resp, err := c.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the 302 itself", resp.StatusCode)
	}
	select {
	case <-targetHit:
		t.Fatal("redirect followed")
	default:
	}

	_, err = c.Get(srv.URL + "/slow")
	if r := Classify(0, err); r.Code != CodeTimeout {
		t.Fatalf("slow receiver: %v classified %+v", err, r)
	}

	resp, err = c.Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	b, trunc, err := readCapped(resp.Body, 16<<10)
	resp.Body.Close()
	if err != nil || !trunc || len(b) != 16<<10 {
		t.Fatalf("capped read: %d bytes, truncated %v, %v", len(b), trunc, err)
	}
}
