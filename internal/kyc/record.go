package kyc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Event types recorded in the outbox.
const (
	// EventWalletCustomer is the SEP-12 customer callback to a wallet.
	EventWalletCustomer = "sep12.customer"
	// EventCustomerUpdated is the business event (Anchor Platform's customer_updated).
	EventCustomerUpdated = "customer_updated"
)

// Subject is the ordering key of a customer's callbacks for one type.
func Subject(customerID, typ string) string { return "customer:" + customerID + ":" + typ }

// RecordStatus records c as the latest state of customer (c.ID, c.Type) inside the caller's
// transaction. If its status differs from the last one recorded, it also records, in that
// transaction, the signed SEP-12 callback to the URL the wallet registered and to the
// statically configured wallet that owns the customer, ends the registration after ACCEPTED
// or REJECTED, and records the business customer_updated event. It reports whether the
// status changed. transactionID (may be empty) is added to the callback body.
//
// It is the one code path for "a customer's status changed": the business RPC
// (notify_customer_info_updated) calls it, and so do the builtin PUT /customer and operator
// decisions (which also run the status hooks).
func (s *Service) RecordStatus(ctx context.Context, tx *store.Tx, c Customer, transactionID string) (bool, error) {
	if c.ID == "" {
		return false, badRequest("customer has no id")
	}
	if !validStatus(c.Status) {
		return false, badRequest(fmt.Sprintf("customer status %q is not a SEP-12 status", c.Status))
	}
	if c.Type == "" {
		c.Type = s.defaultType()
	}
	return s.record(ctx, tx, c, transactionID, false)
}

func snapshotAD(id, typ string) []byte { return []byte("kyc.snapshot\x00" + id + "\x00" + typ) }

func (s *Service) record(ctx context.Context, tx *store.Tx, c Customer, txID string, hooks bool) (bool, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return false, fmt.Errorf("kyc: encode customer: %w", err)
	}
	sealed, err := s.sealer.Seal(body, snapshotAD(c.ID, c.Type))
	if err != nil {
		return false, fmt.Errorf("kyc: seal snapshot: %w", err)
	}
	now := s.now()
	prev, seq, err := writeSnapshot(ctx, tx, c, sealed, store.Micros(now))
	if err != nil {
		return false, err
	}
	changed := prev != c.Status
	if !changed {
		return false, nil
	}

	// One read for the owner and the registered callback URL (kyc_callbacks is keyed by
	// customer, so the join yields at most one row).
	var owner wallet.Identity
	var domain string
	var registered sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT k.account, k.memo, k.client_domain, cb.url FROM kyc_customers k
		LEFT JOIN kyc_callbacks cb ON cb.customer_id = k.id AND cb.ended_at IS NULL WHERE k.id = ?`, c.ID).
		Scan(&owner.Account, &owner.Memo, &domain, &registered)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("kyc: read customer owner: %w", err)
	}
	var urls []string
	if known {
		if registered.Valid {
			urls = append(urls, registered.String)
		}
		if cl, ok := s.clients.For(wallet.Identity{Account: owner.Account, Memo: owner.Memo, ClientDomain: domain}); ok && cl.CallbackURLs.SEP12 != "" &&
			!slices.Contains(urls, cl.CallbackURLs.SEP12) {
			urls = append(urls, cl.CallbackURLs.SEP12)
		}
	}
	subject := Subject(c.ID, c.Type)
	for _, u := range urls {
		eventID := newID()
		cb, err := callbackBody(c, txID, eventID, now, seq)
		if err != nil {
			return false, err
		}
		if err := s.outbox.Wallet(ctx, tx, u, callback.Message{
			EventID: eventID, Type: EventWalletCustomer, Subject: subject, OccurredAt: now, Body: cb,
		}); err != nil {
			return false, fmt.Errorf("kyc: record wallet callback: %w", err)
		}
	}
	if final(c.Status) && known {
		if _, err := tx.ExecContext(ctx, `UPDATE kyc_callbacks SET ended_at = ? WHERE customer_id = ? AND ended_at IS NULL`,
			store.Micros(now), c.ID); err != nil {
			return false, fmt.Errorf("kyc: end callback registration: %w", err)
		}
	}
	ev, err := businessEvent(c, txID, now, seq)
	if err != nil {
		return false, err
	}
	if err := s.outbox.Business(ctx, tx, callback.Message{
		EventID: newID(), Type: EventCustomerUpdated, Subject: subject, OccurredAt: now, Body: ev,
	}); err != nil {
		return false, fmt.Errorf("kyc: record business event: %w", err)
	}
	if hooks {
		hs := s.hooks
		for _, h := range hs {
			if err := h(ctx, tx, c, owner); err != nil {
				return false, fmt.Errorf("kyc: status hook: %w", err)
			}
		}
	}
	return true, nil
}

// writeSnapshot stores the sealed snapshot of c and returns the status recorded before it
// and the snapshot's sequence after it (incremented when the status changed). The row is
// locked until the transaction ends, so concurrent changes of one customer serialise and
// each sees the status the previous one committed.
func writeSnapshot(ctx context.Context, tx *store.Tx, c Customer, sealed []byte, nowUS int64) (string, int64, error) {
	var prev string
	var seq int64
	if tx.Dialect() == store.Postgres {
		// One round trip for an existing row: the sub-select locks it (FOR UPDATE, so a
		// concurrent writer's commit is waited for and its status is the one compared) and
		// hands the previous status to RETURNING. For a first snapshot the insert takes the
		// unique index entry, which a concurrent first snapshot waits on; the one that finds
		// the row there (no row returned) updates it as above.
		for range 2 {
			err := tx.QueryRowContext(ctx, `UPDATE kyc_snapshots s SET status = ?, body = ?, updated_at = ?,
				sequence = s.sequence + CASE WHEN o.status <> ? THEN 1 ELSE 0 END
				FROM (SELECT customer_id, type, status FROM kyc_snapshots WHERE customer_id = ? AND type = ? FOR UPDATE) o
				WHERE s.customer_id = o.customer_id AND s.type = o.type
				RETURNING o.status, s.sequence`, c.Status, sealed, nowUS, c.Status, c.ID, c.Type).Scan(&prev, &seq)
			if err == nil {
				return prev, seq, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return "", 0, fmt.Errorf("kyc: snapshot: %w", err)
			}
			// As if from the placeholder (status '', sequence 0).
			seq = 0
			if c.Status != "" {
				seq = 1
			}
			err = tx.QueryRowContext(ctx, `INSERT INTO kyc_snapshots (customer_id, type, status, body, sequence, updated_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (customer_id, type) DO NOTHING RETURNING sequence`,
				c.ID, c.Type, c.Status, sealed, seq, nowUS).Scan(&seq)
			if err == nil {
				return "", seq, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return "", 0, fmt.Errorf("kyc: snapshot: %w", err)
			}
		}
		// Not reached in practice (rows are not deleted while a change runs): the placeholder
		// path below.
	}
	// The placeholder row (status '') makes the row lock below possible for a first snapshot:
	// two concurrent changes then serialise on it instead of both seeing "no previous".
	if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_snapshots (customer_id, type, status, body, sequence, updated_at)
		VALUES (?, ?, '', ?, 0, ?) ON CONFLICT (customer_id, type) DO NOTHING`,
		c.ID, c.Type, sealed, nowUS); err != nil {
		return "", 0, fmt.Errorf("kyc: snapshot: %w", err)
	}
	q := `SELECT status, sequence FROM kyc_snapshots WHERE customer_id = ? AND type = ?`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	if err := tx.QueryRowContext(ctx, q, c.ID, c.Type).Scan(&prev, &seq); err != nil {
		return "", 0, fmt.Errorf("kyc: read snapshot: %w", err)
	}
	if prev != c.Status {
		seq++
	}
	if _, err := tx.ExecContext(ctx, `UPDATE kyc_snapshots SET status = ?, body = ?, sequence = ?, updated_at = ?
		WHERE customer_id = ? AND type = ?`, c.Status, sealed, seq, nowUS, c.ID, c.Type); err != nil {
		return "", 0, fmt.Errorf("kyc: snapshot: %w", err)
	}
	return prev, seq, nil
}

