package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

var (
	// ErrNotFound: no such transaction (or not the caller's).
	ErrNotFound = errors.New("transfer: transaction not found")
	// ErrConflict: another change to the same transaction committed first. Nothing was
	// changed; re-read and retry. The text is the Anchor Platform's, word for word
	// (anchor-platform-compat.md): the business RPC answers with it.
	//lint:ignore ST1005 the Anchor Platform's exact message, punctuation included
	ErrConflict = errors.New("Transaction was modified by another request. Please re-read the transaction state and retry if appropriate.")
	// ErrNotFunded: a change would complete a transaction whose funds were never received.
	// No path may do that, whatever the state machine's rows say.
	ErrNotFunded = errors.New("transfer: a transaction cannot be completed before its funds were received")
)

// Outbox records callbacks inside a database transaction; *callback.Outbox satisfies it.
type Outbox interface {
	Wallet(ctx context.Context, tx *store.Tx, url string, m callback.Message) error
	Business(ctx context.Context, tx *store.Tx, m callback.Message) error
}

// Callback message types recorded by this package.
const (
	// TypeWalletTransaction is a SEP-6 status callback to a wallet.
	TypeWalletTransaction = "sep6.transaction"
	// EventTransactionCreated is the business event for a new transaction.
	EventTransactionCreated = "transaction_created"
	// EventTransactionStatusChanged is the business event for a status change.
	EventTransactionStatusChanged = "transaction_status_changed"
)

// Options configure a Service.
type Options struct {
	DB     *store.DB
	Outbox Outbox
	// Clients are the known wallets: a status callback also goes to the static SEP-6
	// callback URL (callback_urls.sep6) of the client owning the transaction.
	Clients wallet.Clients
	// Ledger reads reported Stellar transactions; nil records only their id.
	Ledger Ledger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Gate, when set, is consulted around business methods (see Gate).
	Gate Gate
	// PendingPerIdentity bounds the transactions one wallet identity (account and memo) may
	// have that are not finished (Status.Terminal), counted when Create adds one. Max 0: no
	// bound.
	PendingPerIdentity limit.Quota
}

