package console_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

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
