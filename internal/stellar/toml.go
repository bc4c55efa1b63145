package stellar

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// TOML is what stellar.toml publishes beyond the endpoints and keys.
type TOML struct {
	// Accounts lists G… accounts the organization controls (ACCOUNTS).
	Accounts []string
	// HorizonURL is published as HORIZON_URL only if the organization operates one.
	HorizonURL    string
	Documentation Documentation
	Currencies    []Currency
}

// Documentation is the [DOCUMENTATION] table of stellar.toml.
type Documentation struct {
	OrgName               string
	OrgDBA                string
	OrgURL                string
	OrgLogo               string
	OrgDescription        string
	OrgPhysicalAddress    string
	OrgPhoneNumber        string
	OrgOfficialEmail      string
	OrgSupportEmail       string
	OrgLicensingAuthority string
	OrgLicenseType        string
	OrgLicenseNumber      string
}

// Currency is one [[CURRENCIES]] entry of stellar.toml.
type Currency struct {
	Code            string
	Issuer          string
	Status          string
	DisplayDecimals int
	Name            string
	Desc            string
	IsAssetAnchored bool
	AnchorAssetType string
	AnchorAsset     string
}

// tomlVersion is the SEP-1 version the file follows.
const tomlVersion = "2.7.0"

// renderTOML writes stellar.toml by hand in the plain shape the conformance suite's older
// TOML parser reads (stellar-seps.md 2): top-level keys, one [DOCUMENTATION] table, then
// [[CURRENCIES]]. Empty optional values are left out, the [DOCUMENTATION] table never is.
// servers adds endpoint keys (DIRECT_PAYMENT_SERVER, ANCHOR_QUOTE_SERVER) as paths under the
// public URL, in key order.
func renderTOML(cfg *Options, signingKey string, servers map[string]string) []byte {
	var b strings.Builder
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s = %s\n", k, tomlString(v))
		}
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	kv("VERSION", tomlVersion)
	kv("NETWORK_PASSPHRASE", cfg.NetworkPassphrase)
	kv("SIGNING_KEY", signingKey)
	kv("WEB_AUTH_ENDPOINT", base+"/auth")
	kv("KYC_SERVER", base+"/sep12")
	kv("TRANSFER_SERVER", base+"/sep6")
	for _, k := range slices.Sorted(maps.Keys(servers)) {
		kv(k, base+servers[k])
	}
	kv("HORIZON_URL", strings.TrimRight(cfg.TOML.HorizonURL, "/"))
	if len(cfg.TOML.Accounts) > 0 {
		q := make([]string, len(cfg.TOML.Accounts))
		for i, a := range cfg.TOML.Accounts {
			q[i] = tomlString(a)
		}
		fmt.Fprintf(&b, "ACCOUNTS = [%s]\n", strings.Join(q, ", "))
	}

	d := cfg.TOML.Documentation
	doc := [][2]string{
		{"ORG_NAME", d.OrgName}, {"ORG_DBA", d.OrgDBA},
		{"ORG_URL", strings.TrimRight(d.OrgURL, "/")}, {"ORG_LOGO", d.OrgLogo},
		{"ORG_DESCRIPTION", d.OrgDescription}, {"ORG_PHYSICAL_ADDRESS", d.OrgPhysicalAddress},
		{"ORG_PHONE_NUMBER", d.OrgPhoneNumber}, {"ORG_OFFICIAL_EMAIL", d.OrgOfficialEmail},
		{"ORG_SUPPORT_EMAIL", d.OrgSupportEmail}, {"ORG_LICENSING_AUTHORITY", d.OrgLicensingAuthority},
		{"ORG_LICENSE_TYPE", d.OrgLicenseType}, {"ORG_LICENSE_NUMBER", d.OrgLicenseNumber},
	}
	// The table is written even when empty: wallets read DOCUMENTATION.ORG_NAME unguarded
	// (@stellar/typescript-wallet-sdk 1.10.0 throws on a toml without the table).
	b.WriteString("\n[DOCUMENTATION]\n")
	for _, e := range doc {
		kv(e[0], e[1])
	}

	for _, c := range cfg.TOML.Currencies {
		b.WriteString("\n[[CURRENCIES]]\n")
		kv("code", c.Code)
		kv("issuer", c.Issuer)
		kv("status", c.Status)
		fmt.Fprintf(&b, "display_decimals = %d\n", c.DisplayDecimals)
		kv("name", c.Name)
		kv("desc", c.Desc)
		fmt.Fprintf(&b, "is_asset_anchored = %t\n", c.IsAssetAnchored)
		kv("anchor_asset_type", c.AnchorAssetType)
		kv("anchor_asset", c.AnchorAsset)
	}
	return []byte(b.String())
}

// tomlString quotes s as a TOML basic string. strconv.Quote is not enough: TOML has no \x,
// \a or \v escapes, so every other control character becomes \uXXXX.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError, r < 0x20, r == 0x7f:
			b.WriteString(`\u` + fmt.Sprintf("%04X", r))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
