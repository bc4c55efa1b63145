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
	"slices"
	"time"

	"github.com/google/uuid"

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
//
// Wallet and Business check a message at once but write it when the transaction is about
// to commit, together with every other callback recorded in it (store.Tx.Deferred): a
// business change that causes four callbacks makes one statement on PostgreSQL, not four,
// and takes its subject locks only at the end, for the commit's duration (issue 16).
type Outbox struct {
	engine *Engine
	// publishing is the group commit of Engine.Publish, whose messages take this outbox's
	// path into the queue.
	publishing publishGroup
}

// record adds it to the callbacks tx writes before it commits.
func (o *Outbox) record(tx *store.Tx, it item) {
	items := tx.Deferred(o.engine, func() any { return &[]item{} }, func(ctx context.Context, tx *store.Tx, v any) error {
		_, err := o.engine.enqueue(ctx, tx, *v.(*[]item), false)
		return err
	}).(*[]item)
	*items = append(*items, it)
}

// ErrInvalidMessage is returned (wrapped) for a message that cannot be recorded.
var ErrInvalidMessage = errors.New("callback: invalid message")

// Wallet records a wallet callback to url, signed with the Stellar SIGNING_KEY
// (`Signature: t=…, s=…`). The url must already have passed the SSRF policy (the engine
// checks the dialled address again on every attempt).
func (o *Outbox) Wallet(ctx context.Context, tx *store.Tx, rawURL string, m Message) error {
	it, err := o.engine.walletItem(rawURL, m)
	if err != nil {
		return err
	}
	o.record(tx, it)
	return nil
}

// Business records an event for the configured business endpoint; with none configured it
// records nothing and returns nil. The body is m.Body wrapped in the configured envelope:
// Anchor Platform {"id","type","timestamp","sequence","payload"} or Standard Webhooks
// {"type","timestamp","data"}; timestamp is m.OccurredAt, identical on every retry.
func (o *Outbox) Business(ctx context.Context, tx *store.Tx, m Message) error {
	if o.engine.business == nil {
		return nil
	}
	it, err := o.engine.businessItem(m)
	if err != nil {
		return err
	}
	o.record(tx, it)
	return nil
}

// prepare checks a message and fills its defaults (a UUIDv7 event id, occurred now).
func (e *Engine) prepare(m *Message) error {
	if m.Subject == "" || m.Type == "" {
		return fmt.Errorf("%w: subject and type are required", ErrInvalidMessage)
	}
	if m.EventID == "" {
		m.EventID = uuid.Must(uuid.NewV7()).String()
	}
	if m.OccurredAt.IsZero() {
		m.OccurredAt = e.now()
	}
	return nil
}

// walletItem makes the delivery of m to a wallet callback URL.
func (e *Engine) walletItem(rawURL string, m Message) (item, error) {
	u, ok := httpURL(rawURL)
	if !ok {
		return item{}, fmt.Errorf("%w: callback URL %q is not an absolute http(s) URL", ErrInvalidMessage, rawURL)
	}
	if !json.Valid(m.Body) {
		return item{}, fmt.Errorf("%w: body is not JSON", ErrInvalidMessage)
	}
	if err := e.prepare(&m); err != nil {
		return item{}, err
	}
	id := WalletEndpointID(rawURL)
	// The cache only holds committed endpoints (never deleted), so skipping the insert for
	// them is safe.
	e.mu.Lock()
	_, known := e.endpoints[id]
	e.mu.Unlock()
	var ep *endpointRow
	if !known {
		now := store.Micros(e.now())
		ep = &endpointRow{id: id, kind: KindWallet, url: rawURL, parsed: u, at: now}
	}
	return item{endpointID: id, ep: ep, m: m, pl: payload{fixed: m.Body}}, nil
}

