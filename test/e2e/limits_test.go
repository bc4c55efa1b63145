package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// TestRateLimitsOnThePublicListener (issue 11, defect 2): through the assembled service, a
// source address (named by a trusted proxy's X-Forwarded-For) and a SEP-10 identity each
// get their burst, then 429 rate_limited with Retry-After; others are not affected, and
// loopback itself (health checks, local tools) is not limited by address.
func TestRateLimitsOnThePublicListener(t *testing.T) {
	t.Parallel()
	s := startWith(t, store.SQLite, testkit.NewWallet(t), func(c *config.Config) {
		c.Limits = config.Limits{AddressRatePerMinute: 1, AddressBurst: 5, IdentityRatePerMinute: 1, IdentityBurst: 3}
	})
	get := func(path, forwardedFor, token string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.public+path, nil)
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Code string }
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, resp.Header, e.Code
	}
	limited := func(what string, code int, h http.Header, errCode string) {
		t.Helper()
		ra, err := strconv.Atoi(h.Get("Retry-After"))
		if code != http.StatusTooManyRequests || errCode != limit.CodeRateLimited || err != nil || ra < 1 || ra > 60 {
			t.Fatalf("%s: %d %q Retry-After %q, want 429 rate_limited with 1..60", what, code, errCode, h.Get("Retry-After"))
		}
	}
	for i := range 5 {
		if code, _, _ := get("/sep6/info", "198.51.100.7", ""); code != http.StatusOK {
			t.Fatalf("request %d of the address burst: %d", i+1, code)
		}
	}
	code, h, errCode := get("/sep6/info", "198.51.100.7", "")
	limited("address over its burst", code, h, errCode)
	if code, _, _ := get("/sep6/info", "198.51.100.8", ""); code != http.StatusOK {
		t.Fatalf("another address: %d", code)
	}
	for range 10 {
		if code, _, _ := get("/sep6/info", "", ""); code != http.StatusOK {
			t.Fatalf("loopback was limited: %d", code)
		}
	}

	// Per identity, behind SEP-10 (from loopback: the address limit stays out of the way).
	tok := s.login(t, keypair.MustRandom())
	for i := range 3 {
		if code, _, _ := get("/sep6/transactions?asset_code=USDC", "", tok); code != http.StatusOK {
			t.Fatalf("request %d of the identity burst: %d", i+1, code)
		}
	}
	code, h, errCode = get("/sep6/transactions?asset_code=USDC", "", tok)
	limited("identity over its burst", code, h, errCode)
	if code, _, _ := get("/sep6/transactions?asset_code=USDC", "", s.login(t, keypair.MustRandom())); code != http.StatusOK {
		t.Fatalf("another identity: %d", code)
	}
	// SEP-38 and SEP-31 sit behind the same identity's bucket: a firm quote and a SEP-31
	// transaction are rows an anonymous wallet can create.
	for _, path := range []string{"/sep38/quote/00000000-0000-0000-0000-000000000000", "/sep31/transactions/00000000-0000-0000-0000-000000000000"} {
		code, h, errCode := get(path, "", tok)
		limited("identity over its burst on "+path, code, h, errCode)
		if code, _, _ := get(path, "", s.login(t, keypair.MustRandom())); code != http.StatusNotFound {
			t.Fatalf("another identity on %s: %d, want 404", path, code)
		}
	}
}

// TestIdentityLimitSharedByInstances (issue 11): two instances on one PostgreSQL take an
// identity's requests from one bucket, so a wallet spreading its calls over both gets the
// configured burst, not twice it.
func TestIdentityLimitSharedByInstances(t *testing.T) {
	t.Parallel()
	lim := func(c *config.Config) {
		c.Limits = config.Limits{AddressRatePerMinute: 600, AddressBurst: 100, IdentityRatePerMinute: 1, IdentityBurst: 4}
		// One deployment: a SEP-10 token of one instance is valid on the other.
		c.Stellar.JWTSecret = "shared-sep10-jwt-secret-0123456789abcdef"
	}
	a := startWith(t, store.Postgres, testkit.NewWallet(t), lim)
	b := startWith(t, store.Postgres, testkit.NewWallet(t), func(c *config.Config) {
		lim(c)
		c.DatabaseURL, c.EncryptionKey = a.app.Config.DatabaseURL, a.app.Config.EncryptionKey
	})
	tok := a.login(t, keypair.MustRandom())
	get := func(s *stack) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.public+"/sep6/transactions?asset_code=USDC", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, s := range []*stack{a, b, a, b} {
		if code := get(s); code != http.StatusOK {
			t.Fatalf("request %d of the shared burst: %d", i+1, code)
		}
	}
	for _, s := range []*stack{a, b} {
		if code := get(s); code != http.StatusTooManyRequests {
			t.Fatalf("past the shared burst: %d, want 429", code)
		}
	}
}
