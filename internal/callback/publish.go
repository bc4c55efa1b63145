package callback

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// DestinationBusiness names the configured business endpoint as a publication's destination.
const DestinationBusiness = "business"

// MaxPublishBatch bounds how many messages one publish call records.
const MaxPublishBatch = 1000

// Publication is one message the business publishes for delivery (the publish API): the
// same outbox, ordering, signatures, retries and attempt log as vaspgate's own callbacks.
type Publication struct {
	// Destination is "business" (the configured business endpoint, in its envelope and with
	// its signatures), the ID of a configured destination (Options.Destinations: the payload
	// byte for byte, signed with Standard Webhooks), or an absolute http(s) URL, sent the
	// payload byte for byte and signed like a wallet callback (SEP `Signature`); the SSRF
	// guard checks every dialled address.
	Destination string
	// Subject is the ordering key: one destination receives one subject's messages one at a
	// time, in the order they were published.
	Subject string
	// Type names the event, e.g. "payment.settled".
	Type string
	// Payload is the JSON to deliver.
	Payload []byte
	// IdempotencyKey, when set, is the event id: publishing it again to the same destination
	// records nothing new and returns the first delivery (Duplicate).
	IdempotencyKey string
	// OccurredAt is when the event happened; now when zero.
	OccurredAt time.Time
}

// Published is what Publish recorded for one publication.
type Published struct {
	DeliveryID string `json:"delivery_id"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	Subject    string `json:"subject"`
	Sequence   int64  `json:"sequence"`
	Duplicate  bool   `json:"duplicate"`
}

var eventTypeRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// check returns why p cannot be published, or nil.
func (p Publication) check() error {
	switch {
	case p.Destination == "" || !utf8.ValidString(p.Destination):
		return fmt.Errorf("%w: destination is required (\"business\", a configured destination or an http(s) URL)", ErrInvalidMessage)
	case p.Subject == "" || len(p.Subject) > 256 || !textOK(p.Subject):
		return fmt.Errorf("%w: subject is required, at most 256 bytes of UTF-8 without NUL", ErrInvalidMessage)
	case !eventTypeRE.MatchString(p.Type):
		return fmt.Errorf("%w: type is required: 1-128 of A-Z a-z 0-9 _ . : -", ErrInvalidMessage)
	case len(p.IdempotencyKey) > 256 || !textOK(p.IdempotencyKey):
		return fmt.Errorf("%w: idempotency_key is at most 256 bytes of UTF-8 without NUL", ErrInvalidMessage)
	}
	return nil
}

// textOK reports whether s can be stored as text by both engines: PostgreSQL refuses
// invalid UTF-8 and NUL, which would fail the transaction (and with it the calls committed
// together) instead of answering 400.
func textOK(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Publish records publications — all or none, durable when it returns — and wakes
// delivery. Concurrent calls are committed together (see publishGroup): one transaction for
// every call waiting while the previous one committed, each call answered with its own
// results after that commit. Within a subject, messages take sequence numbers in the
// order of their call's turn in the group, and a call's own messages keep their order.
//
// ctx bounds the wait for a turn: a call cancelled before its turn records nothing and
// returns ctx's error; once its turn has come, the commit runs to its end under its own
// deadline and the call returns its outcome. The commit does not run a store.WithCommitHook
// hook of ctx (the transaction is shared).
func (e *Engine) Publish(ctx context.Context, ps []Publication) ([]Published, error) {
	if len(ps) == 0 || len(ps) > MaxPublishBatch {
		return nil, fmt.Errorf("%w: publish 1 to %d messages at a time", ErrInvalidMessage, MaxPublishBatch)
	}
	items := make([]item, len(ps))
	for i, p := range ps {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		m := Message{EventID: p.IdempotencyKey, Type: p.Type, Subject: p.Subject, OccurredAt: p.OccurredAt, Body: p.Payload}
		var it item
		var err error
		if _, ok := e.destinations[p.Destination]; ok {
			err = webhookID(m.EventID)
			if err == nil {
				it, err = e.destinationItem(p.Destination, m)
			}
		} else if p.Destination == DestinationBusiness {
			if e.business == nil {
				return nil, fmt.Errorf("message %d: %w: no business endpoint is configured", i, ErrInvalidMessage)
			}
			if e.business.webhooks {
				err = webhookID(m.EventID)
			}
			if err == nil {
				it, err = e.businessItem(m)
			}
		} else if isHTTPURL(p.Destination) {
			it, err = e.walletItem(p.Destination, m)
		} else {
			err = fmt.Errorf("%w: destination %q is not \"business\", a configured destination (callback.destinations) or an http(s) URL", ErrInvalidMessage, p.Destination)
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		items[i] = it
	}
	done, err := e.outbox.publishing.record(ctx, e, items)
	if err != nil {
		return nil, err
	}
	out := make([]Published, len(items))
	for i, it := range items {
		out[i] = Published{DeliveryID: done[i].id, EventID: it.m.EventID, EndpointID: it.endpointID,
			Subject: it.m.Subject, Sequence: done[i].seq, Duplicate: done[i].duplicate}
	}
	return out, nil
}
