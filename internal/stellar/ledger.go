package stellar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

var (
	// ErrAccountNotFound is the ledger's definitive answer that an account does not exist.
	ErrAccountNotFound = errors.New("stellar: account not found on the ledger")
	// ErrLedgerUnavailable wraps every other failure to read an account: network errors,
	// timeouts, 5xx, unexpected answers. Authentication fails closed on it (503).
	ErrLedgerUnavailable = errors.New("stellar: ledger unavailable")
)

// Signer is one signer of a ledger account.
type Signer struct {
	// Key is the signer key; only ed25519 public keys (G…) can sign SEP-10 challenges.
	Key string
	// Weight is the signer's weight; 0 means it cannot sign.
	Weight int32
}

// LedgerAccount is what SEP-10 needs of an existing account.
type LedgerAccount struct {
	Signers []Signer
	// MedThreshold is the account's medium threshold (the weight a challenge must reach).
	MedThreshold int32
}

// Ledger looks accounts up on the Stellar network. Account returns ErrAccountNotFound only
// for a definitive "does not exist", and an error wrapping ErrLedgerUnavailable otherwise.
type Ledger interface {
	Account(ctx context.Context, accountID string) (LedgerAccount, error)
}

// Horizon is a Ledger over Horizon's GET /accounts/{id}.
type Horizon struct {
	base   *url.URL
	client *http.Client
	// stream is client without its overall timeout: an operations stream stays open until
	// its context ends.
	stream  *http.Client
	timeout time.Duration
}

// NewHorizon returns the client of the Horizon server at rawURL: account lookups (Ledger),
// transactions by hash, and an account's operations (pages and stream) for the payment
// observer. client makes the calls (nil means a client with no proxy and the timeout
// below); timeout bounds one lookup or page, never a stream (0 means 5 s).
func NewHorizon(rawURL string, client *http.Client, timeout time.Duration) (*Horizon, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("stellar: horizon url %q: not an http(s) URL", rawURL)
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if client == nil {
		client = &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout: time.Minute}}
	}
	stream := *client
	stream.Timeout = 0
	return &Horizon{base: u, client: client, stream: &stream, timeout: timeout}, nil
}

// horizonAccount is the part of Horizon's account resource SEP-10 reads.
type horizonAccount struct {
	AccountID string `json:"account_id"`
	Signers   []struct {
		Key    string `json:"key"`
		Weight int32  `json:"weight"`
		Type   string `json:"type"`
	} `json:"signers"`
	Thresholds *struct {
		Med int32 `json:"med_threshold"`
	} `json:"thresholds"`
}

// horizonProblem is Horizon's error body (RFC 7807).
type horizonProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
}

// Account implements Ledger.
func (h *Horizon) Account(ctx context.Context, accountID string) (LedgerAccount, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	u := h.base.JoinPath("accounts", accountID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return LedgerAccount{}, fmt.Errorf("%w: %v", ErrLedgerUnavailable, err)
	}
	req.Header.Set("Accept", "application/hal+json, application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return LedgerAccount{}, fmt.Errorf("%w: %v", ErrLedgerUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return LedgerAccount{}, fmt.Errorf("%w: read account: %v", ErrLedgerUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		// Only Horizon's own not_found problem is definitive: a bare 404 from a proxy or a
		// mistyped URL must not turn every account into "non-existent" (master key only).
		var p horizonProblem
		if json.Unmarshal(body, &p) == nil && strings.HasSuffix(p.Type, "/not_found") {
			return LedgerAccount{}, ErrAccountNotFound
		}
		return LedgerAccount{}, fmt.Errorf("%w: 404 without a Horizon not_found problem from %s", ErrLedgerUnavailable, h.base.Host)
	default:
		return LedgerAccount{}, fmt.Errorf("%w: horizon answered %d", ErrLedgerUnavailable, resp.StatusCode)
	}
	var a horizonAccount
	if err := json.Unmarshal(body, &a); err != nil {
		return LedgerAccount{}, fmt.Errorf("%w: decode account: %v", ErrLedgerUnavailable, err)
	}
	if a.AccountID != accountID || a.Thresholds == nil {
		return LedgerAccount{}, fmt.Errorf("%w: horizon answered an unexpected account resource", ErrLedgerUnavailable)
	}
	out := LedgerAccount{MedThreshold: a.Thresholds.Med}
	for _, s := range a.Signers {
		if s.Type != "" && s.Type != "ed25519_public_key" {
			continue
		}
		out.Signers = append(out.Signers, Signer{Key: s.Key, Weight: s.Weight})
	}
	return out, nil
}
