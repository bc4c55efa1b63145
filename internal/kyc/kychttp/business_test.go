package kychttp_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// newAPBusiness starts the test kit's Anchor Platform business server checking auth.
func newAPBusiness(t *testing.T, auth callback.Auth) *testkit.Business {
	t.Helper()
	biz := testkit.NewBusiness(t)
	biz.RequireAuth(auth)
	return biz
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
					c.Business = kyc.BusinessServer{BaseURL: biz.URL, Auth: auth}
				}})
				testBusiness(t, b, biz, db)
			})
		})
	}
}

func testBusiness(t *testing.T, b *bundle, biz *testkit.Business, db *store.DB) {
	acct := newAccount()
	tok := b.token(t, acct+":77")

	// A new customer: the business answers without an id.
	m := b.get(t, tok, url.Values{"type": {"sep6"}}).json(t)
	if m["status"] != "NEEDS_INFO" || m["id"] != nil {
		t.Fatalf("new customer: %v", m)
	}
	if q := biz.Last().Query; q.Get("account") != acct || q.Get("memo") != "77" || q.Get("memo_type") != "id" || q.Get("type") != "sep6" {
		t.Fatalf("GET forwarded as %v", q)
	}

	id := b.put(t, tok, map[string]string{"type": "sep6", "first_name": "Ada"})
	if body := biz.Last().Body; body["account"] != acct || body["memo"] != "77" || body["first_name"] != "Ada" || body["type"] != "sep6" {
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
	if body := biz.Last().Body; body["id"] != id || body["account"] != "" {
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
	if q := biz.Last().Query; q.Get("transaction_id") != "tx-b" {
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
	biz.SetFields("ap-created", acct, "79", map[string]string{"first_name": "Ada"})
	apOwner := b.token(t, acct+":79")
	asked := len(biz.Requests())
	if r := b.get(t, apOwner, url.Values{"id": {"ap-created"}}); r.status != 404 || len(biz.Requests()) != asked {
		t.Fatalf("GET of an unknown id: %d (business asked %d times)", r.status, len(biz.Requests())-asked)
	}
	if _, _, err := kyc.RecordOwner(context.Background(), db, "ap-created", wallet.Identity{Account: acct, Memo: "79"}, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if m := b.get(t, apOwner, url.Values{"id": {"ap-created"}}).json(t); m["id"] != "ap-created" || m["status"] != "NEEDS_INFO" {
		t.Fatalf("owner's GET of an imported customer: %v", m)
	}
	if q := biz.Last().Query; q.Get("id") != "ap-created" {
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
	biz.SetOwner(id, acct, "78")
	if r := b.get(t, other, url.Values{"type": {"sep6"}}); r.status != 404 {
		t.Fatalf("business answered another identity's id: %d %s", r.status, r.body)
	}
	biz.SetOwner(id, acct, "77")

	// Multipart with a binary field is forwarded as multipart.
	ct, body := multipartBody(t, map[string]string{"id": id, "type": "sep6"}, map[string][]byte{"photo_id_front": []byte("\x89PNG")})
	if r := b.do(t, "PUT", "/sep12/customer", tok, ct, body); r.status != 202 {
		t.Fatalf("multipart PUT: %d %s", r.status, r.body)
	}
	if last := biz.Last(); !strings.HasPrefix(last.ContentType, "multipart/form-data") || last.Body["id"] != id {
		t.Fatalf("multipart forwarded as %q %v", last.ContentType, last.Body)
	}

	// An uploaded file referenced as <field>_file_id is forwarded as a binary part.
	ct, body = multipartBody(t, nil, map[string][]byte{"file": []byte("\x89PNG back")})
	up := b.do(t, "POST", "/sep12/customer/files", tok, ct, body)
	fid, _ := up.json(t)["file_id"].(string)
	if up.status != 200 || fid == "" {
		t.Fatalf("upload: %d %s", up.status, up.body)
	}
	b.put(t, tok, map[string]string{"id": id, "photo_id_back_file_id": fid})
	if last := biz.Last(); !strings.HasPrefix(last.ContentType, "multipart/form-data") || last.Body["photo_id_back_file_id"] != "" {
		t.Fatalf("file reference forwarded as %q %v", last.ContentType, last.Body)
	}
	if files := biz.Files(id); files["photo_id_back"] != len("\x89PNG back") {
		t.Errorf("business did not get the file: %v", files)
	}
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
	biz.SetUnavailable(true)
	if r := b.get(t, tok, url.Values{"id": {id}}); r.status != 503 {
		t.Fatalf("business down: %d", r.status)
	}
	if _, err := b.svc.Fetch(context.Background(), kyc.Query{ID: id, Type: "sep6"}); !errors.Is(err, kyc.ErrUnavailable) {
		t.Fatalf("Fetch with business down: %v", err)
	}
	biz.SetUnavailable(false)
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
	biz.SetIDOnly(true)
	b.put(t, tok, map[string]string{"id": id, "last_name": "Rejected"})
	biz.SetIDOnly(false)
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
	if last := biz.Last(); last.Method != "DELETE" || last.Path != "/customer/"+id {
		t.Fatalf("DELETE forwarded as %s %s", last.Method, last.Path)
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
			c.Business = kyc.BusinessServer{BaseURL: biz.URL, Auth: callback.Auth{Type: callback.AuthAPIKey, Secret: "wrong"}}
		}})
		if r := b.get(t, b.token(t, newAccount()), url.Values{"type": {"sep6"}}); r.status != 503 {
			t.Fatalf("business 401: %d %s", r.status, r.body)
		}
	})
}
