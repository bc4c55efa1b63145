// Package sep31http serves SEP-31 receive under /sep31 (DIRECT_PAYMENT_SERVER) to sending
// anchors: GET /info from the configured assets; POST /transactions, GET
// /transactions/{id}, PATCH /transactions/{id} and PUT /transactions/{id}/callback scoped to
// the caller's SEP-10 identity. It stays thin: the state machine and the outbox are package
// transfer's, quotes package quote's, customers package kyc's.
package sep31http

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Asset is one asset received over SEP-31.
type Asset struct {
	Code   string
	Issuer string // empty for native XLM
	// Account is where sending anchors pay (stellar_account_id).
	Account                         string
	QuotesSupported, QuotesRequired bool
	MinAmount, MaxAmount            string
	FeeFixed, FeePercent            string
	FundingMethods                  []string
	// SenderTypes and ReceiverTypes are the SEP-12 types required per role (type ->
	// description); empty means no KYC for that role.
	SenderTypes, ReceiverTypes map[string]string
}

// ID is the asset's SEP-38 identifier.
func (a Asset) ID() string {
	if a.Issuer == "" {
		return "stellar:native"
	}
	return "stellar:" + a.Code + ":" + a.Issuer
}

// Customers reads a SEP-12 customer of the caller (kyc.Service).
type Customers interface {
	Get(ctx context.Context, c wallet.Identity, q kyc.Query) (kyc.Customer, error)
}

// Options are the dependencies of the SEP-31 handlers.
type Options struct {
	Assets    []Asset
	Transfers *transfer.Service
	Customers Customers
	// Quotes is SEP-38; nil when quotes are not served (quote_id is then refused).
	Quotes *quote.Service
	// Callbacks checks the sending anchor's callback URL.
	Callbacks callback.URLPolicy
	Logger    *slog.Logger
}

// Handler serves SEP-31.
type Handler struct {
	o   Options
	log *slog.Logger
}

// New returns the SEP-31 handler.
func New(o Options) *Handler {
	h := &Handler{o: o, log: o.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// Register adds the SEP-31 routes to the public mux; require is the SEP-10 middleware
// (stellarhttp.Handler.RequireWith(Refuse)).
func Register(mux *http.ServeMux, h *Handler, require func(http.Handler) http.Handler) {
	mux.Handle("GET /sep31/info", server.CORS(http.HandlerFunc(h.info)))
	mux.Handle("OPTIONS /sep31/info", server.Preflight)
	for pattern, fn := range map[string]http.HandlerFunc{
		"POST /sep31/transactions":              h.create,
		"GET /sep31/transactions/{id}":          h.get,
		"PATCH /sep31/transactions/{id}":        h.patch,
		"PUT /sep31/transactions/{id}/callback": h.putCallback,
	} {
		mux.Handle(pattern, server.CORS(require(fn)))
	}
	for _, path := range []string{"/sep31/transactions", "/sep31/transactions/{id}", "/sep31/transactions/{id}/callback"} {
		mux.Handle("OPTIONS "+path, server.Preflight)
	}
}

// Refuse is SEP-31's answer to a request without a valid SEP-10 token: 403
// {"error": ...} (SEP-31 "Authentication": 403 Forbidden).
func Refuse(w http.ResponseWriter, _ *http.Request, invalid bool) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	msg := "a SEP-10 token is required (Authorization: Bearer <JWT>)"
	if invalid {
		msg = "the SEP-10 token is not valid"
	}
	httpjson.Error(w, http.StatusForbidden, "forbidden", msg)
}

func number(s string) any {
	if f, err := strconv.ParseFloat(s, 64); err == nil && s != "" {
		return f
	}
	return nil
}

func types(m map[string]string) map[string]any {
	if len(m) == 0 {
		return map[string]any{}
	}
	out := map[string]any{}
	for k, d := range m {
		out[k] = map[string]string{"description": d}
	}
	return map[string]any{"types": out}
}

func (h *Handler) info(w http.ResponseWriter, _ *http.Request) {
	recv := map[string]any{}
	for _, a := range h.o.Assets {
		m := map[string]any{
			"enabled": true, "quotes_supported": a.QuotesSupported, "quotes_required": a.QuotesRequired,
			"funding_methods": a.FundingMethods,
			"sep12":           map[string]any{"sender": types(a.SenderTypes), "receiver": types(a.ReceiverTypes)},
		}
		for k, v := range map[string]string{"min_amount": a.MinAmount, "max_amount": a.MaxAmount, "fee_fixed": a.FeeFixed, "fee_percent": a.FeePercent} {
			if n := number(v); n != nil {
				m[k] = n
			}
		}
		recv[a.Code] = m
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"receive": recv})
}

func (h *Handler) owner(w http.ResponseWriter, r *http.Request) (wallet.Identity, bool) {
	id, ok := stellar.IdentityFrom(r.Context())
	if !ok {
		Refuse(w, r, false)
	}
	return id, ok
}

