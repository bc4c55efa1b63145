package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/app"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// anchor is a running vaspgate in its development configuration (one SEP-6 asset), seen as
// the suite sees it: through stellar.toml.
type anchor struct {
	base string // the listener's real address; the toml's URLs are rewritten onto it
	toml map[string]any
	// admin and adminToken are the operator's side, which accepts the SEP-31 customers the
	// suite waits on.
	admin, adminToken string
}

const publicURL = "http://localhost:8000"

func start(t *testing.T, d store.Dialect) *anchor {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = storetest.URL(t, d)
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Stellar.Ledger = config.LedgerNone
	cfg.TravelRule.SpoolDir = t.TempDir()
	// The suite's SEP-31 POST /transactions names no funding_method: the asset is set up
	// with one, which is then the one used.
	cfg.SEP31.Assets[0].FundingMethods = []string{"SEPA"}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	an := &anchor{base: "http://" + a.Server.PublicAddr(), admin: "http://" + a.Server.AdminAddr(), adminToken: a.Config.AdminToken}
	status, hdr, body := an.do(t, "GET", publicURL+"/.well-known/stellar.toml", "", "", nil)
	if status != 200 {
		t.Fatalf("stellar.toml: %d", status)
	}
	ct := hdr.Get("Content-Type")
	if !strings.Contains(ct, "text/plain") && !strings.Contains(ct, "application/toml") {
		t.Errorf("SEP-1 the TOML file exists: content type %q", ct)
	}
	if len(body) > 100000 {
		t.Errorf("SEP-1 size less than 100KB: %d bytes", len(body))
	}
	if _, err := toml.Decode(string(body), &an.toml); err != nil {
		t.Fatalf("SEP-1 the TOML file exists: %v", err)
	}
	return an
}

// do sends a request to url (an address from stellar.toml), on the real listener.
func (a *anchor) do(t *testing.T, method, u, token, contentType string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, strings.Replace(u, publicURL, a.base, 1), body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// accept is the receiving anchor's operator accepting a customer for a type (the decision
// the suite waits for by polling GET /customer).
func (a *anchor) accept(t *testing.T, id, typ string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", a.admin+"/admin/v1/customers/"+id+"/status",
		strings.NewReader(`{"status":"ACCEPTED","type":"`+typ+`"}`))
	req.Header.Set("Authorization", "Bearer "+a.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("accept customer %s: %d %s", id, resp.StatusCode, b)
	}
}

func (a *anchor) str(key string) string { s, _ := a.toml[key].(string); return s }

func jsonBody(t *testing.T, hdr http.Header, b []byte) map[string]any {
	t.Helper()
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("content type %q, want application/json (%s)", hdr.Get("Content-Type"), b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("body is not a JSON object: %s", b)
	}
	return m
}

// token gets a SEP-10 token for kp (memo optional) the way the suite does: GET the
// challenge, check it, sign it, POST it (form, or JSON).
func (a *anchor) token(t *testing.T, kp *keypair.Full, memo string, asJSON bool) string {
	t.Helper()
	q := url.Values{"account": {kp.Address()}}
	if memo != "" {
		q.Set("memo", memo)
	}
	status, hdr, b := a.do(t, "GET", a.str("WEB_AUTH_ENDPOINT")+"?"+q.Encode(), "", "", nil)
	m := jsonBody(t, hdr, b)
	if status != 200 {
		t.Fatalf("challenge: %d %s", status, b)
	}
	tx, err := txnbuild.TransactionFromXDR(m["transaction"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := tx.Transaction()
	signed, err := ctx.Sign(a.str("NETWORK_PASSPHRASE"), kp)
	if err != nil {
		t.Fatal(err)
	}
	xdr, _ := signed.Base64()
	var ct string
	var body io.Reader
	if asJSON {
		ct, body = "application/json", strings.NewReader(`{"transaction":"`+xdr+`"}`)
	} else {
		ct, body = "application/x-www-form-urlencoded", strings.NewReader(url.Values{"transaction": {xdr}}.Encode())
	}
	status, hdr, b = a.do(t, "POST", a.str("WEB_AUTH_ENDPOINT"), "", ct, body)
	m = jsonBody(t, hdr, b)
	if status != 200 || m["token"] == nil {
		t.Fatalf("token: %d %s", status, b)
	}
	return m["token"].(string)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		an := start(t, db.Dialect())
		t.Run("SEP-1", func(t *testing.T) { sep1(t, an) })
		t.Run("SEP-10", func(t *testing.T) { sep10(t, an) })
		t.Run("SEP-12", func(t *testing.T) { sep12(t, an) })
		t.Run("SEP-6", func(t *testing.T) { sep6(t, an) })
		t.Run("SEP-38", func(t *testing.T) { sep38(t, an) })
		t.Run("SEP-31", func(t *testing.T) { sep31(t, an) })
	})
}

