package kyc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// RecordLink records the business customer_updated event for a customer whose SEP-12
// status did not change but who was just linked to transactionID (notify_customer_info_updated
// for a new transaction of an already-ACCEPTED customer): a business server that waits on
// customer_updated to move the transaction on would otherwise stall. Wallets are not
// called: SEP-12 callbacks are for status changes only. Call it inside the transaction that
// recorded the snapshot (RecordStatus), after it reported no change.
func (s *Service) RecordLink(ctx context.Context, tx *store.Tx, c Customer, transactionID string) error {
	if c.Type == "" {
		c.Type = s.defaultType()
	}
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT sequence FROM kyc_snapshots WHERE customer_id = ? AND type = ?`, c.ID, c.Type).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("kyc: read snapshot sequence: %w", err)
	}
	now := s.now()
	ev, err := businessEvent(c, transactionID, now, seq)
	if err != nil {
		return err
	}
	if err := s.outbox.Business(ctx, tx, callback.Message{
		EventID: newID(), Type: EventCustomerUpdated, Subject: Subject(c.ID, c.Type), OccurredAt: now, Body: ev,
	}); err != nil {
		return fmt.Errorf("kyc: record customer_updated: %w", err)
	}
	return nil
}

// ErrOtherOwner: the customer id is recorded for another owner than the transaction's.
var ErrOtherOwner = errors.New("kyc: the customer belongs to another owner than the transaction")

// AdoptForTransaction records owner (the owner of the transaction the business named the
// customer for) as the owner of a customer id vaspgate never created (one created under
// Anchor Platform, which kept no customers), so that its status changes reach the owner's
// wallet. A customer already recorded for another owner is refused with ErrOtherOwner:
// one wallet's customer never becomes another's (a customer under a memo of the owner's own
// account is the owner's). Call it inside tx.
func (s *Service) AdoptForTransaction(ctx context.Context, tx *store.Tx, customerID string, owner wallet.Identity, clientDomain string) error {
	now := store.Micros(s.now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_customers (id, account, memo, client_domain, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, customerID, owner.Account, owner.Memo, clientDomain, now, now); err != nil {
		return fmt.Errorf("kyc: record customer owner: %w", err)
	}
	o, _, err := ownerOf(ctx, tx, customerID)
	if err != nil {
		return err
	}
	// The SEP-12 rule of who owns a customer (owns): an account signed in without a memo
	// owns the customers it registered under memos of its own (a SEP-31 sending anchor's
	// senders and receivers, a custodial wallet's users).
	if !owns(owner, o) {
		return ErrOtherOwner
	}
	return nil
}
