package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// engines are the databases every console test runs on.
var engines = []store.Dialect{store.SQLite, store.Postgres}

// routes is every console route (with placeholder ids).
var routes = []struct{ method, path string }{
	{"GET", "/console/"},
	{"GET", "/console/deliveries?status=failed"},
	{"GET", "/console/deliveries/0190a0a0-0000-7000-8000-000000000000"},
	{"POST", "/console/deliveries/0190a0a0-0000-7000-8000-000000000000/replay"},
	{"GET", "/console/endpoints/x"},
	{"POST", "/console/endpoints/x/replay"},
	{"POST", "/console/endpoints/x/enable"},
	{"POST", "/console/endpoints/x/disable"},
	{"GET", "/console/customers"},
	{"GET", "/console/customers/x"},
	{"POST", "/console/customers/x/decision"},
	{"POST", "/console/customers/x/reveal"},
	{"GET", "/console/transactions"},
	{"GET", "/console/transactions/x"},
	{"GET", "/console/travel-rule"},
	{"GET", "/console/travel-rule/x"},
	{"POST", "/console/travel-rule/x/reveal"},
	{"GET", "/console/travel-rule/quarantine"},
	{"POST", "/console/travel-rule/quarantine/x/reprocess"},
	{"GET", "/console/audit"},
	{"POST", "/console/signout"},
	{"GET", "/console/no-such-page"},
}

func TestConsole(t *testing.T) {
	t.Parallel()
	for _, d := range engines {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, d)
			t.Run("every route without a session goes to sign-in", func(t *testing.T) { testNeedSession(t, s) })
			t.Run("sign-in cookie and headers", func(t *testing.T) { testSignIn(t, s) })
			t.Run("forms need the CSRF token and the console's origin", func(t *testing.T) { testCSRF(t, s) })
			t.Run("viewer cannot act or see personal data", func(t *testing.T) { testViewer(t, s) })
			t.Run("idle and signed-out sessions end", func(t *testing.T) { testSessionEnds(t, s) })
			t.Run("decision goes through kyc with its audit row", func(t *testing.T) { testDecision(t, s) })
			t.Run("reveal is audited and personal data stays out of logs", func(t *testing.T) { testReveal(t, s) })
			t.Run("every page renders", func(t *testing.T) { testPages(t, s) })
			t.Run("transaction links its Travel Rule verifications", func(t *testing.T) { testTransactionLinks(t, s) })
			t.Run("endpoint health shows the last success", func(t *testing.T) { testEndpointHealth(t, s) })
			t.Run("transaction timeline says who caused each change", func(t *testing.T) { testTimeline(t, s) })
			t.Run("lists sort oldest first too", func(t *testing.T) { testOrder(t, s) })
			t.Run("lists sort by status, update, attempts", func(t *testing.T) { testSorts(t, s) })
			t.Run("created before holds in every order", func(t *testing.T) { testBefore(t, s) })
		})
	}
}

func testNeedSession(t *testing.T, s *stack) {
	c := s.client(t)
	for _, r := range routes {
		resp, _ := c.do(r.method, r.path, url.Values{}, nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin?next=") {
			t.Errorf("%s %s without a session = %d to %q, want 303 to sign-in", r.method, r.path, resp.StatusCode, loc)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); csp == "" {
			t.Errorf("%s %s: no Content-Security-Policy", r.method, r.path)
		}
	}
	// The sign-in page itself and the assets need no session.
	for _, p := range []string{"/console/signin", "/console/assets/console.css", "/console/assets/console.js"} {
		if resp, _ := c.get(p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, resp.StatusCode)
		}
	}
	// After sign-in the browser goes back where it was sent from, never off the console.
	resp, _ := c.get("/console/deliveries?status=failed")
	if want := "/console/signin?next=" + url.QueryEscape("/console/deliveries?status=failed"); resp.Header.Get("Location") != want {
		t.Errorf("redirect = %q, want %q", resp.Header.Get("Location"), want)
	}
	resp, _ = c.post("/console/signin", url.Values{"token": {adminToken}, "next": {"//evil.example/"}})
	if resp.Header.Get("Location") != "/console/" {
		t.Errorf("sign-in with next=//evil.example/ went to %q", resp.Header.Get("Location"))
	}
}

