package stellar

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stellar/go-stellar-sdk/keypair"
)

// testConfig is a valid enabled section for a server at publicURL.
func testConfig(publicURL string) Options {
	return Options{
		NetworkPassphrase: "Test SDF Network ; September 2015",
		SigningSeed:       keypair.MustRandom().Seed(),
		PublicURL:         publicURL,
		HomeDomains:       []string{publicHost(publicURL)},
		LedgerMode:        LedgerNone,
		ChallengeTimeout:  15 * time.Minute,
		TokenTTL:          24 * time.Hour,
		TOML: TOML{
			Accounts: []string{keypair.MustRandom().Address()},
			Documentation: Documentation{
				OrgName: `Example "VASP"` + "\n\x07",
				OrgURL:  "https://example.com/",
			},
			Currencies: []Currency{{
				Code: "USDC", Issuer: keypair.MustRandom().Address(), Status: "test",
				DisplayDecimals: 2, Name: "USD Coin", Desc: "A dollar",
				IsAssetAnchored: true, AnchorAssetType: "fiat", AnchorAsset: "USD",
			}},
		},
	}
}

func TestRenderTOML(t *testing.T) {
	t.Parallel()
	cfg := testConfig("http://localhost:8000/")
	key := keypair.MustParseFull(cfg.SigningSeed).Address()
	out := renderTOML(&cfg, key, nil)
	var got struct {
		Version           string   `toml:"VERSION"`
		NetworkPassphrase string   `toml:"NETWORK_PASSPHRASE"`
		SigningKey        string   `toml:"SIGNING_KEY"`
		WebAuthEndpoint   string   `toml:"WEB_AUTH_ENDPOINT"`
		KYCServer         string   `toml:"KYC_SERVER"`
		TransferServer    string   `toml:"TRANSFER_SERVER"`
		Accounts          []string `toml:"ACCOUNTS"`
		Documentation     struct {
			OrgName string `toml:"ORG_NAME"`
			OrgURL  string `toml:"ORG_URL"`
		} `toml:"DOCUMENTATION"`
		Currencies []struct {
			Code            string `toml:"code"`
			Issuer          string `toml:"issuer"`
			Status          string `toml:"status"`
			DisplayDecimals int    `toml:"display_decimals"`
			Name            string `toml:"name"`
			Desc            string `toml:"desc"`
			IsAssetAnchored bool   `toml:"is_asset_anchored"`
			AnchorAssetType string `toml:"anchor_asset_type"`
			AnchorAsset     string `toml:"anchor_asset"`
		} `toml:"CURRENCIES"`
	}
	md, err := toml.Decode(string(out), &got)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("undecoded keys %v", u)
	}
	if got.Version != "2.7.0" || got.NetworkPassphrase != cfg.NetworkPassphrase || got.SigningKey != key ||
		got.WebAuthEndpoint != "http://localhost:8000/auth" || got.KYCServer != "http://localhost:8000/sep12" ||
		got.TransferServer != "http://localhost:8000/sep6" || len(got.Accounts) != 1 {
		t.Errorf("top level = %+v", got)
	}
	if got.Documentation.OrgName != cfg.TOML.Documentation.OrgName || got.Documentation.OrgURL != "https://example.com" {
		t.Errorf("documentation = %+v", got.Documentation)
	}
	c := got.Currencies
	if len(c) != 1 || c[0].Code != "USDC" || c[0].Status != "test" || c[0].DisplayDecimals != 2 || !c[0].IsAssetAnchored ||
		c[0].AnchorAssetType != "fiat" || c[0].Desc != "A dollar" || c[0].Issuer != cfg.TOML.Currencies[0].Issuer {
		t.Errorf("currencies = %+v", c)
	}
	if strings.Contains(string(out), "HORIZON_URL") {
		t.Error("HORIZON_URL published without configuration")
	}
	if len(out) > 100000 {
		t.Errorf("toml is %d bytes", len(out))
	}
}

func TestRenderTOMLEmptyDocumentation(t *testing.T) {
	t.Parallel()
	cfg := testConfig("https://anchor.example")
	cfg.TOML.Documentation = Documentation{}
	var got map[string]any
	if _, err := toml.Decode(string(renderTOML(&cfg, "GKEY", map[string]string{"ANCHOR_QUOTE_SERVER": "/sep38", "DIRECT_PAYMENT_SERVER": "/sep31"})), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["DOCUMENTATION"].(map[string]any); !ok {
		t.Fatalf("DOCUMENTATION table missing: %v", got)
	}
	// SEP-31 and SEP-38 servers are top-level keys under the public URL.
	if got["ANCHOR_QUOTE_SERVER"] != "https://anchor.example/sep38" || got["DIRECT_PAYMENT_SERVER"] != "https://anchor.example/sep31" {
		t.Errorf("servers: ANCHOR_QUOTE_SERVER %v, DIRECT_PAYMENT_SERVER %v", got["ANCHOR_QUOTE_SERVER"], got["DIRECT_PAYMENT_SERVER"])
	}
}
