package config

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TravelRule configures the VerifyVASP enclave callback receiver. The enclave's own variable
// names are read as they are, so one environment file can serve the enclave and vaspgate.
// Zero values mean the defaults documented on each field (see WithDefaults).
type TravelRule struct {
	// CallbackPath is where the enclave POSTs its callbacks on the admin listener. Env
	// VEGA_VERIFICATION_CALLBACK_API_PATH. Default /travel-rule/callback.
	CallbackPath string `yaml:"callback_path"`
	// AuthorizationToken is the token the enclave sends, at least 16 characters. Env
	// VEGA_VERIFICATION_AUTHORIZATION_TOKEN. Empty: the receiver is off.
	AuthorizationToken string `yaml:"authorization_token"`
	// AuthorizationTokenNext is also accepted, for a rotation. Env
	// VASPGATE_TRAVEL_RULE_AUTHORIZATION_TOKEN_NEXT.
	AuthorizationTokenNext string `yaml:"authorization_token_next"`
	// AuthorizationKey is the header carrying the token. Env
	// VEGA_VERIFICATION_AUTHORIZATION_KEY. Empty: "Authorization: Bearer <token>".
	AuthorizationKey string `yaml:"authorization_key"`
	// AllowCIDRs, when set, are the only source networks accepted (the enclave hosts). Env
	// VASPGATE_TRAVEL_RULE_ALLOW_CIDRS (comma-separated).
	AllowCIDRs []string `yaml:"allow_cidrs"`
	// MaxBodyBytes is the size limit of a callback; larger ones are kept truncated and
	// quarantined. Default 1048576.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// StoreBudget is how long a callback waits for the database before it goes to the
	// spool (during a burst callbacks go to the spool at once). Env
	// VASPGATE_TRAVEL_RULE_STORE_BUDGET. Default 250ms.
	StoreBudget time.Duration `yaml:"store_budget"`
	// SpoolDir holds the spool file; put it on persistent storage: callbacks acknowledged from
	// the spool (the database down or late, or a burst) are only there until replayed. Env
	// VASPGATE_TRAVEL_RULE_SPOOL_DIR. Default: a directory beside the SQLite file named after
	// it (vaspgate.db-spool), or ./vaspgate-spool on PostgreSQL (chosen by the caller).
	SpoolDir string `yaml:"spool_dir"`
	// RetentionDays is after how many days IVMS101 data is redacted. Env
	// VASPGATE_TRAVEL_RULE_RETENTION_DAYS. Default 1825 (5 years).
	RetentionDays int `yaml:"retention_days"`
	// Risk overrides the risk policy's defaults (documented on travelrule.RiskPolicy).
	Risk TravelRuleRisk `yaml:"risk"`
	// AccountAPIPath is where the enclave calls Verify User Account on the admin listener
	// (same token as the callback). Env VEGA_VERIFICATION_ACCOUNT_API_PATH. Default
	// /travel-rule/verify-user-account.
	AccountAPIPath string `yaml:"account_api_path"`
	// VerifyAPIPath is where the enclave calls Verify User. Env VEGA_VERIFICATION_API_PATH.
	// Default /travel-rule/verify-user.
	VerifyAPIPath string `yaml:"verify_api_path"`
	// TransactionAPIPath is where the enclave calls Check Transaction Status. Env
	// VEGA_VERIFICATION_TRANSACTION_API_PATH. Default /travel-rule/transaction-status.
	TransactionAPIPath string `yaml:"transaction_api_path"`
	// NameMatchThreshold is the least name similarity (0-1] that matches a received
	// beneficiary name with our customer's, after normalisation (case, whitespace, accents,
	// order of the name parts). 1 accepts only equal names. Env
	// VASPGATE_TRAVEL_RULE_NAME_MATCH_THRESHOLD. Default 0.9.
	NameMatchThreshold float64 `yaml:"name_match_threshold"`
	// DenyAccounts are originator account numbers Verify User refuses as BLACKLISTED.
	DenyAccounts []string `yaml:"deny_accounts"`
	// DenyNames are originator names (persons or companies) Verify User refuses as
	// BLACKLISTED when the originator's name matches one (same matching as above).
	DenyNames []string `yaml:"deny_names"`
	// Symbols are the asset symbols customers receive (e.g. USDC); Verify User Account and
	// Verify User refuse others as UNKNOWN-SYMBOL. Empty: any symbol.
	Symbols []string `yaml:"symbols"`
	// Enclave is how vaspgate reaches its own enclave as the originating VASP.
	Enclave TravelRuleEnclave `yaml:"enclave"`
	// Threshold maps an asset code to the amount (in the asset's units) at or above which a
	// SEP-6 deposit to another VASP's customer needs a Travel Rule verification before the
	// funds are sent. An asset not listed needs none. Example: {USDC: "1000"}.
	Threshold map[string]string `yaml:"threshold"`
	// Counterparties maps a Stellar account held by another VASP (a custodial client's
	// account) to that VASP's VerifyVASP id (beneficiaryVaspId). A deposit to an account
	// listed here goes to another VASP's customer.
	Counterparties map[string]string `yaml:"counterparties"`
	// ReconcileAfter is how long a requested verification may wait for its result before the
	// reconciliation job asks the enclave for it. Env VASPGATE_TRAVEL_RULE_RECONCILE_AFTER.
	// Default 10m.
	ReconcileAfter time.Duration `yaml:"reconcile_after"`
	// ReconcileInterval is how often the reconciliation job runs (one instance at a time).
	// Default 1m.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// HoldAt is the risk level (none, low, medium, high, severe) at or above which a SEP-6
	// withdrawal paid from another VASP is put on_hold, with the reason, until an operator
	// (POST /admin/v1/travel-rule/holds/{transaction_id}/release) or the business (an RPC
	// method that takes it out of on_hold) releases it. Env VASPGATE_TRAVEL_RULE_HOLD_AT.
	// Default high.
	HoldAt string `yaml:"hold_at"`
	// InquireAfter is how long a verification linked to a withdrawal may go without a
	// TX_REPORT before the reconciliation job asks the enclave (Transaction Status Query).
	// Env VASPGATE_TRAVEL_RULE_INQUIRE_AFTER. Default 10m.
	InquireAfter time.Duration `yaml:"inquire_after"`
}

