package stellar

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Operation is the part of Horizon's operation resource (with join=transactions) the payment
// observer reads: payments, path payments, claimable balances; every other type is skipped
// by the observer but still moves its cursor.
type Operation struct {
	ID                    string    `json:"id"`
	PagingToken           string    `json:"paging_token"`
	TransactionSuccessful *bool     `json:"transaction_successful"`
	Type                  string    `json:"type"`
	CreatedAt             time.Time `json:"created_at"`
	TransactionHash       string    `json:"transaction_hash"`

	// payment and path payments
	AssetType         string `json:"asset_type"`
	AssetCode         string `json:"asset_code"`
	AssetIssuer       string `json:"asset_issuer"`
	From              string `json:"from"`
	To                string `json:"to"`
	ToMuxed           string `json:"to_muxed"`
	ToMuxedID         string `json:"to_muxed_id"`
	Amount            string `json:"amount"`
	SourceAmount      string `json:"source_amount"`
	SourceAssetType   string `json:"source_asset_type"`
	SourceAssetCode   string `json:"source_asset_code"`
	SourceAssetIssuer string `json:"source_asset_issuer"`

	// create_claimable_balance ("asset" is "native" or "CODE:ISSUER")
	Asset     string     `json:"asset"`
	Sponsor   string     `json:"sponsor"`
	Claimants []Claimant `json:"claimants"`
	// SourceAccount is the operation's source account.
	SourceAccount string `json:"source_account"`

	// Transaction is the joined transaction (join=transactions).
	Transaction *OperationTransaction `json:"transaction"`
}

// Claimant is one claimant of a claimable balance.
type Claimant struct {
	Destination string `json:"destination"`
}

// OperationTransaction is the part of an operation's joined transaction the observer reads.
type OperationTransaction struct {
	Hash        string    `json:"hash"`
	Ledger      int64     `json:"ledger"`
	CreatedAt   time.Time `json:"created_at"`
	MemoType    string    `json:"memo_type"`
	Memo        string    `json:"memo"`
	EnvelopeXDR string    `json:"envelope_xdr"`
	Successful  *bool     `json:"successful"`
}

// Ledger is the operation's ledger sequence, read from its id (Horizon's TOID: the ledger
// sequence is the id's upper 32 bits) when the joined transaction does not say it.
func (o *Operation) Ledger() int64 {
	if o.Transaction != nil && o.Transaction.Ledger > 0 {
		return o.Transaction.Ledger
	}
	n, err := strconv.ParseInt(o.PagingToken, 10, 64)
	if err != nil {
		return 0
	}
	return n >> 32
}

// LatestLedger is the newest ledger Horizon has ingested.
type LatestLedger struct {
	Ledger   int64
	ClosedAt time.Time
}

// ErrStreamEnded is returned by StreamOperations when Horizon closed the stream (it does so
// after a while, or a proxy did): the caller reconnects from its cursor.
var ErrStreamEnded = errors.New("stellar: horizon closed the stream")

func (h *Horizon) operationsURL(account, cursor string, limit int, order string) *url.URL {
	u := h.base.JoinPath("accounts", account, "operations")
	q := url.Values{"join": {"transactions"}, "include_failed": {"false"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if order != "" {
		q.Set("order", order)
	}
	u.RawQuery = q.Encode()
	return u
}

// StreamOperations reads the account's operations after cursor as server-sent events
// (GET /accounts/{id}/operations with Accept: text/event-stream) and calls fn for each, in
// order, until ctx ends, the connection drops (ErrStreamEnded) or fn fails (its error is
// returned as it is). The stream is not bounded by the lookup timeout: ctx ends it.
func (h *Horizon) StreamOperations(ctx context.Context, account, cursor string, fn func(Operation) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.operationsURL(account, cursor, 0, "").String(), nil)
	if err != nil {
		return fmt.Errorf("stellar: stream request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := h.stream.Do(req)
	if err != nil {
		return fmt.Errorf("%w: connect to horizon: %v", ErrLedgerUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: horizon stream answered %d: %s", ErrLedgerUnavailable, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%w: horizon stream answered %q, not text/event-stream", ErrLedgerUnavailable, ct)
	}
	return readEvents(resp.Body, func(data []byte) error {
		// The open event's data is the JSON string "hello"; only objects are operations.
		if len(data) == 0 || data[0] != '{' {
			return nil
		}
		var op Operation
		if err := json.Unmarshal(data, &op); err != nil {
			return fmt.Errorf("%w: decode operation: %v", ErrLedgerUnavailable, err)
		}
		if op.PagingToken == "" {
			return fmt.Errorf("%w: operation %q without paging_token", ErrLedgerUnavailable, op.ID)
		}
		return fn(op)
	})
}

// maxEvent bounds one event's data: an operation with its joined transaction (envelope
// included) is a few kilobytes; a megabyte is far beyond any.
const maxEvent = 1 << 20

// readEvents parses a text/event-stream body (the WHATWG server-sent events format) and
// calls fn with each event's data. Comments, retry, id and event fields are read and
// ignored: the observer's cursor is the operation's own paging token.
func readEvents(r io.Reader, fn func(data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEvent)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				if err := fn(data); err != nil {
					return err
				}
			}
			data = data[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(string(line), ":")
		value = strings.TrimPrefix(value, " ")
		if field == "data" {
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: read stream: %v", ErrLedgerUnavailable, err)
	}
	return ErrStreamEnded
}

// Operations reads up to limit operations of the account after cursor, oldest first (desc:
// newest first), with their transactions joined.
func (h *Horizon) Operations(ctx context.Context, account, cursor string, limit int, desc bool) ([]Operation, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	order := "asc"
	if desc {
		order = "desc"
	}
	var body struct {
		Embedded struct {
			Records []Operation `json:"records"`
		} `json:"_embedded"`
	}
	if err := h.get(ctx, h.operationsURL(account, cursor, limit, order), &body); err != nil {
		return nil, err
	}
	return body.Embedded.Records, nil
}

// Latest reads the newest ledger Horizon has ingested (its root resource).
func (h *Horizon) Latest(ctx context.Context) (LatestLedger, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var root struct {
		Ledger   int64     `json:"history_latest_ledger"`
		ClosedAt time.Time `json:"history_latest_ledger_closed_at"`
	}
	if err := h.get(ctx, h.base, &root); err != nil {
		return LatestLedger{}, err
	}
	return LatestLedger{Ledger: root.Ledger, ClosedAt: root.ClosedAt}, nil
}
