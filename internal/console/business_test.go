package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// TestCustomersBusinessBackend: with kyc.backend business the customers list shows the
// customers vaspgate knows of (their owners), a customer's page shows what the business
// server answers for it, and a reveal says the value is the business server's.
func TestCustomersBusinessBackend(t *testing.T) {
	t.Parallel()
	for _, d := range engines {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			// The business server as Anchor Platform's callback API defines it: PUT /customer
			// answers the id; GET /customer?id= the status and provided fields, never values.
			biz := testkit.NewBusiness(t)
			biz.SetIDOnly(true)
			s := start(t, d, func(c *config.Config) {
				c.KYC.Backend = config.KYCBusiness
				c.KYC.Business.BaseURL = biz.URL
			})
			ctx := context.Background()
			var ids []string
			var owners []wallet.Identity
			for _, name := range []string{"Ada", "Grace"} {
				caller := wallet.Identity{Account: keypair.MustRandom().Address()}
				// Every field the business server asks for: it answers PROCESSING.
				id, err := s.app.KYC.Put(ctx, caller, kyc.PutRequest{Type: "sep6", Fields: map[string]string{"first_name": name,
					"last_name": "Surname", "email_address": "someone@example.org"}})
				if err != nil {
					t.Fatal(err)
				}
				ids, owners = append(ids, id), append(owners, caller)
			}
			c := s.client(t)
			csrf := c.signIn(operatorToken)
			resp, page := c.get("/console/customers")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("customers list = %d", resp.StatusCode)
			}
			listed := regexpAll(`/console/customers/([^"?]+)`, page)
			if len(listed) != 2 || listed[0] != ids[0] || listed[1] != ids[1] {
				t.Fatalf("listed %v, want %v", listed, ids)
			}
			// The business back end lists by creation only (kyc.Service.Sorts): the status and
			// updated headers are plain text, not links to a 400; creation stays sortable.
			if strings.Contains(page, `id="sort-status"`) || strings.Contains(page, `id="sort-updated"`) ||
				strings.Contains(page, `sort=status`) || strings.Contains(page, `sort=updated`) ||
				!strings.Contains(page, "<th>Status</th>") || !strings.Contains(page, "<th>Updated</th>") ||
				!strings.Contains(page, `id="sort-created" href="/console/customers?order=newest"`) {
				t.Fatal("customers list: want plain status and updated headers and a creation-order link")
			}
			// A hand-written link to a sort the back end lacks is still refused, saying why.
			for _, sort := range []string{"status", "updated"} {
				resp, page := c.get("/console/customers?sort=" + sort)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "sorted by creation only") {
					t.Fatalf("customers?sort=%s = %d, want 400 saying the list is sorted by creation only", sort, resp.StatusCode)
				}
			}
			_, page = c.get("/console/customers?account=" + url.QueryEscape(owners[1].Account))
			if listed := regexpAll(`/console/customers/([^"?]+)`, page); len(listed) != 1 || listed[0] != ids[1] {
				t.Fatalf("filtered by the second owner: %v", listed)
			}
			resp, page = c.get("/console/customers/" + ids[0])
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, "PROCESSING") || !strings.Contains(page, "first_name") ||
				!strings.Contains(page, owners[0].Account) || strings.Contains(page, "Ada") {
				t.Fatalf("customer page = %d; want the business server's status and field names, the owner, no value", resp.StatusCode)
			}
			resp, page = c.post("/console/customers/"+ids[0]+"/reveal", url.Values{"csrf": {csrf}, "field": {"first_name"}})
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "business server keeps it") {
				t.Fatalf("reveal = %d, want 404 saying the business server keeps the value", resp.StatusCode)
			}
		})
	}
}