// TravelRuleEnclave is the address of the VASP's own enclave.
type TravelRuleEnclave struct {
	// URL of the enclave's API. Env VASPGATE_TRAVEL_RULE_ENCLAVE_URL. Default
	// http://127.0.0.1:21117.
	URL string `yaml:"url"`
	// Timeout bounds one call to the enclave (failed calls are retried by the job engine).
	// Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// Originating reports whether vaspgate acts as the originating VASP (thresholds and
// counterparties are configured).
func (t TravelRule) Originating() bool { return len(t.Threshold) > 0 && len(t.Counterparties) > 0 }

// TravelRuleRisk overrides entries of the default risk policy; level names are none, low,
// medium, high, severe.
type TravelRuleRisk struct {
	// AlertLevels maps a KYT alertLevel (LOW, MEDIUM, HIGH, SEVERE) to a level.
	AlertLevels map[string]string `yaml:"alert_levels"`
	// MatchStrengths maps a World-Check matchStrength (EXACT, STRONG, MEDIUM, WEAK) to a level.
	MatchStrengths map[string]string `yaml:"match_strengths"`
	// Reasons maps a verification reason code (e.g. BLACKLISTED) to a level.
	Reasons map[string]string `yaml:"reasons"`
	// Unresolved is the level of a screening not final or failed. Default medium.
	Unresolved string `yaml:"unresolved"`
	// IndirectDiscount lowers INDIRECT-exposure alerts by this many levels (0-3, never below
	// low). Default 0.
	IndirectDiscount int `yaml:"indirect_discount"`
}

// Enabled reports whether the receiver runs (a token is configured).
func (t TravelRule) Enabled() bool { return t.AuthorizationToken != "" }

// Tokens returns the accepted tokens.
func (t TravelRule) Tokens() []string {
	var out []string
	for _, s := range []string{t.AuthorizationToken, t.AuthorizationTokenNext} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// WithDefaults returns t with every zero value replaced by its default.
func (t TravelRule) WithDefaults() TravelRule {
	if t.CallbackPath == "" {
		t.CallbackPath = "/travel-rule/callback"
	}
	if t.MaxBodyBytes <= 0 {
		t.MaxBodyBytes = 1 << 20
	}
	if t.StoreBudget <= 0 {
		t.StoreBudget = 250 * time.Millisecond
	}
	if t.RetentionDays <= 0 {
		t.RetentionDays = 1825
	}
	if t.AccountAPIPath == "" {
		t.AccountAPIPath = "/travel-rule/verify-user-account"
	}
	if t.VerifyAPIPath == "" {
		t.VerifyAPIPath = "/travel-rule/verify-user"
	}
	if t.TransactionAPIPath == "" {
		t.TransactionAPIPath = "/travel-rule/transaction-status"
	}
	if t.NameMatchThreshold <= 0 {
		t.NameMatchThreshold = 0.9
	}
	if t.Enclave.URL == "" {
		t.Enclave.URL = "http://127.0.0.1:21117"
	}
	if t.Enclave.Timeout <= 0 {
		t.Enclave.Timeout = 10 * time.Second
	}
	if t.ReconcileAfter <= 0 {
		t.ReconcileAfter = 10 * time.Minute
	}
	if t.ReconcileInterval <= 0 {
		t.ReconcileInterval = time.Minute
	}
	if t.HoldAt == "" {
		t.HoldAt = "high"
	}
	if t.InquireAfter <= 0 {
		t.InquireAfter = 10 * time.Minute
	}
	return t
}

// Prefixes parses AllowCIDRs (a bare address is one host). Call after validation.
func (t TravelRule) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range t.AllowCIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func (t *TravelRule) applyEnv(lookup func(string) (string, bool)) []Problem {
	var probs []Problem
	for name, dst := range map[string]*string{
		"VEGA_VERIFICATION_CALLBACK_API_PATH":           &t.CallbackPath,
		"VEGA_VERIFICATION_AUTHORIZATION_TOKEN":         &t.AuthorizationToken,
		"VASPGATE_TRAVEL_RULE_AUTHORIZATION_TOKEN_NEXT": &t.AuthorizationTokenNext,
		"VEGA_VERIFICATION_AUTHORIZATION_KEY":           &t.AuthorizationKey,
		"VASPGATE_TRAVEL_RULE_SPOOL_DIR":                &t.SpoolDir,
		"VEGA_VERIFICATION_ACCOUNT_API_PATH":            &t.AccountAPIPath,
		"VEGA_VERIFICATION_API_PATH":                    &t.VerifyAPIPath,
		"VEGA_VERIFICATION_TRANSACTION_API_PATH":        &t.TransactionAPIPath,
		"VASPGATE_TRAVEL_RULE_ENCLAVE_URL":              &t.Enclave.URL,
		"VASPGATE_TRAVEL_RULE_HOLD_AT":                  &t.HoldAt,
	} {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	if v, ok := lookup("VASPGATE_TRAVEL_RULE_ALLOW_CIDRS"); ok {
		t.AllowCIDRs = splitList(v)
	}
	if v, ok := lookup("VASPGATE_TRAVEL_RULE_STORE_BUDGET"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			probs = append(probs, Problem{"travel_rule.store_budget (VASPGATE_TRAVEL_RULE_STORE_BUDGET)", "not a duration: " + strconv.Quote(v), "250ms"})
		} else {
			t.StoreBudget = d
		}
	}
	if v, ok := lookup("VASPGATE_TRAVEL_RULE_NAME_MATCH_THRESHOLD"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			probs = append(probs, Problem{"travel_rule.name_match_threshold (VASPGATE_TRAVEL_RULE_NAME_MATCH_THRESHOLD)", "not a number: " + strconv.Quote(v), "0.9"})
		} else {
			t.NameMatchThreshold = f
		}
	}
	if v, ok := lookup("VASPGATE_TRAVEL_RULE_RECONCILE_AFTER"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			probs = append(probs, Problem{"travel_rule.reconcile_after (VASPGATE_TRAVEL_RULE_RECONCILE_AFTER)", "not a duration: " + strconv.Quote(v), "10m"})
		} else {
			t.ReconcileAfter = d
		}
	}
	if v, ok := lookup("VASPGATE_TRAVEL_RULE_INQUIRE_AFTER"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			probs = append(probs, Problem{"travel_rule.inquire_after (VASPGATE_TRAVEL_RULE_INQUIRE_AFTER)", "not a duration: " + strconv.Quote(v), "10m"})
		} else {
			t.InquireAfter = d
		}
	}
	if v, ok := lookup("VASPGATE_TRAVEL_RULE_RETENTION_DAYS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			probs = append(probs, Problem{"travel_rule.retention_days (VASPGATE_TRAVEL_RULE_RETENTION_DAYS)", "not a whole number: " + strconv.Quote(v), "1825"})
		} else {
			t.RetentionDays = n
		}
	}
	return probs
}

