package app

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/quote/quotehttp"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/transfer/sep31http"
)

// sepServers are the stellar.toml keys of the SEP-31 and SEP-38 servers that are on.
func sepServers(cfg config.Config) map[string]string {
	out := map[string]string{}
	if quotesOn(cfg) {
		out["ANCHOR_QUOTE_SERVER"] = "/sep38"
	}
	if sep31On(cfg) && sep31Served {
		out["DIRECT_PAYMENT_SERVER"] = "/sep31"
	}
	return out
}

// sep31Served is false until the SEP-31 routes are mounted: stellar.toml must not
// advertise a server that answers 404.
const sep31Served = true

// quotesOn reports whether SEP-38 is served. The development default section is dropped in
// production, and when the deployment configured its own Stellar assets without the
// development one: the default must never stop a configuration that worked before SEP-38
// existed, nor serve development prices.
func quotesOn(cfg config.Config) bool {
	if !cfg.Quotes.Enabled() {
		return false
	}
	// The development default is its assets and prices: a deployment that only picks the
	// rate source or the quote life (VASPGATE_QUOTES_*) still has the development section.
	def := config.Default().Quotes
	if reflect.DeepEqual(cfg.Quotes.Assets, def.Assets) && reflect.DeepEqual(cfg.Quotes.StaticRates, def.StaticRates) {
		if cfg.Production() {
			return false // development rates and limits are never served in production
		}
		_, err := stellarAssetID(cfg, config.DevAssetCode)
		return err == nil
	}
	return true
}

// sep31On is quotesOn for SEP-31.
func sep31On(cfg config.Config) bool {
	if !cfg.SEP31.Enabled() {
		return false
	}
	if reflect.DeepEqual(cfg.SEP31, config.Default().SEP31) {
		if cfg.Production() {
			return false // development rates and limits are never served in production
		}
		_, err := stellarAssetID(cfg, config.DevAssetCode)
		return err == nil
	}
	return true
}

// stellarAssetID is the SEP-38 identifier of a Stellar asset given by code: stellar:native
// for XLM, else stellar:CODE:ISSUER with the issuer of the stellar.toml currency (or SEP-6
// asset) of that code.
func stellarAssetID(cfg config.Config, code string) (string, error) {
	if config.NativeAsset(code) {
		return "stellar:native", nil
	}
	for _, c := range cfg.Stellar.TOML.Currencies {
		if c.Code == code && c.Issuer != "" {
			return "stellar:" + code + ":" + c.Issuer, nil
		}
	}
	for _, a := range cfg.Transfer.Assets {
		if a.Code == code && a.Issuer != "" {
			return "stellar:" + code + ":" + a.Issuer, nil
		}
	}
	return "", fmt.Errorf("no stellar.toml currency or transfer asset with code %s gives its issuer", code)
}

// resolveQuoteAsset turns a configured stellar:CODE (no issuer) into stellar:CODE:ISSUER.
func resolveQuoteAsset(cfg config.Config, id string) (string, error) {
	code, ok := strings.CutPrefix(id, "stellar:")
	if !ok || id == "stellar:native" || strings.Contains(code, ":") {
		return id, nil
	}
	return stellarAssetID(cfg, code)
}

// buildQuotes makes the SEP-38 service from quotes.*, or nil when the section is off.
func (a *App) buildQuotes(outbox quote.Outbox) (*quote.Service, error) {
	qc := a.Config.Quotes
	if !quotesOn(a.Config) {
		return nil, nil
	}
	var assets []quote.Asset
	decimals := map[string]int{}
	for i, c := range qc.Assets {
		id, err := resolveQuoteAsset(a.Config, c.Asset)
		if err != nil {
			return nil, fmt.Errorf("quotes.assets[%d].asset: %w", i, err)
		}
		d := c.Decimals
		if d == 0 {
			d = 2
			if quote.OnStellar(id) {
				d = 7
			}
		}
		decimals[id] = d
		as := quote.Asset{Asset: id, CountryCodes: c.CountryCodes, Decimals: d}
		for _, m := range c.SellDeliveryMethods {
			as.SellDeliveryMethods = append(as.SellDeliveryMethods, quote.DeliveryMethod{Name: m.Name, Description: m.Description})
		}
		for _, m := range c.BuyDeliveryMethods {
			as.BuyDeliveryMethods = append(as.BuyDeliveryMethods, quote.DeliveryMethod{Name: m.Name, Description: m.Description})
		}
		assets = append(assets, as)
	}
	var rates quote.Rates
	switch qc.Rates {
	case config.RatesBusiness:
		b := a.Config.KYC.Business
		if b.BaseURL == "" {
			return nil, fmt.Errorf("quotes.rates: business needs kyc.business.base_url (the business server's callback API)")
		}
		timeout := b.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		var signer callback.Signer = callback.Signers{}
		switch b.Auth.Type {
		case config.AuthAPIKey:
			signer = callback.APIKey{Secret: b.Auth.Secret}
		case config.AuthJWT:
			signer = callback.APJWT{Secret: []byte(b.Auth.Secret),
				Lifetime: time.Duration(b.Auth.ExpirationMilliseconds) * time.Millisecond}
		}
		// The business server is the operator's destination, dialled as the KYC back end
		// dials it: the internal scope's SSRF guard, no proxy, no redirects.
		client, err := internalClient(a.Config, timeout)
		if err != nil {
			return nil, err
		}
		rates = quote.BusinessRates{BaseURL: b.BaseURL, Signer: signer, Client: client}
	default:
		st := quote.StaticRates{TTL: qc.QuoteTTL, Decimals: func(id string) int {
			if d, ok := decimals[id]; ok {
				return d
			}
			return 7
		}}
		for i, r := range qc.StaticRates {
			sell, err := resolveQuoteAsset(a.Config, r.Sell)
			if err != nil {
				return nil, fmt.Errorf("quotes.static_rates[%d].sell: %w", i, err)
			}
			buy, err := resolveQuoteAsset(a.Config, r.Buy)
			if err != nil {
				return nil, fmt.Errorf("quotes.static_rates[%d].buy: %w", i, err)
			}
			st.Pairs = append(st.Pairs, quote.StaticPair{Sell: sell, Buy: buy, Price: r.Price, FeeFixed: r.FeeFixed, FeePercent: r.FeePercent})
		}
		if err := st.Check(); err != nil {
			return nil, fmt.Errorf("quotes.static_rates: %w", err)
		}
		rates = st
	}
	return quote.New(quote.Options{DB: a.DB, Outbox: outbox, Assets: assets, Rates: rates}), nil
}

