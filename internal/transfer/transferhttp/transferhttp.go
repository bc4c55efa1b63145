// Package transferhttp serves SEP-6 to wallets under /sep6: /info from the configured
// assets, /deposit and /withdraw (and the -exchange variants when an asset offers them)
// creating transactions owned by the caller's SEP-10 identity, and /transaction and
// /transactions scoped to that identity. It stays thin: every rule lives in package
// transfer.
package transferhttp

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Customers reads the requester's SEP-12 customer (kyc.Service).
type Customers interface {
	Get(ctx context.Context, c wallet.Identity, q kyc.Query) (kyc.Customer, error)
}

// Request KYC modes (Options.RequestKYC).
const (
	// RequestKYCSEP6 follows SEP-6: the requester's customer decides a new transaction's
	// start.
	RequestKYCSEP6 = "sep6"
	// RequestKYCAnchorPlatform creates every transaction incomplete and leaves the moves to
	// the business (Anchor Platform's behaviour, for a drop-in).
	RequestKYCAnchorPlatform = "anchor_platform"
)

// Asset is one asset of /info.
type Asset struct {
	// Code is the asset code (USDC); Issuer its G… issuer, empty only for native XLM.
	Code   string
	Issuer string
	// OffchainAsset is the off-chain counterpart in SEP-38 form, e.g. "iso4217:USD".
	OffchainAsset string
	// DistributionAccount is the G… account users pay withdrawals to (account_id).
	DistributionAccount string
	Deposit             Op
	Withdraw            Op
}

// Op is one direction of an asset.
type Op struct {
	// Enabled offers the direction in /info and accepts its requests; Exchange also offers
	// the -exchange variant.
	Enabled  bool
	Exchange bool
	// MinAmount and MaxAmount (decimals, optional) bound a request's amount; FeeFixed and
	// FeePercent (optional) are published in /info.
	MinAmount  string
	MaxAmount  string
	FeeFixed   string
	FeePercent string
	// FundingMethods are the accepted funding_method values (SEPA, SWIFT, …).
	FundingMethods []string
}

// Options are the settings and dependencies of the SEP-6 handlers.
type Options struct {
	// Assets are the Stellar assets offered for deposit and withdrawal.
	Assets []Asset
	// RequestKYC is RequestKYCSEP6 or RequestKYCAnchorPlatform (see there).
	RequestKYC string
	Transfers  *transfer.Service
	// Customers, when set with transfer.request_kyc sep6 (the default), decides a new
	// transaction's start from the requester's KYC (transfer.Admit); nil creates every
	// transaction incomplete (Anchor Platform's behaviour).
	Customers Customers
	// Callbacks checks on_change_callback URLs.
	Callbacks callback.URLPolicy
	// Quotes is SEP-38, for the quote_id of deposit-exchange and withdraw-exchange; nil when
	// quotes are not served (a quote_id is then refused).
	Quotes *quote.Service
	Logger *slog.Logger
}

// Handler serves SEP-6.
type Handler struct {
	cfg    Options
	kyc    Customers
	tr     *transfer.Service
	policy callback.URLPolicy
	log    *slog.Logger
}

