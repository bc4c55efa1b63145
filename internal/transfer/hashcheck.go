package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/xdr"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Statuses of a reported Stellar transaction's check (stellar_hash_checks).
const (
	HashPending  = "pending"
	HashVerified = "verified"
	HashMismatch = "mismatch"
	HashNotFound = "not_found"
)

// EventStellarTransactionFlagged is the business event for a reported Stellar transaction
// that does not exist or does not pay what the transfer says.
const EventStellarTransactionFlagged = "stellar_transaction_flagged"

// HashCheck is one reported Stellar transaction and what the ledger said of it.
type HashCheck struct {
	TransactionID string    `json:"transaction_id"`
	Hash          string    `json:"hash"`
	Method        string    `json:"method"`
	ExpectTo      string    `json:"expect_to"`
	ExpectAsset   string    `json:"expect_asset"`
	ExpectAmount  string    `json:"expect_amount"`
	Status        string    `json:"status"`
	Detail        string    `json:"detail,omitempty"`
	Attempts      int64     `json:"attempts"`
	CreatedAt     time.Time `json:"created_at"`
}

// reportedHash is the Stellar transaction a method reports that pays the user: the deposit
// (notify_onchain_funds_sent) or a withdrawal's refund on Stellar (notify_refund_sent).
func reportedHash(name string, p *Params) string {
	switch name {
	case "notify_onchain_funds_sent":
		return strings.TrimSpace(p.StellarTransactionID)
	case "notify_refund_sent":
		if p.Refund != nil {
			return strings.TrimSpace(p.Refund.ID)
		}
	}
	return ""
}

// checkHash returns ctx with a commit hook that records, in the method's own transaction,
// the check of the Stellar transaction it reports: verified or mismatched now when the
// ledger was read, pending otherwise (CheckHashes looks again). Without a ledger it does
// nothing.
func (s *Service) checkHash(ctx context.Context, name string, p *Params) context.Context {
	hash := reportedHash(name, p)
	if s.ledger == nil || hash == "" || (name == "notify_refund_sent" && p.Refund == nil) {
		return ctx
	}
	ctx, _ = store.WithCommitHook(ctx, func(ctx context.Context, tx *store.Tx) error {
		t, err := getQ(ctx, tx, p.TransactionID)
		if err != nil {
			return err
		}
		if name == "notify_refund_sent" && !t.Kind.Withdrawal() {
			return nil // a deposit's refund is off-chain
		}
		c := HashCheck{TransactionID: t.ID, Hash: hash, Method: name, ExpectTo: t.Account, Status: HashPending, CreatedAt: s.Now()}
		switch name {
		case "notify_onchain_funds_sent":
			if t.AmountOut != nil {
				c.ExpectAsset, c.ExpectAmount = t.AmountOut.Asset, t.AmountOut.Amount
			}
		case "notify_refund_sent":
			c.ExpectAsset, c.ExpectAmount = t.StellarAsset(), string(p.Refund.Amount.Amount)
			if t.AmountIn != nil {
				c.ExpectAsset = t.AmountIn.Asset
			}
		}
		if p.ledgerTx != nil {
			c.Status, c.Detail = verify(c, p.ledgerTx)
		}
		return s.recordCheck(ctx, tx, c, true)
	})
	return ctx
}

// verify compares a ledger transaction with what the check expects: one of its payments
// goes to the expected account in the expected asset and amount.
func verify(c HashCheck, st *StellarTransaction) (status, detail string) {
	to := baseAccount(c.ExpectTo)
	want, wantOK := ParseDecimal(c.ExpectAmount)
	var seen []string
	for _, pay := range st.Payments {
		got, ok := ParseDecimal(pay.Amount.Amount)
		if baseAccount(pay.DestinationAccount) == to && sameLedgerAsset(pay.Amount.Asset, c.ExpectAsset) &&
			(!wantOK || (ok && got.Cmp(want) == 0)) {
			return HashVerified, ""
		}
		seen = append(seen, fmt.Sprintf("%s %s to %s", pay.Amount.Amount, pay.Amount.Asset, pay.DestinationAccount))
	}
	if len(seen) == 0 {
		seen = []string{"no payment"}
	}
	return HashMismatch, fmt.Sprintf("expected %s %s to %s; the transaction has %s", c.ExpectAmount, c.ExpectAsset, c.ExpectTo, strings.Join(seen, ", "))
}

// baseAccount is the G… account of a G… or M… address.
func baseAccount(a string) string {
	m, err := xdr.AddressToMuxedAccount(a)
	if err != nil {
		return a
	}
	acc := m.ToAccountId()
	return acc.Address()
}

// sameLedgerAsset compares a ledger payment's asset ("native", "CODE:ISSUER" or SEP-38)
// with a SEP-38 one; an expected asset without issuer accepts any issuer of its code.
func sameLedgerAsset(paid, want string) bool {
	paid = strings.TrimPrefix(paid, "stellar:")
	want = strings.TrimPrefix(want, "stellar:")
	if paid == "native" || want == "native" || want == "XLM" {
		return (paid == "native") == (want == "native" || want == "XLM")
	}
	code, _, _ := strings.Cut(paid, ":")
	return paid == want || code == want
}

