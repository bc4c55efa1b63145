package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// TestBrokenTextRefusedAtTheEdge (issue 11, defect 7): a NUL or invalid UTF-8 in any text
// parameter — query string, path, form, multipart part, JSON string, JSON-RPC params —
// of every route family (SEP-10, SEP-6, SEP-12, JSON-RPC, Anchor Platform REST, admin
// API) is answered 400 invalid_text by the one rule (httpjson.ValidText), never 500. On
// PostgreSQL such text used to reach a text column and fail the transaction.
func TestBrokenTextRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, d, testkit.NewWallet(t))
			user := keypair.MustRandom()
			token := s.login(t, user)
			g := user.Address()

			multi := func(name, value, partType string) (string, []byte) {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="` + name + `"`}}
				if partType != "" {
					h.Set("Content-Type", partType)
				}
				p, _ := mw.CreatePart(h)
				p.Write([]byte(value))
				mw.Close()
				return mw.FormDataContentType(), buf.Bytes()
			}
			fileCT, fileBody := func() (string, []byte) {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="id.png"`},
					"Content-Type": {"image/png\xff"}}
				p, _ := mw.CreatePart(h)
				p.Write([]byte("\x89PNG"))
				mw.Close()
				return mw.FormDataContentType(), buf.Bytes()
			}()
			textCT, textBody := multi("first_name", "Ann\x00", "")
			binCT, binBody := multi("photo_id_front\xc3", "\x89PNG", "application/octet-stream")

			const js, form = "application/json", "application/x-www-form-urlencoded"
			tests := []struct {
				name, method, path, bearer, ctype string
				body                              []byte
			}{
				// SEP-10
				{"sep10 challenge query", "GET", "/auth?account=" + g + "%00", "", "", nil},
				{"sep10 token json", "POST", "/auth", "", js, []byte(`{"transaction":"AAAA\u0000"}`)},
				{"sep10 token form", "POST", "/auth", "", form, []byte("transaction=AAAA%00")},
				{"sep10 token raw utf-8", "POST", "/auth", "", js, []byte("{\"transaction\":\"AAAA\xff\"}")},
				// SEP-6 (query strings only)
				{"sep6 deposit", "GET", "/sep6/deposit?asset_code=USDC&account=" + g + "&funding_method=SEPA%00", token, "", nil},
				{"sep6 withdraw", "GET", "/sep6/withdraw?asset_code=USDC%FF&funding_method=SEPA", token, "", nil},
				{"sep6 transaction", "GET", "/sep6/transaction?id=%00", token, "", nil},
				{"sep6 transactions", "GET", "/sep6/transactions?asset_code=USDC&no_older_than=%C3%28", token, "", nil},
				// SEP-12: every body shape
				{"sep12 get query", "GET", "/sep12/customer?id=%00", token, "", nil},
				{"sep12 put json", "PUT", "/sep12/customer", token, js, []byte(`{"first_name":"Ann\u0000"}`)},
				{"sep12 put json raw utf-8", "PUT", "/sep12/customer", token, js, []byte("{\"first_name\":\"Ann\xe9\"}")},
				{"sep12 put form", "PUT", "/sep12/customer", token, form, []byte("last_name=%FF")},
				{"sep12 put multipart text", "PUT", "/sep12/customer", token, textCT, textBody},
				{"sep12 put multipart part name", "PUT", "/sep12/customer", token, binCT, binBody},
				{"sep12 verification", "PUT", "/sep12/customer/verification", token, js, []byte(`{"mobile_number_verification":"1\u00002"}`)},
				{"sep12 callback", "PUT", "/sep12/customer/callback", token, js, []byte(`{"url":"https://w.test/\u0000"}`)},
				{"sep12 delete path", "DELETE", "/sep12/customer/" + g + "%00", token, "", nil},
				{"sep12 file content type", "POST", "/sep12/customer/files", token, fileCT, fileBody},
				{"sep12 files query", "GET", "/sep12/customer/files?file_id=%00", token, "", nil},
				// Business JSON-RPC and Anchor Platform's REST API (admin listener)
				{"rpc params", "POST", "@/rpc", "", js, []byte(`[{"jsonrpc":"2.0","id":1,"method":"get_transaction","params":{"transaction_id":"x\u0000"}}]`)},
				{"rpc raw utf-8", "POST", "@/rpc", "", js, []byte("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"notify_transaction_error\",\"params\":{\"transaction_id\":\"x\",\"message\":\"\xff\"}}]")},
				{"rpc at root", "POST", "@/", "", js, []byte(`{"jsonrpc":"2.0","id":"\u0000","method":"get_transactions","params":{"sep":"6"}}`)},
				{"rest get path", "GET", "@/transactions/ab%00", "", "", nil},
				{"rest list query", "GET", "@/transactions?sep=6&order_by=%00", "", "", nil},
				{"rest patch", "PATCH", "@/transactions", "", js, []byte(`{"records":[{"transaction":{"id":"x","message":"\u0000"}}]}`)},
				// Admin API
				{"admin customers query", "GET", "@/admin/v1/customers?status=%00", adminToken, "", nil},
				{"admin decision", "PUT", "@/admin/v1/customers/0192f0c4-0000-7000-8000-000000000000/status", adminToken, js, []byte(`{"status":"REJECTED","message":"no\u0000"}`)},
				{"admin deliveries query", "GET", "@/admin/v1/deliveries?status=%FF", adminToken, "", nil},
				{"admin delivery path", "GET", "@/admin/v1/deliveries/%00", adminToken, "", nil},
				{"admin publish", "POST", "@/admin/v1/messages", adminToken, js, []byte(`{"type":"x","subject":"s\u0000","payload":{}}`)},
				{"admin travel rule path", "GET", "@/admin/v1/travel-rule/verifications/%00", adminToken, "", nil},
			}
			for _, tt := range tests {
				base := s.public
				path := tt.path
				if p, ok := strings.CutPrefix(path, "@"); ok {
					base, path = s.admin, p
				}
				req, err := http.NewRequest(tt.method, base+path, bytes.NewReader(tt.body))
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if tt.ctype != "" {
					req.Header.Set("Content-Type", tt.ctype)
				}
				if tt.bearer != "" {
					req.Header.Set("Authorization", "Bearer "+tt.bearer)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var e httpjson.ErrorBody
				_ = json.Unmarshal(b, &e)
				if resp.StatusCode != http.StatusBadRequest || e.Code != httpjson.CodeInvalidText {
					t.Errorf("%s: %s %s = %d %s, want 400 invalid_text", tt.name, tt.method, path, resp.StatusCode, b)
				}
			}
		})
	}
}
