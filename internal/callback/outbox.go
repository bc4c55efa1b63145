package callback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Message is one outbound callback as the domain sees it: what happened, to whom it is
// ordered, and the exact bytes to send.
type Message struct {
	// EventID identifies the event on every attempt (webhook-id, event_id); a UUIDv7 is made
	// when empty.
	EventID string
	// Type names the event, e.g. "sep12.customer", "sep6.transaction",
	// "transaction_status_changed", "travel_rule.verification_updated".
	Type string
	// Subject is the ordering key: messages with one subject to one endpoint are delivered
	// one at a time in commit order, e.g. "customer:<id>:sep6", "transaction:<id>".
	Subject string
	// OccurredAt is when the change happened (not when it is sent).
	OccurredAt time.Time
	// Body is the JSON to send. For wallets it is sent byte for byte; for the business
	// endpoint it is the event payload the engine wraps in the configured envelope.
	Body []byte
}

// Outbox records callbacks inside the caller's transaction (transactional outbox): a rolled
// back change sends nothing, a committed one is delivered even if the process dies.
type Outbox struct {
	engine *Engine
}

// ErrInvalidMessage is returned (wrapped) for a message that cannot be recorded.
var ErrInvalidMessage = errors.New("callback: invalid message")

// Wallet records a wallet callback to url, signed with the Stellar SIGNING_KEY
// (`Signature: t=…, s=…`). The url must already have passed the SSRF policy (the engine
// checks the dialled address again on every attempt).
func (o *Outbox) Wallet(ctx context.Context, tx *store.Tx, rawURL string, m Message) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: callback URL %q is not an absolute http(s) URL", ErrInvalidMessage, rawURL)
	}
	if !json.Valid(m.Body) {
		return fmt.Errorf("%w: body is not JSON", ErrInvalidMessage)
	}
	id := WalletEndpointID(rawURL)
	now := store.Micros(o.engine.now())
	// The cache only holds endpoints read back from the database (committed, and never
	// deleted), so skipping the insert for them is safe.
	o.engine.mu.Lock()
	_, known := o.engine.endpoints[id]
	o.engine.mu.Unlock()
	var ep *endpointRow
	if !known {
		ep = &endpointRow{id: id, kind: KindWallet, url: rawURL, at: now}
	}
	return o.engine.enqueue(ctx, tx, id, ep, m, payload{fixed: m.Body})
}

// Business records an event for the configured business endpoint; with none configured it
// records nothing and returns nil. The body is m.Body wrapped in the configured envelope:
// Anchor Platform {"id","type","timestamp","sequence","payload"} or Standard Webhooks
// {"type","timestamp","data"}; timestamp is m.OccurredAt, identical on every retry.
func (o *Outbox) Business(ctx context.Context, tx *store.Tx, m Message) error {
	b := o.engine.business
	if b == nil {
		return nil
	}
	if !json.Valid(m.Body) {
		return fmt.Errorf("%w: payload is not JSON", ErrInvalidMessage)
	}
	pl := payload{}
	if b.format == config.EnvelopeStandardWebhooks {
		env, err := json.Marshal(struct {
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}{m.Type, m.OccurredAt.UTC().Format(time.RFC3339Nano), m.Body})
		if err != nil {
			return fmt.Errorf("callback: envelope: %w", err)
		}
		pl.fixed = env
	} else {
		pl.build = func(seq int64) ([]byte, error) {
			return json.Marshal(struct {
				ID        string          `json:"id"`
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Sequence  int64           `json:"sequence"`
				Payload   json.RawMessage `json:"payload"`
			}{m.EventID, m.Type, m.OccurredAt.UTC().Format(time.RFC3339Nano), seq, m.Body})
		}
		pl.marker = []byte(`,"sequence":0,"payload":`)
	}
	return o.engine.enqueue(ctx, tx, BusinessEndpointID, nil, m, pl)
}

