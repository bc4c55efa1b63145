package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// testTransactionLinks: a transaction's page links the Travel Rule verifications recorded
// about it (travel_rule_links), and says so when there are none.
func testTransactionLinks(t *testing.T, s *stack) {
	ctx := context.Background()
	tr := &transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete, AssetCode: "USDC",
		Owner: wallet.Identity{Account: "GBLINKEDOWNER"}}
	if err := s.app.Transfer.Create(ctx, tr); err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	c.signIn(viewerToken)
	_, page := c.get("/console/transactions/" + tr.ID)
	if !regexp.MustCompile(`id="travel-rule">—<`).MatchString(page) {
		t.Fatal("a transaction without verifications does not say so")
	}
	first, second := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	for _, v := range []string{first, second} {
		if err := travelrule.LinkTx(ctx, s.app.DB, v, tr.ID, travelrule.RoleBeneficiary); err != nil {
			t.Fatal(err)
		}
	}
	_, page = c.get("/console/transactions/" + tr.ID)
	got := regexpAll(`href="/console/travel-rule/([0-9a-f-]{36})"`, page)
	if len(got) != 2 || got[0] != first || got[1] != second {
		t.Fatalf("verification links %v, want [%s %s] (oldest first)", got, first, second)
	}
}

// testEndpointHealth: once a delivery succeeds, the overview and the endpoint page show
// when; a failing endpoint shows its failure streak.
func testEndpointHealth(t *testing.T, s *stack) {
	s.wallet.setFailing(false)
	s.customer(t, "Ada", "Health", "ada@example.org")
	s.wallet.waitFor(t, `"PROCESSING"`)
	c := s.client(t)
	c.signIn(viewerToken)
	lastSuccess := regexp.MustCompile(`class="last-success">(\d{4}-\d\d-\d\d [0-9:]+Z)<`)
	waitUntil(t, "the overview shows a last success", func() bool {
		_, page := c.get("/console/")
		return lastSuccess.MatchString(page)
	})
	_, page := c.get("/console/")
	ep := regexpAll(`href="/console/endpoints/([^"?/]+)"`, page)
	if len(ep) == 0 {
		t.Fatal("no endpoint on the overview")
	}
	found := false
	for _, id := range ep {
		_, p := c.get("/console/endpoints/" + id)
		if m := regexp.MustCompile(`id="last-success">([^<]+)<`).FindStringSubmatch(p); m != nil && strings.HasSuffix(m[1], "Z") {
			found = true
		}
	}
	if !found {
		t.Fatal("no endpoint page shows a last success")
	}
}

// testTimeline: a transaction's status timeline says who caused each change — the wallet
// that asked for it, the operator whose KYC decision moved it, the business whose RPC
// call failed it — from the history transfer records with each change.
func testTimeline(t *testing.T, s *stack) {
	s.wallet.setFailing(false)
	ctx := context.Background()
	id := s.customer(t, "Grace", "Hopper", "grace@example.org")
	owner, _, err := s.app.KYC.OwnerOf(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// What the SEP-6 edge does for an authenticated wallet (stellarhttp puts the actor in
	// the request's context; its own test checks that).
	tr := &transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete, AssetCode: "USDC",
		Owner: owner, CustomerID: id, CustomerType: "sep6"}
	if err := s.app.Transfer.Create(actor.With(ctx, actor.Actor{Kind: actor.Wallet, Name: owner.Account}), tr); err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	csrf := c.signIn(operatorToken)
	if resp, _ := c.post("/console/customers/"+id+"/decision", url.Values{"csrf": {csrf}, "type": {"sep6"}, "status": {"ACCEPTED"},
		"reason": {"documents checked"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("decision = %d", resp.StatusCode)
	}
	body := `{"jsonrpc":"2.0","id":"1","method":"notify_transaction_error","params":{"transaction_id":"` + tr.ID + `","message":"bank refused"}}`
	resp, err := http.Post(s.admin+"/rpc", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"status":"error"`) {
		t.Fatalf("RPC = %d %s", resp.StatusCode, answer)
	}
	_, page := c.get("/console/transactions/" + tr.ID)
	got := regexpAll(`(?s)<li data-version="(\d+">.*?</li>)`, page)
	want := []string{
		`incomplete.*by wallet <code>` + owner.Account + `</code>`,
		`pending_anchor.*by operator <code>otto</code>.*from incomplete`,
		`error.*by business <code>platform API</code>.*from pending_anchor`,
	}
	if len(got) != len(want) {
		t.Fatalf("timeline has %d entries, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !regexp.MustCompile(`(?s)` + w).MatchString(got[i]) {
			t.Errorf("timeline entry %d = %s, want %s", i, got[i], w)
		}
	}
}

// testOrder: every list sorted by creation can be read oldest first; the order is in the
// URL, the column header's link flips it, and an unknown order is refused.
func testOrder(t *testing.T, s *stack) {
	c := s.client(t)
	c.signIn(adminToken)
	for _, tc := range []struct{ path, row string }{
		{"/console/deliveries", `href="/console/deliveries/([0-9a-f-]{36})"`},
		{"/console/transactions", `href="/console/transactions/([0-9a-f-]{36})"`},
		{"/console/audit", `<tr><td>([^<]+)</td><td>`},
	} {
		_, newest := c.get(tc.path)
		resp, oldest := c.get(tc.path + "?order=oldest")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s oldest first = %d", tc.path, resp.StatusCode)
		}
		n, o := regexpAllRepeats(tc.row, newest), regexpAllRepeats(tc.row, oldest)
		if len(n) < 2 || len(n) >= 50 || len(n) != len(o) {
			t.Fatalf("%s: %d rows newest first, %d oldest first (want 2..49 of each)", tc.path, len(n), len(o))
		}
		for i := range n {
			if n[i] != o[len(o)-1-i] {
				t.Fatalf("%s: oldest first is not newest first reversed:\n%v\n%v", tc.path, n, o)
			}
		}
		if !strings.Contains(newest, `order=oldest">`) || strings.Contains(oldest, `order=oldest">`) {
			t.Errorf("%s: the sort link does not flip the order", tc.path)
		}
		if resp, _ := c.get(tc.path + "?order=sideways"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s?order=sideways = %d, want 400", tc.path, resp.StatusCode)
		}
	}
}

// regexpAllRepeats is every first group of expr in s, in order, repeats kept.
func regexpAllRepeats(expr, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(expr).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
