package console_test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/console"
)

// from is a browser whose connections leave from source address ip (any 127/8 address
// reaches the loopback listener on Linux), so that the limit sees several addresses.
func (s *stack) from(t *testing.T, ip string) *client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &client{t: t, base: s.admin, hc: &http.Client{Jar: jar,
		Transport:     &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func TestSignInLimit(t *testing.T) {
	t.Parallel()
	for _, d := range engines {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, d, func(c *config.Config) {
				c.Console.SignInLimit = config.ConsoleSignInLimit{PerAddress: 3, Total: 5, Window: time.Hour}
			})
			ctx := context.Background()
			count := func(action, target string) int {
				var n int
				if err := s.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM console_audit WHERE action = ? AND target = ?`,
					action, target).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			signIn := func(c *client, token string) (*http.Response, string) {
				return c.post("/console/signin", url.Values{"token": {token}, "next": {"/console/"}})
			}
			refused := func(c *client, why string) {
				t.Helper()
				resp, body := signIn(c, adminToken)
				ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
				if resp.StatusCode != http.StatusTooManyRequests || err != nil || ra <= 0 || ra > 3600 {
					t.Fatalf("%s: good token = %d, Retry-After %q; want 429 within the hour", why, resp.StatusCode, resp.Header.Get("Retry-After"))
				}
				if !strings.Contains(body, "Too many failed sign-ins") || strings.Contains(resp.Header.Get("Set-Cookie"), "vaspgate_console=") {
					t.Fatalf("%s: the 429 page does not say why, or signs in", why)
				}
			}

			// Per address: three unknown tokens from one address, each audited (never the token).
			a := s.from(t, "127.0.0.2")
			for i := range 3 {
				if resp, _ := signIn(a, "guess-"+strconv.Itoa(i)+"-0123456789abcdef"); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess %d = %d, want 401", i, resp.StatusCode)
				}
			}
			if n := count(console.ActionSignInFailed, "address:127.0.0.2"); n != 3 {
				t.Fatalf("%d failed sign-ins audited, want 3", n)
			}
			refused(a, "after 3 failures from one address")
			if n := count(console.ActionSignInFailed, "address:127.0.0.2"); n != 3 {
				t.Fatalf("a refused attempt was audited (%d rows): a flood would grow the table", n)
			}
			// Another address is not held up by the first one's failures.
			b := s.from(t, "127.0.0.3")
			if resp, _ := signIn(b, operatorToken); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("another address's good token = %d, want 303", resp.StatusCode)
			}
			if n := count(console.ActionSignIn, "address:127.0.0.3"); n != 1 {
				t.Fatalf("%d sign-ins audited, want 1", n)
			}
			// In all: two more failures elsewhere reach the total of 5; a third address is held.
			for i := range 2 {
				if resp, _ := signIn(b, "other-"+strconv.Itoa(i)+"-0123456789abcdef"); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess %d from a second address = %d, want 401", i, resp.StatusCode)
				}
			}
			refused(s.from(t, "127.0.0.4"), "after 5 failures in all")
			// Once the failures are older than the window, sign-in works again.
			if _, err := s.app.DB.ExecContext(ctx, `UPDATE console_audit SET at = at - ? WHERE action = ?`,
				int64(2*time.Hour/time.Microsecond), console.ActionSignInFailed); err != nil {
				t.Fatal(err)
			}
			if resp, _ := signIn(a, adminToken); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("after the window = %d, want 303", resp.StatusCode)
			}
			if logs := s.logs.String(); strings.Contains(logs, "guess-0-0123456789abcdef") {
				t.Fatal("a token tried is in the server log")
			}
		})
	}
}
