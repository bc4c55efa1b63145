package config

import (
	"strings"
	"testing"
)

func TestKYCValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		k    KYC
		want string // substring of the error; empty: valid
	}{
		{"defaults", KYC{}, ""},
		{"business without url", KYC{Backend: KYCBusiness}, "kyc.business.base_url"},
		{"business ok", KYC{Backend: KYCBusiness, Business: KYCBusinessServer{BaseURL: "http://localhost:8081"}}, ""},
		{"business api key without secret", KYC{Backend: KYCBusiness, Business: KYCBusinessServer{BaseURL: "http://localhost:8081",
			Auth: CallbackAuth{Type: AuthAPIKey}}}, "kyc.business.auth.secret"},
		{"bad backend", KYC{Backend: "excel"}, "kyc.backend"},
		{"bad field name", KYC{Types: map[string]KYCType{"sep6": {Fields: map[string]KYCField{"First Name": {}}}}}, "kyc.types.sep6.fields"},
		{"bad field type", KYC{Types: map[string]KYCType{"sep6": {Fields: map[string]KYCField{"photo": {Type: "image"}}}}}, "type"},
		{"bad http host", KYC{CallbackHTTPHosts: []string{"http://x"}}, "kyc.callback_http_hosts"},
		{"verification field ok", KYC{VerificationFields: []string{"email_address"}}, ""},
		{"verification field unknown", KYC{VerificationFields: []string{"shoe_size"}}, "kyc.verification_fields"},
		{"verification field binary", KYC{VerificationFields: []string{"photo"},
			Types: map[string]KYCType{"sep6": {Fields: map[string]KYCField{"photo": {Type: "binary"}}}}}, "binary"},
	} {
		err := c.k.validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	d := KYC{}.WithDefaults()
	if d.Backend != KYCBuiltin || len(d.Types["sep6"].Fields) != 3 || d.MaxFileSize != 10<<20 {
		t.Errorf("defaults: %+v", d)
	}
}

func TestKYCEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"VASPGATE_KYC_BACKEND": "business", "VASPGATE_KYC_BUSINESS_BASE_URL": "http://b:8081",
		"SECRET_CALLBACK_API_AUTH_SECRET": "s1", "VASPGATE_KYC_AUTO_ACCEPT": "yes"}
	var k KYC
	probs := k.applyEnv(func(s string) (string, bool) { v, ok := env[s]; return v, ok })
	if k.Backend != "business" || k.Business.BaseURL != "http://b:8081" || k.Business.Auth.Secret != "s1" || len(probs) != 1 {
		t.Errorf("env: %+v %v", k, probs)
	}
}

func TestClients(t *testing.T) {
	t.Parallel()
	const g = "GDHJJBVC5USZSGQ5SZGPV6ZE5JYN6MYG6SFULJOIVOX62RGA5JR442WO"
	cs := Clients{
		{Name: "custodial", Type: ClientCustodial, SigningKeys: []string{g}, CallbackURLs: ClientCallbackURLs{SEP12: "https://c.example/sep12"}},
		{Name: "wallet", Type: ClientNoncustodial, Domains: []string{"wallet.example"}},
	}
	if err := cs.validate(); err != nil {
		t.Fatal(err)
	}
	bad := Clients{
		{Name: "", Type: "custodial"},
		{Name: "x", Type: ClientCustodial, SigningKeys: []string{"nope"}},
		{Name: "x", Type: ClientNoncustodial},
		{Name: "y", Type: "other"},
		{Name: "z", Type: ClientNoncustodial, Domains: []string{"d"}, CallbackURLs: ClientCallbackURLs{SEP6: "ftp://x"}},
	}
	err := bad.validate()
	for _, want := range []string{"clients[0].name", "clients[0].signing_keys", "clients[1].signing_keys", "clients[2].domains",
		"clients[2].name", "clients[3].type", "clients[4].callback_urls.sep6"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