// callbackBody is the SEP-12 callback: the GET /customer body plus the additive fields type,
// transaction_id, updated_at, event_id and sequence (anchor-platform-compat.md section 8, #10).
func callbackBody(c Customer, txID, eventID string, at time.Time, seq int64) ([]byte, error) {
	type extra struct {
		Customer
		Type          string `json:"type"`
		TransactionID string `json:"transaction_id,omitempty"`
		UpdatedAt     string `json:"updated_at"`
		EventID       string `json:"event_id"`
		Sequence      int64  `json:"sequence"`
	}
	b, err := json.Marshal(extra{Customer: c, Type: c.Type, TransactionID: txID,
		UpdatedAt: at.UTC().Format(time.RFC3339Nano), EventID: eventID, Sequence: seq})
	if err != nil {
		return nil, fmt.Errorf("kyc: encode callback: %w", err)
	}
	return b, nil
}

// businessEvent is the customer_updated payload: {"customer": {... GET body, type, status}}.
// Anchor Platform sends only the id; status and type are additive (section 8, #17).
func businessEvent(c Customer, txID string, at time.Time, seq int64) ([]byte, error) {
	cb, err := callbackBody(c, txID, "", at, seq)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(cb, &m); err != nil {
		return nil, fmt.Errorf("kyc: encode event: %w", err)
	}
	delete(m, "event_id")
	b, err := json.Marshal(map[string]any{"customer": m})
	if err != nil {
		return nil, fmt.Errorf("kyc: encode event: %w", err)
	}
	return b, nil
}

// CheckCallbackURL applies the callback URL policy (callback.URLPolicy: https, no
// credentials, every address of the host allowed by the SSRF guard).
func (s *Service) CheckCallbackURL(ctx context.Context, raw string) error {
	if err := s.callbackURLs.Check(ctx, raw); err != nil {
		var ue *callback.URLError
		if errors.As(err, &ue) {
			return badRequest("url " + ue.Reason)
		}
		return err
	}
	return nil
}