func sep1(t *testing.T, a *anchor) {
	if p := a.str("NETWORK_PASSPHRASE"); p != config.TestnetPassphrase && p != "Public Global Stellar Network ; September 2015" {
		t.Errorf("has a valid network passphrase: %q", p)
	}
	curs, _ := a.toml["CURRENCIES"].([]map[string]any)
	if len(curs) == 0 {
		t.Fatalf("has a valid CURRENCIES section: %v", a.toml["CURRENCIES"])
	}
	for _, c := range curs {
		code, _ := c["code"].(string)
		desc, _ := c["desc"].(string)
		status, _ := c["status"].(string)
		_, anchored := c["is_asset_anchored"].(bool)
		typ, _ := c["anchor_asset_type"].(string)
		issuer, _ := c["issuer"].(string)
		if code == "" || len(code) > 12 || desc == "" || !slices.Contains([]string{"live", "dead", "test", "private"}, status) || !anchored ||
			!slices.Contains([]string{"fiat", "crypto", "stock", "bond", "commodity", "realestate", "other"}, typ) ||
			(code != "XLM" && code != "native" && issuer == "") {
			t.Errorf("has a valid CURRENCIES section: %v", c)
		}
	}
	for _, k := range []string{"TRANSFER_SERVER", "KYC_SERVER", "WEB_AUTH_ENDPOINT", "ANCHOR_QUOTE_SERVER", "DIRECT_PAYMENT_SERVER", "HORIZON_URL", "FEDERATION_SERVER"} {
		v := a.str(k)
		if v != "" && ((!strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://localhost")) || strings.HasSuffix(v, "/")) {
			t.Errorf("all URLs are HTTPS and end without slashes: %s = %q", k, v)
		}
	}
}

func sep10(t *testing.T, a *anchor) {
	auth, signing := a.str("WEB_AUTH_ENDPOINT"), a.str("SIGNING_KEY")
	if auth == "" || strings.HasSuffix(auth, "/") {
		t.Fatalf("has a valid WEB_AUTH_ENDPOINT: %q", auth)
	}
	if _, err := keypair.ParseAddress(signing); err != nil || !strings.HasPrefix(signing, "G") {
		t.Fatalf("has valid SIGNING_KEY: %q", signing)
	}
	host := strings.TrimPrefix(auth, "http://")
	host, _, _ = strings.Cut(host, "/")

	client := keypair.MustRandom()
	before := time.Now().Unix()
	status, hdr, b := a.do(t, "GET", auth+"?account="+client.Address(), "", "", nil)
	after := time.Now().Unix()
	m := jsonBody(t, hdr, b)
	if status != 200 {
		t.Fatalf("returns a valid GET /auth response: %d %s", status, b)
	}
	for k := range m {
		if k != "transaction" && k != "network_passphrase" {
			t.Errorf("returns a valid GET /auth response: extra key %q", k)
		}
	}
	xdr, _ := m["transaction"].(string)
	tx, clientAcct, home, _, err := txnbuild.ReadChallengeTx(xdr, signing, a.str("NETWORK_PASSPHRASE"), host, []string{host})
	if err != nil || clientAcct != client.Address() || home != host {
		t.Fatalf("returns a valid GET /auth response: %v (%s, %s)", err, clientAcct, home)
	}
	if mt := tx.Timebounds().MinTime; mt < before || mt > after {
		t.Errorf("returns a valid GET /auth response: minTime %d not in [%d, %d]", mt, before, after)
	}
	if ops := tx.Operations(); len(ops) == 0 {
		t.Error("no operations")
	} else if md, ok := ops[0].(*txnbuild.ManageData); !ok || md.Name != host+" auth" {
		t.Errorf("first operation %+v", ops[0])
	} else if raw, err := base64.StdEncoding.DecodeString(string(md.Value)); err != nil || len(raw) != 48 {
		t.Errorf("nonce does not decode to 48 bytes: %q", md.Value)
	}
	if n := len(tx.Signatures()); n != 1 {
		t.Errorf("challenge has %d signatures, want 1", n)
	}

	for name, q := range map[string]string{"rejects requests with no 'account' parameter": "", "rejects requests with an invalid 'account' parameter": "?account=invalid-account"} {
		status, hdr, b := a.do(t, "GET", auth+q, "", "", nil)
		if m := jsonBody(t, hdr, b); status != 400 || m["error"] == nil {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}
	a.token(t, keypair.MustRandom(), "", false) // returns a valid JWT
	a.token(t, keypair.MustRandom(), "", true)  // accepts JSON requests

	for name, body := range map[string]string{
		"fails with no 'transaction' key in the body":        `{}`,
		"fails if the 'transaction' value is invalid":        `{"transaction": {"not a transaction string": true}}`,
		"fails if the challenge is not signed by the client": `{"transaction":"` + xdr + `"}`,
	} {
		if status, _, b := a.do(t, "POST", auth, "", "application/json", strings.NewReader(body)); status != 400 {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}
	// fails if the challenge is not signed by SIGNING_KEY: the client builds and signs it.
	own, err := txnbuild.BuildChallengeTx(client.Seed(), client.Address(), host, host, a.str("NETWORK_PASSPHRASE"), 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	ownXDR, _ := own.Base64()
	if status, _, b := a.do(t, "POST", auth, "", "application/json", strings.NewReader(`{"transaction":"`+ownXDR+`"}`)); status != 400 {
		t.Errorf("fails if the challenge is not signed by SIGNING_KEY: %d %s", status, b)
	}
	// fails if a challenge for a nonexistent account has extra client signatures.
	_, _, b = a.do(t, "GET", auth+"?account="+client.Address(), "", "", nil)
	var ch struct{ Transaction string }
	_ = json.Unmarshal(b, &ch)
	gtx, _ := txnbuild.TransactionFromXDR(ch.Transaction)
	ctx, _ := gtx.Transaction()
	extra, _ := ctx.Sign(a.str("NETWORK_PASSPHRASE"), client, keypair.MustRandom())
	extraXDR, _ := extra.Base64()
	if status, _, b := a.do(t, "POST", auth, "", "application/json", strings.NewReader(`{"transaction":"`+extraXDR+`"}`)); status != 400 {
		t.Errorf("fails if a challenge for a nonexistent account has extra client signatures: %d %s", status, b)
	}
}

var customerStatuses = []string{"ACCEPTED", "PROCESSING", "NEEDS_INFO", "REJECTED"}

func sep12(t *testing.T, a *anchor) {
	kyc := a.str("KYC_SERVER")
	if kyc == "" || strings.HasSuffix(kyc, "/") {
		t.Fatalf("has KYC_SERVER attribute: %q", kyc)
	}
	for _, c := range []struct{ method, path string }{{"PUT", "/customer"}, {"GET", "/customer"}, {"DELETE", "/customer/" + keypair.MustRandom().Address()}} {
		if status, _, _ := a.do(t, c.method, kyc+c.path, "", "", strings.NewReader("\x00garbage")); status != 401 && status != 403 {
			t.Errorf("%s: requires a SEP-10 JWT: %d", c.method, status)
		}
	}
	// GET: has a valid schema for a new customer.
	kp := keypair.MustRandom()
	tok := a.token(t, kp, "", false)
	status, hdr, b := a.do(t, "GET", kyc+"/customer?type=sep6", tok, "", nil)
	if m := jsonBody(t, hdr, b); status != 200 || m["id"] != nil || m["status"] != "NEEDS_INFO" || m["fields"] == nil {
		t.Errorf("GET: has a valid schema for a new customer: %d %s", status, b)
	}
	// PUT: can create a customer (exactly 202, string id).
	customer := `{"type":"sep6","first_name":"Ada","last_name":"Lovelace","email_address":"ada@example.com"}`
	status, hdr, b = a.do(t, "PUT", kyc+"/customer", tok, "application/json", strings.NewReader(customer))
	m := jsonBody(t, hdr, b)
	id, _ := m["id"].(string)
	if status != 202 || id == "" {
		t.Fatalf("PUT: can create a customer: %d %s", status, b)
	}
	for name, q := range map[string]string{"GET: can retrieve customer using 'id'": "?type=sep6&id=" + id, "GET: can retrieve customer using SEP-10 token": "?type=sep6"} {
		status, hdr, b := a.do(t, "GET", kyc+"/customer"+q, tok, "", nil)
		m := jsonBody(t, hdr, b)
		st, _ := m["status"].(string)
		if status != 200 || !slices.Contains(customerStatuses, st) || st == "NEEDS_INFO" {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}
	// PUT: memos differentiate customers registered by the same account.
	shared := keypair.MustRandom()
	var ids []string
	for _, memo := range []string{"1", "2"} {
		tok := a.token(t, shared, memo, false)
		status, _, b := a.do(t, "PUT", kyc+"/customer", tok, "application/json", strings.NewReader(`{"memo":"`+memo+`","memo_type":"id","first_name":"M"}`))
		var m struct{ ID string }
		_ = json.Unmarshal(b, &m)
		if status != 202 {
			t.Errorf("PUT: memos differentiate customers: %d %s", status, b)
		}
		ids = append(ids, m.ID)
	}
	if ids[0] == "" || ids[0] == ids[1] {
		t.Errorf("PUT: memos differentiate customers registered by the same account: %v", ids)
	}
	// DELETE: can delete a customer.
	del := keypair.MustRandom()
	dtok := a.token(t, del, "", false)
	if status, _, b := a.do(t, "PUT", kyc+"/customer", dtok, "application/json", strings.NewReader(`{"account":"`+del.Address()+`","first_name":"D"}`)); status != 202 {
		t.Fatalf("DELETE: can delete a customer (PUT): %d %s", status, b)
	}
	if status, _, b := a.do(t, "GET", kyc+"/customer?type=sep6&account="+del.Address(), dtok, "", nil); status != 200 {
		t.Errorf("DELETE: can delete a customer (GET): %d %s", status, b)
	}
	if status, _, b := a.do(t, "DELETE", kyc+"/customer/"+del.Address(), dtok, "", nil); status != 200 {
		t.Errorf("DELETE: can delete a customer: %d %s", status, b)
	}
}

func sep6(t *testing.T, a *anchor) {
	ts := a.str("TRANSFER_SERVER")
	if ts == "" || strings.HasSuffix(ts, "/") {
		t.Fatalf("has a valid transfer server URL: %q", ts)
	}
	status, hdr, b := a.do(t, "GET", ts+"/info", "", "", nil)
	info := jsonBody(t, hdr, b)
	for _, k := range []string{"deposit", "withdraw", "fee", "transaction", "transactions"} {
		if _, ok := info[k].(map[string]any); !ok || status != 200 {
			t.Fatalf("GET /info response is compliant with the schema: %d, %q missing: %s", status, k, b)
		}
	}
	var code string
	for c, v := range info["deposit"].(map[string]any) {
		if v.(map[string]any)["enabled"] == true {
			code = c
		}
	}
	if code == "" {
		t.Fatal("configured asset code is enabled for deposit: none")
	}
	dep := info["deposit"].(map[string]any)[code].(map[string]any)
	wd := info["withdraw"].(map[string]any)[code].(map[string]any)
	var wdType string
	for ty := range wd["types"].(map[string]any) {
		wdType = ty
	}

	client := keypair.MustRandom()
	acct := client.Address()
	if dep["authentication_required"] == true {
		if status, _, _ := a.do(t, "GET", ts+"/deposit?asset_code="+code+"&account="+keypair.MustRandom().Address(), "", "", nil); status != 403 {
			t.Errorf("GET /deposit requires a SEP-10 JWT if /info's 'authentication_required' is true: %d", status)
		}
	}
	tok := a.token(t, client, "", false)
	for name, q := range map[string]string{
		"GET /deposit requires 'asset_code' parameter":                         "/deposit?account=" + acct,
		"GET /deposit rejects unsupported 'asset_code' parameter":              "/deposit?asset_code=NOT_SUPPORTED&account=" + acct,
		"GET /deposit requires 'account' parameter":                            "/deposit?asset_code=" + code,
		"GET /deposit rejects invalid 'account' parameter":                     "/deposit?asset_code=" + code + "&account=invalid+account",
		"GET /withdraw requires 'asset_code' parameter":                        "/withdraw?type=" + wdType,
		"GET /withdraw rejects unsupported 'asset_code' parameter":             "/withdraw?asset_code=NOT_SUPPORTED&type=" + wdType,
		"GET /transactions rejects requests with a bad 'asset_code' parameter": "/transactions?asset_code=BADCODE&account=" + acct,
	} {
		status, hdr, b := a.do(t, "GET", ts+q, tok, "", nil)
		if m := jsonBody(t, hdr, b); status != 400 || m["error"] == nil {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}
	// returns a needs info response for valid requests from unknown accounts.
	status, hdr, b = a.do(t, "GET", ts+"/deposit?asset_code="+code+"&account="+acct+"&funding_method=SEPA", tok, "", nil)
	if m := jsonBody(t, hdr, b); status != 403 || m["type"] != "non_interactive_customer_info_needed" || m["fields"] == nil {
		t.Errorf("GET /deposit returns a needs info response for valid requests from unknown accounts: %d %s", status, b)
	}
	// returns an empty list for accounts with no transactions.
	status, hdr, b = a.do(t, "GET", ts+"/transactions?asset_code="+code+"&account="+acct, tok, "", nil)
	if m := jsonBody(t, hdr, b); status != 200 || len(m["transactions"].([]any)) != 0 {
		t.Errorf("GET /transactions returns an empty list for accounts with no transactions: %d %s", status, b)
	}
	// The account gets KYC (the suite's canCreateCustomer), then deposits and withdraws.
	if status, _, b := a.do(t, "PUT", a.str("KYC_SERVER")+"/customer", tok, "application/json",
		strings.NewReader(`{"type":"sep6","first_name":"Ada","last_name":"Lovelace","email_address":"ada@example.com"}`)); status != 202 {
		t.Fatalf("PUT customer: %d %s", status, b)
	}
	status, hdr, b = a.do(t, "GET", ts+"/deposit?asset_code="+code+"&account="+acct+"&funding_method=SEPA", tok, "", nil)
	depBody := jsonBody(t, hdr, b)
	depID, _ := depBody["id"].(string)
	if status != 200 || depID == "" || depBody["how"] == nil {
		t.Fatalf("GET /deposit returns a success or customer info status response for valid requests from KYC'ed accounts: %d %s", status, b)
	}
	status, hdr, b = a.do(t, "GET", ts+"/withdraw?asset_code="+code+"&account="+acct+"&type="+wdType, tok, "", nil)
	wdBody := jsonBody(t, hdr, b)
	wdID, _ := wdBody["id"].(string)
	for k := range wdBody {
		if !slices.Contains([]string{"id", "account_id", "memo_type", "memo", "eta", "min_amount", "max_amount", "fee_fixed", "fee_percent", "extra_info"}, k) {
			t.Errorf("GET /withdraw returns a success response: key %q not in the schema", k)
		}
	}
	if status != 200 || wdID == "" {
		t.Fatalf("GET /withdraw returns a success response for valid requests: %d %s", status, b)
	}

	if status, _, _ := a.do(t, "GET", ts+"/transaction?id="+depID, "", "", nil); status != 403 {
		t.Errorf("GET /transaction requires a JWT: %d", status)
	}
	if status, _, _ := a.do(t, "GET", ts+"/transactions?asset_code="+code, "", "", nil); status != 403 {
		t.Errorf("GET /transactions requires a JWT: %d", status)
	}
	for _, c := range []struct{ id, kind, party string }{{depID, "deposit", "to"}, {wdID, "withdrawal", "from"}} {
		status, hdr, b := a.do(t, "GET", ts+"/transaction?id="+c.id, tok, "", nil)
		m := jsonBody(t, hdr, b)
		txn, _ := m["transaction"].(map[string]any)
		if status != 200 || txn["id"] != c.id || txn["kind"] != c.kind || txn["status"] == nil || txn["started_at"] == nil {
			t.Errorf("has a record on /transaction after a %s request: %d %s", c.kind, status, b)
			continue
		}
		if _, ok := txn[c.party]; !ok {
			t.Errorf("has proper %s transaction schema on /transaction: no %q: %s", c.kind, c.party, b)
		}
		if _, err := time.Parse(time.RFC3339, txn["started_at"].(string)); err != nil {
			t.Errorf("started_at is not a date-time: %v", txn["started_at"])
		}
	}
	for _, q := range []string{"id=", "external_transaction_id=", "stellar_transaction_id="} {
		if status, _, b := a.do(t, "GET", ts+"/transaction?"+q+"00000000-0000-0000-0000-000000000000", tok, "", nil); status != 404 {
			t.Errorf("GET /transaction returns 404 for a nonexistent %s: %d %s", strings.TrimSuffix(q, "="), status, b)
		}
	}
	status, hdr, b = a.do(t, "GET", ts+"/transactions?asset_code="+code+"&account="+acct, tok, "", nil)
	list, _ := jsonBody(t, hdr, b)["transactions"].([]any)
	var got []string
	for _, x := range list {
		got = append(got, x.(map[string]any)["id"].(string))
	}
	if status != 200 || !slices.Contains(got, depID) || !slices.Contains(got, wdID) {
		t.Errorf("has a record on /transactions after a deposit and a withdraw request: %d %v", status, got)
	}
	if len(got) == 2 && got[0] != wdID {
		t.Errorf("transactions are returned in descending order of creation: %v", got)
	}
	for kind, want := range map[string]string{"deposit": depID, "withdrawal": wdID} {
		_, hdr, b := a.do(t, "GET", ts+"/transactions?asset_code="+code+"&kind="+kind+"&account="+acct, tok, "", nil)
		l, _ := jsonBody(t, hdr, b)["transactions"].([]any)
		if len(l) != 1 || l[0].(map[string]any)["id"] != want {
			t.Errorf("only returns %s transactions when kind=%s: %s", kind, kind, b)
		}
	}
	_, hdr, b = a.do(t, "GET", ts+"/transactions?asset_code="+code+"&limit=1&account="+acct, tok, "", nil)
	if l, _ := jsonBody(t, hdr, b)["transactions"].([]any); len(l) != 1 {
		t.Errorf("returns proper number of transactions when 'limit' parameter is given: %s", b)
	}
}
