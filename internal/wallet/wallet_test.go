package wallet

import (
	"encoding/json"
	"testing"
)

func TestClientsFor(t *testing.T) {
	t.Parallel()
	const (
		custodialKey = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
		otherKey     = "GBRPYHIL2CI3FNQ4BXLFMNDLFJUNPU2HY3ZMFSHONUCEOASW7QC7OX2H"
	)
	cs := Clients{
		{Name: "custodial", Type: Custodial, SigningKeys: []string{custodialKey}},
		{Name: "wallet", Type: Noncustodial, Domains: []string{"wallet.example"}},
		// A noncustodial client listing a key is still found by domain only.
		{Name: "odd", Type: Noncustodial, Domains: []string{"odd.example"}, SigningKeys: []string{otherKey}},
	}
	for _, tc := range []struct {
		name string
		id   Identity
		want string // "" means no client
	}{
		{"custodial by account", Identity{Account: custodialKey, Memo: "7"}, "custodial"},
		{"noncustodial by domain", Identity{Account: otherKey, ClientDomain: "wallet.example"}, "wallet"},
		{"domain is case-insensitive", Identity{Account: otherKey, ClientDomain: "Wallet.Example"}, "wallet"},
		{"domain before account", Identity{Account: custodialKey, ClientDomain: "wallet.example"}, "wallet"},
		{"unknown domain falls back to account", Identity{Account: custodialKey, ClientDomain: "else.example"}, "custodial"},
		{"noncustodial key is no match", Identity{Account: otherKey}, ""},
		{"unknown", Identity{Account: "GOTHER", ClientDomain: "other.example"}, ""},
		{"empty", Identity{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := cs.For(tc.id)
			if ok != (tc.want != "") || c.Name != tc.want {
				t.Errorf("For(%+v) = %q, %v; want %q", tc.id, c.Name, ok, tc.want)
			}
		})
	}
}

// TestIdentityJSON pins the stored form of a transaction owner: the subject is not stored,
// and the field names are those stored before this type existed.
func TestIdentityJSON(t *testing.T) {
	t.Parallel()
	id := Identity{Sub: "M…", Account: "GA", Memo: "42", Muxed: "MA", ClientDomain: "wallet.example"}
	b, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"account":"GA","memo":"42","muxed":"MA","client_domain":"wallet.example"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back Identity
	if err := json.Unmarshal([]byte(`{"account":"GA"}`), &back); err != nil || back != (Identity{Account: "GA"}) {
		t.Errorf("decode plain owner = %+v, %v", back, err)
	}
}
