package kychttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vaspgate/vaspgate/internal/callback"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// apBusiness behaves like an Anchor Platform business server's customer callback API
// (anchor-platform-compat.md section 5): it keeps customers in memory, answers GET/PUT with
// GET /customer bodies and checks the configured authentication.
type apBusiness struct {
	srv  *httptest.Server
	auth callback.Auth

	mu        sync.Mutex
	customers map[string]*apCustomer
	next      int
	requests  []apRequest
	down      bool // answer 500 to everything
	idOnly    bool // PUT answers only {"id"} (older business servers)
}

type apCustomer struct {
	account, memo string
	fields        map[string]string
	binary        map[string]int
}

type apRequest struct {
	method, path string
	query        url.Values
	body         map[string]string
	contentType  string
}

func newAPBusiness(t *testing.T, auth callback.Auth) *apBusiness {
	t.Helper()
	b := &apBusiness{auth: auth, customers: map[string]*apCustomer{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *apBusiness) authorized(r *http.Request) bool {
	switch b.auth.Type {
	case callback.AuthAPIKey:
		return r.Header.Get("X-Api-Key") == b.auth.Secret
	case callback.AuthJWT:
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return false
		}
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(b.auth.Secret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
		return err == nil
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *apCustomer) body(id string) map[string]any {
	m := map[string]any{"id": id}
	missing := map[string]any{}
	for _, f := range []string{"first_name", "last_name", "email_address"} {
		if c.fields[f] == "" {
			missing[f] = map[string]any{"type": "string", "description": f}
		}
	}
	provided := map[string]any{}
	for f := range c.fields {
		provided[f] = map[string]any{"type": "string", "description": f, "status": "PROCESSING"}
	}
	for f := range c.binary {
		provided[f] = map[string]any{"type": "binary", "description": f, "status": "PROCESSING"}
	}
	m["provided_fields"] = provided
	switch {
	case c.fields["last_name"] == "Rejected":
		m["status"], m["message"] = "REJECTED", "sanctions"
	case len(missing) > 0:
		m["status"], m["fields"] = "NEEDS_INFO", missing
	default:
		m["status"] = "PROCESSING"
	}
	return m
}

func (b *apBusiness) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	req := apRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query(), body: map[string]string{},
		contentType: r.Header.Get("Content-Type")}
	ct, _, _ := mime.ParseMediaType(req.contentType)
	binary := map[string]int{}
	switch ct {
	case "application/json":
		_ = json.NewDecoder(r.Body).Decode(&req.body)
	case "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			for k, v := range r.MultipartForm.Value {
				req.body[k] = v[0]
			}
			for k, v := range r.MultipartForm.File {
				binary[k] = int(v[0].Size)
			}
		}
	}
	b.requests = append(b.requests, req)
	if b.down {
		writeJSON(w, 500, map[string]string{"error": "boom"})
		return
	}
	if !b.authorized(r) {
		writeJSON(w, 401, map[string]string{"error": "unauthorized"})
		return
	}
	find := func(id, account, memo string) (string, *apCustomer) {
		if id != "" {
			return id, b.customers[id]
		}
		for cid, c := range b.customers {
			if c.account == account && c.memo == memo {
				return cid, c
			}
		}
		return "", nil
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/customer":
		q := r.URL.Query()
		id, c := find(q.Get("id"), q.Get("account"), q.Get("memo"))
		if c == nil && id != "" {
			writeJSON(w, 404, map[string]string{"error": "customer not found"})
			return
		}
		if c == nil {
			writeJSON(w, 200, map[string]any{"status": "NEEDS_INFO", "fields": map[string]any{
				"first_name": map[string]any{"type": "string", "description": "first name"}}})
			return
		}
		writeJSON(w, 200, c.body(id))
	case r.Method == "PUT" && r.URL.Path == "/customer":
		if req.body["email_address"] == "bad" {
			writeJSON(w, 400, map[string]string{"error": "email_address is not an email address"})
			return
		}
		if req.body["email_address"] == "unprocessable" {
			writeJSON(w, 422, map[string]string{})
			return
		}
		id, c := find(req.body["id"], req.body["account"], req.body["memo"])
		if c == nil && id != "" {
			writeJSON(w, 404, map[string]string{"error": "customer not found"})
			return
		}
		if c == nil {
			b.next++
			id = fmt.Sprintf("biz-%d", b.next)
			c = &apCustomer{account: req.body["account"], memo: req.body["memo"], fields: map[string]string{}, binary: map[string]int{}}
			b.customers[id] = c
		}
		for k, v := range req.body {
			switch k {
			case "id", "account", "memo", "memo_type", "type", "transaction_id":
			default:
				c.fields[k] = v
			}
		}
		for k, v := range binary {
			c.binary[k] = v
		}
		if b.idOnly {
			writeJSON(w, 202, map[string]string{"id": id})
			return
		}
		writeJSON(w, 200, c.body(id))
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/customer/"):
		id := strings.TrimPrefix(r.URL.Path, "/customer/")
		if b.customers[id] == nil {
			writeJSON(w, 404, map[string]string{"error": "customer not found"})
			return
		}
		delete(b.customers, id)
		w.WriteHeader(204)
	default:
		writeJSON(w, 404, map[string]string{"error": "no route"})
	}
}