func bad(w http.ResponseWriter, msg string) {
	httpjson.Error(w, http.StatusBadRequest, "bad_request", msg)
}

// createBody is the POST /transactions body (SEP-31 v3); amount may be a JSON number or a
// string.
type createBody struct {
	Amount           transfer.Decimal `json:"amount"`
	AssetCode        string           `json:"asset_code"`
	AssetIssuer      string           `json:"asset_issuer"`
	DestinationAsset string           `json:"destination_asset"`
	QuoteID          string           `json:"quote_id"`
	SenderID         string           `json:"sender_id"`
	ReceiverID       string           `json:"receiver_id"`
	FundingMethod    string           `json:"funding_method"`
	Lang             string           `json:"lang"`
	RefundMemo       string           `json:"refund_memo"`
	RefundMemoType   string           `json:"refund_memo_type"`
}

// needInfo is SEP-31's customer_info_needed answer.
func needInfo(w http.ResponseWriter, typ string) {
	httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "customer_info_needed", "type": typ})
}

// customerReady checks one role's customer: nil when no KYC is configured for the role or
// its customer is ACCEPTED or PROCESSING under one of the role's types; otherwise it writes
// the answer (customer_info_needed with the type to use, or a refusal) and returns false.
func (h *Handler) customerReady(w http.ResponseWriter, r *http.Request, owner wallet.Identity, id, role string, typeMap map[string]string) bool {
	if len(typeMap) == 0 {
		return true
	}
	names := make([]string, 0, len(typeMap))
	for k := range typeMap {
		names = append(names, k)
	}
	sort.Strings(names)
	if id == "" {
		needInfo(w, names[0])
		return false
	}
	need := names[0]
	for _, typ := range names {
		c, err := h.o.Customers.Get(r.Context(), owner, kyc.Query{ID: id, Type: typ})
		switch {
		case errors.Is(err, kyc.ErrNotFound):
			// Another sending anchor's customer is not found either (never used).
			httpjson.Error(w, http.StatusNotFound, "not_found", role+"_id "+id+" is not a customer of yours")
			return false
		case err != nil:
			h.log.Warn("sep31: read customer", "role", role, "err", err)
			httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "customer information is unavailable right now")
			return false
		}
		switch c.Status {
		case kyc.StatusAccepted, kyc.StatusProcessing:
			return true
		case kyc.StatusRejected:
			bad(w, role+" was rejected")
			return false
		}
		if c.Status == kyc.StatusNeedsInfo && need == names[0] {
			need = typ
		}
	}
	needInfo(w, need)
	return false
}

