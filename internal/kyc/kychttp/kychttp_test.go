package kychttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// SEP-12's tables answer 401 to a client that is not authenticated properly: no token, or a
// token that is not valid. The token is checked before the body is read.
func TestSEP12UnauthenticatedIs401(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/sep12/customer"},
			{http.MethodPut, "/sep12/customer"},
			{http.MethodPut, "/sep12/customer/verification"},
			{http.MethodDelete, "/sep12/customer/" + newAccount()},
			{http.MethodPut, "/sep12/customer/callback"},
			{http.MethodPost, "/sep12/customer/files"},
			{http.MethodGet, "/sep12/customer/files?file_id=x"},
		} {
			// A garbage body without a content type: the token is checked first.
			r := b.do(t, c.method, c.path, "", "", strings.NewReader("\x00garbage"))
			if r.status != http.StatusUnauthorized || r.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s %s without token: %d", c.method, c.path, r.status)
			}
			r = b.do(t, c.method, c.path, "not-a-jwt", "", strings.NewReader("\x00garbage"))
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with a bad token: %d", c.method, c.path, r.status)
			}
		}
		r := b.do(t, http.MethodOptions, "/sep12/customer", "", "", nil)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
	})
}

func TestNewCustomerAndPut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		acct := newAccount()
		tok := b.token(t, acct)

		// A new customer: NEEDS_INFO, every field, no id.
		r := b.get(t, tok, url.Values{"type": {"sep6"}})
		m := r.json(t)
		if r.status != 200 || m["status"] != kyc.StatusNeedsInfo || m["id"] != nil {
			t.Fatalf("new customer: %d %s", r.status, r.body)
		}
		if f := m["fields"].(map[string]any); len(f) != 4 || f["photo_id_front"].(map[string]any)["optional"] != true {
			t.Fatalf("new customer fields: %s", r.body)
		}
		if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers: %v", r.header)
		}

		// Part of the fields: NEEDS_INFO with the rest.
		id := b.put(t, tok, map[string]string{"type": "sep6", "first_name": "Ada"})
		m = b.get(t, tok, url.Values{"type": {"sep6"}}).json(t)
		if m["id"] != id || m["status"] != kyc.StatusNeedsInfo || len(m["fields"].(map[string]any)) != 3 {
			t.Fatalf("partial customer: %v", m)
		}
		if pf := m["provided_fields"].(map[string]any)["first_name"].(map[string]any); pf["status"] != kyc.FieldProcessing {
			t.Fatalf("provided field: %v", pf)
		}

		// The rest as a form: PROCESSING, same id (PUT is idempotent per identity).
		form := url.Values{"type": {"sep6"}, "last_name": {"Lovelace"}, "email_address": {"ada@example.com"}}
		r = b.do(t, http.MethodPut, "/sep12/customer", tok, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if r.status != http.StatusAccepted || r.json(t)["id"] != id {
			t.Fatalf("form PUT: %d %s", r.status, r.body)
		}
		for _, q := range []url.Values{{"type": {"sep6"}}, {"id": {id}, "type": {"sep6"}}, {"account": {acct}, "type": {"sep6"}}, {}} {
			m = b.get(t, tok, q).json(t)
			if m["id"] != id || m["status"] != kyc.StatusProcessing || m["fields"] != nil {
				t.Fatalf("GET %v: %v", q, m)
			}
		}

		// Multipart with a binary field.
		ct, body := multipartBody(t, map[string]string{"type": "sep6"}, map[string][]byte{"photo_id_front": []byte("\x89PNG")})
		r = b.do(t, http.MethodPut, "/sep12/customer", tok, ct, body)
		if r.status != http.StatusAccepted || r.json(t)["id"] != id {
			t.Fatalf("multipart PUT: %d %s", r.status, r.body)
		}
		v, ctype, err := b.svc.FieldValue(context.Background(), id, "photo_id_front")
		if err != nil || string(v) != "\x89PNG" || ctype != "application/octet-stream" {
			t.Fatalf("binary field: %q %q %v", v, ctype, err)
		}
		// Values are sealed at rest.
		var raw []byte
		if err := db.QueryRowContext(context.Background(), `SELECT value FROM kyc_fields WHERE customer_id = ? AND name = ?`,
			id, "email_address").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("ada@example.com")) {
			t.Fatal("field stored in clear")
		}

		// Another type of the same customer has its own status.
		m = b.get(t, tok, url.Values{"type": {"sep31-sender"}}).json(t)
		if m["id"] != id || m["status"] != kyc.StatusNeedsInfo || len(m["fields"].(map[string]any)) != 2 {
			t.Fatalf("other type: %v", m)
		}
	})
}