// mountQuotes serves SEP-38 on the public listener when it is on, behind the per-identity
// rate limit of every SEP (a firm quote is a row an anonymous wallet can create).
func (a *App) mountQuotes(sep *stellarhttp.Handler, lim limits) {
	if a.Quotes == nil {
		return
	}
	quotehttp.Register(a.Server.Public, quotehttp.New(a.Quotes, a.Log), lim.sep(sep.RequireWith(quotehttp.Refuse)))
}

// withSEP31Types adds the SEP-31 customer types to the default KYC types (none configured:
// once validated, the configuration holds the default types, so "none configured" is "equal
// to the default")
// when SEP-31 is served, so that a sending anchor can register its sender and receiver
// through SEP-12 out of the box. Configured types are left as they are.
func withSEP31Types(cfg config.Config) config.KYC {
	k := cfg.KYC
	def := config.KYC{}.WithDefaults().Types
	if !sep31On(cfg) || len(k.Types) > 0 && !reflect.DeepEqual(k.Types, def) {
		return k
	}
	k.Types = maps.Clone(def)
	field := func(d string) config.KYCField { return config.KYCField{Type: "string", Description: d} }
	k.Types["sep31-sender"] = config.KYCType{Fields: map[string]config.KYCField{
		"first_name": field("first name"), "last_name": field("last name"), "email_address": field("email address")}}
	k.Types["sep31-receiver"] = config.KYCType{Fields: map[string]config.KYCField{
		"first_name": field("first name"), "last_name": field("last name"), "bank_account_number": field("bank account number")}}
	return k
}

// sep31Assets resolves sep31.assets: the issuer from stellar.toml, the account paid from the
// asset's distribution_account, else SEP-6's, else the issuer.
func sep31Assets(cfg config.Config) ([]sep31http.Asset, error) {
	var out []sep31http.Asset
	for i, a := range cfg.SEP31.Assets {
		id, err := stellarAssetID(cfg, a.Code)
		if err != nil {
			return nil, fmt.Errorf("sep31.assets[%d].code: %w", i, err)
		}
		issuer := ""
		if parts := strings.SplitN(id, ":", 3); len(parts) == 3 {
			issuer = parts[2]
		}
		account := a.DistributionAccount
		for _, t := range cfg.Transfer.Assets {
			if account == "" && t.Code == a.Code {
				account = t.DistributionAccount
			}
		}
		if account == "" {
			account = issuer
		}
		if account == "" {
			return nil, fmt.Errorf("sep31.assets[%d].distribution_account: required for %s", i, a.Code)
		}
		out = append(out, sep31http.Asset{Code: a.Code, Issuer: issuer, Account: account,
			QuotesSupported: a.QuotesSupported, QuotesRequired: a.QuotesRequired, MinAmount: a.MinAmount, MaxAmount: a.MaxAmount,
			FeeFixed: a.FeeFixed, FeePercent: a.FeePercent, FundingMethods: a.FundingMethods,
			SenderTypes: a.SenderTypes, ReceiverTypes: a.ReceiverTypes})
	}
	return out, nil
}

// mountSEP31 serves SEP-31 receive on the public listener when it is on, behind the
// per-identity rate limit of every SEP.
func (a *App) mountSEP31(sep *stellarhttp.Handler, lim limits, policy callback.URLPolicy) error {
	if !sep31On(a.Config) {
		return nil
	}
	assets, err := sep31Assets(a.Config)
	if err != nil {
		return err
	}
	sep31http.Register(a.Server.Public, sep31http.New(sep31http.Options{
		Assets: assets, Transfers: a.Transfer, Customers: a.KYC, Quotes: a.Quotes, Callbacks: policy, Logger: a.Log,
	}), lim.sep(sep.RequireWith(sep31http.Refuse)))
	return nil
}

// sep31ReceiverTypes are the SEP-12 receiver types of each SEP-31 asset served (by code),
// sorted: the KYC types a SEP-31 payment's beneficiary is checked under by the Travel Rule.
func sep31ReceiverTypes(cfg config.Config) map[string][]string {
	out := map[string][]string{}
	if !sep31On(cfg) {
		return out
	}
	for _, a := range cfg.SEP31.Assets {
		out[a.Code] = slices.Sorted(maps.Keys(a.ReceiverTypes))
	}
	return out
}