// WalletEndpointID is the endpoint id of a wallet callback URL: one endpoint (ordering,
// health, circuit) per URL.
func WalletEndpointID(rawURL string) string {
	h := sha256.Sum256([]byte(KindWallet + "\x00" + rawURL))
	return "wal_" + hex.EncodeToString(h[:12])
}

// endpointRow is a wallet endpoint not yet known to be in the database: enqueue records it
// (ON CONFLICT DO NOTHING) in the same transaction.
type endpointRow struct {
	id, kind, url string
	at            int64
}

// payload is the body of a delivery: fixed bytes, or bytes that embed the subject sequence
// (build). marker, when set, is what build(0) holds around the sequence: the body is then
// build(0) with the 0 replaced by the sequence, which lets PostgreSQL splice the sequence in
// the statement that hands it out.
type payload struct {
	fixed  []byte
	build  func(seq int64) ([]byte, error)
	marker []byte // `,"sequence":0,"payload":`
}

// split returns the bytes before and after the sequence number in the body, or ok false if
// the body cannot be split (then the sequence is read first and the body built with it).
func (p payload) split() (before, after []byte, ok bool, err error) {
	if p.build == nil || p.marker == nil {
		return nil, nil, false, nil
	}
	b, err := p.build(0)
	if err != nil {
		return nil, nil, false, err
	}
	// Field order is fixed and JSON strings cannot hold an unescaped quote, so the first
	// match is the envelope's own "sequence" field.
	i := bytes.Index(b, p.marker)
	zero := bytes.Index(p.marker, []byte(":0,")) + 1
	if i < 0 || zero <= 0 {
		return nil, nil, false, nil
	}
	return b[:i+zero], b[i+zero+1:], true, nil
}

// enqueue writes one delivery in tx (and ep, when not nil, first). The per-(endpoint,
// subject) sequence comes from an upsert that keeps the subject row locked until tx ends, so
// sequence order is commit order and enqueuers of one subject take turns; the delivery is
// the subject's head ('pending') when nothing of the subject is open, else 'queued' behind
// it. On PostgreSQL the endpoint, the sequence and the delivery are one statement (one round
// trip); SQLite, in process, runs them one by one.
func (e *Engine) enqueue(ctx context.Context, tx *store.Tx, endpointID string, ep *endpointRow, m Message, pl payload) error {
	if m.Subject == "" || m.Type == "" {
		return fmt.Errorf("%w: subject and type are required", ErrInvalidMessage)
	}
	if m.EventID == "" {
		m.EventID = uuid.Must(uuid.NewV7()).String()
	}
	if m.OccurredAt.IsZero() {
		m.OccurredAt = e.now()
	}
	now := store.Micros(e.now())
	if tx.Dialect() == store.Postgres {
		done, err := e.enqueueOne(ctx, tx, endpointID, ep, m, pl, now)
		if err != nil {
			return err
		}
		if done {
			e.notify()
			return nil
		}
	}
	if ep != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, ep.id, ep.kind, ep.url, ep.at, ep.at); err != nil {
			return fmt.Errorf("callback: record wallet endpoint: %w", err)
		}
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO callback_subjects (endpoint_id, subject, last_seq) VALUES (?, ?, 1)
		ON CONFLICT (endpoint_id, subject) DO UPDATE SET last_seq = callback_subjects.last_seq + 1
		RETURNING last_seq`, endpointID, m.Subject).Scan(&seq); err != nil {
		return fmt.Errorf("callback: subject sequence: %w", err)
	}
	b := pl.fixed
	if b == nil {
		var err error
		if b, err = pl.build(seq); err != nil {
			return fmt.Errorf("callback: envelope: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO callback_deliveries
		(id, endpoint_id, subject, seq, event_id, event_type, occurred_at, created_at, body, status, next_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,
		        CASE WHEN EXISTS (SELECT 1 FROM callback_deliveries o WHERE o.endpoint_id = ? AND o.subject = ?
		                          AND o.status IN ('pending', 'queued')) THEN 'queued' ELSE 'pending' END, ?)
		ON CONFLICT DO NOTHING`,
		uuid.Must(uuid.NewV7()).String(), endpointID, m.Subject, seq, m.EventID, m.Type,
		store.Micros(m.OccurredAt), now, b, endpointID, m.Subject, now); err != nil {
		return fmt.Errorf("callback: record delivery: %w", err)
	}
	e.notify()
	return nil
}

