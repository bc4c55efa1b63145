package callback

import (
	"context"
	"errors"
	"time"

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

// ErrNotWired is returned while the delivery engine is not yet implemented.
var errNotWired = errors.New("callback: outbox not wired")

// Wallet records a wallet callback to url, signed with the Stellar SIGNING_KEY
// (`Signature: t=…, s=…`). The url must already have passed the SSRF policy.
func (o *Outbox) Wallet(ctx context.Context, tx *store.Tx, url string, m Message) error {
	return errNotWired
}

// Business records an event for the configured business endpoint; with none configured it
// records nothing and returns nil.
func (o *Outbox) Business(ctx context.Context, tx *store.Tx, m Message) error {
	return errNotWired
}

// Engine delivers what the outbox recorded.
type Engine struct{}
