// Package horizonsim is a Horizon server for tests and load tools, written from Horizon's
// API reference (developers.stellar.org: Root, Accounts → Operations, Transactions,
// Streaming, Pagination, Errors): every payment is a real, signed Stellar transaction built
// with the Stellar Go SDK (envelope XDR and hash as the network would have them), closed in
// its own ledger, and served as Horizon's operation and transaction resources — pages with
// cursors, server-sent event streams, transactions by hash. Faults are switched on per
// server: streams that drop mid-event after N records, streams that replay operations
// already behind the requested cursor, and a server that answers 503.
package horizonsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stellar/go-stellar-sdk/amount"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/network"
	"github.com/stellar/go-stellar-sdk/toid"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// Sim is a simulated Horizon server.
type Sim struct {
	// Passphrase is the network the transactions are signed for (the test network).
	Passphrase string

	srv *httptest.Server

	mu        sync.Mutex
	ledger    int32
	closedAt  time.Time
	ops       []*op
	txs       map[string]*Transaction
	changed   chan struct{} // closed and replaced on every new ledger
	dropAfter int
	replay    int
	down      bool
	streams   int
	hide      bool
	hidden    map[string]*Transaction
	seq       map[string]int64
}

// op is one operation as stored: its id, the accounts it concerns, and its resource.
type op struct {
	id           int64
	hash         string
	participants []string
	resource     any // an operations.* value without its transaction
	setTx        func(*Transaction)
}

// New starts a simulator on loopback; Close stops it.
func New() *Sim {
	s := &Sim{Passphrase: network.TestNetworkPassphrase, ledger: 1000, closedAt: time.Now().UTC().Truncate(time.Second),
		txs: map[string]*Transaction{}, hidden: map[string]*Transaction{}, changed: make(chan struct{}), seq: map[string]int64{}}
	s.srv = httptest.NewServer(s.handler())
	return s
}

// URL is the server's base URL.
func (s *Sim) URL() string { return s.srv.URL }

// Close stops the server, ending open streams.
func (s *Sim) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// DropAfter makes every stream opened from now on break off after n records, in the middle
// of the next event (0: never).
func (s *Sim) DropAfter(n int) {
	s.mu.Lock()
	s.dropAfter = n
	s.mu.Unlock()
}

// Hide keeps transactions submitted from now on from being found by hash (404) until Hide
// is called with false: a transaction not yet ingested, as a business may report a hash
// before Horizon knows it.
func (s *Sim) Hide(hide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hide = hide
	if !hide {
		clear(s.hidden)
	}
}

// Break cuts every open stream (and every other open connection), as a network failure
// would; clients reconnect.
func (s *Sim) Break() { s.srv.CloseClientConnections() }

// Replay makes every stream and page start n operations before the requested cursor, as a
// misbehaving proxy or a Horizon serving an old page would (0: never).
func (s *Sim) Replay(n int) {
	s.mu.Lock()
	s.replay = n
	s.mu.Unlock()
}

// Down makes the server answer 503 to everything (true) and drops open streams.
func (s *Sim) Down(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
	if down {
		s.srv.CloseClientConnections()
	}
}

// Streams is how many streams have been opened so far.
func (s *Sim) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

// Ledger is the latest closed ledger.
func (s *Sim) Ledger() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ledger
}

// Payment describes one payment to submit. Exactly one of the fields after Amount chooses
// a variant; none is a plain payment.
type Payment struct {
	// From signs and pays; nil means a fresh account.
	From *keypair.Full
	// To is a G… or M… address.
	To string
	// Asset is what arrives; nil means native XLM.
	Asset  txnbuild.Asset
	Amount string
	// Memo is the transaction's memo (txnbuild.MemoID, MemoText, MemoHash); nil for none.
	Memo txnbuild.Memo
	// SendAsset and SendAmount make a path_payment_strict_send: SendAmount of SendAsset
	// leaves From, Amount of Asset arrives.
	SendAsset  txnbuild.Asset
	SendAmount string
	// Claimable makes a create_claimable_balance with To (a G… account) as its only
	// claimant, instead of a payment.
	Claimable bool
}

// Submitted is a payment the simulated network has closed in a ledger.
type Submitted struct {
	Hash        string
	OperationID string
	Ledger      int32
	ClosedAt    time.Time
	Envelope    string
}