// destinationItem makes the delivery of m to the configured destination id: the body byte
// for byte (its endpoint row was written by New).
func (e *Engine) destinationItem(id string, m Message) (item, error) {
	if !json.Valid(m.Body) {
		return item{}, fmt.Errorf("%w: payload is not JSON", ErrInvalidMessage)
	}
	if err := e.prepare(&m); err != nil {
		return item{}, err
	}
	return item{endpointID: id, m: m, pl: payload{fixed: m.Body}}, nil
}

// businessItem makes the delivery of m to the configured business endpoint, in its
// envelope. The caller checks that one is configured.
func (e *Engine) businessItem(m Message) (item, error) {
	if !json.Valid(m.Body) {
		return item{}, fmt.Errorf("%w: payload is not JSON", ErrInvalidMessage)
	}
	if err := e.prepare(&m); err != nil {
		return item{}, err
	}
	pl := payload{}
	if e.business.format == EnvelopeStandardWebhooks {
		env, err := json.Marshal(struct {
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}{m.Type, m.OccurredAt.UTC().Format(time.RFC3339Nano), m.Body})
		if err != nil {
			return item{}, fmt.Errorf("callback: envelope: %w", err)
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
	return item{endpointID: BusinessEndpointID, m: m, pl: pl}, nil
}

// isHTTPURL reports whether raw is an absolute http(s) URL with a host.
func isHTTPURL(raw string) bool { _, ok := httpURL(raw); return ok }

// httpURL parses raw if it is an absolute http(s) URL with a host.
func httpURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	return u, err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// WalletEndpointID is the endpoint id of a wallet callback URL: one endpoint (ordering,
// health, circuit) per URL.
func WalletEndpointID(rawURL string) string {
	h := sha256.Sum256([]byte(KindWallet + "\x00" + rawURL))
	return "wal_" + hex.EncodeToString(h[:12])
}

// endpointRow is a wallet endpoint not yet known to be in the database: enqueue records it
// (ON CONFLICT DO NOTHING: a row already there has the same URL, its id being the URL's
// hash) in the same transaction, and the engine knows it once that has committed.
type endpointRow struct {
	id, kind, url string
	parsed        *url.URL
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

// enqueue writes items in tx through the queue. With adopt, a message whose subject is idle
// becomes its subject's head, due at once: enqueue leases it to this instance while a worker
// is free (offer), and it is sent as soon as tx commits (adopt), without waiting for a claim
// round and without the claim's statement and row update (issue 16). Once tx has ended, a
// claim round is woken for what was not leased: a head, or the next delivery of a subject
// whose repeated event id would have been its head. A delivery queued behind its subject's
// head is the recorder's to promote.
//
// The publish API adopts (its messages are the work); the outbox does not: measured with
// `vaspgate bench rpc -method hold` under saturation, sending a business transaction's
// callbacks at once cost about 9 % of the business's calls per second (the sends compete
// with the calls and are recorded in smaller batches) for about 3 ms of callback latency.
func (e *Engine) enqueue(ctx context.Context, tx *store.Tx, items []item, adopt bool) ([]enqueued, error) {
	of, reserved := (*offer)(nil), 0
	if adopt {
		of, reserved = e.offer(len(items))
	}
	out, err := e.q.enqueue(ctx, tx, items, store.Micros(e.now()), of)
	tx.AfterEnd(func(committed bool) {
		if committed {
			// The endpoints tx wrote are committed: their first sends need not read them
			// back. They did, one query per send until one had come back, so the first
			// burst to a new endpoint opened a connection per send on the engine's cold
			// pool and waited up to a few hundred milliseconds for it (issue 16: the
			// slowest deliveries of every `bench delivery --rate 500` run).
			for _, it := range items {
				if it.ep != nil {
					e.known(it.ep.id, newEndpointInfo(it.ep.kind, it.ep.parsed))
				}
			}
		}
		e.adopt(items, out, of, reserved, committed)
		if committed && slices.ContainsFunc(out, func(x enqueued) bool { return x.duplicate || x.head && !x.leased }) {
			e.Wake()
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