// Service reads and changes transactions.
type Service struct {
	db      *store.DB
	outbox  Outbox
	clients wallet.Clients
	now     func() time.Time
	gate    Gate
	ledger  Ledger
	pending limit.Quota
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{db: o.DB, outbox: o.Outbox, clients: o.Clients, now: o.Now, gate: o.Gate, ledger: o.Ledger,
		pending: o.PendingPerIdentity}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// DB returns the service's database, so callers can join a change with their own writes.
func (s *Service) DB() *store.DB { return s.db }

// Now returns the service clock's time, truncated to the stored precision.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const columns = "id, version, status, data"

// Create stores a new transaction (ID, times and version are set here) and records the
// business transaction_created event in the same database transaction. A withdrawal to an
// anchor account without a memo gets a hash memo derived from its id.
func (s *Service) Create(ctx context.Context, t *Transaction) error {
	return s.CreateWith(ctx, t, nil)
}

// CreateWith is Create with before run inside the database transaction, once t has its id
// and before it is written: the caller's own writes that must commit with it or not at all
// (SEP-31 taking a SEP-38 quote). before's error aborts the creation.
func (s *Service) CreateWith(ctx context.Context, t *Transaction, before func(ctx context.Context, tx *store.Tx, t *Transaction) error) error {
	now := s.Now()
	t.ID = uuid.Must(uuid.NewV7()).String()
	t.Version = 1
	if !t.Kind.Deposit() && t.WithdrawAnchorAccount != "" && t.WithdrawMemo == "" {
		// The user's payment to a shared anchor account is matched by this memo: an id memo,
		// as Anchor Platform issues them, derived from the transaction id (63 bits).
		sum := sha256.Sum256([]byte(t.ID))
		t.WithdrawMemo, t.WithdrawMemoType = strconv.FormatUint(binary.BigEndian.Uint64(sum[:8])>>1, 10), "id"
	}
	if c, ok := s.clients.For(t.Owner); ok && t.ClientName == "" {
		t.ClientName = c.Name
	}
	t.StartedAt, t.UpdatedAt = now, now
	if !t.Kind.Valid() || !t.Status.Valid() || t.Owner.Account == "" {
		return fmt.Errorf("transfer: create: invalid kind %q, status %q or owner", t.Kind, t.Status)
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkPending(ctx, tx, t.Owner); err != nil {
			return err
		}
		if before != nil {
			if err := before(ctx, tx, t); err != nil {
				return err
			}
		}
		data, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("transfer: create: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO transfer_transactions (id, sep, kind, status, version,
			owner_account, owner_memo, client_domain, asset_code, customer_id, stellar_transaction_id,
			external_transaction_id, started_at, updated_at, completed_at, transfer_received_at,
			user_action_required_by, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Kind.SEP(), string(t.Kind), string(t.Status), t.Version, t.Owner.Account, t.Owner.Memo,
			t.Owner.ClientDomain, t.AssetCode, t.CustomerID, t.StellarTransactionID,
			t.ExternalTransactionID, store.Micros(t.StartedAt), store.Micros(t.UpdatedAt),
			microsPtr(t.CompletedAt), microsPtr(t.TransferReceivedAt), microsPtr(t.UserActionRequiredBy),
			string(data))
		if err != nil {
			return fmt.Errorf("transfer: create: %w", err)
		}
		if err := s.indexPay(ctx, tx, nil, t); err != nil {
			return err
		}
		if err := recordStatus(ctx, tx, t, "", now); err != nil {
			return err
		}
		return s.business(ctx, tx, EventTransactionCreated, t, now)
	})
	return err
}

func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return store.Micros(*t)
}

func scan(row interface{ Scan(...any) error }) (Transaction, error) {
	var (
		t       Transaction
		id      string
		version int64
		status  string
		data    string
	)
	if err := row.Scan(&id, &version, &status, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, ErrNotFound
		}
		return t, fmt.Errorf("transfer: read transaction: %w", err)
	}
	if err := json.Unmarshal([]byte(data), &t); err != nil {
		return t, fmt.Errorf("transfer: decode transaction %s: %w", id, err)
	}
	t.ID, t.Version, t.Status = id, version, Status(status)
	return t, nil
}

// Get returns a transaction by id, whoever owns it (for the business).
func (s *Service) Get(ctx context.Context, id string) (Transaction, error) {
	return getQ(ctx, s.db, id)
}

// GetTx is Get inside a database transaction.
func (s *Service) GetTx(ctx context.Context, tx *store.Tx, id string) (Transaction, error) {
	return getQ(ctx, tx, id)
}

func getQ(ctx context.Context, q store.Querier, id string) (Transaction, error) {
	return scan(q.QueryRowContext(ctx, "SELECT "+columns+" FROM transfer_transactions WHERE id = ?", id))
}

// Lookup selects one transaction of an owner; exactly one field is set.
type Lookup struct {
	ID                    string
	StellarTransactionID  string
	ExternalTransactionID string
}

// Find returns the owner's transaction matching l, or ErrNotFound (also when another owner
// has it: a wallet cannot tell the difference).
func (s *Service) Find(ctx context.Context, o wallet.Identity, l Lookup) (Transaction, error) {
	var col, val string
	switch {
	case l.ID != "":
		col, val = "id", l.ID
	case l.StellarTransactionID != "":
		col, val = "stellar_transaction_id", l.StellarTransactionID
	case l.ExternalTransactionID != "":
		col, val = "external_transaction_id", l.ExternalTransactionID
	default:
		return Transaction{}, ErrNotFound
	}
	// SEP-6 only: a SEP-31 transaction of the same identity is read at /sep31.
	return scan(s.db.QueryRowContext(ctx, "SELECT "+columns+" FROM transfer_transactions WHERE "+col+
		" = ? AND owner_account = ? AND owner_memo = ? AND sep = '6' ORDER BY id DESC LIMIT 1", val, o.Account, o.Memo))
}