func testSignIn(t *testing.T, s *stack) {
	c := s.client(t)
	resp, body := c.post("/console/signin", url.Values{"token": {"not-a-token-0123456789abcdef"}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "not known") {
		t.Fatalf("wrong token = %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		secure bool
	}{
		{"plain http", nil, false},
		{"behind a TLS proxy", map[string]string{"X-Forwarded-Proto": "https"}, true},
	} {
		resp, _ := c.do("POST", "/console/signin", url.Values{"token": {adminToken}}, tc.header)
		cks := resp.Cookies()
		if len(cks) != 1 {
			t.Fatalf("%s: %d cookies, want 1", tc.name, len(cks))
		}
		ck := cks[0]
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure != tc.secure || len(ck.Value) < 40 {
			t.Errorf("%s: cookie %+v: want HttpOnly, SameSite=Strict, Path=/console/, Secure=%v, a long random value", tc.name, ck, tc.secure)
		}
	}
	resp, _ = c.get("/console/")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
		!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("overview = %d with CSP %q", resp.StatusCode, csp)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

// deadLetter makes a customer whose PROCESSING callback the (failing) wallet never took,
// and returns the customer id and the failed delivery.
func deadLetter(t *testing.T, s *stack) (string, callback.Delivery) {
	t.Helper()
	s.wallet.SetDown(true)
	id := s.customer(t, "Ada", "Lovelace", "ada@example.org")
	var d callback.Delivery
	wait.For(t, "the callback is a dead letter", func() bool {
		list, _, err := s.app.Delivery.Deliveries(context.Background(), callback.Filter{Subject: kyc.Subject(id, "sep6"), Status: callback.StatusFailed})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list {
			if x.EventType == kyc.EventWalletCustomer {
				d = x
				return true
			}
		}
		return false
	})
	return id, d
}

func testCSRF(t *testing.T, s *stack) {
	_, d := deadLetter(t, s)
	c := s.client(t)
	csrf := c.signIn(operatorToken)
	path := "/console/deliveries/" + d.ID + "/replay"
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {"x" + csrf}}, nil},
		{"another site's page", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "http://evil.example"}},
	} {
		resp, _ := c.do("POST", path, tc.form, tc.header)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: replay = %d, want 403", tc.name, resp.StatusCode)
		}
	}
	got, err := s.app.Delivery.Delivery(context.Background(), d.ID)
	if err != nil || got.Status != callback.StatusFailed {
		t.Fatalf("after refused replays the delivery is %q (%v), want failed", got.Status, err)
	}
	if n := auditCount(t, s, "delivery:"+d.ID); n != 0 {
		t.Fatalf("%d audit rows for refused replays", n)
	}
	// With the token (and the console's own origin) it goes through.
	resp, _ := c.do("POST", path, url.Values{"csrf": {csrf}}, map[string]string{"Origin": s.admin})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("replay with the token = %d, want 303", resp.StatusCode)
	}
	if n := auditCount(t, s, "delivery:"+d.ID); n != 1 {
		t.Fatalf("%d audit rows after a replay, want 1", n)
	}
}

