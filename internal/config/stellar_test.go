package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
)

func validStellar() Stellar {
	s := defaultStellar()
	s.SigningSeed = keypair.MustRandom().Seed()
	s.Ledger = LedgerNone
	s.TOML.Currencies = append([]StellarCurrency(nil), s.TOML.Currencies...)
	s.TOML.Currencies[0].Issuer = keypair.MustRandom().Address()
	return s
}

func TestStellarValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Stellar)
		want   []string // substrings, one per expected problem; none means valid
	}{
		{"valid", func(*Stellar) {}, nil},
		{"off", func(s *Stellar) { *s = Stellar{} }, nil},
		{"horizon", func(s *Stellar) { s.Ledger, s.HorizonURL = "", "https://horizon-testnet.stellar.org" }, nil},
		{"home domains", func(s *Stellar) { s.HomeDomains = []string{"localhost:8000", "anchor.example"} }, nil},
		{"seed", func(s *Stellar) { s.SigningSeed = keypair.MustRandom().Address() }, []string{"stellar.signing_seed"}},
		{"passphrase", func(s *Stellar) { s.NetworkPassphrase = "" }, []string{"stellar.network_passphrase"}},
		{"public url missing", func(s *Stellar) { s.PublicURL = "" }, []string{"stellar.public_url (VASPGATE_PUBLIC_URL): required"}},
		{"public url path", func(s *Stellar) { s.PublicURL = "https://a.example/x" }, []string{"scheme://host[:port] only"}},
		{"public url scheme", func(s *Stellar) { s.PublicURL = "ftp://a.example" }, []string{"stellar.public_url"}},
		{"home domain too long", func(s *Stellar) { s.HomeDomains = []string{strings.Repeat("a", 60)} }, []string{"stellar.home_domains"}},
		{"home domain with path", func(s *Stellar) { s.HomeDomains = []string{"a.example/x"} }, []string{"stellar.home_domains"}},
		{"jwt secret", func(s *Stellar) { s.JWTSecret = "short" }, []string{"stellar.jwt_secret"}},
		{"durations", func(s *Stellar) { s.ChallengeTimeout, s.TokenTTL = time.Second, -1 }, []string{"challenge_timeout", "token_ttl"}},
		{"no ledger", func(s *Stellar) { s.Ledger = "" }, []string{"stellar.horizon_url: required (or ledger: none"}},
		{"horizon without url", func(s *Stellar) { s.Ledger = LedgerHorizon }, []string{"stellar.horizon_url"}},
		{"unknown ledger", func(s *Stellar) { s.Ledger = "rpc" }, []string{"stellar.ledger"}},
		{"accounts", func(s *Stellar) { s.TOML.Accounts = []string{"GNOPE"} }, []string{"stellar.toml.accounts"}},
		{"no currencies", func(s *Stellar) { s.TOML.Currencies = nil }, []string{"stellar.toml.currencies"}},
		{"non-native currency without issuer", func(s *Stellar) { s.TOML.Currencies[0].Issuer = "" }, []string{"stellar.toml.currencies[0].issuer: required for USDC"}},
		{"native currency without issuer", func(s *Stellar) { s.TOML.Currencies[0].Code, s.TOML.Currencies[0].Issuer = "XLM", "" }, nil},
		{"currency", func(s *Stellar) {
			s.TOML.Currencies[0] = StellarCurrency{Code: "TOOLONGCODE123", Issuer: "x", Status: "gone",
				DisplayDecimals: 8, Name: strings.Repeat("n", 21), AnchorAssetType: "nft"}
		}, []string{".code", ".issuer", ".status", ".display_decimals", ".name", ".desc", ".anchor_asset_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validStellar()
			tt.change(&s)
			probs := sectionProblems(s.validate())
			if len(probs) != len(tt.want) {
				t.Fatalf("problems %v, want %d", probs, len(tt.want))
			}
			for i, w := range tt.want {
				if got := probs[i].String(); !strings.Contains(got, w) {
					t.Errorf("problem %d = %q, want %q", i, got, w)
				}
			}
		})
	}
}

func TestStellarDerived(t *testing.T) {
	t.Parallel()
	s := Stellar{PublicURL: "https://anchor.example:8443", HorizonURL: "https://h.example"}
	if s.PublicHost() != "anchor.example:8443" || s.LedgerMode() != LedgerHorizon {
		t.Errorf("host %q ledger %q", s.PublicHost(), s.LedgerMode())
	}
	if d := s.EffectiveHomeDomains(); len(d) != 1 || d[0] != "anchor.example:8443" {
		t.Errorf("home domains %v", d)
	}
	s.HomeDomains = []string{"b.example"}
	if d := s.EffectiveHomeDomains(); len(d) != 1 || d[0] != "b.example" {
		t.Errorf("home domains %v", d)
	}
}