// Submit builds, signs and closes the payment in a new ledger, and tells every stream.
func (s *Sim) Submit(p Payment) (Submitted, error) {
	from := p.From
	if from == nil {
		from = keypair.MustRandom()
	}
	asset := p.Asset
	if asset == nil {
		asset = txnbuild.NativeAsset{}
	}
	var operation txnbuild.Operation
	switch {
	case p.Claimable:
		operation = &txnbuild.CreateClaimableBalance{Destinations: []txnbuild.Claimant{txnbuild.NewClaimant(p.To, nil)},
			Asset: asset, Amount: p.Amount}
	case p.SendAsset != nil:
		operation = &txnbuild.PathPaymentStrictSend{SendAsset: p.SendAsset, SendAmount: p.SendAmount,
			Destination: p.To, DestAsset: asset, DestMin: p.Amount}
	default:
		operation = &txnbuild.Payment{Destination: p.To, Amount: p.Amount, Asset: asset}
	}
	s.mu.Lock()
	s.seq[from.Address()]++
	seq := int64(1)<<32 + s.seq[from.Address()]
	s.mu.Unlock()
	tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{
		SourceAccount:        &txnbuild.SimpleAccount{AccountID: from.Address(), Sequence: seq - 1},
		IncrementSequenceNum: true, Operations: []txnbuild.Operation{operation}, BaseFee: txnbuild.MinBaseFee,
		Memo: p.Memo, Preconditions: txnbuild.Preconditions{TimeBounds: txnbuild.NewInfiniteTimeout()},
	})
	if err != nil {
		return Submitted{}, fmt.Errorf("horizonsim: build: %w", err)
	}
	if tx, err = tx.Sign(s.Passphrase, from); err != nil {
		return Submitted{}, fmt.Errorf("horizonsim: sign: %w", err)
	}
	env, err := tx.Base64()
	if err != nil {
		return Submitted{}, err
	}
	hash, err := tx.HashHex(s.Passphrase)
	if err != nil {
		return Submitted{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.ledger++
	s.closedAt = maxTime(time.Now().UTC().Truncate(time.Second), s.closedAt)
	ledger, closed := s.ledger, s.closedAt
	txID := toid.New(ledger, 1, 0).ToInt64()
	opID := toid.New(ledger, 1, 1).ToInt64()
	htx := &Transaction{ID: hash, PT: strconv.FormatInt(txID, 10), Successful: true, Hash: hash,
		Ledger: ledger, LedgerCloseTime: closed, Account: from.Address(), AccountSequence: seq,
		FeeAccount: from.Address(), FeeCharged: txnbuild.MinBaseFee, MaxFee: txnbuild.MinBaseFee, OperationCount: 1,
		EnvelopeXdr: env, MemoType: "none", Signatures: []string{}}
	setMemo(htx, p.Memo)
	s.txs[hash] = htx
	if s.hide {
		s.hidden[hash] = htx
	}

	b := Base{ID: strconv.FormatInt(opID, 10), PT: strconv.FormatInt(opID, 10), TransactionSuccessful: true,
		SourceAccount: from.Address(), LedgerCloseTime: closed, TransactionHash: hash}
	o := &op{id: opID, hash: hash, participants: []string{from.Address()}}
	to, toMuxed, toMuxedID, err := resolve(p.To)
	if err != nil {
		return Submitted{}, err
	}
	o.participants = append(o.participants, to)
	pay := PaymentOp{Base: b, Asset: horizonAsset(asset), From: from.Address(), To: to, ToMuxed: toMuxed,
		ToMuxedID: toMuxedID, Amount: amount.String(amount.MustParse(p.Amount))}
	switch {
	case p.Claimable:
		b.Type, b.TypeI = "create_claimable_balance", int32(xdr.OperationTypeCreateClaimableBalance)
		name := "native"
		if a := horizonAsset(asset); a.AssetType != "native" {
			name = a.Code + ":" + a.Issuer
		}
		cb := &ClaimableBalanceOp{Base: b, Asset: name, Amount: pay.Amount,
			Claimants: []Claimant{{Destination: to, Predicate: map[string]bool{"unconditional": true}}}}
		o.resource, o.setTx = cb, func(t *Transaction) { cb.Transaction = t }
	case p.SendAsset != nil:
		pay.Type, pay.TypeI = "path_payment_strict_send", int32(xdr.OperationTypePathPaymentStrictSend)
		sa := horizonAsset(p.SendAsset)
		pp := &PathPaymentOp{PaymentOp: pay, Path: []Asset{}, SourceAmount: amount.String(amount.MustParse(p.SendAmount)),
			DestinationMin: pay.Amount, SourceAssetType: sa.AssetType, SourceAssetCode: sa.Code, SourceAssetIssuer: sa.Issuer}
		o.resource, o.setTx = pp, func(t *Transaction) { pp.Transaction = t }
	default:
		pay.Type, pay.TypeI = "payment", int32(xdr.OperationTypePayment)
		pp := &pay
		o.resource, o.setTx = pp, func(t *Transaction) { pp.Transaction = t }
	}
	s.ops = append(s.ops, o)
	close(s.changed)
	s.changed = make(chan struct{})
	return Submitted{Hash: hash, OperationID: b.ID, Ledger: ledger, ClosedAt: closed, Envelope: env}, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// resolve splits a destination into its G… account and, for an M… address, the muxed
// address and id (Horizon's to, to_muxed, to_muxed_id).
func resolve(addr string) (to, muxed string, id uint64, err error) {
	m, err := xdr.AddressToMuxedAccount(addr)
	if err != nil {
		return "", "", 0, fmt.Errorf("horizonsim: destination %q: %w", addr, err)
	}
	acc := m.ToAccountId()
	if m.Type == xdr.CryptoKeyTypeKeyTypeMuxedEd25519 {
		id, _ = m.GetId()
		return acc.Address(), addr, id, nil
	}
	return acc.Address(), "", 0, nil
}

func horizonAsset(a txnbuild.Asset) Asset {
	if a.IsNative() {
		return Asset{AssetType: "native"}
	}
	typ := "credit_alphanum4"
	if len(a.GetCode()) > 4 {
		typ = "credit_alphanum12"
	}
	return Asset{AssetType: typ, Code: a.GetCode(), Issuer: a.GetIssuer()}
}

// setMemo fills the transaction's memo fields as Horizon shows them: id as a decimal, text
// as text, hash and return as base64.
func setMemo(t *Transaction, m txnbuild.Memo) {
	if m == nil {
		return
	}
	x, err := m.ToXDR()
	if err != nil {
		return
	}
	switch x.Type {
	case xdr.MemoTypeMemoId:
		t.MemoType, t.Memo = "id", strconv.FormatUint(uint64(x.MustId()), 10)
	case xdr.MemoTypeMemoText:
		t.MemoType, t.Memo = "text", x.MustText()
	case xdr.MemoTypeMemoHash:
		h := x.MustHash()
		t.MemoType, t.Memo = "hash", base64Std(h[:])
	case xdr.MemoTypeMemoReturn:
		h := x.MustRetHash()
		t.MemoType, t.Memo = "return", base64Std(h[:])
	}
}

func (s *Sim) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.root)
	mux.HandleFunc("GET /accounts/{id}/operations", s.accountOps(false))
	mux.HandleFunc("GET /accounts/{id}/payments", s.accountOps(true))
	mux.HandleFunc("GET /transactions/{hash}", s.transaction)
	mux.HandleFunc("GET /transactions/{hash}/operations", s.txOps)
	mux.HandleFunc("GET /transactions/{hash}/payments", s.txOps)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			problem(w, http.StatusServiceUnavailable, "service_unavailable", "Service Unavailable")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// problem writes Horizon's error body (RFC 7807).
func problem(w http.ResponseWriter, status int, typ, title string) {
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "https://stellar.org/horizon-errors/" + typ, "title": title, "status": status})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/hal+json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Sim) root(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, map[string]any{"horizon_version": "horizonsim", "network_passphrase": s.Passphrase,
		"history_latest_ledger": s.ledger, "history_latest_ledger_closed_at": s.closedAt,
		"core_latest_ledger": s.ledger, "ingest_latest_ledger": s.ledger, "history_elder_ledger": 2})
}