func TestMemosAndMuxed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		acct := newAccount()
		t1, t2 := b.token(t, acct+":1"), b.token(t, acct+":2")
		id1 := b.put(t, t1, map[string]string{"memo": "1", "memo_type": "id", "first_name": "A"})
		id2 := b.put(t, t2, map[string]string{"memo": "2", "memo_type": "id", "first_name": "B"})
		if id1 == id2 {
			t.Fatal("two memos share a customer")
		}
		if b.put(t, t1, map[string]string{"first_name": "A"}) != id1 {
			t.Fatal("memo from the token does not scope the customer")
		}
		// A plain account scopes its customers by the memo it sends.
		plain := newAccount()
		pt := b.token(t, plain)
		p7 := b.put(t, pt, map[string]string{"memo": "7", "first_name": "X"})
		p0 := b.put(t, pt, map[string]string{"first_name": "Y"})
		if p7 == p0 {
			t.Fatal("request memo does not scope the customer of a plain account")
		}
		if m := b.get(t, pt, url.Values{"memo": {"7"}}).json(t); m["id"] != p7 {
			t.Fatalf("GET by memo: %v", m)
		}

		// A muxed account is its base account plus the muxed id as memo.
		base := newAccount()
		var mx strkey.MuxedAccount
		if err := mx.SetAccountID(base); err != nil {
			t.Fatal(err)
		}
		mx.SetID(9)
		maddr, err := mx.Address()
		if err != nil {
			t.Fatal(err)
		}
		mt := b.token(t, maddr)
		mid := b.put(t, mt, map[string]string{"account": maddr, "first_name": "M"})
		if b.put(t, b.token(t, base+":9"), map[string]string{"first_name": "M"}) != mid {
			t.Fatal("M… and G…:id are different customers")
		}
		if m := b.get(t, mt, url.Values{"account": {maddr}, "memo": {"9"}}).json(t); m["id"] != mid {
			t.Fatalf("GET by muxed account: %v", m)
		}
		if r := b.get(t, mt, url.Values{"memo": {"10"}}); r.status != 404 {
			t.Fatalf("muxed token with another memo: %d", r.status)
		}
		if r := b.do(t, "DELETE", "/sep12/customer/"+maddr, mt, "", nil); r.status != 200 {
			t.Fatalf("DELETE by muxed account: %d %s", r.status, r.body)
		}
	})
}

