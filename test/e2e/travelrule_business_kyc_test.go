package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule/enclavesim"
)

// kycCustomer sets an accepted or processing customer of account at the business server, its
// values answered when asked with include_values=true unless plain (an unmodified Anchor
// Platform business server: status and field descriptors only).
func kycCustomer(biz *testkit.Business, account, id, status string, values map[string]string, plain bool) {
	provided := map[string]kyc.ProvidedField{}
	for k := range values {
		provided[k] = kyc.ProvidedField{Type: "string", Description: k, Status: "ACCEPTED"}
	}
	biz.SetCustomer(kyc.Customer{ID: id, Status: status, ProvidedFields: provided}, account, "")
	if !plain {
		biz.SetValues(id, values)
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
			biz := testkit.NewBusiness(t)
			kycCustomer(biz, jose, "biz-1", "ACCEPTED", map[string]string{"first_name": "José", "last_name": "García"}, false)
			kycCustomer(biz, pending, "biz-2", "PROCESSING", map[string]string{"first_name": "Min", "last_name": "Kim"}, false)
			kycCustomer(biz, plain, "biz-3", "ACCEPTED", map[string]string{"first_name": "Ada", "last_name": "Lovelace"}, true)
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
			for _, r := range biz.Requests() {
				if r.Method != http.MethodGet || r.Path != "/customer" {
					t.Fatalf("business server asked %s %s, want only GET /customer", r.Method, r.Path)
				}
				if v := r.Query.Get("include_values"); v != "true" {
					t.Fatalf("a Travel Rule lookup did not ask for the values: %v", r.Query)
				}
			}
		})
	}
}
