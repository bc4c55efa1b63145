package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vaspgate/vaspgate/internal/stellar"
)

// Ledger reads the Stellar transactions that notify_onchain_funds_sent and
// notify_onchain_funds_received report, so that the transfer records its payments (Anchor
// Platform reads them the same way). It is read before the database transaction opens.
type Ledger interface {
	StellarTransaction(ctx context.Context, hash string) (StellarTransaction, error)
}

// LedgerError: the ledger could not be read; nothing changed. Its message is Anchor
// Platform's.
type LedgerError struct{ Msg string }

func (e *LedgerError) Error() string { return e.Msg }

// HorizonLedger is a Ledger over a Horizon server.
func HorizonLedger(h *stellar.Horizon) Ledger { return horizonLedger{h} }

type horizonLedger struct{ h *stellar.Horizon }

func (l horizonLedger) StellarTransaction(ctx context.Context, hash string) (StellarTransaction, error) {
	lt, err := l.h.Transaction(ctx, hash)
	if err != nil {
		return StellarTransaction{}, err
	}
	st := StellarTransaction{ID: lt.Hash, CreatedAt: lt.CreatedAt, Memo: lt.Memo, MemoType: lt.MemoType,
		Envelope: lt.EnvelopeXDR, Payments: []StellarPayment{}}
	for _, p := range lt.Payments {
		typ := "payment"
		switch {
		case p.Type == "payment":
		case strings.HasPrefix(p.Type, "path_payment"):
			typ = "path_payment"
		default:
			continue // not a payment of an asset (create_account, …)
		}
		amount := p.Amount
		if r, ok := ParseDecimal(amount); ok {
			amount = ratString(r) // Horizon's "0.0002000" as Anchor Platform writes it, "0.0002"
		}
		st.Payments = append(st.Payments, StellarPayment{ID: p.ID, Amount: Amount{Amount: amount, Asset: p.Asset},
			PaymentType: typ, SourceAccount: p.From, DestinationAccount: p.To})
	}
	return st, nil
}

// readLedger reads the Stellar transaction a method reports, if a ledger is configured.
func (s *Service) readLedger(ctx context.Context, name string, p *Params) error {
	if s.ledger == nil || (name != "notify_onchain_funds_sent" && name != "notify_onchain_funds_received") ||
		strings.TrimSpace(p.StellarTransactionID) == "" {
		return nil
	}
	st, err := s.ledger.StellarTransaction(ctx, p.StellarTransactionID)
	if err != nil && name == "notify_onchain_funds_sent" {
		// A payment just submitted may not be ingested yet, and Horizon may be away: the
		// change is accepted with the id alone and the hash is looked up again until it
		// appears (checkHash, CheckHashes), then verified or flagged.
		return nil
	}
	if errors.Is(err, stellar.ErrTransactionNotFound) {
		return &LedgerError{Msg: fmt.Sprintf("Transaction (hash=%s) not found", p.StellarTransactionID)}
	}
	if err != nil {
		return &LedgerError{Msg: fmt.Sprintf("Failed to retrieve Stellar transaction by ID[%s]", p.StellarTransactionID)}
	}
	p.ledgerTx = &st
	return nil
}