var riskLevels = map[string]bool{"none": true, "low": true, "medium": true, "high": true, "severe": true}

func (t *TravelRule) validate() error {
	d := t.WithDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !strings.HasPrefix(d.CallbackPath, "/") || strings.ContainsAny(d.CallbackPath, " {}?#") {
		add("travel_rule.callback_path: %q must be a plain path starting with / (example: /travel-rule/callback)", d.CallbackPath)
	}
	paths := map[string]string{"callback_path": d.CallbackPath, "account_api_path": d.AccountAPIPath,
		"verify_api_path": d.VerifyAPIPath, "transaction_api_path": d.TransactionAPIPath}
	seen := map[string]string{}
	for _, k := range []string{"callback_path", "account_api_path", "verify_api_path", "transaction_api_path"} {
		p := paths[k]
		if k != "callback_path" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}?#")) {
			add("travel_rule.%s: %q must be a plain path starting with / (example: /travel-rule/verify-user)", k, p)
		}
		if strings.HasPrefix(p, "/admin/") {
			add("travel_rule.%s: %q is under /admin/, which needs the admin token; the enclave sends its own", k, p)
		} else if r := adminRouteCollision(p); r != "" {
			add("travel_rule.%s: %q collides with the admin listener's route %s (example: /travel-rule/callback)", k, p, r)
		}
		if other, dup := seen[p]; dup {
			add("travel_rule.%s: %q is also travel_rule.%s; each enclave API needs its own path", k, p, other)
		}
		seen[p] = k
	}
	if u, err := url.Parse(d.Enclave.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("travel_rule.enclave.url: %q is not an http(s) URL (example: http://127.0.0.1:21117)", d.Enclave.URL)
	}
	for asset, amount := range d.Threshold {
		if r, ok := new(big.Rat).SetString(amount); !ok || r.Sign() < 0 || strings.ContainsAny(amount, "/eE") {
			add("travel_rule.threshold: %s: %q is not a non-negative decimal amount (example: \"1000\")", asset, amount)
		}
	}
	for account, vasp := range d.Counterparties {
		if len(account) != 56 || account[0] != 'G' {
			add("travel_rule.counterparties: %q is not a Stellar account (G…, 56 characters)", account)
		}
		if strings.TrimSpace(vasp) == "" {
			add("travel_rule.counterparties: %s: the VerifyVASP id of the VASP is empty", account)
		}
	}
	if (len(d.Threshold) > 0) != (len(d.Counterparties) > 0) {
		add("travel_rule.threshold and travel_rule.counterparties: set both (or neither) to act as the originating VASP")
	}
	if d.NameMatchThreshold > 1 {
		add("travel_rule.name_match_threshold: %v, want more than 0 and at most 1 (example: 0.9)", d.NameMatchThreshold)
	}
	if d.Enabled() && len(d.AuthorizationToken) < 16 {
		add("travel_rule.authorization_token: too short (%d characters, want at least 16; example: output of openssl rand -hex 32)", len(d.AuthorizationToken))
	}
	if d.AuthorizationTokenNext != "" && !d.Enabled() {
		add("travel_rule.authorization_token_next: set without travel_rule.authorization_token")
	}
	if k := d.AuthorizationKey; k != "" && strings.ContainsAny(k, " :\t") {
		add("travel_rule.authorization_key: %q is not a header name (example: X-Api-Key)", k)
	}
	for _, a := range d.AllowCIDRs {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err2 := netip.ParseAddr(a); err2 != nil {
				add("travel_rule.allow_cidrs: %q is not a CIDR (example: 10.0.0.0/8)", a)
			}
		}
	}
	if d.MaxBodyBytes < 1024 {
		add("travel_rule.max_body_bytes: must be at least 1024 (example: 1048576)")
	}
	if d.StoreBudget >= 900*time.Millisecond {
		add("travel_rule.store_budget: %v leaves no time to spool within the enclave's 1 s (example: 250ms)", d.StoreBudget)
	}
	if d.RetentionDays < 1 {
		add("travel_rule.retention_days: must be at least 1 (example: 1825)")
	}
	r := d.Risk
	for what, m := range map[string]map[string]string{"alert_levels": r.AlertLevels, "match_strengths": r.MatchStrengths, "reasons": r.Reasons} {
		for k, v := range m {
			if !riskLevels[strings.ToLower(v)] {
				add("travel_rule.risk.%s: %s: %q is not none, low, medium, high or severe", what, k, v)
			}
		}
	}
	if r.Unresolved != "" && !riskLevels[strings.ToLower(r.Unresolved)] {
		add("travel_rule.risk.unresolved: %q is not none, low, medium, high or severe", r.Unresolved)
	}
	if !riskLevels[strings.ToLower(d.HoldAt)] {
		add("travel_rule.hold_at: %q is not none, low, medium, high or severe", d.HoldAt)
	}
	if r.IndirectDiscount < 0 || r.IndirectDiscount > 3 {
		add("travel_rule.risk.indirect_discount: %d, want 0-3", r.IndirectDiscount)
	}
	return errors.Join(errs...)
}