func (b *apBusiness) last() apRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests[len(b.requests)-1]
}

func (b *apBusiness) set(f func(b *apBusiness)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func TestBusinessBackend(t *testing.T) {
	t.Parallel()
	for _, auth := range []callback.Auth{
		{Type: callback.AuthNone},
		{Type: callback.AuthAPIKey, Secret: "api-key-secret"},
		{Type: callback.AuthJWT, Secret: "jwt-secret-that-is-long-enough-0123456789"},
	} {
		t.Run(auth.Type, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				biz := newAPBusiness(t, auth)
				b := setup(t, db, setupOpts{mutate: func(c *kyc.Options) {
					c.Backend = kyc.Business
					c.Business = kyc.BusinessServer{BaseURL: biz.srv.URL, Auth: auth}
				}})
				testBusiness(t, b, biz, db)
			})
		})
	}
}

func testBusiness(t *testing.T, b *bundle, biz *apBusiness, db *store.DB) {
	acct := newAccount()
	tok := b.token(t, acct+":77")

	// A new customer: the business answers without an id.
	m := b.get(t, tok, url.Values{"type": {"sep6"}}).json(t)
	if m["status"] != "NEEDS_INFO" || m["id"] != nil {
		t.Fatalf("new customer: %v", m)
	}
	if q := biz.last().query; q.Get("account") != acct || q.Get("memo") != "77" || q.Get("memo_type") != "id" || q.Get("type") != "sep6" {
		t.Fatalf("GET forwarded as %v", q)
	}

	id := b.put(t, tok, map[string]string{"type": "sep6", "first_name": "Ada"})
	if body := biz.last().body; body["account"] != acct || body["memo"] != "77" || body["first_name"] != "Ada" || body["type"] != "sep6" {
		t.Fatalf("PUT forwarded as %v", body)
	}
	rcv := b.newWallet(t)
	if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tok, map[string]string{"id": id, "url": rcv.URL}); r.status != 200 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	// The rest of the fields: the business answers PROCESSING, a change from NEEDS_INFO.
	if got := b.put(t, tok, map[string]string{"id": id, "type": "sep6", "last_name": "Lovelace", "email_address": "a@b.c"}); got != id {
		t.Fatalf("PUT by id: %s", got)
	}
	if body := biz.last().body; body["id"] != id || body["account"] != "" {
		t.Fatalf("PUT by id forwarded as %v", body)
	}
	c := rcv.Next(callbackWait) // its signature checked by the wallet
	if !strings.Contains(string(c.Body), `"status":"PROCESSING"`) {
		t.Fatalf("callback: %s", c.Body)
	}
	// Same status again: nothing.
	b.put(t, tok, map[string]string{"id": id, "type": "sep6", "first_name": "Ada"})
	if n := walletDeliveries(t, db, id, "sep6"); n != 1 {
		t.Fatalf("%d callbacks, want 1", n)
	}

	// Reads by id, by token, by transaction_id (forwarded).
	b.txs.set("tx-b", wallet.Identity{Account: acct, Memo: "77"})
	for _, q := range []url.Values{{"id": {id}}, {"type": {"sep6"}}, {"transaction_id": {"tx-b"}, "type": {"sep6"}}} {
		if m := b.get(t, tok, q).json(t); m["id"] != id || m["status"] != "PROCESSING" {
			t.Fatalf("GET %v: %v", q, m)
		}
	}
	if q := biz.last().query; q.Get("transaction_id") != "tx-b" {
		t.Fatalf("transaction_id not forwarded: %v", q)
	}

	// Ownership: another identity never reaches the business customer.
	other := b.token(t, acct+":78")
	stranger := b.token(t, newAccount())
	for _, tk := range []string{other, stranger} {
		if r := b.get(t, tk, url.Values{"id": {id}}); r.status != 404 {
			t.Fatalf("foreign GET by id: %d", r.status)
		}
		if r := b.get(t, tk, url.Values{"transaction_id": {"tx-b"}, "type": {"sep6"}}); r.status != 404 {
			t.Fatalf("foreign GET by transaction_id: %d", r.status)
		}
		if r := b.doJSON(t, "PUT", "/sep12/customer", tk, map[string]string{"id": id, "first_name": "Eve"}); r.status != 404 {
			t.Fatalf("foreign PUT by id: %d", r.status)
		}
		if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tk, map[string]string{"id": id, "url": rcv.URL}); r.status != 404 {
			t.Fatalf("foreign callback by id: %d", r.status)
		}
	}
	// A customer created under Anchor Platform (the business has it, vaspgate never saw its
	// id): 404 by bare id until its owner is known — then its owner reads it at once
	// (`vaspgate import anchor-platform --customers` records the owner), nobody else does.
	biz.set(func(bz *apBusiness) {
		bz.customers["ap-created"] = &apCustomer{account: acct, memo: "79", fields: map[string]string{"first_name": "Ada"}, binary: map[string]int{}}
	})
	apOwner := b.token(t, acct+":79")
	asked := len(biz.requests)
	if r := b.get(t, apOwner, url.Values{"id": {"ap-created"}}); r.status != 404 || len(biz.requests) != asked {
		t.Fatalf("GET of an unknown id: %d (business asked %d times)", r.status, len(biz.requests)-asked)
	}
	if _, _, err := kyc.RecordOwner(context.Background(), db, "ap-created", wallet.Identity{Account: acct, Memo: "79"}, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if m := b.get(t, apOwner, url.Values{"id": {"ap-created"}}).json(t); m["id"] != "ap-created" || m["status"] != "NEEDS_INFO" {
		t.Fatalf("owner's GET of an imported customer: %v", m)
	}
	if q := biz.last().query; q.Get("id") != "ap-created" {
		t.Fatalf("GET forwarded as %v", q)
	}
	for _, tk := range []string{tok, other, stranger} {
		if r := b.get(t, tk, url.Values{"id": {"ap-created"}}); r.status != 404 {
			t.Fatalf("foreign GET of an imported customer: %d", r.status)
		}
		if r := b.doJSON(t, "PUT", "/sep12/customer", tk, map[string]string{"id": "ap-created", "first_name": "Eve"}); r.status != 404 {
			t.Fatalf("foreign PUT of an imported customer: %d", r.status)
		}
	}

	// A business server that hands one identity's customer id to another is refused.
	biz.set(func(b *apBusiness) { b.customers[id].memo = "78"; b.customers[id].account = acct })
	if r := b.get(t, other, url.Values{"type": {"sep6"}}); r.status != 404 {
		t.Fatalf("business answered another identity's id: %d %s", r.status, r.body)
	}
	biz.set(func(b *apBusiness) { b.customers[id].memo = "77" })

	// Multipart with a binary field is forwarded as multipart.
	ct, body := multipartBody(t, map[string]string{"id": id, "type": "sep6"}, map[string][]byte{"photo_id_front": []byte("\x89PNG")})
	if r := b.do(t, "PUT", "/sep12/customer", tok, ct, body); r.status != 202 {
		t.Fatalf("multipart PUT: %d %s", r.status, r.body)
	}
	if last := biz.last(); !strings.HasPrefix(last.contentType, "multipart/form-data") || last.body["id"] != id {
		t.Fatalf("multipart forwarded as %q %v", last.contentType, last.body)
	}

	// An uploaded file referenced as <field>_file_id is forwarded as a binary part.
	ct, body = multipartBody(t, nil, map[string][]byte{"file": []byte("\x89PNG back")})
	up := b.do(t, "POST", "/sep12/customer/files", tok, ct, body)
	fid, _ := up.json(t)["file_id"].(string)
	if up.status != 200 || fid == "" {
		t.Fatalf("upload: %d %s", up.status, up.body)
	}
	b.put(t, tok, map[string]string{"id": id, "photo_id_back_file_id": fid})
	if last := biz.last(); !strings.HasPrefix(last.contentType, "multipart/form-data") || last.body["photo_id_back_file_id"] != "" {
		t.Fatalf("file reference forwarded as %q %v", last.contentType, last.body)
	}
	biz.set(func(bz *apBusiness) {
		if bz.customers[id].binary["photo_id_back"] != len("\x89PNG back") {
			t.Errorf("business did not get the file: %v", bz.customers[id].binary)
		}
	})
	if files := b.do(t, "GET", "/sep12/customer/files?customer_id="+id, tok, "", nil).json(t)["files"].([]any); len(files) != 1 {
		t.Fatalf("files of the business customer: %v", files)
	}

	// Verification codes are forwarded as *_verification fields.
	if r := b.doJSON(t, "PUT", "/sep12/customer/verification", tok, map[string]string{"id": id, "mobile_number_verification": "123456"}); r.status != 200 {
		t.Fatalf("verification: %d %s", r.status, r.body)
	}

	// Business errors.
	for _, c := range []struct {
		email string
		want  int
	}{{"bad", 400}, {"unprocessable", 400}} {
		r := b.doJSON(t, "PUT", "/sep12/customer", tok, map[string]string{"id": id, "email_address": c.email})
		if r.status != c.want {
			t.Fatalf("business %s: %d %s", c.email, r.status, r.body)
		}
		if c.email == "bad" && !strings.Contains(string(r.body), "not an email address") {
			t.Fatalf("business error message not passed on: %s", r.body)
		}
	}
	biz.set(func(b *apBusiness) { b.down = true })
	if r := b.get(t, tok, url.Values{"id": {id}}); r.status != 503 {
		t.Fatalf("business down: %d", r.status)
	}
	if _, err := b.svc.Fetch(context.Background(), kyc.Query{ID: id, Type: "sep6"}); !errors.Is(err, kyc.ErrUnavailable) {
		t.Fatalf("Fetch with business down: %v", err)
	}
	biz.set(func(b *apBusiness) { b.down = false })
	if c, err := b.svc.Fetch(context.Background(), kyc.Query{ID: id, Type: "sep6"}); err != nil || c.Status != "PROCESSING" || c.Type != "sep6" {
		t.Fatalf("Fetch: %+v %v", c, err)
	}
	if _, err := b.svc.Fetch(context.Background(), kyc.Query{ID: "nope", Type: "sep6"}); !errors.Is(err, kyc.ErrNotFound) {
		t.Fatalf("Fetch unknown: %v", err)
	}
	// Operator decisions belong to the business server.
	if r := b.decide(t, id, map[string]any{"status": "ACCEPTED"}); r.status != 400 {
		t.Fatalf("decision with business back end: %d", r.status)
	}

	// A PUT answered only with {"id"} is accepted (older business servers), no callback.
	biz.set(func(b *apBusiness) { b.idOnly = true })
	b.put(t, tok, map[string]string{"id": id, "last_name": "Rejected"})
	biz.set(func(b *apBusiness) { b.idOnly = false })
	if n := walletDeliveries(t, db, id, "sep6"); n != 1 {
		t.Fatalf("%d callbacks after an id-only answer, want 1", n)
	}
	// The RPC path: the business status is now REJECTED; RecordStatus sends it and ends the
	// registration.
	cust, err := b.svc.Fetch(context.Background(), kyc.Query{ID: id, Type: "sep6"})
	if err != nil || cust.Status != "REJECTED" {
		t.Fatalf("Fetch: %+v %v", cust, err)
	}
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := b.svc.RecordStatus(context.Background(), tx, cust, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if c := rcv.Next(callbackWait); !strings.Contains(string(c.Body), `"status":"REJECTED"`) || !strings.Contains(string(c.Body), `"message":"sanctions"`) {
		t.Fatalf("REJECTED callback: %s", c.Body)
	}

	// DELETE resolves the id by account and memo, then deletes it at the business server.
	if r := b.doJSON(t, "DELETE", "/sep12/customer/"+acct, tok, map[string]string{}); r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if last := biz.last(); last.method != "DELETE" || last.path != "/customer/"+id {
		t.Fatalf("DELETE forwarded as %s %s", last.method, last.path)
	}
	if r := b.get(t, tok, url.Values{"id": {id}}); r.status != 404 {
		t.Fatalf("GET after DELETE: %d", r.status)
	}
	if r := b.doJSON(t, "DELETE", "/sep12/customer/"+acct, tok, map[string]string{}); r.status != 404 {
		t.Fatalf("second DELETE: %d", r.status)
	}
}

func TestBusinessWrongSecret(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		biz := newAPBusiness(t, callback.Auth{Type: callback.AuthAPIKey, Secret: "right"})
		b := setup(t, db, setupOpts{mutate: func(c *kyc.Options) {
			c.Backend = kyc.Business
			c.Business = kyc.BusinessServer{BaseURL: biz.srv.URL, Auth: callback.Auth{Type: callback.AuthAPIKey, Secret: "wrong"}}
		}})
		if r := b.get(t, b.token(t, newAccount()), url.Values{"type": {"sep6"}}); r.status != 503 {
			t.Fatalf("business 401: %d %s", r.status, r.body)
		}
	})
}