func auditCount(t *testing.T, s *stack, target string) int {
	t.Helper()
	var n int
	if err := s.app.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM console_audit WHERE target = ?`, target).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testViewer(t *testing.T, s *stack) {
	s.wallet.SetDown(false)
	id := s.customer(t, "Grace", "Hopper", "grace@example.org")
	c := s.client(t)
	csrf := c.signIn(viewerToken)
	resp, page := c.get("/console/customers/" + id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("customer page = %d", resp.StatusCode)
	}
	for _, forbidden := range []string{"/decision", "/reveal", "Grace", "Hopper", "grace@example.org"} {
		if strings.Contains(page, forbidden) {
			t.Errorf("the viewer's customer page shows %q", forbidden)
		}
	}
	for _, p := range []string{"/decision", "/reveal"} {
		resp, _ := c.post("/console/customers/"+id+p, url.Values{"csrf": {csrf}, "status": {"ACCEPTED"}, "reason": {"ok"}, "field": {"first_name"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s = %d, want 403", p, resp.StatusCode)
		}
	}
	cust, err := s.app.KYC.Fetch(context.Background(), kyc.Query{ID: id})
	if err != nil || cust.Status != kyc.StatusProcessing {
		t.Fatalf("after a viewer's decision the customer is %q (%v), want PROCESSING", cust.Status, err)
	}
	if n := auditCount(t, s, "customer:"+id); n != 0 {
		t.Fatalf("%d audit rows from a viewer", n)
	}
}

func testSessionEnds(t *testing.T, s *stack) {
	c := s.client(t)
	c.signIn(operatorToken)
	// The session idles past the timeout (30 minutes by default): its row says so.
	if _, err := s.app.DB.ExecContext(context.Background(), `UPDATE console_sessions SET seen_at = seen_at - ? WHERE operator = 'otto'`,
		int64(31*60*1_000_000)); err != nil {
		t.Fatal(err)
	}
	resp, _ := c.get("/console/deliveries")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/signin") {
		t.Fatalf("idle session = %d to %q, want sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
	csrf := c.signIn(operatorToken)
	resp, _ = c.post("/console/signout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", resp.StatusCode)
	}
	if resp, _ = c.get("/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out the overview = %d, want a redirect", resp.StatusCode)
	}
}

func testDecision(t *testing.T, s *stack) {
	s.wallet.SetDown(false)
	id := s.customer(t, "Alan", "Turing", "alan@example.org")
	c := s.client(t)
	csrf := c.signIn(operatorToken)
	// A decision kyc refuses (NEEDS_INFO without fields) changes nothing and audits nothing.
	resp, body := c.post("/console/customers/"+id+"/decision", url.Values{"csrf": {csrf}, "status": {"NEEDS_INFO"}, "reason": {"more"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "fields") {
		t.Fatalf("NEEDS_INFO without fields = %d", resp.StatusCode)
	}
	if n := auditCount(t, s, "customer:"+id); n != 0 {
		t.Fatalf("%d audit rows for a refused decision", n)
	}
	resp, _ = c.post("/console/customers/"+id+"/decision", url.Values{"csrf": {csrf}, "type": {"sep6"}, "status": {"ACCEPTED"}, "reason": {"documents checked"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("decision = %d", resp.StatusCode)
	}
	cust, err := s.app.KYC.Fetch(context.Background(), kyc.Query{ID: id})
	if err != nil || cust.Status != kyc.StatusAccepted {
		t.Fatalf("customer is %q (%v), want ACCEPTED", cust.Status, err)
	}
	var op, before, after, reason string
	err = s.app.DB.QueryRowContext(context.Background(), `SELECT operator, before, after, reason FROM console_audit
		WHERE target = ? AND action = 'customer.decide'`, "customer:"+id).Scan(&op, &before, &after, &reason)
	if err != nil || op != "otto" || before != "PROCESSING" || after != "ACCEPTED" || reason != "documents checked" {
		t.Fatalf("audit row = %q %q→%q %q (%v)", op, before, after, reason, err)
	}
	// The wallet gets the ACCEPTED callback through the same path as the admin API's.
	s.wallet.WaitContaining(`"status":"ACCEPTED"`, 30*time.Second)
	_, page := c.get("/console/audit?target=customer:" + id)
	if !strings.Contains(page, "documents checked") {
		t.Error("the audit page does not show the decision")
	}
}

func testReveal(t *testing.T, s *stack) {
	s.wallet.SetDown(false)
	secret := "Zzyzx-Quintessence"
	id := s.customer(t, secret, "Hamilton", "margaret@example.org")
	c := s.client(t)
	csrf := c.signIn(operatorToken)
	_, page := c.get("/console/customers/" + id)
	if strings.Contains(page, secret) {
		t.Fatal("the field is shown before it is revealed")
	}
	resp, page := c.post("/console/customers/"+id+"/reveal", url.Values{"csrf": {csrf}, "field": {"first_name"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, secret) {
		t.Fatalf("reveal = %d, value shown: %v", resp.StatusCode, strings.Contains(page, secret))
	}
	var after string
	if err := s.app.DB.QueryRowContext(context.Background(), `SELECT after FROM console_audit WHERE target = ? AND action = 'customer.reveal_field'`,
		"customer:"+id).Scan(&after); err != nil || after != "shown: first_name" {
		t.Fatalf("reveal audit = %q (%v)", after, err)
	}
	logs := s.logs.String()
	for _, leak := range []string{secret, "margaret@example.org", adminToken, operatorToken, viewerToken, csrf} {
		if strings.Contains(logs, leak) {
			t.Errorf("the server log contains %q", leak)
		}
	}
	if !strings.Contains(logs, `"console: signed in"`) {
		t.Error("the log has no sign-in line: is it being captured?")
	}
}

func testPages(t *testing.T, s *stack) {
	c := s.client(t)
	c.signIn(adminToken)
	_, list := c.get("/console/deliveries")
	ids := regexpAll(`/console/deliveries/([0-9a-f-]{36})`, list)
	if len(ids) == 0 {
		t.Fatal("no delivery listed")
	}
	_, cl := c.get("/console/customers")
	cust := regexpAll(`/console/customers/([0-9a-f-]{36})`, cl)
	if len(cust) == 0 {
		t.Fatal("no customer listed")
	}
	ep := regexpAll(`/console/endpoints/([^"?/]+)"`, list)
	for _, p := range []string{"/console/", "/console/deliveries?status=failed", "/console/deliveries/" + ids[0], "/console/endpoints/" + ep[0] + "?since=2020-01-01T00:00",
		"/console/customers?status=ACCEPTED", "/console/customers/" + cust[0], "/console/transactions", "/console/travel-rule", "/console/travel-rule/quarantine", "/console/audit"} {
		if resp, body := c.get(p); resp.StatusCode != http.StatusOK || !strings.Contains(body, "</main>") {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/console/deliveries/nope", "/console/customers/nope", "/console/transactions/nope", "/console/travel-rule/nope"} {
		if resp, _ := c.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ := c.get("/console/deliveries?status=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad status filter = %d, want 400", resp.StatusCode)
	}
}

// TestSessionsAcrossInstances signs in on one instance and goes on on another behind the
// same PostgreSQL: sessions are database rows, so a load balancer may send each request
// anywhere, and a sign-out anywhere ends the session everywhere.
func TestSessionsAcrossInstances(t *testing.T) {
	t.Parallel()
	one := start(t, store.Postgres)
	two := startOn(t, one.dbURL)
	c := one.client(t)
	csrf := c.signIn(operatorToken)
	u, _ := url.Parse(one.admin + "/console/")
	cookies := c.hc.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("%d session cookies", len(cookies))
	}
	c.base = two.admin
	if resp, body := c.get("/console/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "otto") {
		t.Fatalf("the second instance answered %d to a session of the first", resp.StatusCode)
	}
	if resp, _ := c.post("/console/signout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out on the second instance = %d", resp.StatusCode)
	}
	// The browser forgot the cookie; one that kept it is refused by the first instance too.
	stale := one.client(t)
	resp, _ := stale.do("GET", "/console/", nil, map[string]string{"Cookie": cookies[0].Name + "=" + cookies[0].Value})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the first instance still accepts a session ended on the second (%d)", resp.StatusCode)
	}
}