// New returns the SEP-6 handler.
func New(o Options) *Handler {
	h := &Handler{cfg: o, tr: o.Transfers, policy: o.Callbacks, log: o.Logger}
	if o.RequestKYC != RequestKYCAnchorPlatform {
		h.kyc = o.Customers
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// Register adds the SEP-6 routes to the public mux. require is the SEP-10 middleware
// answering as SEP-6 says (stellarhttp.Handler.RequireWith(Refuse)); every route but /info
// needs a token.
func Register(mux *http.ServeMux, h *Handler, require func(http.Handler) http.Handler) {
	mux.Handle("GET /sep6/info", server.CORS(http.HandlerFunc(h.info)))
	routes := map[string]http.HandlerFunc{
		"/sep6/deposit": h.deposit, "/sep6/withdraw": h.withdraw,
		"/sep6/transaction": h.transaction, "/sep6/transactions": h.transactions,
	}
	if h.exchange(true) {
		routes["/sep6/deposit-exchange"] = h.depositExchange
	}
	if h.exchange(false) {
		routes["/sep6/withdraw-exchange"] = h.withdrawExchange
	}
	for path, fn := range routes {
		mux.Handle("GET "+path, server.CORS(require(fn)))
		mux.Handle("OPTIONS "+path, server.Preflight)
	}
	mux.Handle("OPTIONS /sep6/info", server.Preflight)
}

func (h *Handler) exchange(deposit bool) bool {
	for _, a := range h.cfg.Assets {
		if (deposit && a.Deposit.Enabled && a.Deposit.Exchange) || (!deposit && a.Withdraw.Enabled && a.Withdraw.Exchange) {
			return true
		}
	}
	return false
}

func num(s string) any {
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil
	}
	return f
}

func opInfo(op Op) map[string]any {
	m := map[string]any{"enabled": op.Enabled, "authentication_required": true, "funding_methods": op.FundingMethods}
	for k, v := range map[string]string{"min_amount": op.MinAmount, "max_amount": op.MaxAmount, "fee_fixed": op.FeeFixed, "fee_percent": op.FeePercent} {
		if n := num(v); n != nil {
			m[k] = n
		}
	}
	return m
}

func (h *Handler) info(w http.ResponseWriter, _ *http.Request) {
	dep, depX, wd, wdX := map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
	for _, a := range h.cfg.Assets {
		if a.Deposit.Enabled {
			dep[a.Code] = opInfo(a.Deposit)
			if a.Deposit.Exchange {
				depX[a.Code] = opInfo(a.Deposit)
			}
		}
		if a.Withdraw.Enabled {
			m := opInfo(a.Withdraw)
			types := map[string]any{}
			for _, fm := range a.Withdraw.FundingMethods {
				types[fm] = map[string]any{"fields": map[string]any{}}
			}
			m["types"] = types
			wd[a.Code] = m
			if a.Withdraw.Exchange {
				wdX[a.Code] = m
			}
		}
	}
	enabled := map[string]any{"enabled": true, "authentication_required": true}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"deposit": dep, "deposit-exchange": depX, "withdraw": wd, "withdraw-exchange": wdX,
		"fee":          map[string]any{"enabled": false},
		"transactions": enabled, "transaction": enabled,
		"features": map[string]any{"account_creation": false, "claimable_balances": false},
	})
}

// Refuse is SEP-6's answer to a request without a valid SEP-10 token (stellar-seps.md 5.1):
// 403 {"type": "authentication_required"}, whether the token is missing or not valid. Pass
// it to stellarhttp's RequireWith for the SEP-6 routes.
func Refuse(w http.ResponseWriter, _ *http.Request, _ bool) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	httpjson.Write(w, http.StatusForbidden, map[string]string{
		"type": "authentication_required", "error": "a SEP-10 token is required (Authorization: Bearer <JWT>)",
	})
}

func bad(w http.ResponseWriter, msg string) {
	httpjson.Error(w, http.StatusBadRequest, "bad_request", msg)
}

func (h *Handler) owner(r *http.Request) (wallet.Identity, bool) {
	id, ok := stellar.IdentityFrom(r.Context())
	if !ok {
		return wallet.Identity{}, false
	}
	return wallet.Identity{Account: id.Account, Memo: id.Memo, Muxed: id.Muxed, ClientDomain: id.ClientDomain}, true
}

func (h *Handler) asset(code string) (Asset, bool) {
	for _, a := range h.cfg.Assets {
		if a.Code == code {
			return a, true
		}
	}
	return Asset{}, false
}

// stellarAsset is the SEP-38 identifier of a: stellar:CODE:ISSUER, or stellar:native
// (configuration refuses any other asset without an issuer).
func stellarAsset(a Asset) string {
	if a.Issuer == "" {
		return "stellar:native"
	}
	return "stellar:" + a.Code + ":" + a.Issuer
}

