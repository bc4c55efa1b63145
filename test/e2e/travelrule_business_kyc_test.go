package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule/enclavesim"
)

// bizCustomer is a customer of the business server below.
type bizCustomer struct {
	id, status string
	values     map[string]string
}

// businessKYCServer is a business server's customer API (Anchor Platform's callback API,
// GET /customer by id or by account and memo) that also answers the customer's SEP-9 values
// when asked with include_values=true, as vaspgate asks for the Travel Rule. Customers of
// accounts in plain are answered as an unmodified Anchor Platform business server does:
// status and field descriptors only.
func businessKYCServer(t *testing.T, byAccount map[string]bizCustomer, plain map[string]bool) (*httptest.Server, func() []string) {
	var (
		mu    sync.Mutex
		asked []string // include_values of each GET /customer
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != "/customer" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		asked = append(asked, q.Get("include_values"))
		mu.Unlock()
		account := q.Get("account")
		if id := q.Get("id"); id != "" {
			for a, c := range byAccount {
				if c.id == id {
					account = a
				}
			}
		}
		c, ok := byAccount[account]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "customer not found"})
			return
		}
		provided := map[string]any{}
		for k := range c.values {
			provided[k] = map[string]string{"description": k, "type": "string", "status": "ACCEPTED"}
		}
		body := map[string]any{"id": c.id, "status": c.status, "provided_fields": provided}
		if q.Get("include_values") == "true" && !plain[account] {
			body["values"] = c.values
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

// TestEnclaveAsksTheBeneficiaryBusinessKYC plays the enclave calling vaspgate as the
// beneficiary VASP with kyc.backend business, on both engines, against a business server on
// loopback: the customer's fields come through the KYC back end (the business server's
// values), so Verify User Account and Verify User match names as with the builtin back end
// (VERIFIED, MISMATCHED-NAME, UNVERIFIED-KYC, the requested IVMS101 name returned); a
// customer whose server gives no values is never VERIFIED on nothing (UNKNOWN-ADDRESS).
func TestEnclaveAsksTheBeneficiaryBusinessKYC(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			jose, pending, plain, stranger := keypair.MustRandom().Address(), keypair.MustRandom().Address(),
				keypair.MustRandom().Address(), keypair.MustRandom().Address()
			biz, asked := businessKYCServer(t, map[string]bizCustomer{
				jose:    {id: "biz-1", status: "ACCEPTED", values: map[string]string{"first_name": "José", "last_name": "García"}},
				pending: {id: "biz-2", status: "PROCESSING", values: map[string]string{"first_name": "Min", "last_name": "Kim"}},
				plain:   {id: "biz-3", status: "ACCEPTED", values: map[string]string{"first_name": "Ada", "last_name": "Lovelace"}},
			}, map[string]bool{plain: true})
			s := startWith(t, d, testkit.NewWallet(t), func(c *config.Config) {
				enclaveConfig(c)
				c.KYC.Backend = config.KYCBusiness
				c.KYC.Business.BaseURL = biz.URL
			})
			e := s.enclave()
			for _, tc := range []struct {
				name           string
				body           map[string]any
				result, reason string
			}{
				{"matching name, parts swapped, no accents", enclavesim.AccountBody("USDC", jose, enclavesim.Name{Primary: "Jose", Secondary: "GARCIA"}), "VERIFIED", "OK"},
				{"other name", enclavesim.AccountBody("USDC", jose, enclavesim.Name{Primary: "Robbins", Secondary: "Taylor"}), "DENIED", "MISMATCHED-NAME"},
				{"no values from the server", enclavesim.AccountBody("USDC", plain, enclavesim.Name{Primary: "Lovelace", Secondary: "Ada"}), "DENIED", "UNKNOWN-ADDRESS"},
				{"unknown to the server", enclavesim.AccountBody("USDC", stranger), "DENIED", "UNKNOWN-ADDRESS"},
			} {
				r := decidedPost(t, e, e.AccountPath, tc.body, time.Second)
				if m := r.JSON(); m["result"] != tc.result || m["reason"] != tc.reason {
					t.Errorf("verify user account, %s: %s, want %s %s", tc.name, r.Body, tc.result, tc.reason)
				}
			}
			req := func(address string, ben enclavesim.Name) enclavesim.UserRequest {
				return enclavesim.UserRequest{VerificationUUID: uuid.NewString(), Symbol: "USDC", Amount: "2000", Exceeding: true,
					Required: "ACCOUNT_NUMBER,NATURAL_PERSON_NAME", Originator: enclavesim.Name{Primary: "Din", Secondary: "James"},
					OriginatorAcct: keypair.MustRandom().Address(), Address: address, Beneficiary: []enclavesim.Name{ben}}
			}
			for _, tc := range []struct {
				name           string
				u              enclavesim.UserRequest
				result, reason string
			}{
				{"matching name", req(jose, enclavesim.Name{Primary: "GARCIA", Secondary: "José"}), "VERIFIED", "OK"},
				{"other name", req(jose, enclavesim.Name{Primary: "Robbins", Secondary: "Taylor"}), "DENIED", "MISMATCHED-NAME"},
				{"KYC not accepted", req(pending, enclavesim.Name{Primary: "Kim", Secondary: "Min"}), "DENIED", "UNVERIFIED-KYC"},
				{"no values from the server", req(plain, enclavesim.Name{Primary: "Lovelace", Secondary: "Ada"}), "DENIED", "UNKNOWN-ADDRESS"},
			} {
				r := decidedPost(t, e, e.UserPath, tc.u.Body(), 5*time.Second)
				m := r.JSON()
				if m["result"] != tc.result || m["reason"] != tc.reason {
					t.Errorf("verify user, %s: %s, want %s %s", tc.name, r.Body, tc.result, tc.reason)
				}
				if tc.result == "VERIFIED" {
					b, _ := json.Marshal(m["ivms101"])
					if !strings.Contains(string(b), "José") || !strings.Contains(string(b), "García") {
						t.Errorf("verify user, %s: IVMS101 %s, want the customer's name from the business server", tc.name, b)
					}
				}
			}
			for _, v := range asked() {
				if v != "true" {
					t.Fatalf("a Travel Rule lookup did not ask for the values: %v", asked())
				}
			}
		})
	}
}