// query is a collection request's paging parameters.
type query struct {
	cursor int64
	desc   bool
	limit  int
	join   bool
}

func parseQuery(r *http.Request, s *Sim) (query, error) {
	q := r.URL.Query()
	out := query{limit: 10, join: q.Get("join") == "transactions", desc: q.Get("order") == "desc"}
	if o := q.Get("order"); o != "" && o != "asc" && o != "desc" {
		return out, errors.New("order")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			return out, errors.New("limit")
		}
		out.limit = n
	}
	switch c := q.Get("cursor"); c {
	case "":
		if out.desc {
			out.cursor = 1<<63 - 1
		}
	case "now":
		s.mu.Lock()
		out.cursor = toid.AfterLedger(s.ledger).ToInt64()
		s.mu.Unlock()
	default:
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return out, errors.New("cursor")
		}
		out.cursor = n
	}
	return out, nil
}

// payments are the operation types Horizon's /payments endpoints list.
var payments = []string{"create_account", "payment", "path_payment_strict_receive", "path_payment_strict_send", "account_merge"}

func typeOf(resource any) string {
	switch r := resource.(type) {
	case *PaymentOp:
		return r.Type
	case *PathPaymentOp:
		return r.Type
	case *ClaimableBalanceOp:
		return r.Type
	}
	return ""
}

