package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Customers is what notify_customer_info_updated needs from SEP-12; *kyc.Service
// implements it.
type Customers interface {
	// Fetch reads the customer from the configured back end now.
	Fetch(ctx context.Context, q kyc.Query) (kyc.Customer, error)
	// RecordStatus stores the snapshot and, only if the status changed, records the SEP-12
	// wallet callback and the business customer_updated event, inside tx.
	RecordStatus(ctx context.Context, tx *store.Tx, c kyc.Customer, transactionID string) (bool, error)
	// RecordLink records the business customer_updated event for a customer whose status
	// did not change but who was just linked to the transaction, inside tx.
	RecordLink(ctx context.Context, tx *store.Tx, c kyc.Customer, transactionID string) error
	// AdoptForTransaction records the transaction's owner as the owner of a customer id
	// never seen before, and refuses one recorded for another owner (kyc.ErrOtherOwner).
	AdoptForTransaction(ctx context.Context, tx *store.Tx, customerID string, owner wallet.Identity, clientDomain string) error
}

// customerError maps a customer back-end error to a JSON-RPC error, or nil if err is not one.
func customerError(err error) *Error {
	var bad *kyc.BadRequestError
	switch {
	case errors.As(err, &bad):
		return errorf(CodeInvalidParams, "customer back end refused the request: %s", bad.Msg)
	case errors.Is(err, kyc.ErrNotFound):
		return errorf(CodeInvalidParams, "customer not found")
	case errors.Is(err, kyc.ErrOtherOwner):
		return errorf(CodeInvalidParams, "the customer belongs to another owner than the transaction")
	case errors.Is(err, kyc.ErrUnavailable):
		return errorf(CodeInternal, "customer back end unavailable: the transaction was not changed; retry later")
	}
	return nil
}

// notifyCustomerInfoUpdated reads the customer at call time and commits, in one database
// transaction: the customer snapshot (and, if its status changed, the SEP-12 callback and
// customer_updated event), the transaction's move (and, if its status changed, the SEP-6
// callbacks and transaction_status_changed event). Nothing is sent from here. The
// transaction is re-checked at commit: if anything changed it since it was read, the call
// fails with the retryable conflict error and nothing is recorded, so a slower call can
// never record an older customer state after a newer one.
func (s *Server) notifyCustomerInfoUpdated(ctx context.Context, p *params) (any, error) {
	if strings.TrimSpace(p.TransactionID) == "" {
		return nil, invalid("transaction_id is required")
	}
	if !s.types[p.CustomerType] {
		return nil, invalid("customer_type[%s] is not sep6, sep31-sender, sep31-receiver or a configured kyc.types name", p.CustomerType)
	}
	cur, err := s.transfers.Get(ctx, p.TransactionID)
	if err != nil {
		return nil, err
	}
	if _, err := transfer.Allow(transfer.MethodCustomerInfoUpdated, &cur); err != nil {
		return nil, err
	}

	// Without customer_id, Anchor Platform asks the business nothing and moves the
	// transaction to pending_anchor: the business is saying the customer is done.
	var cust *kyc.Customer
	if s.customers != nil && p.CustomerID != "" {
		q := kyc.Query{ID: p.CustomerID, Type: p.CustomerType, TransactionID: cur.ID}
		if q.Type == "" {
			q.Type = cur.CustomerType
		}
		c, err := s.customers.Fetch(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("rpc: read customer: %w", err)
		}
		if c.Status == "" {
			return nil, errorf(CodeInternal, "customer back end answered without a status")
		}
		if c.Type == "" {
			c.Type = q.Type
		}
		if c.ID == "" {
			c.ID = q.ID
		}
		cust = &c
	}
	u := transfer.CustomerUpdate{Message: p.Message}
	if cust != nil {
		u.Status, u.CustomerID = cust.Status, cust.ID
	}
	if err := transfer.CheckCustomerUpdate(&cur, u); err != nil {
		return nil, err
	}

	var out transfer.Transaction
	err = s.transfers.DB().InTx(ctx, func(tx *store.Tx) error {
		// A customer without an id is one the back end has not created yet (a "new customer"
		// answer): its status still moves the transaction, but there is no snapshot to keep.
		snapshot := cust != nil && cust.ID != ""
		if snapshot {
			// A customer created under Anchor Platform is unknown here: it becomes the
			// transaction owner's, so its wallet hears of the change; another owner's is refused.
			owner := wallet.Identity{Account: cur.Owner.Account, Memo: cur.Owner.Memo}
			if err := s.customers.AdoptForTransaction(ctx, tx, cust.ID, owner, cur.Owner.ClientDomain); err != nil {
				return err
			}
			changed, err := s.customers.RecordStatus(ctx, tx, *cust, cur.ID)
			if err != nil {
				return fmt.Errorf("rpc: record customer status: %w", err)
			}
			// Linked to this transaction (another customer than recorded, or the transaction
			// still waits on KYC) without a status change: the business still hears
			// customer_updated (Anchor Platform publishes it on every call; vaspgate only
			// where something is new, so a repeated call records nothing).
			if !changed && (cur.CustomerID != cust.ID || cur.Status == transfer.StatusIncomplete ||
				cur.Status == transfer.StatusPendingCustomerInfoUpdate) {
				if err := s.customers.RecordLink(ctx, tx, *cust, cur.ID); err != nil {
					return fmt.Errorf("rpc: record customer link: %w", err)
				}
			}
		}
		// The write checks the version read before the customer was fetched (and, with a
		// snapshot, moves it even when the transaction does not change): if anything changed
		// the transaction since, the whole database transaction, snapshot included, rolls
		// back with the retryable conflict error.
		var err error
		out, _, err = s.transfers.ApplyCustomerStatus(ctx, tx, cur, snapshot, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.Platform(), nil
}
