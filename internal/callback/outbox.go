package callback

import (
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
	if known {
		return o.engine.enqueue(ctx, tx, id, m, func(int64) ([]byte, error) { return m.Body, nil })
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, KindWallet, rawURL, now, now); err != nil {
		return fmt.Errorf("callback: record wallet endpoint: %w", err)
	}
	return o.engine.enqueue(ctx, tx, id, m, func(int64) ([]byte, error) { return m.Body, nil })
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
	return o.engine.enqueue(ctx, tx, BusinessEndpointID, m, func(seq int64) ([]byte, error) {
		ts := m.OccurredAt.UTC().Format(time.RFC3339Nano)
		if b.format == config.EnvelopeStandardWebhooks {
			return json.Marshal(struct {
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}{m.Type, ts, m.Body})
		}
		return json.Marshal(struct {
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Sequence  int64           `json:"sequence"`
			Payload   json.RawMessage `json:"payload"`
		}{m.EventID, m.Type, ts, seq, m.Body})
	})
}

// WalletEndpointID is the endpoint id of a wallet callback URL: one endpoint (ordering,
// health, circuit) per URL.
func WalletEndpointID(rawURL string) string {
	h := sha256.Sum256([]byte(KindWallet + "\x00" + rawURL))
	return "wal_" + hex.EncodeToString(h[:12])
}

// enqueue writes one delivery in tx. The per-(endpoint, subject) sequence comes from an
// upsert that keeps the subject row locked until tx ends, so sequence order is commit order
// and enqueuers of one subject take turns; the delivery is the subject's head ('pending')
// when nothing of the subject is open, else 'queued' behind it.
func (e *Engine) enqueue(ctx context.Context, tx *store.Tx, endpointID string, m Message, body func(seq int64) ([]byte, error)) error {
	if m.Subject == "" || m.Type == "" {
		return fmt.Errorf("%w: subject and type are required", ErrInvalidMessage)
	}
	if m.EventID == "" {
		m.EventID = uuid.Must(uuid.NewV7()).String()
	}
	if m.OccurredAt.IsZero() {
		m.OccurredAt = e.now()
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO callback_subjects (endpoint_id, subject, last_seq) VALUES (?, ?, 1)
		ON CONFLICT (endpoint_id, subject) DO UPDATE SET last_seq = callback_subjects.last_seq + 1
		RETURNING last_seq`, endpointID, m.Subject).Scan(&seq); err != nil {
		return fmt.Errorf("callback: subject sequence: %w", err)
	}
	b, err := body(seq)
	if err != nil {
		return fmt.Errorf("callback: envelope: %w", err)
	}
	now := store.Micros(e.now())
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