// Filter narrows an owner's transaction list (SEP-6 GET /transactions).
type Filter struct {
	AssetCode   string
	Kinds       []Kind
	NoOlderThan time.Time
	// PagingID: only transactions older than this one (exclusive).
	PagingID string
	// Limit caps the result; 0 means 100, the maximum.
	Limit int
}

// List returns the owner's transactions, newest first.
func (s *Service) List(ctx context.Context, o wallet.Identity, f Filter) ([]Transaction, error) {
	q := "SELECT " + columns + " FROM transfer_transactions WHERE owner_account = ? AND owner_memo = ? AND sep = '6'"
	args := []any{o.Account, o.Memo}
	if f.AssetCode != "" {
		q += " AND asset_code = ?"
		args = append(args, f.AssetCode)
	}
	if len(f.Kinds) > 0 {
		q += " AND kind IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(f.Kinds)), ", ") + ")"
		for _, k := range f.Kinds {
			args = append(args, string(k))
		}
	}
	if !f.NoOlderThan.IsZero() {
		q += " AND started_at >= ?"
		args = append(args, store.Micros(f.NoOlderThan))
	}
	if f.PagingID != "" {
		// Ids are UUIDv7: their order is creation order, so paging needs no second column.
		q += " AND id < ?"
		args = append(args, f.PagingID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit)
	return s.query(ctx, s.db, q, args...)
}

// PlatformFilter selects transactions for the business (get_transactions).
type PlatformFilter struct {
	// SEP is the protocol ("6", "31"); empty means every protocol.
	SEP      string
	Statuses []Status
	// OrderBy is created_at (default), updated_at, transfer_received_at or
	// user_action_required_by.
	OrderBy string
	// Desc sorts newest first.
	Desc bool
	// PageSize is 20 when 0; PageNumber counts from 0. PageSize × PageNumber may not pass
	// MaxPlatformOffset.
	PageSize   int
	PageNumber int
}

// MaxPlatformOffset bounds how many transactions a get_transactions page may skip. Offset
// paging reads and throws away every skipped row, so an unbounded page_number is a cheap way
// to make the database scan the whole table (and a huge one overflowed into a negative
// OFFSET, which PostgreSQL refuses). A million rows is 5,000 pages of the largest size: a
// business that needs deeper narrows the query by statuses or orders by updated_at.
const MaxPlatformOffset = 1_000_000

// ListAll returns transactions of every owner, for the business. A page past
// MaxPlatformOffset, or a negative page, is an *InvalidError.
func (s *Service) ListAll(ctx context.Context, f PlatformFilter) ([]Transaction, error) {
	q := "SELECT " + columns + " FROM transfer_transactions WHERE 1 = 1"
	var args []any
	if f.SEP != "" {
		q += " AND sep = ?"
		args = append(args, f.SEP)
	}
	if len(f.Statuses) > 0 {
		q += " AND status IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(f.Statuses)), ", ") + ")"
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	col := map[string]string{"": "started_at", "created_at": "started_at", "updated_at": "updated_at",
		"transfer_received_at": "transfer_received_at", "user_action_required_by": "user_action_required_by"}[f.OrderBy]
	if col == "" {
		return nil, fmt.Errorf("transfer: order_by %q is not supported", f.OrderBy)
	}
	dir := "ASC"
	if f.Desc {
		dir = "DESC"
	}
	size := f.PageSize
	if size <= 0 {
		size = 20
	}
	// Compared by division, so that no page number can overflow the product.
	if f.PageNumber < 0 || f.PageNumber > MaxPlatformOffset/size {
		return nil, &InvalidError{Msg: fmt.Sprintf("page_number should be between 0 and %d for page_size %d (at most %d transactions can be skipped; narrow the query with statuses)",
			MaxPlatformOffset/size, size, MaxPlatformOffset)}
	}
	q += fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT %d OFFSET %d", col, dir, dir, size, size*f.PageNumber)
	return s.query(ctx, s.db, q, args...)
}