// select returns the account's operations after q.cursor in q's order (matching filters
// the /payments subset), starting replay operations early when that fault is on.
func (s *Sim) pick(account string, q query, paymentsOnly bool, from int64) []*op {
	var out []*op
	for _, o := range s.ops {
		if (account != "" && !slices.Contains(o.participants, account)) || (paymentsOnly && !slices.Contains(payments, typeOf(o.resource))) {
			continue
		}
		if (!q.desc && o.id > from) || (q.desc && o.id < from) {
			out = append(out, o)
		}
	}
	if q.desc {
		slices.Reverse(out)
	}
	return out
}

// replayFrom moves an ascending cursor back by the replay fault's count of the account's
// operations.
func (s *Sim) replayFrom(account string, cursor int64, paymentsOnly bool) int64 {
	if s.replay == 0 {
		return cursor
	}
	before := s.pick(account, query{desc: true}, paymentsOnly, cursor+1)
	if len(before) == 0 {
		return cursor
	}
	i := min(s.replay, len(before)) - 1
	return before[i].id - 1
}

// resource renders an operation, with its transaction when joined.
func (s *Sim) resource(o *op, join bool) ([]byte, error) {
	if join {
		o.setTx(s.txs[o.hash])
		defer o.setTx(nil)
	}
	return json.Marshal(o.resource)
}

func (s *Sim) accountOps(paymentsOnly bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		account := r.PathValue("id")
		q, err := parseQuery(r, s)
		if err != nil {
			problem(w, http.StatusBadRequest, "bad_request", "Bad Request: "+err.Error())
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			s.stream(w, r, account, q, paymentsOnly)
			return
		}
		s.mu.Lock()
		from := q.cursor
		if !q.desc {
			from = s.replayFrom(account, q.cursor, paymentsOnly)
		}
		ops := s.pick(account, q, paymentsOnly, from)
		if len(ops) > q.limit {
			ops = ops[:q.limit]
		}
		records := make([]json.RawMessage, 0, len(ops))
		for _, o := range ops {
			b, err := s.resource(o, q.join)
			if err != nil {
				s.mu.Unlock()
				problem(w, http.StatusInternalServerError, "server_error", err.Error())
				return
			}
			records = append(records, b)
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"_links": map[string]any{"self": map[string]string{"href": r.URL.String()}},
			"_embedded": map[string]any{"records": records}})
	}
}

// stream serves the account's operations after the cursor as server-sent events (Horizon's
// streaming mode): an open event, then each operation as it closes, its paging token as the
// event id. A dropping stream aborts the connection in the middle of an event.
func (s *Sim) stream(w http.ResponseWriter, r *http.Request, account string, q query, paymentsOnly bool) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		problem(w, http.StatusInternalServerError, "server_error", "no streaming")
		return
	}
	s.mu.Lock()
	s.streams++
	drop := s.dropAfter
	cursor := s.replayFrom(account, q.cursor, paymentsOnly)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\nevent: open\ndata: \"hello\"\n\n")
	flusher.Flush()
	sent := 0
	for {
		s.mu.Lock()
		ops := s.pick(account, query{}, paymentsOnly, cursor)
		changed := s.changed
		var events [][]byte
		for _, o := range ops {
			b, err := s.resource(o, q.join)
			if err != nil {
				s.mu.Unlock()
				return
			}
			events = append(events, fmt.Appendf(nil, "id: %d\ndata: %s\n\n", o.id, b))
			cursor = o.id
		}
		s.mu.Unlock()
		for _, e := range events {
			if drop > 0 && sent == drop {
				// Half an event, then the connection is cut: the client must not act on it.
				_, _ = w.Write(e[:len(e)/2])
				flusher.Flush()
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(e); err != nil {
				return
			}
			sent++
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}

func (s *Sim) transaction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t, ok := s.txs[r.PathValue("hash")]
	if s.hidden[r.PathValue("hash")] != nil {
		ok = false
	}
	var b []byte
	if ok {
		b, _ = json.Marshal(t)
	}
	s.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, "not_found", "Resource Missing")
		return
	}
	w.Header().Set("Content-Type", "application/hal+json; charset=utf-8")
	_, _ = w.Write(b)
}

func (s *Sim) txOps(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	s.mu.Lock()
	if _, ok := s.txs[hash]; !ok || s.hidden[hash] != nil {
		s.mu.Unlock()
		problem(w, http.StatusNotFound, "not_found", "Resource Missing")
		return
	}
	records := []json.RawMessage{}
	for _, o := range s.ops {
		if o.hash == hash {
			b, _ := s.resource(o, false)
			records = append(records, b)
		}
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"_embedded": map[string]any{"records": records}})
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
