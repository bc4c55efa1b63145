package travelrule

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stellar/go-stellar-sdk/strkey"
)

func TestParseAddress(t *testing.T) {
	t.Parallel()
	const g = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ"
	var m strkey.MuxedAccount
	if err := m.SetAccountID(g); err != nil {
		t.Fatal(err)
	}
	m.SetID(1234)
	mux, err := m.Address()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, account, memo string
		ok                bool
	}{
		{g, g, "", true},
		{g + ":12345", g, "12345", true},
		{" " + g + " ", g, "", true},
		{mux, g, "1234", true},
		{mux + ":5", "", "", false},
		{"0x5811001506550d8356a215be229c15b6ef371a9a", "", "", false},
		{"", "", "", false},
	} {
		a, m, ok := ParseAddress(tc.in)
		if a != tc.account || m != tc.memo || ok != tc.ok {
			t.Errorf("ParseAddress(%q) = %q %q %v, want %q %q %v", tc.in, a, m, ok, tc.account, tc.memo, tc.ok)
		}
	}
}

func TestRequiredBeneficiaryInfo(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`"ACCOUNT_NUMBER, natural_person_name,ACCOUNT_NUMBER"`, `["ACCOUNT_NUMBER","NATURAL_PERSON_NAME"]`} {
		var r UserRequest
		if err := json.Unmarshal([]byte(`{"requiredBeneficiaryInfo":`+in+`}`), &r); err != nil {
			t.Fatal(err)
		}
		if got := r.Required(); !slices.Equal(got, []string{"ACCOUNT_NUMBER", "NATURAL_PERSON_NAME"}) {
			t.Errorf("%s: %q", in, got)
		}
	}
}

// FuzzEnclaveRequest feeds the request decoding of the enclave-facing APIs: whatever arrives,
// decoding, the identity payload, its validation and the name matcher never panic.
func FuzzEnclaveRequest(f *testing.F) {
	f.Add([]byte(`{"verificationUuid":"u","requiredBeneficiaryInfo":"ACCOUNT_NUMBER","assetInfo":{"symbol":"USDC","isExceedingThreshold":true},"payload":{"version":"1.0","ivms101":{"beneficiary":{"beneficiaryPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":"홍길동","nameIdentifierType":"LEGL"}]}}}],"accountNumber":["GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ:1"]}}}}`))
	f.Add([]byte(`{"ivms101":{"beneficiary":{"accountNumber":[1,2]}},"requiredBeneficiaryInfo":["X"]}`))
	f.Add([]byte(`{"payload":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r UserRequest
		if err := json.Unmarshal(b, &r); err != nil && !isTypeError(err) {
			return
		}
		p := identity(r.IVMS101, r.Payload)
		_ = p.Validate()
		_ = r.Required()
		if p.Beneficiary != nil {
			for _, a := range p.Beneficiary.AccountNumber {
				ParseAddress(string(a))
			}
			NameMatcher{}.Match(p.Beneficiary.Persons, PersonFromSEP9(map[string]string{"first_name": "A", "last_name": "B"}))
		}
	})
}
