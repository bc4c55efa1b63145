package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
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
	s.wallet.SetDown(false)
	s.customer(t, "Ada", "Health", "ada@example.org")
	s.wallet.WaitContaining(`"PROCESSING"`, 30*time.Second)
	c := s.client(t)
	c.signIn(viewerToken)
	lastSuccess := regexp.MustCompile(`class="last-success">(\d{4}-\d\d-\d\d [0-9:]+Z)<`)
	wait.For(t, "the overview shows a last success", func() bool {
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
	s.wallet.SetDown(false)
	ctx := context.Background()
	id := s.customer(t, "Grace", "Hopper", "grace@example.org")
	owner, _, err := s.app.KYC.OwnerOf(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// What the SEP-6 edge does for an authenticated wallet (stellarhttp puts the actor in
	// the request's context; its own test checks that).
	tr := &transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete, AssetCode: "USDC",
		Owner: owner, CustomerID: id, CustomerType: "sep6", OnChangeCallback: s.wallet.URL + "/sep6"}
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
	// Each change lists the callbacks it produced: the wallet's SEP-6 callback whose body
	// is the transaction as that change left it.
	wantStatus := []string{"incomplete", "pending_anchor", "error"}
	for i, entry := range got {
		placed := regexpAll(`data-delivery="([0-9a-f-]{36})"`, entry)
		if i > 0 && len(placed) == 0 {
			t.Errorf("timeline entry %d (%s) lists no callback", i, wantStatus[i])
		}
		for _, id := range placed {
			var body []byte
			if err := s.app.DB.QueryRowContext(ctx, `SELECT body FROM callback_deliveries WHERE id = ?`, id).Scan(&body); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(body), `"status":"`+wantStatus[i]+`"`) {
				t.Errorf("timeline entry %d (%s) lists callback %s: %s", i, wantStatus[i], id, body)
			}
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

// testSorts: every list sorts by its other columns, in both directions, each page in
// (column, id) order; the header links carry the filters; an unknown sort is refused.
func testSorts(t *testing.T, s *stack) {
	ctx := context.Background()
	c := s.client(t)
	c.signIn(adminToken)
	for _, tc := range []struct {
		path, row, col string
		// key reads a listed row's sort column, formatted to compare as text.
		key string
	}{
		{"/console/deliveries", `<tr data-id="([0-9a-f-]{36})">`, "status", `SELECT status FROM callback_deliveries WHERE id = ?`},
		{"/console/deliveries", `<tr data-id="([0-9a-f-]{36})">`, "updated", `SELECT CAST(updated_at AS TEXT) FROM callback_deliveries WHERE id = ?`},
		{"/console/deliveries", `<tr data-id="([0-9a-f-]{36})">`, "attempts", `SELECT CAST(attempts AS TEXT) FROM callback_deliveries WHERE id = ?`},
		{"/console/transactions", `href="/console/transactions/([0-9a-f-]{36})"`, "status", `SELECT status FROM transfer_transactions WHERE id = ?`},
		{"/console/transactions", `href="/console/transactions/([0-9a-f-]{36})"`, "updated", `SELECT CAST(updated_at AS TEXT) FROM transfer_transactions WHERE id = ?`},
		{"/console/customers", `href="/console/customers/([0-9a-f-]{36})\?type=sep6"`, "status", `SELECT status FROM kyc_customer_types WHERE customer_id = ? AND type = 'sep6'`},
		{"/console/customers", `href="/console/customers/([0-9a-f-]{36})\?type=sep6"`, "updated", `SELECT CAST(updated_at AS TEXT) FROM kyc_customer_types WHERE customer_id = ? AND type = 'sep6'`},
	} {
		for _, order := range []string{"desc", "asc"} {
			u := tc.path + "?sort=" + tc.col + "&order=" + order
			resp, page := c.get(u)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d", u, resp.StatusCode)
			}
			ids := regexpAllRepeats(tc.row, page)
			if len(ids) < 2 {
				t.Fatalf("GET %s: %d rows, want 2 or more", u, len(ids))
			}
			var keys []string
			for _, id := range ids {
				var k string
				if err := s.app.DB.QueryRowContext(ctx, tc.key, id).Scan(&k); err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if tc.col != "status" {
					k = strings.Repeat("0", 20-len(k)) + k // numbers compare as text once padded
				}
				keys = append(keys, k+" "+id)
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			if order == "desc" {
				slices.Reverse(want)
			}
			if !slices.Equal(keys, want) {
				t.Errorf("GET %s: rows not in order:\n%v", u, keys)
			}
			dir := map[string]string{"desc": "descending", "asc": "ascending"}[order]
			if !strings.Contains(page, `aria-sort="`+dir+`"><a id="sort-`+tc.col+`"`) {
				t.Errorf("GET %s: the %s header is not marked %s", u, tc.col, dir)
			}
		}
		if resp, _ := c.get(tc.path + "?sort=size"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s?sort=size = %d, want 400", tc.path, resp.StatusCode)
		}
		if resp, _ := c.get(tc.path + "?sort=" + tc.col + "&cursor=edited"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s with an edited cursor = %d, want 400", tc.path, resp.StatusCode)
		}
	}
	// Customers are a queue of decisions: oldest first unless asked otherwise.
	_, page := c.get("/console/customers")
	if !strings.Contains(page, `aria-sort="ascending"><a id="sort-created" href="/console/customers?order=newest"`) {
		t.Error("customers are not listed oldest first by default, with a link to newest first")
	}
	// The header links keep the filters and the list's other parameters.
	_, page = c.get("/console/deliveries?status=failed&sort=attempts")
	if !strings.Contains(page, `href="/console/deliveries?order=asc&amp;sort=attempts&amp;status=failed"`) ||
		!strings.Contains(page, `href="/console/deliveries?sort=status&amp;status=failed"`) {
		t.Error("the deliveries' header links do not carry the status filter and flip the order")
	}
	// Travel Rule sorts by status and risk (by severity, not by name).
	for _, u := range []string{"/console/travel-rule?sort=status", "/console/travel-rule?sort=risk&order=asc", "/console/travel-rule?order=asc"} {
		if resp, _ := c.get(u); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", u, resp.StatusCode)
		}
	}
}

// testBefore: "created before" bounds the deliveries and transactions lists in either
// order (it was ignored oldest first).
func testBefore(t *testing.T, s *stack) {
	ctx := context.Background()
	c := s.client(t)
	c.signIn(adminToken)
	for _, tc := range []struct{ path, row, table string }{
		{"/console/deliveries", `<tr data-id="([0-9a-f-]{36})">`, "callback_deliveries"},
		{"/console/transactions", `href="/console/transactions/([0-9a-f-]{36})"`, "transfer_transactions"},
	} {
		_, page := c.get(tc.path)
		all := regexpAllRepeats(tc.row, page)
		if len(all) < 2 {
			t.Fatalf("%s: %d rows, want 2 or more", tc.path, len(all))
		}
		// The newest row's creation time, to the millisecond (as the form takes it): the
		// rows of earlier milliseconds are listed, it and the rows of its millisecond not.
		var idOf string
		var at time.Time
		for _, id := range all {
			if u, err := uuid.Parse(id); err == nil && u.Version() == 7 {
				sec, nsec := u.Time().UnixTime()
				idOf, at = id, time.Unix(sec, nsec).UTC()
				break
			}
		}
		if idOf == "" {
			t.Fatalf("%s: no UUIDv7 row", tc.path)
		}
		var want int
		if err := s.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tc.table+` WHERE id < ?`,
			fmt.Sprintf("%08x-%04x", uint64(at.UnixMilli())>>16, uint64(at.UnixMilli())&0xffff)).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			t.Fatalf("%s: %d of %d rows before the newest: the test needs some on each side", tc.path, want, len(all))
		}
		before := url.QueryEscape(at.Format(time.RFC3339Nano))
		for _, order := range []string{"", "&order=oldest", "&sort=status&order=asc"} {
			_, page := c.get(tc.path + "?before=" + before + order)
			got := regexpAllRepeats(tc.row, page)
			if len(got) != min(want, 50) {
				t.Errorf("%s before %s%s: %d rows, want %d", tc.path, at.Format(time.RFC3339Nano), order, len(got), want)
			}
			for _, id := range got {
				if id >= idOf {
					t.Errorf("%s before %s%s lists %s, created at or after", tc.path, at.Format(time.RFC3339Nano), order, id)
				}
			}
			if order != "" && !strings.Contains(page, `name="before" value="`+at.Format(time.RFC3339Nano)+`"`) {
				t.Errorf("%s%s: the form lost the before filter", tc.path, order)
			}
		}
	}
}
