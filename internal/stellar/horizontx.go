package stellar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ErrTransactionNotFound is Horizon's definitive answer that a transaction does not exist.
var ErrTransactionNotFound = errors.New("stellar: transaction not found on the ledger")

// LedgerPayment is one payment operation of a ledger transaction.
type LedgerPayment struct {
	// ID is Horizon's operation id.
	ID string
	// Type is Horizon's operation type: payment, path_payment_strict_receive, …
	Type   string
	From   string
	To     string
	Amount string
	// Asset in SEP-11 form: "native" or "CODE:ISSUER".
	Asset string
}

// LedgerTransaction is what a transfer records of a Stellar transaction.
type LedgerTransaction struct {
	Hash        string
	CreatedAt   time.Time
	Memo        string
	MemoType    string
	EnvelopeXDR string
	Payments    []LedgerPayment
}

// Transaction reads a transaction and its payments from Horizon (GET /transactions/{hash}
// and /transactions/{hash}/payments). It returns ErrTransactionNotFound only on Horizon's
// not_found problem, and an error wrapping ErrLedgerUnavailable on anything else.
func (h *Horizon) Transaction(ctx context.Context, hash string) (LedgerTransaction, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var tx struct {
		Hash        string    `json:"hash"`
		CreatedAt   time.Time `json:"created_at"`
		MemoType    string    `json:"memo_type"`
		Memo        string    `json:"memo"`
		EnvelopeXDR string    `json:"envelope_xdr"`
	}
	if err := h.get(ctx, h.base.JoinPath("transactions", hash), &tx); err != nil {
		return LedgerTransaction{}, err
	}
	if tx.Hash != hash {
		return LedgerTransaction{}, fmt.Errorf("%w: horizon answered another transaction", ErrLedgerUnavailable)
	}
	out := LedgerTransaction{Hash: tx.Hash, CreatedAt: tx.CreatedAt.UTC(), Memo: tx.Memo, MemoType: tx.MemoType, EnvelopeXDR: tx.EnvelopeXDR}
	if out.MemoType == "none" {
		out.MemoType = ""
	}
	var page struct {
		Embedded struct {
			Records []struct {
				ID          string `json:"id"`
				Type        string `json:"type"`
				From        string `json:"from"`
				To          string `json:"to"`
				Amount      string `json:"amount"`
				AssetType   string `json:"asset_type"`
				AssetCode   string `json:"asset_code"`
				AssetIssuer string `json:"asset_issuer"`
			} `json:"records"`
		} `json:"_embedded"`
	}
	u := h.base.JoinPath("transactions", hash, "payments")
	u.RawQuery = url.Values{"limit": {"200"}}.Encode()
	if err := h.get(ctx, u, &page); err != nil {
		return LedgerTransaction{}, err
	}
	for _, r := range page.Embedded.Records {
		asset := "native"
		if r.AssetType != "native" {
			asset = r.AssetCode + ":" + r.AssetIssuer
		}
		out.Payments = append(out.Payments, LedgerPayment{ID: r.ID, Type: r.Type, From: r.From, To: r.To, Amount: r.Amount, Asset: asset})
	}
	return out, nil
}

func (h *Horizon) get(ctx context.Context, u *url.URL, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLedgerUnavailable, err)
	}
	req.Header.Set("Accept", "application/hal+json, application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLedgerUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrLedgerUnavailable, u.Path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		var p horizonProblem
		if json.Unmarshal(body, &p) == nil && len(p.Type) > 0 && p.Status == http.StatusNotFound {
			return ErrTransactionNotFound
		}
		return fmt.Errorf("%w: 404 without a Horizon problem from %s", ErrLedgerUnavailable, h.base.Host)
	default:
		return fmt.Errorf("%w: horizon answered %d", ErrLedgerUnavailable, resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: decode %s: %v", ErrLedgerUnavailable, u.Path, err)
	}
	return nil
}
