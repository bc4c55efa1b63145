package config

import (
	"reflect"
	"slices"

	"github.com/stellar/go-stellar-sdk/keypair"
)

// Stand-ins for values the development start-up generates when they are unset (app keeps the
// generated ones in the database). They only ever exist in the copy that Check validates.
const (
	standInAdminToken    = "stand-in-admin-token-0123456789abcdef"
	standInEncryptionKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)

// Any valid seed and account will do: only their form is checked.
var (
	standInSigningSeed = keypair.MustRandom().Seed()
	standInIssuer      = keypair.MustRandom().Address()
)

// Check validates the configuration as it will be once the development values are filled
// in: what vaspgate generates when unset (admin_token, encryption_key, stellar.signing_seed,
// the development asset's issuer) is checked as if present, everything else as it is. Load
// runs it, and so does app before it opens the database, so a bad public URL or seed is
// reported before anything touches the database or the disk. In production nothing is
// generated: the missing values are reported by ProductionProblems instead.
func (c *Config) Check() error {
	c.complete()
	s := c.withStandIns()
	if probs := append(s.problems(), c.ProductionProblems()...); len(probs) > 0 {
		return &Error{probs}
	}
	return nil
}

func (c *Config) withStandIns() Config {
	s := *c
	if s.AdminToken == "" {
		s.AdminToken = standInAdminToken
	}
	if s.EncryptionKey == "" {
		s.EncryptionKey = standInEncryptionKey
	}
	if s.Stellar.SigningSeed == "" {
		s.Stellar.SigningSeed = standInSigningSeed
	}
	s.Stellar.TOML.Currencies = slices.Clone(s.Stellar.TOML.Currencies)
	s.Transfer.Assets = slices.Clone(s.Transfer.Assets)
	s.FillDevAssetIssuer(standInIssuer)
	return s
}

// DevAssetCode is the code of the development default asset (Default's USDC).
const DevAssetCode = "USDC"

// NeedsDevAssetIssuer reports whether the development default asset is in use without an
// issuer — in stellar.toml's currencies or in transfer.assets, exactly as Default sets it —
// so the start-up must generate one (kept in the database like the development secrets).
// An asset configured by hand never qualifies: without an issuer it is refused.
func (c *Config) NeedsDevAssetIssuer() bool {
	n := 0
	c.eachDevAsset(func(*string) { n++ })
	return n > 0
}

// FillDevAssetIssuer sets issuer on the development default asset wherever it is used
// without one.
func (c *Config) FillDevAssetIssuer(issuer string) {
	c.eachDevAsset(func(dst *string) { *dst = issuer })
}

func (c *Config) eachDevAsset(fn func(issuer *string)) {
	def := Default()
	devCurrency, devAsset := def.Stellar.TOML.Currencies[0], def.Transfer.Assets[0]
	for i := range c.Stellar.TOML.Currencies {
		if reflect.DeepEqual(c.Stellar.TOML.Currencies[i], devCurrency) {
			fn(&c.Stellar.TOML.Currencies[i].Issuer)
		}
	}
	for i := range c.Transfer.Assets {
		if reflect.DeepEqual(c.Transfer.Assets[i], devAsset) {
			fn(&c.Transfer.Assets[i].Issuer)
		}
	}
}
