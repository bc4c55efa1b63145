package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// Transfer configures SEP-6 (the transfer server under /sep6). The section is off when no
// asset is configured.
type Transfer struct {
	// Assets are the Stellar assets offered for deposit and withdrawal.
	Assets []TransferAsset `yaml:"assets"`
	// RequestKYC is how a new SEP-6 deposit or withdrawal treats the requester's KYC:
	// "sep6" (default) follows SEP-6 — no customer yet answers
	// non_interactive_customer_info_needed with the fields to send, a rejected one
	// customer_info_status denied, otherwise the transaction starts where the customer's
	// status puts it (NEEDS_INFO: pending_customer_info_update; PROCESSING or ACCEPTED:
	// pending_anchor) — while "anchor_platform" creates every transaction incomplete and
	// leaves the moves to the business (Anchor Platform's behaviour, for a drop-in).
	RequestKYC string `yaml:"request_kyc"`
	// CallbackHTTPHosts lists host[:port] values a wallet may use in a plain http://
	// on_change_callback (development only); every other URL must be https. The SSRF guard
	// (wallet scope: callback.wallet_allow_cidrs) still applies.
	CallbackHTTPHosts []string `yaml:"callback_http_hosts"`
}

// TransferAsset is one asset of /info.
type TransferAsset struct {
	// Code is the asset code (USDC).
	Code string `yaml:"code"`
	// Issuer is the issuing G… account; required except for native XLM (code XLM or native).
	// It must match the stellar.toml currency of the same code.
	Issuer string `yaml:"issuer"`
	// OffchainAsset is the off-chain counterpart in SEP-38 form, e.g. "iso4217:USD"; used as
	// the asset of off-chain amounts.
	OffchainAsset string `yaml:"offchain_asset"`
	// DistributionAccount is the G… account users pay withdrawals to (account_id).
	DistributionAccount string     `yaml:"distribution_account"`
	Deposit             TransferOp `yaml:"deposit"`
	Withdraw            TransferOp `yaml:"withdraw"`
}

// TransferOp is one direction of an asset.
type TransferOp struct {
	// Enabled offers the direction in /info and accepts its requests.
	Enabled bool `yaml:"enabled"`
	// Exchange also offers the -exchange variant (deposit-exchange / withdraw-exchange).
	Exchange bool `yaml:"exchange"`
	// MinAmount and MaxAmount (decimals, optional) bound the amount a request may ask for
	// and are published in /info.
	MinAmount string `yaml:"min_amount"`
	MaxAmount string `yaml:"max_amount"`
	// FeeFixed and FeePercent (decimals, optional) are published in /info; the fee of a
	// transaction is set by the business (fee_details in the RPC).
	FeeFixed   string `yaml:"fee_fixed"`
	FeePercent string `yaml:"fee_percent"`
	// FundingMethods are the accepted funding_method values (SEPA, SWIFT, …); at least one.
	FundingMethods []string `yaml:"funding_methods"`
}

// Values of Transfer.RequestKYC.
const (
	RequestKYCSEP6           = "sep6"
	RequestKYCAnchorPlatform = "anchor_platform"
)

// WithDefaults returns t with request_kyc at its default, sep6.
func (t Transfer) WithDefaults() Transfer {
	if t.RequestKYC == "" {
		t.RequestKYC = RequestKYCSEP6
	}
	return t
}

// Enabled reports whether SEP-6 is served.
func (t *Transfer) Enabled() bool { return len(t.Assets) > 0 }

var (
	assetCodeRe = regexp.MustCompile(`^[A-Za-z0-9]{1,12}$`)
	sep38Re     = regexp.MustCompile(`^(iso4217:[A-Z]{3}|stellar:[A-Za-z0-9]{1,12}(:G[A-Z2-7]{55})?)$`)
)

func (t *Transfer) validate() error {
	var errs []error
	if t.RequestKYC != "" && t.RequestKYC != RequestKYCSEP6 && t.RequestKYC != RequestKYCAnchorPlatform {
		errs = append(errs, fmt.Errorf("transfer.request_kyc: %q, want %s or %s", t.RequestKYC, RequestKYCSEP6, RequestKYCAnchorPlatform))
	}
	seen := map[string]bool{}
	for i, a := range t.Assets {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("transfer.assets[%d]."+format, append([]any{i}, args...)...))
		}
		if !assetCodeRe.MatchString(a.Code) {
			bad("code: %q, want 1 to 12 letters or digits", a.Code)
		}
		if seen[a.Code] {
			bad("code: %q appears twice", a.Code)
		}
		seen[a.Code] = true
		switch {
		case a.Issuer != "" && !strkey.IsValidEd25519PublicKey(a.Issuer):
			bad("issuer: %q is not a G… account", a.Issuer)
		case a.Issuer == "" && !NativeAsset(a.Code):
			bad("issuer: required for %s: a Stellar asset is stellar:CODE:ISSUER; only native XLM has none (example: the G… account that issues %s)", a.Code, a.Code)
		}
		if a.OffchainAsset != "" && !sep38Re.MatchString(a.OffchainAsset) {
			bad("offchain_asset: %q, want SEP-38 form such as iso4217:USD", a.OffchainAsset)
		}
		if a.Withdraw.Enabled && a.DistributionAccount != "" && !strkey.IsValidEd25519PublicKey(a.DistributionAccount) {
			bad("distribution_account: %q is not a G… account", a.DistributionAccount)
		}
		for name, op := range map[string]TransferOp{"deposit": a.Deposit, "withdraw": a.Withdraw} {
			if !op.Enabled {
				continue
			}
			if len(op.FundingMethods) == 0 {
				bad("%s.funding_methods: at least one (e.g. SEPA, SWIFT, bank_account)", name)
			}
			for k, v := range map[string]string{"min_amount": op.MinAmount, "max_amount": op.MaxAmount,
				"fee_fixed": op.FeeFixed, "fee_percent": op.FeePercent} {
				if v == "" {
					continue
				}
				if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 {
					bad("%s.%s: %q is not a non-negative decimal", name, k, v)
				}
			}
		}
	}
	return errors.Join(errs...)
}
