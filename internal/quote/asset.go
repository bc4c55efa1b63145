package quote

import (
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// DeliveryMethod is one way an off-chain asset is delivered to or by the anchor (SEP-38
// sell_delivery_methods / buy_delivery_methods).
type DeliveryMethod struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Asset is one asset of GET /info.
type Asset struct {
	// Asset is the SEP-38 identifier: stellar:CODE:ISSUER, stellar:native or iso4217:USD.
	Asset string `json:"asset"`
	// SellDeliveryMethods are how a client may deliver this (off-chain) asset to the anchor.
	SellDeliveryMethods []DeliveryMethod `json:"sell_delivery_methods,omitempty"`
	// BuyDeliveryMethods are how a client may receive this (off-chain) asset.
	BuyDeliveryMethods []DeliveryMethod `json:"buy_delivery_methods,omitempty"`
	// CountryCodes are where the anchor operates for this (fiat) asset.
	CountryCodes []string `json:"country_codes,omitempty"`
	// Decimals is the number of decimals of amounts of the asset (GET /prices "decimals").
	Decimals int `json:"-"`
}

// OnStellar reports whether the asset is a Stellar asset.
func (a Asset) OnStellar() bool { return OnStellar(a.Asset) }

// OnStellar reports whether a SEP-38 asset identifier names a Stellar asset.
func OnStellar(id string) bool { return strings.HasPrefix(id, "stellar:") }

var assetRe = regexp.MustCompile(`^(iso4217:[A-Z]{3}|stellar:native|stellar:[A-Za-z0-9]{1,12}:G[A-Z2-7]{55})$`)

// ValidID reports whether id is in SEP-38's asset identification format as vaspgate serves
// it (iso4217:XXX, stellar:native, stellar:CODE:ISSUER).
func ValidID(id string) bool { return assetRe.MatchString(id) }

func methodNames(ms []DeliveryMethod) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func hasMethod(ms []DeliveryMethod, name string) bool {
	return slices.Contains(methodNames(ms), name)
}

var decimalRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// parseAmount parses a positive decimal ("10", "0.25"); signs and exponents are refused.
func parseAmount(s string) (*big.Rat, bool) {
	if !decimalRe.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 {
		return nil, false
	}
	return r, true
}

// parseNonNegative parses a decimal that may be zero.
func parseNonNegative(s string) (*big.Rat, bool) {
	if !decimalRe.MatchString(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// format writes r with at most decimals digits after the point, rounding as mode says, and
// without trailing zeros.
func format(r *big.Rat, decimals int, up bool) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)
	n := new(big.Int).Mul(r.Num(), scale)
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if up && m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	s := new(big.Rat).SetFrac(q, scale).FloatString(decimals)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
