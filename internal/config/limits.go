package config

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Limits bounds what callers of the public listener can make vaspgate do and keep (issue
// 11): rate limits per source address and per SEP-10 identity, quotas counted in the
// database, and the free space kept for the travel-rule spool. Zero values mean the
// defaults documented on each field; a negative value turns that limit off.
type Limits struct {
	// AddressRatePerMinute and AddressBurst shape the token bucket of each source address
	// on the public listener (every route, before authentication). Defaults 600 and 120:
	// wallets behind one carrier-grade NAT share an address. Kept per instance.
	AddressRatePerMinute float64 `yaml:"address_rate_per_minute"`
	AddressBurst         int     `yaml:"address_burst"`
	// IdentityRatePerMinute and IdentityBurst shape the bucket of each SEP-10 identity
	// (account and memo) on the authenticated SEP-6, SEP-12, SEP-31 and SEP-38 routes.
	// Defaults 120 and 30. Shared by every instance through the database on PostgreSQL.
	IdentityRatePerMinute float64 `yaml:"identity_rate_per_minute"`
	IdentityBurst         int     `yaml:"identity_burst"`
	// TrustedProxies are CIDRs of reverse proxies whose X-Forwarded-For names the client;
	// from any other peer the header is ignored. Default loopback (127.0.0.0/8, ::1/128): a
	// proxy on the same host. Requests from loopback itself are not limited by address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// FilesPerIdentity bounds the SEP-12 uploads (POST /customer/files) one identity keeps.
	// Default 20.
	FilesPerIdentity int64 `yaml:"files_per_identity"`
	// FileBytesPerIdentity bounds their bytes. Default 100 MiB.
	FileBytesPerIdentity int64 `yaml:"file_bytes_per_identity"`
	// PendingFileBytes bounds the bytes of all uploads, from every wallet, that no customer
	// references yet. Default 2 GiB.
	PendingFileBytes int64 `yaml:"pending_file_bytes"`
	// CustomersPerAccount bounds the SEP-12 customers of one Stellar account across its
	// memos. Default 1000 (raise it for a custodial wallet with a memo per user).
	CustomersPerAccount int64 `yaml:"customers_per_account"`
	// PendingTransactionsPerIdentity bounds one identity's SEP-6 transactions that are not
	// finished. Default 50.
	PendingTransactionsPerIdentity int64 `yaml:"pending_transactions_per_identity"`
	// DiskReserve is the free space (bytes) kept on the travel-rule spool's filesystem (and
	// the SQLite database's): uploads that would leave less are refused (507). Default 1 GiB.
	DiskReserve int64 `yaml:"disk_reserve"`
	// VerificationResendCooldown is the least time between two verification codes of one
	// SEP-12 field. Default 60s.
	VerificationResendCooldown time.Duration `yaml:"verification_resend_cooldown"`
	// VerificationCodesPerDay is how many codes one field gets in 24 hours. Default 10.
	VerificationCodesPerDay int `yaml:"verification_codes_per_day"`
}

// WithDefaults fills in the defaults documented on each field; negative values (off) become
// zero.
func (l Limits) WithDefaults() Limits {
	f := func(v *float64, def float64) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	i := func(v *int64, def int64) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	n := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	f(&l.AddressRatePerMinute, 600)
	n(&l.AddressBurst, 120)
	f(&l.IdentityRatePerMinute, 120)
	n(&l.IdentityBurst, 30)
	if l.TrustedProxies == nil {
		l.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	}
	i(&l.FilesPerIdentity, 20)
	i(&l.FileBytesPerIdentity, 100<<20)
	i(&l.PendingFileBytes, 2<<30)
	i(&l.CustomersPerAccount, 1000)
	i(&l.PendingTransactionsPerIdentity, 50)
	i(&l.DiskReserve, 1<<30)
	switch {
	case l.VerificationResendCooldown == 0:
		l.VerificationResendCooldown = time.Minute
	case l.VerificationResendCooldown < 0:
		l.VerificationResendCooldown = 0
	}
	n(&l.VerificationCodesPerDay, 10)
	return l
}

// Proxies parses TrustedProxies (validated).
func (l Limits) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range l.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func (l Limits) validate() error {
	var errs []error
	for i, s := range l.TrustedProxies {
		if _, err := netip.ParsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("limits.trusted_proxies[%d]: %q is not a CIDR (example: 10.0.0.0/8)", i, s))
		}
	}
	return errors.Join(errs...)
}
