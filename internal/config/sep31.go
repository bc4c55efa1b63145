package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// Quotes configures SEP-38 (the quote server under /sep38, ANCHOR_QUOTE_SERVER). The section
// is off when no asset is configured.
type Quotes struct {
	// Assets are the assets of GET /info. A Stellar asset may be written stellar:CODE: its
	// issuer is then the stellar.toml currency of that code (so the development asset works
	// before its issuer is generated).
	Assets []QuoteAsset `yaml:"assets"`
	// Rates is where prices come from: "static" (default: static_rates below) or "business"
	// (the business server's GET /rate, Anchor Platform's callback API at kyc.business).
	Rates string `yaml:"rates"`
	// StaticRates are the fixed prices of the static source, one per direction of a pair.
	StaticRates []StaticRate `yaml:"static_rates"`
	// QuoteTTL is how long a firm quote from static rates lives. Default 10m.
	QuoteTTL time.Duration `yaml:"quote_ttl"`
}

// QuoteAsset is one SEP-38 asset.
type QuoteAsset struct {
	// Asset is the SEP-38 identifier: iso4217:USD, stellar:USDC:G…, stellar:USDC or stellar:native.
	Asset string `yaml:"asset"`
	// Decimals of its amounts. Default 7 for Stellar assets, 2 otherwise.
	Decimals int `yaml:"decimals"`
	// SellDeliveryMethods and BuyDeliveryMethods (off-chain assets only) are how a client
	// delivers the asset to the anchor and receives it.
	SellDeliveryMethods []QuoteMethod `yaml:"sell_delivery_methods"`
	BuyDeliveryMethods  []QuoteMethod `yaml:"buy_delivery_methods"`
	// CountryCodes (fiat only) are where the anchor operates (ISO 3166).
	CountryCodes []string `yaml:"country_codes"`
}

// QuoteMethod is a delivery method of a SEP-38 asset.
type QuoteMethod struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// StaticRate is one fixed price: price units of sell for one unit of buy, and a fee in the
// sell asset of fee_fixed plus fee_percent percent.
type StaticRate struct {
	Sell       string `yaml:"sell"`
	Buy        string `yaml:"buy"`
	Price      string `yaml:"price"`
	FeeFixed   string `yaml:"fee_fixed"`
	FeePercent string `yaml:"fee_percent"`
}

// Values of Quotes.Rates.
const (
	RatesStatic   = "static"
	RatesBusiness = "business"
)

// Enabled reports whether SEP-38 is served.
func (q *Quotes) Enabled() bool { return len(q.Assets) > 0 }

var quoteAssetRe = regexp.MustCompile(`^(iso4217:[A-Z]{3}|stellar:native|stellar:[A-Za-z0-9]{1,12}(:G[A-Z2-7]{55})?)$`)

// applyEnv reads the SEP-38 keys that are set per deployment; the asset and rate lists are
// configured in the file (as transfer.assets are).
func (q *Quotes) applyEnv(lookup func(string) (string, bool)) []Problem {
	var probs []Problem
	if v, ok := lookup("VASPGATE_QUOTES_RATES"); ok {
		q.Rates = v
	}
	if v, ok := lookup("VASPGATE_QUOTES_QUOTE_TTL"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			probs = append(probs, Problem{"quotes.quote_ttl (VASPGATE_QUOTES_QUOTE_TTL)", "not a duration: " + strconv.Quote(v), "10m"})
		} else {
			q.QuoteTTL = d
		}
	}
	return probs
}

func (q *Quotes) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("quotes."+format, a...)) }
	switch q.Rates {
	case "", RatesStatic, RatesBusiness:
	default:
		bad("rates: %q, want %s or %s", q.Rates, RatesStatic, RatesBusiness)
	}
	if q.QuoteTTL < 0 {
		bad("quote_ttl: %v is negative", q.QuoteTTL)
	}
	known := map[string]bool{}
	for i, a := range q.Assets {
		if !quoteAssetRe.MatchString(a.Asset) {
			bad("assets[%d].asset: %q, want iso4217:USD, stellar:USDC:G… or stellar:native", i, a.Asset)
		}
		if known[a.Asset] {
			bad("assets[%d].asset: %q appears twice", i, a.Asset)
		}
		known[a.Asset] = true
		if a.Decimals < 0 || a.Decimals > 18 {
			bad("assets[%d].decimals: %d, want 0 to 18", i, a.Decimals)
		}
	}
	for i, r := range q.StaticRates {
		for name, v := range map[string]string{"sell": r.Sell, "buy": r.Buy} {
			if !known[v] {
				bad("static_rates[%d].%s: %q is not one of quotes.assets", i, name, v)
			}
		}
		if f, err := strconv.ParseFloat(r.Price, 64); err != nil || f <= 0 || !decimalRe.MatchString(r.Price) {
			bad("static_rates[%d].price: %q is not a positive decimal", i, r.Price)
		}
		for name, v := range map[string]string{"fee_fixed": r.FeeFixed, "fee_percent": r.FeePercent} {
			if v != "" && !decimalRe.MatchString(v) {
				bad("static_rates[%d].%s: %q is not a non-negative decimal", i, name, v)
			}
		}
	}
	return errors.Join(errs...)
}

var decimalRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// SEP31 configures SEP-31 receive (the direct payment server under /sep31,
// DIRECT_PAYMENT_SERVER). The section is off when no asset is configured.
type SEP31 struct {
	// Assets are the Stellar assets received from sending anchors.
	Assets []SEP31Asset `yaml:"assets"`
}

// SEP31Asset is one asset of SEP-31 GET /info.
type SEP31Asset struct {
	// Code is the asset code; its issuer is the stellar.toml currency of that code.
	Code string `yaml:"code"`
	// DistributionAccount is the G… account sending anchors pay (stellar_account_id).
	// Empty: transfer.assets' distribution_account of the same code, else the issuer.
	DistributionAccount string `yaml:"distribution_account"`
	// QuotesSupported and QuotesRequired are published in /info; with quotes_required a
	// transaction without quote_id is refused.
	QuotesSupported bool `yaml:"quotes_supported"`
	QuotesRequired  bool `yaml:"quotes_required"`
	// MinAmount, MaxAmount, FeeFixed and FeePercent (decimals, optional) are published in
	// /info; the amount limits are enforced.
	MinAmount  string `yaml:"min_amount"`
	MaxAmount  string `yaml:"max_amount"`
	FeeFixed   string `yaml:"fee_fixed"`
	FeePercent string `yaml:"fee_percent"`
	// FundingMethods are how the receiver is paid (SEPA, SWIFT, …); at least one.
	FundingMethods []string `yaml:"funding_methods"`
	// SenderTypes and ReceiverTypes are the SEP-12 customer types required of the sending
	// and the receiving client (type -> description); empty means no KYC for that role.
	SenderTypes   map[string]string `yaml:"sender_types"`
	ReceiverTypes map[string]string `yaml:"receiver_types"`
}

// Enabled reports whether SEP-31 is served.
func (s *SEP31) Enabled() bool { return len(s.Assets) > 0 }

func (s *SEP31) validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, a := range s.Assets {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("sep31.assets[%d]."+format, append([]any{i}, args...)...))
		}
		if !assetCodeRe.MatchString(a.Code) {
			bad("code: %q, want 1 to 12 letters or digits", a.Code)
		}
		if seen[a.Code] {
			bad("code: %q appears twice", a.Code)
		}
		seen[a.Code] = true
		if a.DistributionAccount != "" && !strkey.IsValidEd25519PublicKey(a.DistributionAccount) {
			bad("distribution_account: %q is not a G… account", a.DistributionAccount)
		}
		if a.QuotesRequired && !a.QuotesSupported {
			bad("quotes_required: needs quotes_supported")
		}
		if len(a.FundingMethods) == 0 {
			bad("funding_methods: at least one (e.g. SEPA, SWIFT)")
		}
		for k, v := range map[string]string{"min_amount": a.MinAmount, "max_amount": a.MaxAmount,
			"fee_fixed": a.FeeFixed, "fee_percent": a.FeePercent} {
			if v != "" && !decimalRe.MatchString(v) {
				bad("%s: %q is not a non-negative decimal", k, v)
			}
		}
	}
	return errors.Join(errs...)
}

// defaultQuotes is the development SEP-38: USD against the development asset at par with a
// fixed fee of 1 in the asset sold.
func defaultQuotes() Quotes {
	methods := []QuoteMethod{{Name: "SEPA", Description: "SEPA bank transfer"}, {Name: "SWIFT", Description: "SWIFT bank transfer"}}
	return Quotes{
		Assets: []QuoteAsset{
			{Asset: "stellar:" + DevAssetCode},
			{Asset: "iso4217:USD", SellDeliveryMethods: methods, BuyDeliveryMethods: methods},
		},
		StaticRates: []StaticRate{
			{Sell: "stellar:" + DevAssetCode, Buy: "iso4217:USD", Price: "1", FeeFixed: "1"},
			{Sell: "iso4217:USD", Buy: "stellar:" + DevAssetCode, Price: "1", FeeFixed: "1"},
		},
	}
}

// defaultSEP31 is the development SEP-31: the development asset received with optional
// quotes, sender and receiver registered through SEP-12.
func defaultSEP31() SEP31 {
	return SEP31{Assets: []SEP31Asset{{
		Code: DevAssetCode, QuotesSupported: true, MinAmount: "1", MaxAmount: "10000", FeeFixed: "1",
		FundingMethods: []string{"SEPA", "SWIFT"},
		SenderTypes:    map[string]string{"sep31-sender": "the person or business sending the payment"},
		ReceiverTypes:  map[string]string{"sep31-receiver": "the person or business receiving the payment"},
	}}}
}