// The PostgreSQL statements of enqueueOne: data-modifying WITH parts run exactly once, in
// the statement's snapshot, and the subject upsert's row lock is held until the transaction
// ends exactly as with separate statements. The foreign key of the delivery is checked at
// the end of the statement, after the endpoint part has run.
const (
	pgEndpointPart = `ep AS (INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING), `
	pgSubjectPart = `s AS (INSERT INTO callback_subjects (endpoint_id, subject, last_seq) VALUES (?, ?, 1)
		ON CONFLICT (endpoint_id, subject) DO UPDATE SET last_seq = callback_subjects.last_seq + 1
		RETURNING last_seq)
		INSERT INTO callback_deliveries
		(id, endpoint_id, subject, seq, event_id, event_type, occurred_at, created_at, body, status, next_at)
		SELECT ?, ?, ?, s.last_seq, ?, ?, ?, ?, `
	pgDeliveryTail = `,
		        CASE WHEN EXISTS (SELECT 1 FROM callback_deliveries o WHERE o.endpoint_id = ? AND o.subject = ?
		                          AND o.status IN ('pending', 'queued')) THEN 'queued' ELSE 'pending' END, ?
		FROM s ON CONFLICT DO NOTHING`
	pgFixedBody = `CAST(? AS BYTEA)`
	pgSplitBody = `CAST(? AS BYTEA) || convert_to(CAST(s.last_seq AS TEXT), 'UTF8') || CAST(? AS BYTEA)`
)

// pgEnqueue holds the four statement texts (with or without the endpoint, fixed or spliced
// body), built once so that the driver's statement cache sees the same text every time.
var pgEnqueue = func() (q [2][2]string) {
	for withEP := 0; withEP < 2; withEP++ {
		for spliced := 0; spliced < 2; spliced++ {
			s := "WITH "
			if withEP == 1 {
				s += pgEndpointPart
			}
			s += pgSubjectPart
			if spliced == 1 {
				s += pgSplitBody
			} else {
				s += pgFixedBody
			}
			q[withEP][spliced] = s + pgDeliveryTail
		}
	}
	return q
}()

// enqueueOne records the delivery in one PostgreSQL statement; done is false when the body
// cannot be made in SQL (the caller then takes the step-by-step path).
func (e *Engine) enqueueOne(ctx context.Context, tx *store.Tx, endpointID string, ep *endpointRow, m Message, pl payload, now int64) (bool, error) {
	var args []any
	withEP, spliced := 0, 0
	if ep != nil {
		withEP = 1
		args = append(args, ep.id, ep.kind, ep.url, ep.at, ep.at)
	}
	args = append(args, endpointID, m.Subject,
		uuid.Must(uuid.NewV7()).String(), endpointID, m.Subject, m.EventID, m.Type, store.Micros(m.OccurredAt), now)
	if pl.fixed != nil {
		args = append(args, pl.fixed)
	} else {
		before, after, ok, err := pl.split()
		if err != nil {
			return false, fmt.Errorf("callback: envelope: %w", err)
		}
		if !ok {
			return false, nil
		}
		spliced = 1
		args = append(args, before, after)
	}
	args = append(args, endpointID, m.Subject, now)
	if _, err := tx.ExecContext(ctx, pgEnqueue[withEP][spliced], args...); err != nil {
		return false, fmt.Errorf("callback: record delivery: %w", err)
	}
	return true, nil
}
