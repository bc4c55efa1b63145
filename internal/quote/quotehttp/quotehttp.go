// Package quotehttp serves SEP-38 under /sep38 (ANCHOR_QUOTE_SERVER): GET /info, /prices
// and /price for anyone, POST /quote and GET /quote/{id} for the SEP-10 identity that owns
// the quote. It stays thin: every rule lives in package quote.
package quotehttp

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/stellar"
)

// Handler serves SEP-38.
type Handler struct {
	svc *quote.Service
	log *slog.Logger
}

// New returns the SEP-38 handler.
func New(svc *quote.Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{svc: svc, log: log}
}

// Register adds the SEP-38 routes to the public mux. require is the SEP-10 middleware
// answering as SEP-38 says (stellarhttp.Handler.RequireWith(Refuse)).
func Register(mux *http.ServeMux, h *Handler, require func(http.Handler) http.Handler) {
	open := map[string]http.HandlerFunc{"/sep38/info": h.info, "/sep38/prices": h.prices, "/sep38/price": h.price}
	for path, fn := range open {
		mux.Handle("GET "+path, server.CORS(fn))
		mux.Handle("OPTIONS "+path, server.Preflight)
	}
	mux.Handle("POST /sep38/quote", server.CORS(require(http.HandlerFunc(h.create))))
	mux.Handle("OPTIONS /sep38/quote", server.Preflight)
	mux.Handle("GET /sep38/quote/{id}", server.CORS(require(http.HandlerFunc(h.get))))
	mux.Handle("OPTIONS /sep38/quote/{id}", server.Preflight)
}

// Refuse is SEP-38's answer to a request without a valid SEP-10 token: 403 with an error
// (SEP-38 "Errors": 403 when the client is not authenticated or not allowed).
func Refuse(w http.ResponseWriter, _ *http.Request, invalid bool) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	msg := "a SEP-10 token is required (Authorization: Bearer <JWT>)"
	if invalid {
		msg = "the SEP-10 token is not valid"
	}
	httpjson.Error(w, http.StatusForbidden, "forbidden", msg)
}

func (h *Handler) info(w http.ResponseWriter, _ *http.Request) {
	assets := h.svc.Assets()
	if assets == nil {
		assets = []quote.Asset{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"assets": assets})
}

// client is the caller's account when a token came with the request (prices may be
// personalised by the business); the open routes do not require one.
func client(r *http.Request) string {
	if id, ok := stellar.IdentityFrom(r.Context()); ok {
		return id.Account
	}
	return ""
}

func (h *Handler) prices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out, buying, err := h.svc.Prices(r.Context(), quote.PricesRequest{
		SellAsset: q.Get("sell_asset"), SellAmount: q.Get("sell_amount"),
		BuyAsset: q.Get("buy_asset"), BuyAmount: q.Get("buy_amount"),
		SellDeliveryMethod: q.Get("sell_delivery_method"), BuyDeliveryMethod: q.Get("buy_delivery_method"),
		Country: q.Get("country_code"),
	}, client(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	key := "buy_assets"
	if buying {
		key = "sell_assets"
	}
	httpjson.Write(w, http.StatusOK, map[string]any{key: out})
}

func (h *Handler) price(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := h.svc.Price(r.Context(), quote.Request{
		SellAsset: q.Get("sell_asset"), SellAmount: q.Get("sell_amount"), SellDeliveryMethod: q.Get("sell_delivery_method"),
		BuyAsset: q.Get("buy_asset"), BuyAmount: q.Get("buy_amount"), BuyDeliveryMethod: q.Get("buy_delivery_method"),
		CountryCode: q.Get("country_code"), Context: q.Get("context"),
	}, client(r))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, p)
}

// quoteBody is the POST /quote body; expire_after is read as text so that a malformed date
// is the client's 400, not a decoding failure without a field name.
type quoteBody struct {
	quote.Request
	ExpireAfter string `json:"expire_after"`
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	owner, ok := stellar.IdentityFrom(r.Context())
	if !ok {
		Refuse(w, r, false)
		return
	}
	var body quoteBody
	if err := httpjson.Decode(r, 64<<10, &body); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "the body is not a JSON quote request: "+err.Error())
		return
	}
	req := body.Request
	if body.ExpireAfter != "" {
		t, err := time.Parse(time.RFC3339, body.ExpireAfter)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "expire_after must be an ISO 8601 date and time")
			return
		}
		req.ExpireAfter = &t
	}
	q, err := h.svc.Create(r.Context(), owner, req)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, q)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	owner, ok := stellar.IdentityFrom(r.Context())
	if !ok {
		Refuse(w, r, false)
		return
	}
	q, err := h.svc.Get(r.Context(), owner, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, q)
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	var ie *quote.InvalidError
	switch {
	case errors.As(err, &ie):
		httpjson.Error(w, http.StatusBadRequest, "bad_request", ie.Msg)
	case errors.Is(err, quote.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", "quote not found")
	case errors.Is(err, quote.ErrUnavailable):
		h.log.Warn("sep38: rates unavailable", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "prices are unavailable right now")
	default:
		h.log.Error("sep38", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