func ratOf(s string) *big.Rat {
	r, ok := transfer.ParseDecimal(s)
	if !ok {
		return nil
	}
	return r
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	owner, ok := h.owner(w, r)
	if !ok {
		return
	}
	var b createBody
	if err := httpjson.Decode(r, 64<<10, &b); err != nil {
		bad(w, err.Error())
		return
	}
	i := slices.IndexFunc(h.o.Assets, func(a Asset) bool { return a.Code == b.AssetCode })
	if b.AssetCode == "" || i < 0 {
		bad(w, "asset_code "+b.AssetCode+" is not received here")
		return
	}
	a := h.o.Assets[i]
	if b.AssetIssuer != "" && b.AssetIssuer != a.Issuer {
		bad(w, "asset_issuer does not match the asset received here")
		return
	}
	amount := ratOf(string(b.Amount))
	if amount == nil || amount.Sign() <= 0 {
		bad(w, "amount must be a positive decimal")
		return
	}
	if lim := ratOf(a.MinAmount); lim != nil && amount.Cmp(lim) < 0 {
		bad(w, "amount is below min_amount "+a.MinAmount)
		return
	}
	if lim := ratOf(a.MaxAmount); lim != nil && amount.Cmp(lim) > 0 {
		bad(w, "amount is above max_amount "+a.MaxAmount)
		return
	}
	switch {
	case b.FundingMethod == "" && len(a.FundingMethods) == 1:
		b.FundingMethod = a.FundingMethods[0]
	case b.FundingMethod == "":
		bad(w, "funding_method is required: one of "+joinComma(a.FundingMethods))
		return
	case !slices.Contains(a.FundingMethods, b.FundingMethod):
		bad(w, "funding_method "+b.FundingMethod+" is not supported: one of "+joinComma(a.FundingMethods))
		return
	}
	if (b.RefundMemo == "") != (b.RefundMemoType == "") {
		bad(w, "refund_memo and refund_memo_type go together")
		return
	}
	if b.RefundMemoType != "" && b.RefundMemoType != "id" && b.RefundMemoType != "text" && b.RefundMemoType != "hash" {
		bad(w, "refund_memo_type must be id, text or hash")
		return
	}
	switch {
	case b.QuoteID == "" && a.QuotesRequired:
		bad(w, "quote_id is required for "+a.Code)
		return
	case b.QuoteID != "" && (!a.QuotesSupported || h.o.Quotes == nil):
		bad(w, "quotes are not supported for "+a.Code)
		return
	case b.DestinationAsset != "" && h.o.Quotes != nil:
		if _, ok := h.o.Quotes.Asset(b.DestinationAsset); !ok {
			bad(w, "destination_asset "+b.DestinationAsset+" is not offered")
			return
		}
	}
	if !h.customerReady(w, r, owner, b.SenderID, "sender", a.SenderTypes) ||
		!h.customerReady(w, r, owner, b.ReceiverID, "receiver", a.ReceiverTypes) {
		return
	}
	asset := a.ID()
	t := transfer.Transaction{
		Kind: transfer.KindReceive, Status: transfer.StatusPendingSender, Owner: owner,
		AssetCode: a.Code, AssetIssuer: a.Issuer, FundingMethod: b.FundingMethod, QuoteID: b.QuoteID, Lang: b.Lang,
		SenderID: b.SenderID, ReceiverID: b.ReceiverID, RefundMemo: b.RefundMemo, RefundMemoType: b.RefundMemoType,
		AmountIn:              &transfer.Amount{Amount: string(b.Amount), Asset: asset},
		AmountExpected:        &transfer.Amount{Amount: string(b.Amount), Asset: asset},
		WithdrawAnchorAccount: a.Account, Account: owner.Account,
	}
	if b.DestinationAsset != "" {
		t.AmountOut = &transfer.Amount{Asset: b.DestinationAsset}
	}
	if ip, _, ok := cutHostPort(r.RemoteAddr); ok {
		t.RequestClientIPAddress = ip
	}
	var useQuote func(ctx context.Context, tx *store.Tx, t *transfer.Transaction) error
	if b.QuoteID != "" {
		useQuote = func(ctx context.Context, tx *store.Tx, t *transfer.Transaction) error {
			q, err := h.o.Quotes.Use(ctx, tx, owner, b.QuoteID, quote.ContextSEP31, t.ID, t.StartedAt, func(q quote.Quote) error {
				return transfer.MatchQuote(q, asset, string(b.Amount), b.DestinationAsset)
			})
			if err != nil {
				return err
			}
			t.TakeQuote(q)
			return nil
		}
	}
	if err := h.o.Transfers.CreateWith(r.Context(), &t, useQuote); err != nil {
		var ie *quote.InvalidError
		if errors.As(err, &ie) {
			bad(w, ie.Msg)
			return
		}
		h.log.Error("sep31: create transaction", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]string{
		"id": t.ID, "stellar_account_id": t.WithdrawAnchorAccount, "stellar_memo_type": t.WithdrawMemoType, "stellar_memo": t.WithdrawMemo,
	})
}

// find is the caller's own SEP-31 transaction named in the path; otherwise it has answered.
func (h *Handler) find(w http.ResponseWriter, r *http.Request) (transfer.Transaction, bool) {
	owner, ok := h.owner(w, r)
	if !ok {
		return transfer.Transaction{}, false
	}
	t, err := h.o.Transfers.FindReceive(r.Context(), owner, r.PathValue("id"))
	if err != nil {
		h.notFound(w, err)
		return transfer.Transaction{}, false
	}
	return t, true
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	t, ok := h.find(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(t.SEP31Body())
}

// patch is SEP-31's deprecated PATCH: only allowed while the transaction is in
// pending_transaction_info_update, which vaspgate never enters (per-transaction fields are
// SEP-12 fields now), so an existing transaction is always refused with 400.
func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	t, ok := h.find(w, r)
	if !ok {
		return
	}
	if t.Status != transfer.StatusPendingTransactionInfoUpdate {
		bad(w, "no transaction information was requested: update customers through SEP-12 PUT /customer")
		return
	}
	bad(w, "Supplied fields do not allow updates, please only try to updates the fields requested")
}

func (h *Handler) putCallback(w http.ResponseWriter, r *http.Request) {
	owner, ok := h.owner(w, r)
	if !ok {
		return
	}
	var b struct {
		URL string `json:"url"`
	}
	if err := httpjson.Decode(r, 16<<10, &b); err != nil {
		bad(w, err.Error())
		return
	}
	if b.URL == "" {
		bad(w, "url is required")
		return
	}
	if err := h.o.Callbacks.Check(r.Context(), b.URL); err != nil {
		var ue *callback.URLError
		if errors.As(err, &ue) {
			bad(w, "url: "+ue.Reason)
			return
		}
		bad(w, "url is not acceptable")
		return
	}
	if err := h.o.Transfers.SetCallbackURL(r.Context(), owner, r.PathValue("id"), b.URL); err != nil {
		h.notFound(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) notFound(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, transfer.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", "transaction not found")
	case errors.Is(err, transfer.ErrConflict):
		httpjson.Error(w, http.StatusConflict, "conflict", err.Error())
	default:
		h.log.Error("sep31", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

func cutHostPort(addr string) (host, port string, ok bool) {
	h, p, err := net.SplitHostPort(addr)
	return h, p, err == nil
}

func joinComma(s []string) string { return strings.Join(s, ", ") }