func (s *Service) query(ctx context.Context, q store.Querier, query string, args ...any) ([]Transaction, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("transfer: list: %w", err)
	}
	defer rows.Close()
	var out []Transaction
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transfer: list: %w", err)
	}
	return out, nil
}

// Change applies fn to transaction id and commits the result together with the callbacks
// and events it causes. fn sees the current state and edits it; if it returns an error
// nothing changes. Concurrent changes are serialised by the version column: the one that
// commits second fails with ErrConflict.
func (s *Service) Change(ctx context.Context, id string, fn func(t *Transaction) error) (Transaction, error) {
	var out Transaction
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := getQ(ctx, tx, id)
		if err != nil {
			return err
		}
		out, _, err = s.ChangeTx(ctx, tx, cur, false, fn)
		return err
	})
	return out, err
}

// ChangeTx is Change inside the caller's database transaction, from cur (read in tx or
// earlier: either way the write checks cur.Version). touch forces the version check and
// bump even when fn changes nothing, so that work the caller did on the basis of cur (such
// as a customer snapshot) is ordered with every other change of the transaction. changed
// reports whether the transaction itself changed.
func (s *Service) ChangeTx(ctx context.Context, tx *store.Tx, cur Transaction, touch bool, fn func(t *Transaction) error) (Transaction, bool, error) {
	next := cur.clone()
	if err := fn(&next); err != nil {
		return cur, false, err
	}
	next.ID, next.Version = cur.ID, cur.Version
	before, _ := json.Marshal(cur)
	after, _ := json.Marshal(next)
	changed := !bytes.Equal(before, after)
	if !changed && !touch {
		return cur, false, nil
	}
	now := s.Now()
	statusChanged := next.Status != cur.Status
	if statusChanged && next.Status == StatusCompleted && !next.FundsReceived() {
		return cur, false, ErrNotFunded
	}
	if changed {
		next.UpdatedAt = now
		// completed_at is the commit time unless the change set its own (funds_sent_at).
		ownCompletedAt := next.CompletedAt != nil && (cur.CompletedAt == nil || !next.CompletedAt.Equal(*cur.CompletedAt))
		if statusChanged && (next.Status == StatusCompleted || next.Status == StatusRefunded) && !ownCompletedAt {
			next.CompletedAt = &now
		}
	}
	next.Version = cur.Version + 1
	data, err := json.Marshal(next)
	if err != nil {
		return cur, false, fmt.Errorf("transfer: change: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE transfer_transactions SET status = ?, version = ?,
		customer_id = ?, stellar_transaction_id = ?, external_transaction_id = ?, updated_at = ?,
		completed_at = ?, transfer_received_at = ?, user_action_required_by = ?, data = ?
		WHERE id = ? AND version = ?`,
		string(next.Status), next.Version, next.CustomerID, next.StellarTransactionID,
		next.ExternalTransactionID, store.Micros(next.UpdatedAt), microsPtr(next.CompletedAt),
		microsPtr(next.TransferReceivedAt), microsPtr(next.UserActionRequiredBy), string(data),
		cur.ID, cur.Version)
	if err != nil {
		return cur, false, fmt.Errorf("transfer: change %s: %w", cur.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return cur, false, fmt.Errorf("transfer: change %s: %w", cur.ID, err)
	} else if n != 1 {
		return cur, false, ErrConflict
	}
	if err := s.indexPay(ctx, tx, &cur, &next); err != nil {
		return cur, false, err
	}
	if statusChanged {
		if err := recordStatus(ctx, tx, &next, cur.Status, now); err != nil {
			return cur, false, err
		}
		if err := s.statusChanged(ctx, tx, &next, now); err != nil {
			return cur, false, err
		}
	}
	if changed {
		// The business hears of every committed change (amounts, message, refunds, status),
		// as Anchor Platform's transaction_status_changed; a no-op records nothing.
		if err := s.business(ctx, tx, EventTransactionStatusChanged, &next, now); err != nil {
			return cur, false, err
		}
	}
	return next, changed, nil
}

// statusChanged records the SEP-6 callback a status change causes, to the wallet's
// on_change_callback and to its client's static URL: wallets hear of status changes only.
func (s *Service) statusChanged(ctx context.Context, tx *store.Tx, t *Transaction, at time.Time) error {
	c, ok := s.clients.For(t.Owner)
	body, typ, static := t.walletBody(c, ok)
	eventID := uuid.Must(uuid.NewV7()).String()
	subject := "transaction:" + t.ID
	urls := []string{t.OnChangeCallback}
	if static != "" && static != t.OnChangeCallback {
		urls = append(urls, static)
	}
	for _, u := range urls {
		if u == "" {
			continue
		}
		err := s.outbox.Wallet(ctx, tx, u, callback.Message{
			EventID: eventID, Type: typ, Subject: subject, OccurredAt: at, Body: body,
		})
		if err != nil {
			return fmt.Errorf("transfer: record wallet callback: %w", err)
		}
	}
	return nil
}

func (s *Service) business(ctx context.Context, tx *store.Tx, typ string, t *Transaction, at time.Time) error {
	body, err := json.Marshal(struct {
		Transaction any `json:"transaction"`
	}{t.Platform()})
	if err != nil {
		return fmt.Errorf("transfer: event: %w", err)
	}
	err = s.outbox.Business(ctx, tx, callback.Message{
		EventID: uuid.Must(uuid.NewV7()).String(), Type: typ, Subject: "transaction:" + t.ID,
		OccurredAt: at, Body: body,
	})
	if err != nil {
		return fmt.Errorf("transfer: record %s event: %w", typ, err)
	}
	return nil
}

// Import stores a transaction brought over from another system (Anchor Platform) as it is:
// its id, status, times and owner are kept, no event or callback is recorded (its history
// happened elsewhere), and a transaction already stored under that id is left untouched, so
// importing twice gives the same result. inserted reports whether t was new.
func (s *Service) Import(ctx context.Context, t *Transaction) (inserted bool, err error) {
	if t.ID == "" || !t.Kind.Valid() || !t.Status.Valid() || t.Owner.Account == "" {
		return false, fmt.Errorf("transfer: import %s: invalid id, kind %q, status %q or owner", t.ID, t.Kind, t.Status)
	}
	t.Version = 1
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.StartedAt
	}
	data, err := json.Marshal(t)
	if err != nil {
		return false, fmt.Errorf("transfer: import %s: %w", t.ID, err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO transfer_transactions (id, sep, kind, status, version,
		owner_account, owner_memo, client_domain, asset_code, customer_id, stellar_transaction_id,
		external_transaction_id, started_at, updated_at, completed_at, transfer_received_at,
		user_action_required_by, data) VALUES (?, '6', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		t.ID, string(t.Kind), string(t.Status), t.Version, t.Owner.Account, t.Owner.Memo,
		t.Owner.ClientDomain, t.AssetCode, t.CustomerID, t.StellarTransactionID,
		t.ExternalTransactionID, store.Micros(t.StartedAt), store.Micros(t.UpdatedAt),
		microsPtr(t.CompletedAt), microsPtr(t.TransferReceivedAt), microsPtr(t.UserActionRequiredBy),
		string(data))
	if err != nil {
		return false, fmt.Errorf("transfer: import %s: %w", t.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("transfer: import %s: %w", t.ID, err)
	}
	return n == 1, nil
}
