package observer

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

// Operation is the part of Horizon's operation resource (with join=transactions) the
// observer reads: payments, path payments, claimable balances; every other type is skipped
// but still moves the cursor.
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
	Asset     string `json:"asset"`
	Sponsor   string `json:"sponsor"`
	Claimants []struct {
		Destination string `json:"destination"`
	} `json:"claimants"`
	SourceAccount string `json:"source_account"`

	Transaction *struct {
		Hash        string    `json:"hash"`
		Ledger      int64     `json:"ledger"`
		CreatedAt   time.Time `json:"created_at"`
		MemoType    string    `json:"memo_type"`
		Memo        string    `json:"memo"`
		EnvelopeXDR string    `json:"envelope_xdr"`
		Successful  *bool     `json:"successful"`
	} `json:"transaction"`
}

// Ledger is the operation's ledger sequence, read from its id (Horizon's TOID: the ledger
// sequence is the id's upper 32 bits).
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

// horizon is the observer's Horizon client: the operations stream of an account, one page
// of it, and the root resource (the latest ledger).
type horizon struct {
	base   *url.URL
	client *http.Client
}

func newHorizon(raw string, client *http.Client) (*horizon, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("observer: horizon url %q: not an http(s) URL", raw)
	}
	if client == nil {
		// No overall timeout: a stream stays open; the context ends it.
		client = &http.Client{Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: 30 * time.Second, IdleConnTimeout: time.Minute}}
	}
	return &horizon{base: u, client: client}, nil
}

func (h *horizon) operationsURL(account, cursor string, limit int, order string) *url.URL {
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

// errStreamEnded: Horizon closed the stream (it does so after a while, or a proxy did);
// the caller reconnects from its cursor.
var errStreamEnded = errors.New("observer: horizon closed the stream")

// stream reads the account's operations after cursor as server-sent events and calls fn for
// each, in order, until ctx ends, the connection drops or fn fails. fn's error is returned
// as it is.
func (h *horizon) stream(ctx context.Context, account, cursor string, fn func(Operation) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.operationsURL(account, cursor, 0, "").String(), nil)
	if err != nil {
		return fmt.Errorf("observer: stream request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("observer: connect to horizon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("observer: horizon stream answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("observer: horizon stream answered %q, not text/event-stream", ct)
	}
	return readEvents(resp.Body, func(data []byte) error {
		// The open event's data is the JSON string "hello"; only objects are operations.
		if len(data) == 0 || data[0] != '{' {
			return nil
		}
		var op Operation
		if err := json.Unmarshal(data, &op); err != nil {
			return fmt.Errorf("observer: decode operation: %w", err)
		}
		if op.PagingToken == "" {
			return fmt.Errorf("observer: operation %q without paging_token", op.ID)
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
		return fmt.Errorf("observer: read stream: %w", err)
	}
	return errStreamEnded
}

// page reads up to limit operations of the account after cursor, oldest first (desc: newest
// first).
func (h *horizon) page(ctx context.Context, account, cursor string, limit int, desc bool) ([]Operation, error) {
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

// Latest is the newest ledger Horizon has ingested.
type Latest struct {
	Ledger   int64
	ClosedAt time.Time
}

func (h *horizon) latest(ctx context.Context) (Latest, error) {
	var root struct {
		Ledger   int64     `json:"history_latest_ledger"`
		ClosedAt time.Time `json:"history_latest_ledger_closed_at"`
	}
	if err := h.get(ctx, h.base, &root); err != nil {
		return Latest{}, err
	}
	return Latest{Ledger: root.Ledger, ClosedAt: root.ClosedAt}, nil
}

func (h *horizon) get(ctx context.Context, u *url.URL, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("observer: %w", err)
	}
	req.Header.Set("Accept", "application/hal+json, application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("observer: horizon %s: %w", u.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("observer: horizon %s: %w", u.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("observer: horizon %s answered %d", u.Path, resp.StatusCode)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("observer: horizon %s: decode: %w", u.Path, err)
	}
	return nil
}