// TestOwnership checks every way in: a token reaches only its own customers; anything else
// is 404, exactly like an unknown customer.
func TestOwnership(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		owner := newAccount()
		ownTok := b.token(t, owner+":5")
		id := b.put(t, ownTok, map[string]string{"first_name": "Ada"})
		b.txs.set("tx-own", wallet.Identity{Account: owner, Memo: "5"})
		other := newAccount()
		otherTok := b.token(t, other)
		b.txs.set("tx-other", wallet.Identity{Account: other})
		sameAcctOtherMemo := b.token(t, owner+":6")
		rcv := b.newWallet(t)

		// The owner reaches it every way.
		for _, q := range []url.Values{{"id": {id}}, {"account": {owner}}, {"memo": {"5"}}, {"transaction_id": {"tx-own"}, "type": {"sep6"}}} {
			if m := b.get(t, ownTok, q).json(t); m["id"] != id {
				t.Fatalf("owner GET %v: %v", q, m)
			}
		}

		for _, tc := range []struct {
			name string
			tok  string
		}{{"other account", otherTok}, {"same account other memo", sameAcctOtherMemo}} {
			t.Run(tc.name, func(t *testing.T) {
				// By id and by transaction_id: 404. By account or memo the token can only name
				// its own identity (a plain account scopes by memo), so it gets its own
				// customer or 404, never the owner's.
				notOwners := func(what string, r response, strict bool) {
					t.Helper()
					if strict && r.status != http.StatusNotFound {
						t.Errorf("%s: %d %s, want 404", what, r.status, r.body)
					}
					if r.status != http.StatusNotFound && bytes.Contains(r.body, []byte(id)) {
						t.Errorf("%s reached the owner's customer: %d %s", what, r.status, r.body)
					}
				}
				for _, c := range []struct {
					q      url.Values
					strict bool
				}{
					{url.Values{"id": {id}}, true},
					{url.Values{"account": {owner}}, false},
					{url.Values{"memo": {"5"}}, false},
					{url.Values{"transaction_id": {"tx-own"}, "type": {"sep6"}}, true},
					{url.Values{"transaction_id": {"unknown"}, "type": {"sep6"}}, true},
				} {
					notOwners("GET "+c.q.Encode(), b.get(t, tc.tok, c.q), c.strict)
				}
				for _, c := range []struct {
					body   map[string]string
					strict bool
				}{
					{map[string]string{"id": id, "first_name": "Eve"}, true},
					{map[string]string{"account": owner, "first_name": "Eve"}, false},
					{map[string]string{"memo": "5", "first_name": "Eve"}, false},
					{map[string]string{"transaction_id": "tx-own", "type": "sep6", "first_name": "Eve"}, true},
				} {
					notOwners("PUT", b.doJSON(t, http.MethodPut, "/sep12/customer", tc.tok, c.body), c.strict)
				}
				for _, c := range []struct {
					body   map[string]string
					strict bool
				}{
					{map[string]string{"id": id, "url": rcv.URL}, true},
					{map[string]string{"account": owner, "url": rcv.URL}, false},
					{map[string]string{"memo": "5", "url": rcv.URL}, false},
				} {
					notOwners("callback", b.doJSON(t, http.MethodPut, "/sep12/customer/callback", tc.tok, c.body), c.strict)
				}
				if r := b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tc.tok,
					map[string]string{"id": id, "mobile_number_verification": "1"}); r.status != http.StatusNotFound {
					t.Errorf("verification: %d %s", r.status, r.body)
				}
				notOwners("DELETE", b.doJSON(t, http.MethodDelete, "/sep12/customer/"+owner, tc.tok, map[string]string{"memo": "5"}), false)
				if r := b.do(t, http.MethodGet, "/sep12/customer/files?customer_id="+id, tc.tok, "", nil); r.status != 200 ||
					len(r.json(t)["files"].([]any)) != 0 {
					t.Errorf("files: %d %s", r.status, r.body)
				}
			})
		}
		// Nothing of the owner's changed.
		m := b.get(t, ownTok, url.Values{"id": {id}}).json(t)
		if m["status"] != kyc.StatusNeedsInfo || len(m["provided_fields"].(map[string]any)) != 1 {
			t.Fatalf("owner's customer changed: %v", m)
		}
		var n int
		_ = db.QueryRowContext(context.Background(), `SELECT count(*) FROM kyc_callbacks WHERE customer_id = ?`, id).Scan(&n)
		if n != 0 {
			t.Fatal("a foreign token registered a callback")
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		tok := b.token(t, newAccount())
		id := b.put(t, tok, full())
		for _, c := range []struct {
			name, method, path, ct, body string
			want                         int
		}{
			{"unknown type", "GET", "/sep12/customer?type=nope", "", "", 400},
			{"transaction_id without type", "GET", "/sep12/customer?transaction_id=x", "", "", 400},
			{"unknown id", "GET", "/sep12/customer?id=nope", "", "", 404},
			{"PUT unknown id", "PUT", "/sep12/customer", "application/json", `{"id":"nope"}`, 404},
			{"PUT bad JSON", "PUT", "/sep12/customer", "application/json", `{"first_name":`, 400},
			{"PUT nested JSON", "PUT", "/sep12/customer", "application/json", `{"first_name":{"a":1}}`, 400},
			{"PUT empty", "PUT", "/sep12/customer", "application/json", ``, 400},
			{"PUT unknown field", "PUT", "/sep12/customer", "application/json", `{"favourite_colour":"red"}`, 400},
			{"PUT bad date", "PUT", "/sep12/customer", "application/json", `{"type":"sep31-sender","birth_date":"yesterday"}`, 400},
			{"PUT binary as text", "PUT", "/sep12/customer", "application/json", `{"photo_id_front":"abc"}`, 400},
			{"PUT unknown file", "PUT", "/sep12/customer", "application/json", `{"photo_id_front_file_id":"nope"}`, 400},
			{"PUT verification not pending", "PUT", "/sep12/customer", "application/json", `{"email_address_verification":"123"}`, 400},
			{"PUT wrong content type", "PUT", "/sep12/customer", "text/plain", `first_name=x`, 400},
			{"PUT transaction_id without type", "PUT", "/sep12/customer", "application/json", `{"transaction_id":"x"}`, 400},
			{"PUT too large", "PUT", "/sep12/customer", "application/json", `{"first_name":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
			{"verification without id", "PUT", "/sep12/customer/verification", "application/json", `{"x_verification":"1"}`, 400},
			{"verification not pending", "PUT", "/sep12/customer/verification", "application/json", `{"id":"` + id + `","email_address_verification":"1"}`, 400},
			{"verification unknown id", "PUT", "/sep12/customer/verification", "application/json", `{"id":"nope","email_address_verification":"1"}`, 404},
			{"callback without url", "PUT", "/sep12/customer/callback", "application/json", `{"id":"` + id + `"}`, 400},
			{"callback http", "PUT", "/sep12/customer/callback", "application/json", `{"id":"` + id + `","url":"http://example.com/cb"}`, 400},
			{"callback private address", "PUT", "/sep12/customer/callback", "application/json", `{"id":"` + id + `","url":"https://10.0.0.1/cb"}`, 400},
			{"callback metadata address", "PUT", "/sep12/customer/callback", "application/json", `{"id":"` + id + `","url":"https://169.254.169.254/latest"}`, 400},
			{"callback credentials", "PUT", "/sep12/customer/callback", "application/json", `{"id":"` + id + `","url":"https://u:p@127.0.0.1/cb"}`, 400},
			{"callback ftp", "PUT", "/sep12/customer/callback", "application/json", `{"id":"` + id + `","url":"ftp://127.0.0.1/cb"}`, 400},
			{"callback unknown id", "PUT", "/sep12/customer/callback", "application/json", `{"id":"nope","url":"http://127.0.0.1/cb"}`, 404},
			{"delete nothing stored", "DELETE", "/sep12/customer/" + newAccount(), "", "", 404},
			{"files without parameter", "GET", "/sep12/customer/files", "", "", 400},
			{"upload not multipart", "POST", "/sep12/customer/files", "application/json", `{}`, 400},
		} {
			r := b.do(t, c.method, c.path, tok, c.ct, strings.NewReader(c.body))
			if r.status != c.want {
				t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
				continue
			}
			if msg, _ := r.json(t)["error"].(string); msg == "" {
				t.Errorf("%s: no error message: %s", c.name, r.body)
			}
		}
		// Uploads: no file part, and over the size limit.
		ct, body := multipartBody(t, map[string]string{"x": "y"}, nil)
		if r := b.do(t, "POST", "/sep12/customer/files", tok, ct, body); r.status != 400 {
			t.Errorf("upload without file: %d", r.status)
		}
		ct, body = multipartBody(t, nil, map[string][]byte{"file": bytes.Repeat([]byte("a"), 2<<10)})
		if r := b.do(t, "POST", "/sep12/customer/files", tok, ct, body); r.status != 413 {
			t.Errorf("upload too large: %d", r.status)
		}
		// Admin decision errors.
		for _, c := range []struct {
			id   string
			d    map[string]any
			want int
		}{
			{"nope", map[string]any{"status": "ACCEPTED"}, 404},
			{id, map[string]any{"status": "MAYBE"}, 400},
			{id, map[string]any{"status": "REJECTED"}, 400},
			{id, map[string]any{"status": "NEEDS_INFO"}, 400},
			{id, map[string]any{"status": "NEEDS_INFO", "fields": []string{"shoe_size"}}, 400},
			{id, map[string]any{"status": "ACCEPTED", "type": "nope"}, 400},
		} {
			if r := b.decide(t, c.id, c.d); r.status != c.want {
				t.Errorf("decision %v: %d %s, want %d", c.d, r.status, r.body, c.want)
			}
		}
		if r := b.do(t, "PUT", "/admin/v1/customers/"+id+"/status", "", "application/json", strings.NewReader("{")); r.status != 400 {
			t.Errorf("decision bad JSON: %d", r.status)
		}
	})
}

func TestFiles(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		tok := b.token(t, newAccount())
		ct, body := multipartBody(t, nil, map[string][]byte{"file": []byte("\x89PNG image")})
		r := b.do(t, "POST", "/sep12/customer/files", tok, ct, body)
		if r.status != 200 {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
		f := r.json(t)
		fid, _ := f["file_id"].(string)
		if fid == "" || f["size"] != float64(10) || f["expires_at"] == nil {
			t.Fatalf("upload answer: %s", r.body)
		}
		r = b.do(t, "GET", "/sep12/customer/files?file_id="+fid, tok, "", nil)
		if files := r.json(t)["files"].([]any); len(files) != 1 {
			t.Fatalf("list by id: %s", r.body)
		}
		// Another identity neither sees nor uses it.
		other := b.token(t, newAccount())
		if files := b.do(t, "GET", "/sep12/customer/files?file_id="+fid, other, "", nil).json(t)["files"].([]any); len(files) != 0 {
			t.Fatal("foreign file listed")
		}
		if r := b.doJSON(t, "PUT", "/sep12/customer", other, map[string]string{"photo_id_front_file_id": fid}); r.status != 400 {
			t.Fatalf("foreign file used: %d", r.status)
		}
		// The owner references it.
		in := full()
		in["photo_id_front_file_id"] = fid
		id := b.put(t, tok, in)
		v, _, err := b.svc.FieldValue(context.Background(), id, "photo_id_front")
		if err != nil || string(v) != "\x89PNG image" {
			t.Fatalf("file as field: %q %v", v, err)
		}
		r = b.do(t, "GET", "/sep12/customer/files?customer_id="+id, tok, "", nil)
		files := r.json(t)["files"].([]any)
		if len(files) != 1 || files[0].(map[string]any)["customer_id"] != id || files[0].(map[string]any)["expires_at"] != nil {
			t.Fatalf("list by customer: %s", r.body)
		}
		if m := b.get(t, tok, url.Values{"id": {id}}).json(t); m["provided_fields"].(map[string]any)["photo_id_front"] == nil {
			t.Fatalf("binary field not provided: %v", m)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		acct := newAccount()
		tok := b.token(t, acct)
		in := full()
		in["account"] = acct
		id := b.put(t, tok, in)
		if m := b.get(t, tok, url.Values{"account": {acct}, "type": {"sep6"}}).json(t); m["id"] != id {
			t.Fatalf("GET by account: %v", m)
		}
		if r := b.do(t, "DELETE", "/sep12/customer/"+acct, tok, "", nil); r.status != 200 {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		if m := b.get(t, tok, url.Values{"type": {"sep6"}}).json(t); m["id"] != nil || m["status"] != kyc.StatusNeedsInfo {
			t.Fatalf("after DELETE: %v", m)
		}
		if r := b.get(t, tok, url.Values{"id": {id}}); r.status != 404 {
			t.Fatalf("GET deleted id: %d", r.status)
		}
		var n int
		_ = db.QueryRowContext(context.Background(), `SELECT count(*) FROM kyc_fields WHERE customer_id = ?`, id).Scan(&n)
		if n != 0 {
			t.Fatal("fields survive DELETE")
		}
		if r := b.do(t, "DELETE", "/sep12/customer/"+acct, tok, "", nil); r.status != 404 {
			t.Fatalf("second DELETE: %d", r.status)
		}
		// Shared account: the memo in the body selects the customer.
		shared := newAccount()
		st := b.token(t, shared)
		b.put(t, st, map[string]string{"memo": "9", "first_name": "A"})
		if r := b.do(t, "DELETE", "/sep12/customer/"+shared, st, "", nil); r.status != 404 {
			t.Fatalf("DELETE without memo: %d", r.status)
		}
		if r := b.doJSON(t, "DELETE", "/sep12/customer/"+shared, st, map[string]string{"memo": "9"}); r.status != 200 {
			t.Fatalf("DELETE with memo: %d %s", r.status, r.body)
		}
	})
}

// TestCallbackFlow: a wallet registers a callback; NEEDS_INFO -> PROCESSING -> ACCEPTED
// reach it in order, signed; nothing after ACCEPTED; no callback without a change.
func TestCallbackFlow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		rcv := b.newWallet(t)
		tok := b.token(t, newAccount())
		id := b.put(t, tok, full()) // PROCESSING, no callback registered yet
		cbURL := rcv.URL + "/kyc"
		if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tok, map[string]string{"id": id, "url": "http://127.0.0.1:1/old"}); r.status != 200 {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
		// Replaced by the second registration.
		if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tok, map[string]string{"id": id, "url": cbURL}); r.status != 200 {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
		if r := b.decide(t, id, map[string]any{"status": "NEEDS_INFO", "fields": []string{"email_address"}, "message": "unreadable"}); r.status != 200 {
			t.Fatalf("decision: %d %s", r.status, r.body)
		}
		// Same status again: no callback.
		if r := b.decide(t, id, map[string]any{"status": "NEEDS_INFO", "fields": []string{"email_address"}}); r.status != 200 {
			t.Fatalf("decision: %d %s", r.status, r.body)
		}
		b.put(t, tok, map[string]string{"email_address": "ada@example.org"}) // PROCESSING
		b.put(t, tok, map[string]string{"first_name": "Ada"})                // still PROCESSING: nothing
		if r := b.decide(t, id, map[string]any{"status": "ACCEPTED"}); r.status != 200 {
			t.Fatalf("decision: %d %s", r.status, r.body)
		}
		// After ACCEPTED the registration has ended.
		if r := b.decide(t, id, map[string]any{"status": "NEEDS_INFO", "fields": []string{"last_name"}}); r.status != 200 {
			t.Fatalf("decision: %d %s", r.status, r.body)
		}
		var seen []string
		for _, want := range []string{kyc.StatusNeedsInfo, kyc.StatusProcessing, kyc.StatusAccepted} {
			c := rcv.Next(callbackWait) // its signature checked by the wallet
			var m map[string]any
			if err := json.Unmarshal(c.Body, &m); err != nil {
				t.Fatal(err)
			}
			if m["id"] != id || m["type"] != "sep6" || m["event_id"] == nil || m["updated_at"] == nil {
				t.Fatalf("callback body: %s", c.Body)
			}
			if m["status"] != want {
				t.Fatalf("callback %d status %v, want %s", len(seen), m["status"], want)
			}
			if want == kyc.StatusNeedsInfo {
				if f := m["fields"].(map[string]any); f["email_address"] == nil {
					t.Fatalf("NEEDS_INFO callback lacks the field to resend: %s", c.Body)
				}
			}
			seen = append(seen, want)
		}
		if n := walletDeliveries(t, db, id, "sep6"); n != 3 {
			t.Fatalf("%d wallet callbacks recorded, want 3", n)
		}
		var ended int
		_ = db.QueryRowContext(context.Background(), `SELECT count(*) FROM kyc_callbacks WHERE customer_id = ? AND ended_at IS NOT NULL`, id).Scan(&ended)
		if ended != 1 {
			t.Fatal("registration not ended after ACCEPTED")
		}
		// Registering again resumes callbacks.
		if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tok, map[string]string{"id": id, "url": cbURL}); r.status != 200 {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
		if r := b.decide(t, id, map[string]any{"status": "REJECTED", "message": "sanctions"}); r.status != 200 {
			t.Fatalf("decision: %d %s", r.status, r.body)
		}
		c := rcv.Next(callbackWait)
		if !strings.Contains(string(c.Body), `"status":"REJECTED"`) || !strings.Contains(string(c.Body), `"message":"sanctions"`) {
			t.Fatalf("REJECTED callback: %s", c.Body)
		}
	})
}

// TestStaticClientCallbacks: a configured wallet gets callbacks for its own customers only.
func TestStaticClientCallbacks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rcv := testkit.NewWallet(t) // trusts the server's key once it exists
		walletAcct := newAccount()
		rcv2 := testkit.NewWallet(t)
		b := setup(t, db, setupOpts{clients: wallet.Clients{
			{Name: "w", Type: wallet.Custodial, SigningKeys: []string{walletAcct},
				CallbackURLs: wallet.CallbackURLs{SEP12: rcv.URL + "/sep12"}},
			{Name: "nc", Type: wallet.Noncustodial, Domains: []string{"wallet.example"},
				CallbackURLs: wallet.CallbackURLs{SEP12: rcv2.URL + "/sep12"}},
		}})
		rcv.Trust(b.signingKey)
		rcv2.Trust(b.signingKey)
		own := b.put(t, b.token(t, walletAcct+":3"), map[string]string{"first_name": "A"})
		foreign := b.put(t, b.token(t, newAccount()), map[string]string{"first_name": "B"})
		b.decide(t, foreign, map[string]any{"status": "ACCEPTED"})
		b.decide(t, own, map[string]any{"status": "ACCEPTED"})
		first := rcv.Next(callbackWait)
		// The first status of the wallet's customer (NEEDS_INFO at creation), then ACCEPTED.
		if !strings.Contains(string(first.Body), own) || !strings.Contains(string(first.Body), kyc.StatusNeedsInfo) {
			t.Fatalf("first static callback: %s", first.Body)
		}
		second := rcv.Next(callbackWait)
		if !strings.Contains(string(second.Body), own) || !strings.Contains(string(second.Body), kyc.StatusAccepted) {
			t.Fatalf("second static callback: %s", second.Body)
		}
		if n := walletDeliveries(t, db, foreign, "sep6"); n != 0 {
			t.Fatalf("foreign customer produced %d wallet callbacks", n)
		}
		// Static configuration is not a registration: it goes on after ACCEPTED.
		b.decide(t, own, map[string]any{"status": "PROCESSING"})
		if c := rcv.Next(callbackWait); !strings.Contains(string(c.Body), kyc.StatusProcessing) {
			t.Fatalf("static callback after ACCEPTED: %s", c.Body)
		}
		// A noncustodial wallet is recognised by the token's verified client_domain.
		tok, err := b.auth.IssueToken(newAccount(), "wallet.example")
		if err != nil {
			t.Fatal(err)
		}
		byDomain := b.put(t, tok, full())
		if c := rcv2.Next(callbackWait); !strings.Contains(string(c.Body), byDomain) || !strings.Contains(string(c.Body), kyc.StatusProcessing) {
			t.Fatalf("client_domain callback: %s", c.Body)
		}
		if n := walletDeliveries(t, db, own, "sep6"); n != 3 {
			t.Fatalf("custodial wallet got %d callbacks, want 3", n)
		}
	})
}

func TestAutoAcceptAndHooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		type seen struct {
			status string
			owner  wallet.Identity
		}
		ch := make(chan seen, 8)
		var fail atomic.Bool // the second hook's answer: set below, to see a failing hook roll back
		b := setup(t, db, setupOpts{mutate: func(c *kyc.Options) { c.AutoAccept = true }, hooks: []kyc.StatusHook{
			func(_ context.Context, _ *store.Tx, c kyc.Customer, o wallet.Identity) error {
				ch <- seen{c.Status, o}
				return nil
			},
			func(context.Context, *store.Tx, kyc.Customer, wallet.Identity) error {
				if fail.Load() {
					return context.Canceled
				}
				return nil
			},
		}})
		acct := newAccount()
		tok := b.token(t, acct)
		b.put(t, tok, map[string]string{"first_name": "A"})
		id := b.put(t, tok, full())
		m := b.get(t, tok, url.Values{"id": {id}}).json(t)
		if m["status"] != kyc.StatusAccepted || m["provided_fields"].(map[string]any)["email_address"].(map[string]any)["status"] != kyc.FieldAccepted {
			t.Fatalf("auto accept: %v", m)
		}
		for _, want := range []string{kyc.StatusNeedsInfo, kyc.StatusAccepted} {
			s := <-ch
			if s.status != want || s.owner.Account != acct {
				t.Fatalf("hook: %+v, want %s", s, want)
			}
		}
		// A hook error rolls the change back.
		fail.Store(true)
		if r := b.decide(t, id, map[string]any{"status": "REJECTED", "message": "no"}); r.status != 500 {
			t.Fatalf("decision with failing hook: %d", r.status)
		}
		<-ch
		if m := b.get(t, tok, url.Values{"id": {id}}).json(t); m["status"] != kyc.StatusAccepted {
			t.Fatalf("status after failed hook: %v", m)
		}
	})
}

// TestRecordStatus is the contract the business RPC relies on.
func TestRecordStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		rcv := b.newWallet(t)
		tok := b.token(t, newAccount())
		id := b.put(t, tok, map[string]string{"first_name": "A"})
		if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tok, map[string]string{"id": id, "url": rcv.URL}); r.status != 200 {
			t.Fatal(r.status)
		}
		ctx := context.Background()
		rec := func(c kyc.Customer) bool {
			var changed bool
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				changed, err = b.svc.RecordStatus(ctx, tx, c, "tx-1")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return changed
		}
		c, err := b.svc.Fetch(ctx, kyc.Query{ID: id, Type: "sep6"})
		if err != nil || c.Status != kyc.StatusNeedsInfo {
			t.Fatalf("Fetch: %+v %v", c, err)
		}
		if rec(c) {
			t.Fatal("unchanged status reported as changed")
		}
		c.Status = kyc.StatusProcessing
		if !rec(c) || rec(c) {
			t.Fatal("change not detected once")
		}
		got := rcv.Next(callbackWait)
		if !strings.Contains(string(got.Body), `"transaction_id":"tx-1"`) {
			t.Fatalf("callback: %s", got.Body)
		}
		if _, err := b.svc.Fetch(ctx, kyc.Query{ID: "nope"}); err != kyc.ErrNotFound {
			t.Fatalf("Fetch unknown: %v", err)
		}
	})
}

// TestConcurrentPuts: concurrent first PUTs of one identity make one customer.
func TestConcurrentPuts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		tok := b.token(t, newAccount())
		ids := make(chan string, 8)
		for range 8 {
			go func() {
				r := b.doJSON(t, http.MethodPut, "/sep12/customer", tok, map[string]string{"first_name": "A"})
				var m map[string]string
				_ = json.Unmarshal(r.body, &m)
				ids <- m["id"]
			}()
		}
		first := <-ids
		for range 7 {
			if id := <-ids; id != first || id == "" {
				t.Fatalf("concurrent PUTs made customers %q and %q", first, id)
			}
		}
		var n int
		_ = db.QueryRowContext(context.Background(), `SELECT count(*) FROM kyc_customers`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d customers", n)
		}
	})
}

func TestAdminReads(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		acct := newAccount()
		id1 := b.put(t, b.token(t, acct), full())
		id2 := b.put(t, b.token(t, newAccount()), map[string]string{"first_name": "B"})
		r := b.do(t, "GET", "/admin/v1/customers?status=PROCESSING&type=sep6", "", "", nil)
		list := r.json(t)["customers"].([]any)
		if r.status != 200 || len(list) != 1 || list[0].(map[string]any)["id"] != id1 || list[0].(map[string]any)["account"] != acct {
			t.Fatalf("list PROCESSING: %d %s", r.status, r.body)
		}
		r = b.do(t, "GET", "/admin/v1/customers?limit=1", "", "", nil)
		page := r.json(t)["customers"].([]any)
		if len(page) != 1 {
			t.Fatalf("page: %s", r.body)
		}
		r = b.do(t, "GET", "/admin/v1/customers?limit=1&after="+page[0].(map[string]any)["id"].(string)+"&after_type=sep6", "", "", nil)
		if next := r.json(t)["customers"].([]any); len(next) != 1 || next[0].(map[string]any)["id"] == page[0].(map[string]any)["id"] {
			t.Fatalf("next page: %s", r.body)
		}
		if r := b.do(t, "GET", "/admin/v1/customers?status=MAYBE", "", "", nil); r.status != 400 {
			t.Fatalf("bad status filter: %d", r.status)
		}
		r = b.do(t, "GET", "/admin/v1/customers/"+id2+"?type=sep6", "", "", nil)
		if m := r.json(t); m["status"] != kyc.StatusNeedsInfo || m["type"] != "sep6" {
			t.Fatalf("admin GET: %s", r.body)
		}
		r = b.do(t, "GET", "/admin/v1/customers/"+id1+"/fields/email_address", "", "", nil)
		if r.status != 200 || string(r.body) != "ada@example.com" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("field value: %d %q", r.status, r.body)
		}
		if r := b.do(t, "GET", "/admin/v1/customers/"+id1+"/fields/shoe_size", "", "", nil); r.status != 404 {
			t.Fatalf("unknown field: %d", r.status)
		}
		if r := b.do(t, "GET", "/admin/v1/customers/nope", "", "", nil); r.status != 404 {
			t.Fatalf("unknown customer: %d", r.status)
		}
	})
}

// TestConcurrentChanges: operator decisions and wallet PUTs racing on one customer neither
// fail nor produce a callback without a change: consecutive callbacks always differ.
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		rcv := b.newWallet(t)
		tok := b.token(t, newAccount())
		id := b.put(t, tok, full())
		if r := b.doJSON(t, "PUT", "/sep12/customer/callback", tok, map[string]string{"id": id, "url": rcv.URL}); r.status != 200 {
			t.Fatal(r.status)
		}
		errs := make(chan string, 16)
		for i := range 16 {
			go func() {
				var r response
				if i%2 == 0 {
					r = b.doJSON(t, "PUT", "/admin/v1/customers/"+id+"/status", "",
						map[string]any{"status": "NEEDS_INFO", "fields": []string{"email_address"}})
				} else {
					r = b.doJSON(t, "PUT", "/sep12/customer", tok, map[string]string{"email_address": "a@b.c"})
				}
				if r.status != 200 && r.status != 202 {
					errs <- fmt.Sprintf("%d %s", r.status, r.body)
					return
				}
				errs <- ""
			}()
		}
		for range 16 {
			if e := <-errs; e != "" {
				t.Fatalf("concurrent change failed: %s", e)
			}
		}
		rows, err := db.QueryContext(context.Background(), `SELECT d.body FROM callback_deliveries d
			JOIN callback_endpoints e ON e.id = d.endpoint_id WHERE e.kind = 'wallet' AND d.subject = ? ORDER BY d.seq`,
			kyc.Subject(id, "sep6"))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		prev := kyc.StatusProcessing // the status when the callback was registered
		n := 0
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&body); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			if m["status"] == prev {
				t.Fatalf("callback %d repeats status %v", n, prev)
			}
			prev, _ = m["status"].(string)
			n++
		}
		if n == 0 {
			t.Fatal("no callback at all")
		}
	})
}

// TestVerificationCodes: a field listed in verification_fields waits for the code that went
// to the business server; a wrong code is refused and counted; the right one, by PUT
// /customer/verification or by <field>_verification in PUT /customer, verifies it.
func TestVerificationCodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		events := testkit.NewBusiness(t)
		b := setup(t, db, setupOpts{businessEvents: events.URL + "/event",
			mutate: func(c *kyc.Options) { c.VerificationFields = []string{"email_address"} }})
		read := 0 // business events nextCode has looked at
		nextCode := func() string {
			t.Helper()
			for {
				c := events.WaitEvents(t, read+1, callbackWait)[read]
				read++
				var ev struct {
					Type    string `json:"type"`
					Payload struct {
						Customer map[string]any `json:"customer"`
					} `json:"payload"`
				}
				if err := json.Unmarshal(c, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Type == kyc.EventVerificationCode {
					code, _ := ev.Payload.Customer["code"].(string)
					if ev.Payload.Customer["field"] != "email_address" || len(code) != 6 {
						t.Fatalf("code event: %s", c)
					}
					return code
				}
			}
		}
		tok := b.token(t, newAccount())
		id := b.put(t, tok, full())
		m := b.get(t, tok, url.Values{"id": {id}}).json(t)
		if m["status"] != kyc.StatusNeedsInfo ||
			m["provided_fields"].(map[string]any)["email_address"].(map[string]any)["status"] != kyc.FieldVerificationRequired {
			t.Fatalf("waiting for a code: %v", m)
		}
		code := nextCode()
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		r := b.doJSON(t, "PUT", "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": wrong})
		if r.status != 400 || !strings.Contains(string(r.body), "wrong verification code") {
			t.Fatalf("wrong code: %d %s", r.status, r.body)
		}
		r = b.doJSON(t, "PUT", "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": code})
		m = r.json(t)
		if r.status != 200 || m["status"] != kyc.StatusProcessing ||
			m["provided_fields"].(map[string]any)["email_address"].(map[string]any)["status"] != kyc.FieldProcessing {
			t.Fatalf("right code: %d %s", r.status, r.body)
		}
		if r := b.doJSON(t, "PUT", "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": code}); r.status != 400 {
			t.Fatalf("code reused: %d", r.status)
		}

		// A new email needs a new code; PUT /customer carries it this time.
		b.put(t, tok, map[string]string{"email_address": "new@example.com"})
		code = nextCode()
		if got := b.put(t, tok, map[string]string{"email_address_verification": code}); got != id {
			t.Fatalf("PUT with code: %s", got)
		}
		if m := b.get(t, tok, url.Values{"id": {id}}).json(t); m["status"] != kyc.StatusProcessing {
			t.Fatalf("after PUT with code: %v", m)
		}

		// Too many wrong codes: the field must be sent again.
		b.put(t, tok, map[string]string{"email_address": "third@example.com"})
		code = nextCode()
		wrong = "000000"
		if code == wrong {
			wrong = "111111"
		}
		for range 5 {
			b.doJSON(t, "PUT", "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": wrong})
		}
		r = b.doJSON(t, "PUT", "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": code})
		if r.status != 400 || !strings.Contains(string(r.body), "too many") {
			t.Fatalf("after 5 wrong codes: %d %s", r.status, r.body)
		}
	})
}

// PUT /customer with standard SEP-9 fields no customer type asks for succeeds (wallets send
// a standard set): by default they are dropped, with kyc.unrequested_fields "store" they are
// kept sealed like any other field. A name that is not SEP-9 is still refused.
func TestSEP12UnrequestedSEP9FieldsAcceptedUnknownRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, mode := range []string{"", kyc.UnrequestedStore} {
			b := setup(t, db, setupOpts{mutate: func(k *kyc.Options) { k.UnrequestedFields = mode }})
			tok := b.token(t, newAccount())
			id := b.put(t, tok, map[string]string{"type": "sep6", "first_name": "Ada", "tax_id": "123-45", "address_country_code": "GBR"})
			v, _, err := b.svc.FieldValue(context.Background(), id, "tax_id")
			switch mode {
			case "":
				if !errors.Is(err, kyc.ErrNotFound) {
					t.Errorf("drop: tax_id stored (%q, %v)", v, err)
				}
			case kyc.UnrequestedStore:
				if err != nil || string(v) != "123-45" {
					t.Errorf("store: tax_id = %q, %v", v, err)
				}
			}
			if v, _, err := b.svc.FieldValue(context.Background(), id, "first_name"); err != nil || string(v) != "Ada" {
				t.Errorf("%q: first_name = %q, %v", mode, v, err)
			}
			m := b.get(t, tok, url.Values{"type": {"sep6"}}).json(t)
			if m["id"] != id || m["status"] != kyc.StatusNeedsInfo {
				t.Errorf("%q: GET after PUT: %v", mode, m)
			}
			r := b.doJSON(t, http.MethodPut, "/sep12/customer", tok, map[string]string{"first_name": "Ada", "favourite_colour": "red"})
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "favourite_colour") {
				t.Errorf("%q: non-SEP-9 field: %d %s", mode, r.status, r.body)
			}
		}
	})
}
