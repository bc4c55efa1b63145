package app

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/transfer/transferhttp"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// This file is where configuration stops: each function turns a complete section (config.Load
// and Validate fill the defaults in) into the Options of the package it configures, so no
// package past app reads internal/config.

// callbackOptions configures the delivery engine.
func callbackOptions(c config.Callback, signingSeed string, log *slog.Logger, reg prometheus.Registerer) callback.Options {
	return callback.Options{
		Workers: c.Workers, PollInterval: c.PollInterval, ConnectTimeout: c.ConnectTimeout, Timeout: c.Timeout,
		MaxResponseBytes: c.MaxResponseBytes, RetrySchedule: c.RetrySchedule, Jitter: c.Jitter,
		ThrottleFloor: c.ThrottleFloor, Lease: c.Lease, CircuitThreshold: c.CircuitThreshold,
		CircuitCooldown: c.CircuitCooldown, CircuitMaxCooldown: c.CircuitMaxCooldown,
		DisableAfter: c.DisableAfter, Retention: c.Retention, AllowCIDRs: c.AllowCIDRs, WalletAllowCIDRs: c.WalletAllowCIDRs,
		Business: callback.Business{URL: c.Business.URL, Format: c.Business.Format,
			Auth: businessAuth(c.Business.Auth), WebhookSecrets: c.Business.WebhookSecrets},
		Destinations: webhookDestinations(c.Destinations),
		SigningSeed:  signingSeed, Logger: log, Registerer: reg,
	}
}

// webhookDestinations are the publish API's configured destinations.
func webhookDestinations(ds []config.CallbackDestination) []callback.Destination {
	var out []callback.Destination
	for _, d := range ds {
		out = append(out, callback.Destination{ID: d.ID, URL: d.URL, WebhookSecrets: d.WebhookSecrets})
	}
	return out
}

func businessAuth(a config.CallbackAuth) callback.Auth {
	return callback.Auth{Type: a.Type, Secret: a.Secret, Lifetime: time.Duration(a.ExpirationMilliseconds) * time.Millisecond}
}

// kycSettings is the settings half of kyc.Options; build adds the dependencies.
func kycSettings(k config.KYC) kyc.Options {
	types := make(map[string]kyc.CustomerType, len(k.Types))
	for name, t := range k.Types {
		fields := make(map[string]kyc.Field, len(t.Fields))
		for fn, f := range t.Fields {
			fields[fn] = kyc.Field(f)
		}
		types[name] = kyc.CustomerType{Fields: fields}
	}
	return kyc.Options{
		Backend: k.Backend, AutoAccept: k.AutoAccept, Types: types,
		Business:           kyc.BusinessServer{BaseURL: k.Business.BaseURL, Auth: businessAuth(k.Business.Auth), Timeout: k.Business.Timeout},
		VerificationFields: k.VerificationFields, UnrequestedFields: k.UnrequestedFields,
		MaxFileSize: k.MaxFileSize, FileTTL: k.FileTTL,
	}
}

// stellarSettings is the settings half of stellar.Options.
func stellarSettings(s config.Stellar) stellar.Options {
	t := stellar.TOML{Accounts: s.TOML.Accounts, HorizonURL: s.TOML.HorizonURL,
		Documentation: stellar.Documentation(s.TOML.Documentation)}
	for _, c := range s.TOML.Currencies {
		t.Currencies = append(t.Currencies, stellar.Currency(c))
	}
	return stellar.Options{
		NetworkPassphrase: s.NetworkPassphrase, SigningSeed: s.SigningSeed, PublicURL: s.PublicURL,
		HomeDomains: s.EffectiveHomeDomains(), JWTSecret: s.JWTSecret,
		ChallengeTimeout: s.ChallengeTimeout, TokenTTL: s.TokenTTL,
		LedgerMode: s.LedgerMode(), HorizonURL: s.HorizonURL, HorizonTimeout: s.HorizonTimeout,
		ClientDomains: s.ClientDomains, TOML: t,
	}
}

// rpcSettings is the settings half of rpc.Options.
func rpcSettings(r config.RPC, k config.KYC, maxBody int64) rpc.Options {
	return rpc.Options{
		BatchSizeLimit: r.BatchSizeLimit, Auth: rpc.Auth{Type: r.Auth.Type, Secret: r.Auth.Secret, MaxLifetime: r.Auth.MaxLifetime},
		CustomerTypes: slices.Sorted(maps.Keys(k.Types)), MaxBodyBytes: maxBody,
	}
}

// transferSettings is the settings half of transferhttp.Options.
func transferSettings(t config.Transfer) transferhttp.Options {
	o := transferhttp.Options{RequestKYC: t.RequestKYC}
	for _, a := range t.Assets {
		o.Assets = append(o.Assets, transferhttp.Asset{Code: a.Code, Issuer: a.Issuer, OffchainAsset: a.OffchainAsset,
			DistributionAccount: a.DistributionAccount,
			Deposit:             transferhttp.Op(a.Deposit), Withdraw: transferhttp.Op(a.Withdraw)})
	}
	return o
}

// travelRuleSettings configures the Travel Rule receiver's settings (app adds what it builds:
// sealer, events, policy, spool, originator and beneficiary sides).
func travelRuleSettings(tr config.TravelRule) travelrule.Options {
	return travelrule.Options{StoreBudget: tr.StoreBudget, RetentionDays: tr.RetentionDays}
}

// enclaveSettings configures the enclave's endpoints: the callback and the APIs it calls,
// with one token check and one body limit.
func enclaveSettings(tr config.TravelRule, log *slog.Logger) travelrulehttp.CallbackConfig {
	return travelrulehttp.CallbackConfig{
		Tokens: tr.Tokens(), Header: tr.AuthorizationKey, AllowCIDRs: tr.Prefixes(),
		MaxBodyBytes: tr.MaxBodyBytes, Logger: log,
	}
}