// recordCheck stores a check (insert, or update of an existing one) and announces a flagged
// one to the business.
func (s *Service) recordCheck(ctx context.Context, tx *store.Tx, c HashCheck, insert bool) error {
	now := s.Now()
	var err error
	if insert {
		_, err = tx.ExecContext(ctx, `INSERT INTO stellar_hash_checks (transaction_id, hash, method, expect_to,
			expect_asset, expect_amount, status, detail, attempts, created_at, next_at, checked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (transaction_id, hash) DO NOTHING`,
			c.TransactionID, c.Hash, c.Method, c.ExpectTo, c.ExpectAsset, c.ExpectAmount, c.Status, c.Detail,
			c.Attempts, store.Micros(c.CreatedAt), store.Micros(now), store.Micros(now))
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE stellar_hash_checks SET status = ?, detail = ?, attempts = ?, next_at = ?,
			checked_at = ? WHERE transaction_id = ? AND hash = ?`, c.Status, c.Detail, c.Attempts,
			store.Micros(now.Add(retryIn(c.Attempts))), store.Micros(now), c.TransactionID, c.Hash)
	}
	if err != nil {
		return fmt.Errorf("transfer: record check of %s: %w", c.Hash, err)
	}
	if c.Status != HashMismatch && c.Status != HashNotFound {
		return nil
	}
	body, err := json.Marshal(struct {
		Check HashCheck `json:"stellar_transaction_check"`
	}{c})
	if err != nil {
		return fmt.Errorf("transfer: event: %w", err)
	}
	err = s.outbox.Business(ctx, tx, callback.Message{EventID: uuid.Must(uuid.NewV7()).String(),
		Type: EventStellarTransactionFlagged, Subject: "transaction:" + c.TransactionID, OccurredAt: now, Body: body})
	if err != nil {
		return fmt.Errorf("transfer: record %s event: %w", EventStellarTransactionFlagged, err)
	}
	return nil
}

// retryIn is the wait before looking a pending hash up again: 2 s, doubling, at most a minute.
func retryIn(attempts int64) time.Duration {
	return min(2*time.Second<<min(attempts, 5), time.Minute)
}

// CheckHashes looks up, once each, the reported Stellar transactions still pending whose
// time has come (at most limit): a hash now on the ledger is recorded in the transfer's
// stellar_transactions and verified (or flagged); one still missing after window is flagged
// as not found. It returns how many it settled. The payment observer's leader runs it.
func (s *Service) CheckHashes(ctx context.Context, window time.Duration, limit int) (int, error) {
	if s.ledger == nil {
		return 0, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT transaction_id, hash, method, expect_to, expect_asset, expect_amount,
		attempts, created_at FROM stellar_hash_checks WHERE status = ? AND next_at <= ? ORDER BY next_at LIMIT ?`,
		HashPending, store.Micros(s.Now()), limit)
	if err != nil {
		return 0, fmt.Errorf("transfer: due checks: %w", err)
	}
	var due []HashCheck
	for rows.Next() {
		var (
			c       HashCheck
			created int64
		)
		if err := rows.Scan(&c.TransactionID, &c.Hash, &c.Method, &c.ExpectTo, &c.ExpectAsset, &c.ExpectAmount, &c.Attempts, &created); err != nil {
			rows.Close()
			return 0, fmt.Errorf("transfer: due checks: %w", err)
		}
		c.CreatedAt, c.Status = store.FromMicros(created), HashPending
		due = append(due, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("transfer: due checks: %w", err)
	}
	settled := 0
	for _, c := range due {
		st, err := s.ledger.StellarTransaction(ctx, c.Hash)
		c.Attempts++
		var found *StellarTransaction
		switch {
		case err == nil:
			found = &st
			c.Status, c.Detail = verify(c, &st)
		case errors.Is(err, stellar.ErrTransactionNotFound) && s.Now().Sub(c.CreatedAt) >= window:
			c.Status, c.Detail = HashNotFound, fmt.Sprintf("the ledger has no transaction %s after %s", c.Hash, window)
		default:
			// Not there yet, or Horizon away: look again later.
		}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			if found != nil && c.Method == "notify_onchain_funds_sent" {
				cur, err := getQ(ctx, tx, c.TransactionID)
				if err != nil {
					return err
				}
				_, _, err = s.ChangeTx(ctx, tx, cur, false, func(t *Transaction) error {
					for i := range t.StellarTransactions {
						if t.StellarTransactions[i].ID == c.Hash {
							recorded := *found
							recorded.CreatedAt = recorded.CreatedAt.UTC().Truncate(time.Microsecond)
							t.StellarTransactions[i] = recorded
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			return s.recordCheck(ctx, tx, c, false)
		})
		if err != nil {
			return settled, err
		}
		if c.Status != HashPending {
			settled++
		}
	}
	return settled, nil
}

// HashChecks lists the checks of reported Stellar transactions in status (all when ""),
// newest first, at most 500.
func (s *Service) HashChecks(ctx context.Context, status string) ([]HashCheck, error) {
	q := `SELECT transaction_id, hash, method, expect_to, expect_asset, expect_amount, status, detail, attempts,
		created_at FROM stellar_hash_checks`
	var args []any
	if status != "" {
		q += " WHERE status = ?"
		args = append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY created_at DESC LIMIT 500", args...)
	if err != nil {
		return nil, fmt.Errorf("transfer: list checks: %w", err)
	}
	defer rows.Close()
	out := []HashCheck{}
	for rows.Next() {
		var (
			c       HashCheck
			created int64
		)
		if err := rows.Scan(&c.TransactionID, &c.Hash, &c.Method, &c.ExpectTo, &c.ExpectAsset, &c.ExpectAmount,
			&c.Status, &c.Detail, &c.Attempts, &created); err != nil {
			return nil, fmt.Errorf("transfer: list checks: %w", err)
		}
		c.CreatedAt = store.FromMicros(created)
		out = append(out, c)
	}
	return out, rows.Err()
}