var decimalRe = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,7})?$`)

// checkAmount validates an optional amount against the operation's limits.
func checkAmount(raw string, op Op) error {
	if raw == "" {
		return nil
	}
	if !decimalRe.MatchString(raw) {
		return errors.New("amount must be a positive decimal with at most 7 decimals")
	}
	amt, _ := new(big.Rat).SetString(raw)
	if amt.Sign() <= 0 {
		return errors.New("amount must be positive")
	}
	if op.MinAmount != "" {
		if lim, ok := new(big.Rat).SetString(op.MinAmount); ok && amt.Cmp(lim) < 0 {
			return errors.New("amount is below min_amount " + op.MinAmount)
		}
	}
	if op.MaxAmount != "" {
		if lim, ok := new(big.Rat).SetString(op.MaxAmount); ok && amt.Cmp(lim) > 0 {
			return errors.New("amount is above max_amount " + op.MaxAmount)
		}
	}
	return nil
}

func validAccount(a string) bool {
	return strkey.IsValidEd25519PublicKey(a) || strkey.IsValidMuxedAccountEd25519PublicKey(a)
}

var memoTypes = map[string]bool{"": true, "text": true, "id": true, "hash": true}

// common reads and checks the parameters shared by every transfer request and fills t.
func (h *Handler) common(w http.ResponseWriter, r *http.Request, deposit bool, assetCode string, t *transfer.Transaction) (Op, bool) {
	q := r.URL.Query()
	owner, ok := h.owner(r)
	if !ok {
		Refuse(w, r, false)
		return Op{}, false
	}
	a, found := h.asset(assetCode)
	op := a.Withdraw
	if deposit {
		op = a.Deposit
	}
	if assetCode == "" {
		bad(w, "asset_code is required")
		return op, false
	}
	if !found || !op.Enabled {
		bad(w, "asset_code "+assetCode+" is not supported for this operation")
		return op, false
	}
	fm := q.Get("funding_method")
	if fm == "" {
		fm = q.Get("type") // the deprecated name
	}
	if fm == "" {
		bad(w, "funding_method is required")
		return op, false
	}
	known := false
	for _, m := range op.FundingMethods {
		known = known || m == fm
	}
	if !known {
		bad(w, "funding_method "+fm+" is not one of "+strings.Join(op.FundingMethods, ", "))
		return op, false
	}
	if err := checkAmount(q.Get("amount"), op); err != nil {
		bad(w, err.Error())
		return op, false
	}
	if cb := q.Get("on_change_callback"); cb != "" && cb != "postMessage" {
		if err := h.policy.Check(r.Context(), cb); err != nil {
			var ue *callback.URLError
			if !errors.As(err, &ue) {
				h.log.Error("sep6: check on_change_callback", "err", err)
				httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
				return op, false
			}
			bad(w, "on_change_callback "+ue.Reason)
			return op, false
		}
		t.OnChangeCallback = cb
	}
	t.Owner, t.AssetCode, t.AssetIssuer, t.FundingMethod = owner, a.Code, a.Issuer, fm
	t.CustomerID, t.Lang = q.Get("customer_id"), q.Get("lang")
	if q.Get("quote_id") != "" && t.Kind != transfer.KindDepositExchange && t.Kind != transfer.KindWithdrawalExchange {
		bad(w, "quote_id is for deposit-exchange and withdraw-exchange")
		return op, false
	}
	t.CustomerType = "sep6"
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		t.RequestClientIPAddress = host // Anchor Platform's request_client_ip_address
	}
	t.Status = transfer.StatusIncomplete
	if amt := q.Get("amount"); amt != "" {
		asset := stellarAsset(a)
		if deposit && a.OffchainAsset != "" {
			asset = a.OffchainAsset
		}
		t.AmountExpected = &transfer.Amount{Amount: amt, Asset: asset}
	}
	return op, true
}

func limits(m map[string]any, op Op) map[string]any {
	for k, v := range map[string]string{"min_amount": op.MinAmount, "max_amount": op.MaxAmount, "fee_fixed": op.FeeFixed, "fee_percent": op.FeePercent} {
		if n := num(v); n != nil {
			m[k] = n
		}
	}
	return m
}

// admit applies SEP-6's KYC rule (transfer.Admit) to a new transaction: it sets t's first
// status, or answers that customer information is needed or was denied and creates nothing.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, t *transfer.Transaction) bool {
	if h.kyc == nil {
		return true
	}
	o := t.Owner
	cust, err := h.kyc.Get(r.Context(), o,
		kyc.Query{ID: t.CustomerID, Type: t.CustomerType, Lang: t.Lang})
	var badReq *kyc.BadRequestError
	switch {
	case errors.Is(err, kyc.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", "customer_id not found")
		return false
	case errors.As(err, &badReq):
		// The KYC back end does not know this customer type: no rule to apply, the
		// transaction waits in incomplete for the business, as Anchor Platform does.
		h.log.WarnContext(r.Context(), "sep6: customer type unknown to the KYC back end; transaction starts incomplete", "type", t.CustomerType)
		return true
	case errors.Is(err, kyc.ErrUnavailable):
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "customer information is unavailable, try again later")
		return false
	case err != nil:
		h.fail(w, r.Context(), err)
		return false
	}
	adm := transfer.Admit(cust.Status, cust.ID != "")
	switch {
	case adm.NeedsInfo:
		fields := make([]string, 0, len(cust.Fields))
		for name, f := range cust.Fields {
			if !f.Optional {
				fields = append(fields, name)
			}
		}
		sort.Strings(fields)
		httpjson.Write(w, http.StatusForbidden, map[string]any{"type": "non_interactive_customer_info_needed", "fields": fields})
		return false
	case adm.Denied:
		httpjson.Write(w, http.StatusForbidden, map[string]any{"type": "customer_info_status", "status": "denied"})
		return false
	}
	t.Status = adm.Status
	if t.CustomerID == "" {
		t.CustomerID = cust.ID
	}
	return true
}

// useQuote returns how a new exchange transaction takes the firm quote the request names
// (nil without quote_id): in its creating database transaction, through quote.Service.Use
// (the caller's own sep6 quote, unexpired, unused) and transfer.MatchQuote (it sells sell,
// exactly amount of it, and buys buy); t then takes the quote's terms. ok is false when the
// request was answered (quotes are not served).
func (h *Handler) useQuote(w http.ResponseWriter, r *http.Request, sell, buy string) (use func(context.Context, *store.Tx, *transfer.Transaction) error, ok bool) {
	q := r.URL.Query()
	id, amount := q.Get("quote_id"), q.Get("amount")
	if id == "" {
		return nil, true
	}
	if h.cfg.Quotes == nil {
		bad(w, "quotes are not supported")
		return nil, false
	}
	return func(ctx context.Context, tx *store.Tx, t *transfer.Transaction) error {
		got, err := h.cfg.Quotes.Use(ctx, tx, t.Owner, id, quote.ContextSEP6, t.ID, t.StartedAt, func(got quote.Quote) error {
			return transfer.MatchQuote(got, sell, amount, buy)
		})
		if err != nil {
			return err
		}
		t.TakeQuote(got)
		return nil
	}, true
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, t *transfer.Transaction, use func(context.Context, *store.Tx, *transfer.Transaction) error) bool {
	if !h.admit(w, r, t) {
		return false
	}
	if err := h.tr.CreateWith(r.Context(), t, use); err != nil {
		var ie *quote.InvalidError
		if errors.As(err, &ie) {
			bad(w, ie.Msg)
			return false
		}
		if limit.Refuse(w, err) {
			return false
		}
		h.log.ErrorContext(r.Context(), "sep6: create transaction", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
		return false
	}
	return true
}

func (h *Handler) deposit(w http.ResponseWriter, r *http.Request) {
	h.depositKind(w, r, transfer.KindDeposit, r.URL.Query().Get("asset_code"))
}

func (h *Handler) depositExchange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("source_asset") == "" || q.Get("amount") == "" {
		bad(w, "source_asset and amount are required")
		return
	}
	h.depositKind(w, r, transfer.KindDepositExchange, q.Get("destination_asset"))
}

func (h *Handler) depositKind(w http.ResponseWriter, r *http.Request, kind transfer.Kind, code string) {
	q := r.URL.Query()
	t := transfer.Transaction{Kind: kind}
	account := q.Get("account")
	if account == "" {
		bad(w, "account is required")
		return
	}
	if !validAccount(account) {
		bad(w, "account must be a G… or M… address")
		return
	}
	if !memoTypes[q.Get("memo_type")] {
		bad(w, "memo_type must be text, id or hash")
		return
	}
	op, ok := h.common(w, r, true, code, &t)
	if !ok {
		return
	}
	if kind == transfer.KindDepositExchange && !op.Exchange {
		bad(w, "asset_code "+code+" is not offered for deposit-exchange")
		return
	}
	t.Account, t.Memo, t.MemoType = account, q.Get("memo"), q.Get("memo_type")
	var use func(context.Context, *store.Tx, *transfer.Transaction) error
	if kind == transfer.KindDepositExchange {
		t.AmountExpected = &transfer.Amount{Amount: q.Get("amount"), Asset: q.Get("source_asset")}
		a, _ := h.asset(code)
		if use, ok = h.useQuote(w, r, q.Get("source_asset"), stellarAsset(a)); !ok {
			return
		}
	}
	if !h.create(w, r, &t, use) {
		return
	}
	httpjson.Write(w, http.StatusOK, limits(map[string]any{
		"id":  t.ID,
		"how": "Check the transaction (GET /transaction) for the deposit instructions.",
	}, op))
}

func (h *Handler) withdraw(w http.ResponseWriter, r *http.Request) {
	h.withdrawKind(w, r, transfer.KindWithdrawal, r.URL.Query().Get("asset_code"))
}

func (h *Handler) withdrawExchange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("destination_asset") == "" || q.Get("amount") == "" {
		bad(w, "destination_asset and amount are required")
		return
	}
	h.withdrawKind(w, r, transfer.KindWithdrawalExchange, q.Get("source_asset"))
}

func (h *Handler) withdrawKind(w http.ResponseWriter, r *http.Request, kind transfer.Kind, code string) {
	q := r.URL.Query()
	t := transfer.Transaction{Kind: kind}
	account := q.Get("account")
	if account != "" && !validAccount(account) {
		bad(w, "account must be a G… or M… address")
		return
	}
	if (q.Get("refund_memo") == "") != (q.Get("refund_memo_type") == "") || !memoTypes[q.Get("refund_memo_type")] {
		bad(w, "refund_memo and refund_memo_type (text, id or hash) must be given together")
		return
	}
	op, ok := h.common(w, r, false, code, &t)
	if !ok {
		return
	}
	if kind == transfer.KindWithdrawalExchange && !op.Exchange {
		bad(w, "asset_code "+code+" is not offered for withdraw-exchange")
		return
	}
	if account == "" {
		account = t.Owner.Account
		if t.Owner.Muxed != "" {
			account = t.Owner.Muxed
		}
	}
	a, _ := h.asset(code)
	t.Account, t.RefundMemo, t.RefundMemoType = account, q.Get("refund_memo"), q.Get("refund_memo_type")
	t.WithdrawAnchorAccount = a.DistributionAccount
	var use func(context.Context, *store.Tx, *transfer.Transaction) error
	if kind == transfer.KindWithdrawalExchange {
		t.AmountExpected = &transfer.Amount{Amount: q.Get("amount"), Asset: stellarAsset(a)}
		if use, ok = h.useQuote(w, r, stellarAsset(a), q.Get("destination_asset")); !ok {
			return
		}
	}
	if !h.create(w, r, &t, use) {
		return
	}
	resp := map[string]any{"id": t.ID}
	if a.DistributionAccount != "" {
		resp["account_id"], resp["memo_type"], resp["memo"] = a.DistributionAccount, t.WithdrawMemoType, t.WithdrawMemo
	}
	httpjson.Write(w, http.StatusOK, limits(resp, op))
}

func (h *Handler) transaction(w http.ResponseWriter, r *http.Request) {
	owner, ok := h.owner(r)
	if !ok {
		Refuse(w, r, false)
		return
	}
	q := r.URL.Query()
	l := transfer.Lookup{ID: q.Get("id"), StellarTransactionID: q.Get("stellar_transaction_id"), ExternalTransactionID: q.Get("external_transaction_id")}
	if l == (transfer.Lookup{}) {
		bad(w, "one of id, stellar_transaction_id or external_transaction_id is required")
		return
	}
	t, err := h.tr.Find(r.Context(), owner, l)
	if errors.Is(err, transfer.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "transaction not found")
		return
	}
	if err != nil {
		h.fail(w, r.Context(), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(t.SEP6Body())
}

func (h *Handler) transactions(w http.ResponseWriter, r *http.Request) {
	owner, ok := h.owner(r)
	if !ok {
		Refuse(w, r, false)
		return
	}
	q := r.URL.Query()
	if acc := q.Get("account"); acc != "" && acc != owner.Account && acc != owner.Muxed {
		httpjson.Error(w, http.StatusForbidden, "forbidden", "account does not match the SEP-10 token")
		return
	}
	f := transfer.Filter{AssetCode: q.Get("asset_code"), PagingID: q.Get("paging_id")}
	if f.AssetCode == "" {
		bad(w, "asset_code is required")
		return
	}
	if _, ok := h.asset(f.AssetCode); !ok {
		// An asset this anchor does not serve is a bad request, not an empty list
		// (the SEP-6 conformance suite's "rejects requests with a bad 'asset_code'").
		bad(w, "asset_code "+f.AssetCode+" is not served by this anchor")
		return
	}
	if v := q.Get("no_older_than"); v != "" {
		ts, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad(w, "no_older_than must be an ISO 8601 UTC time, e.g. 2026-01-02T15:04:05Z")
			return
		}
		f.NoOlderThan = ts
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad(w, "limit must be a positive integer")
			return
		}
		f.Limit = n
	}
	for _, v := range q["kind"] {
		for _, k := range strings.Split(v, ",") {
			kind := transfer.Kind(strings.TrimSpace(k))
			if !kind.Valid() {
				bad(w, "kind must be deposit, deposit-exchange, withdrawal or withdrawal-exchange")
				return
			}
			f.Kinds = append(f.Kinds, kind)
		}
	}
	txs, err := h.tr.List(r.Context(), owner, f)
	if err != nil {
		h.fail(w, r.Context(), err)
		return
	}
	out := make([]any, 0, len(txs))
	for i := range txs {
		out = append(out, txs[i].SEP6())
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"transactions": out})
}

func (h *Handler) fail(w http.ResponseWriter, ctx context.Context, err error) {
	h.log.ErrorContext(ctx, "sep6: request failed", "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
}
