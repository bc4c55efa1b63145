package quote

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Contexts a quote may be asked for (SEP-38 "context"). vaspgate serves no SEP-24.
const (
	ContextSEP6  = "sep6"
	ContextSEP31 = "sep31"
)

// EventQuoteCreated is the business event recorded with every firm quote.
const EventQuoteCreated = "quote_created"

var (
	// ErrNotFound: no such quote, or not the caller's (a caller cannot tell the difference).
	ErrNotFound = errors.New("quote: quote not found")
)

// InvalidError is a request the caller must fix; its message is safe to show.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, a ...any) error { return &InvalidError{Msg: fmt.Sprintf(format, a...)} }

// Outbox records business events inside a database transaction (*callback.Outbox).
type Outbox interface {
	Business(ctx context.Context, tx *store.Tx, m callback.Message) error
}

// Options configure a Service.
type Options struct {
	DB     *store.DB
	Outbox Outbox
	// Assets are the assets of GET /info, in that order.
	Assets []Asset
	Rates  Rates
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service serves SEP-38.
type Service struct {
	db     *store.DB
	outbox Outbox
	assets []Asset
	rates  Rates
	now    func() time.Time
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{db: o.DB, outbox: o.Outbox, assets: o.Assets, rates: o.Rates, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Assets returns the assets of GET /info.
func (s *Service) Assets() []Asset { return s.assets }

// Asset returns the asset with SEP-38 identifier id.
func (s *Service) Asset(id string) (Asset, bool) {
	i := slices.IndexFunc(s.assets, func(a Asset) bool { return a.Asset == id })
	if i < 0 {
		return Asset{}, false
	}
	return s.assets[i], true
}

// Request is a GET /price or POST /quote request (and one pair of GET /prices).
type Request struct {
	SellAsset          string `json:"sell_asset"`
	SellAmount         string `json:"sell_amount,omitempty"`
	SellDeliveryMethod string `json:"sell_delivery_method,omitempty"`
	BuyAsset           string `json:"buy_asset"`
	BuyAmount          string `json:"buy_amount,omitempty"`
	BuyDeliveryMethod  string `json:"buy_delivery_method,omitempty"`
	CountryCode        string `json:"country_code,omitempty"`
	Context            string `json:"context"`
	// ExpireAfter (POST /quote only) is the earliest expiry the client accepts.
	ExpireAfter *time.Time `json:"-"`
}

// Price is the GET /price answer.
type Price struct {
	TotalPrice string `json:"total_price"`
	Price      string `json:"price"`
	SellAmount string `json:"sell_amount"`
	BuyAmount  string `json:"buy_amount"`
	Fee        *Fee   `json:"fee,omitempty"`
}

// check validates a request against GET /info: known and different assets, exactly one
// amount, delivery methods and country code the assets offer, and (when needContext) the
// context.
func (s *Service) check(r *Request, needContext bool) (sell, buy Asset, err error) {
	var ok bool
	if r.SellAsset == "" || r.BuyAsset == "" {
		return sell, buy, invalid("sell_asset and buy_asset are required")
	}
	if sell, ok = s.Asset(r.SellAsset); !ok {
		return sell, buy, invalid("sell_asset %s is not supported", r.SellAsset)
	}
	if buy, ok = s.Asset(r.BuyAsset); !ok {
		return sell, buy, invalid("buy_asset %s is not supported", r.BuyAsset)
	}
	if r.SellAsset == r.BuyAsset {
		return sell, buy, invalid("sell_asset and buy_asset must differ")
	}
	if (r.SellAmount == "") == (r.BuyAmount == "") {
		return sell, buy, invalid("exactly one of sell_amount and buy_amount is required")
	}
	for name, v := range map[string]string{"sell_amount": r.SellAmount, "buy_amount": r.BuyAmount} {
		if _, ok := parseAmount(v); v != "" && !ok {
			return sell, buy, invalid("%s must be a positive decimal", name)
		}
	}
	if r.SellDeliveryMethod != "" && !hasMethod(sell.SellDeliveryMethods, r.SellDeliveryMethod) {
		return sell, buy, invalid("sell_delivery_method %s is not supported for %s", r.SellDeliveryMethod, r.SellAsset)
	}
	if r.BuyDeliveryMethod != "" && !hasMethod(buy.BuyDeliveryMethods, r.BuyDeliveryMethod) {
		return sell, buy, invalid("buy_delivery_method %s is not supported for %s", r.BuyDeliveryMethod, r.BuyAsset)
	}
	if r.CountryCode != "" {
		codes := append(slices.Clone(sell.CountryCodes), buy.CountryCodes...)
		if len(codes) > 0 && !slices.ContainsFunc(codes, func(c string) bool { return strings.EqualFold(c, r.CountryCode) }) {
			return sell, buy, invalid("country_code %s is not supported", r.CountryCode)
		}
	}
	if needContext && r.Context != ContextSEP6 && r.Context != ContextSEP31 {
		return sell, buy, invalid("context must be sep6 or sep31")
	}
	return sell, buy, nil
}

func (s *Service) rate(ctx context.Context, typ string, r Request, client string) (Rate, error) {
	rr := RateRequest{
		Type: typ, SellAsset: r.SellAsset, SellAmount: r.SellAmount, SellDeliveryMethod: r.SellDeliveryMethod,
		BuyAsset: r.BuyAsset, BuyAmount: r.BuyAmount, BuyDeliveryMethod: r.BuyDeliveryMethod,
		CountryCode: r.CountryCode, ClientID: client, Context: r.Context,
	}
	if r.ExpireAfter != nil {
		rr.ExpireAfter = *r.ExpireAfter
	}
	rate, err := s.rates.Rate(ctx, rr)
	if errors.Is(err, ErrNoRate) {
		return rate, invalid("no price is offered for %s to %s", r.SellAsset, r.BuyAsset)
	}
	if err != nil {
		return rate, err
	}
	if _, ok := parseAmount(rate.SellAmount); !ok {
		return rate, fmt.Errorf("%w: sell_amount %q is not a positive decimal", ErrUnavailable, rate.SellAmount)
	}
	if _, ok := parseAmount(rate.BuyAmount); !ok {
		return rate, fmt.Errorf("%w: buy_amount %q is not a positive decimal", ErrUnavailable, rate.BuyAmount)
	}
	return rate, nil
}

// totalPrice is sell_amount / buy_amount (fees included), to ten decimals.
func totalPrice(sellAmount, buyAmount string) string {
	sell, _ := parseAmount(sellAmount)
	buy, _ := parseAmount(buyAmount)
	return format(new(big.Rat).Quo(sell, buy), 10, false)
}

// Price answers GET /price: an indicative price for one pair and amount.
func (s *Service) Price(ctx context.Context, r Request, client string) (Price, error) {
	if _, _, err := s.check(&r, true); err != nil {
		return Price{}, err
	}
	rate, err := s.rate(ctx, Indicative, r, client)
	if err != nil {
		return Price{}, err
	}
	return Price{TotalPrice: totalPrice(rate.SellAmount, rate.BuyAmount), Price: rate.Price,
		SellAmount: rate.SellAmount, BuyAmount: rate.BuyAmount, Fee: rate.Fee}, nil
}

// PricesRequest is GET /prices: the sell side (SellAsset, SellAmount) or the buy side.
type PricesRequest struct {
	SellAsset, SellAmount, BuyAsset, BuyAmount     string
	SellDeliveryMethod, BuyDeliveryMethod, Country string
}

// AssetPrice is one entry of GET /prices.
type AssetPrice struct {
	Asset    string `json:"asset"`
	Price    string `json:"price"`
	Decimals int    `json:"decimals"`
}

// Prices answers GET /prices: the price of every asset the given one can be exchanged for.
// buying is true when the request named the buy side (the answer is then sell_assets).
//
// With both assets named (as SDF's conformance suite sends them), the side with an amount is
// the side asked about and the other asset narrows the list to itself.
func (s *Service) Prices(ctx context.Context, p PricesRequest, client string) (out []AssetPrice, buying bool, err error) {
	only := ""
	if p.SellAsset != "" && p.BuyAsset != "" && (p.SellAmount == "") != (p.BuyAmount == "") {
		if p.SellAmount != "" {
			only, p.BuyAsset = p.BuyAsset, ""
		} else {
			only, p.SellAsset = p.SellAsset, ""
		}
	}
	switch {
	case p.SellAsset != "" && p.BuyAsset == "":
		if p.SellAmount == "" {
			return nil, false, invalid("sell_amount is required with sell_asset")
		}
	case p.BuyAsset != "" && p.SellAsset == "":
		if p.BuyAmount == "" {
			return nil, true, invalid("buy_amount is required with buy_asset")
		}
		buying = true
	default:
		return nil, false, invalid("exactly one of sell_asset and buy_asset is required")
	}
	out = []AssetPrice{}
	for _, other := range s.assets {
		r := Request{SellAsset: p.SellAsset, SellAmount: p.SellAmount, BuyAsset: other.Asset,
			SellDeliveryMethod: p.SellDeliveryMethod, BuyDeliveryMethod: p.BuyDeliveryMethod, CountryCode: p.Country}
		if buying {
			r = Request{SellAsset: other.Asset, BuyAsset: p.BuyAsset, BuyAmount: p.BuyAmount,
				SellDeliveryMethod: p.SellDeliveryMethod, BuyDeliveryMethod: p.BuyDeliveryMethod, CountryCode: p.Country}
		}
		if other.Asset == p.SellAsset || other.Asset == p.BuyAsset || only != "" && other.Asset != only {
			continue
		}
		// A delivery method or country belongs to one side: leave it out where the asset on
		// that side does not offer it, rather than refuse the whole list.
		if sa, ok := s.Asset(r.SellAsset); ok && !hasMethod(sa.SellDeliveryMethods, r.SellDeliveryMethod) {
			r.SellDeliveryMethod = ""
		}
		if ba, ok := s.Asset(r.BuyAsset); ok && !hasMethod(ba.BuyDeliveryMethods, r.BuyDeliveryMethod) {
			r.BuyDeliveryMethod = ""
		}
		if _, _, err := s.check(&r, false); err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) && (r.SellAsset == p.SellAsset && p.SellAsset != "" || r.BuyAsset == p.BuyAsset) {
				// The asset the client named, or its amount, is wrong: say so.
				if _, known := s.Asset(firstNonEmpty(p.SellAsset, p.BuyAsset)); !known || strings.Contains(ie.Msg, "amount") {
					return nil, buying, err
				}
			}
			continue
		}
		rate, err := s.rate(ctx, Indicative, r, client)
		if err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) {
				continue // not offered for this pair
			}
			return nil, buying, err
		}
		out = append(out, AssetPrice{Asset: other.Asset, Price: rate.Price, Decimals: other.Decimals})
	}
	return out, buying, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Quote is a firm quote: the POST /quote and GET /quote/{id} answer, with what vaspgate
// keeps beside it.
type Quote struct {
	ID                 string    `json:"id"`
	ExpiresAt          time.Time `json:"expires_at"`
	TotalPrice         string    `json:"total_price"`
	Price              string    `json:"price"`
	SellAsset          string    `json:"sell_asset"`
	SellAmount         string    `json:"sell_amount"`
	SellDeliveryMethod string    `json:"sell_delivery_method,omitempty"`
	BuyAsset           string    `json:"buy_asset"`
	BuyAmount          string    `json:"buy_amount"`
	BuyDeliveryMethod  string    `json:"buy_delivery_method,omitempty"`
	Fee                *Fee      `json:"fee,omitempty"`

	// RateID is the business's id of the firm rate (Anchor Platform keeps it as the quote id;
	// vaspgate issues its own so that two business rates can never collide).
	RateID      string          `json:"-"`
	Context     string          `json:"-"`
	Owner       wallet.Identity `json:"-"`
	CreatedAt   time.Time       `json:"-"`
	CountryCode string          `json:"-"`
	// TransactionID is the transaction that used the quote, once one has.
	TransactionID string `json:"-"`
}

// stored is the JSON kept in sep38_quotes.data.
type stored struct {
	Quote
	RateID      string          `json:"rate_id,omitempty"`
	Context     string          `json:"context"`
	Owner       wallet.Identity `json:"owner"`
	CreatedAt   time.Time       `json:"created_at"`
	CountryCode string          `json:"country_code,omitempty"`
}

// Create asks the rates source for a firm rate and stores it as the owner's quote, with the
// quote_created event, in one database transaction.
func (s *Service) Create(ctx context.Context, owner wallet.Identity, r Request) (Quote, error) {
	sell, buy, err := s.check(&r, true)
	if err != nil {
		return Quote{}, err
	}
	// SEP-38: the delivery method is required when the off-chain asset offers more than one.
	if !sell.OnStellar() && r.SellDeliveryMethod == "" && len(sell.SellDeliveryMethods) > 1 {
		return Quote{}, invalid("sell_delivery_method is required for %s", r.SellAsset)
	}
	if !buy.OnStellar() && r.BuyDeliveryMethod == "" && len(buy.BuyDeliveryMethods) > 1 {
		return Quote{}, invalid("buy_delivery_method is required for %s", r.BuyAsset)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if r.ExpireAfter != nil && r.ExpireAfter.Before(now) {
		return Quote{}, invalid("expire_after must be in the future")
	}
	rate, err := s.rate(ctx, Firm, r, owner.Account)
	if err != nil {
		return Quote{}, err
	}
	if rate.ExpiresAt.IsZero() || !rate.ExpiresAt.After(now) {
		return Quote{}, fmt.Errorf("%w: the firm rate has already expired", ErrUnavailable)
	}
	if r.ExpireAfter != nil && rate.ExpiresAt.Before(*r.ExpireAfter) {
		return Quote{}, invalid("no quote can be held until expire_after")
	}
	q := Quote{
		ID: uuid.Must(uuid.NewV7()).String(), ExpiresAt: rate.ExpiresAt.UTC().Truncate(time.Microsecond),
		TotalPrice: totalPrice(rate.SellAmount, rate.BuyAmount), Price: rate.Price,
		SellAsset: r.SellAsset, SellAmount: rate.SellAmount, SellDeliveryMethod: r.SellDeliveryMethod,
		BuyAsset: r.BuyAsset, BuyAmount: rate.BuyAmount, BuyDeliveryMethod: r.BuyDeliveryMethod, Fee: rate.Fee,
		RateID: rate.ID, Context: r.Context, Owner: owner, CreatedAt: now, CountryCode: r.CountryCode,
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		data, err := json.Marshal(stored{Quote: q, RateID: q.RateID, Context: q.Context, Owner: q.Owner,
			CreatedAt: q.CreatedAt, CountryCode: q.CountryCode})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sep38_quotes (id, owner_account, owner_memo, context,
			expires_at, created_at, transaction_id, data) VALUES (?, ?, ?, ?, ?, ?, '', ?)`,
			q.ID, owner.Account, owner.Memo, q.Context, store.Micros(q.ExpiresAt), store.Micros(now), string(data)); err != nil {
			return err
		}
		body, err := json.Marshal(map[string]any{"quote": q.Platform()})
		if err != nil {
			return err
		}
		return s.outbox.Business(ctx, tx, callback.Message{Type: EventQuoteCreated, Subject: "quote:" + q.ID,
			OccurredAt: now, Body: body})
	})
	if err != nil {
		return Quote{}, fmt.Errorf("quote: store quote: %w", err)
	}
	return q, nil
}

func scan(row interface{ Scan(...any) error }) (Quote, error) {
	var (
		data, txID string
		st         stored
	)
	if err := row.Scan(&data, &txID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Quote{}, ErrNotFound
		}
		return Quote{}, fmt.Errorf("quote: read quote: %w", err)
	}
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		return Quote{}, fmt.Errorf("quote: decode quote: %w", err)
	}
	q := st.Quote
	q.RateID, q.Context, q.Owner, q.CreatedAt, q.CountryCode, q.TransactionID = st.RateID, st.Context, st.Owner, st.CreatedAt, st.CountryCode, txID
	return q, nil
}

// Get returns the owner's quote id, or ErrNotFound (also when another owner has it).
func (s *Service) Get(ctx context.Context, owner wallet.Identity, id string) (Quote, error) {
	return scan(s.db.QueryRowContext(ctx, `SELECT data, transaction_id FROM sep38_quotes
		WHERE id = ? AND owner_account = ? AND owner_memo = ?`, id, owner.Account, owner.Memo))
}

// Find returns quote id whoever owns it (for the business: get_quote).
func (s *Service) Find(ctx context.Context, id string) (Quote, error) {
	return scan(s.db.QueryRowContext(ctx, `SELECT data, transaction_id FROM sep38_quotes WHERE id = ?`, id))
}

// Use is the rule for a transaction taking a quote, inside the transaction's own database
// transaction: the quote must be the owner's, of the context, not expired at now and not
// used before; match checks its assets and amounts against the transaction. On success the
// quote is marked as used by transactionID (a second use fails, whichever commits first).
func (s *Service) Use(ctx context.Context, tx *store.Tx, owner wallet.Identity, id, context, transactionID string,
	now time.Time, match func(Quote) error) (Quote, error) {
	q, err := scan(tx.QueryRowContext(ctx, `SELECT data, transaction_id FROM sep38_quotes
		WHERE id = ? AND owner_account = ? AND owner_memo = ?`, id, owner.Account, owner.Memo))
	if errors.Is(err, ErrNotFound) {
		return q, invalid("quote %s not found", id)
	}
	if err != nil {
		return q, err
	}
	switch {
	case q.Context != context:
		return q, invalid("quote %s was asked for %s, not %s", id, q.Context, context)
	case !now.Before(q.ExpiresAt):
		return q, invalid("quote %s has expired", id)
	case q.TransactionID != "":
		return q, invalid("quote %s was already used", id)
	}
	if match != nil {
		if err := match(q); err != nil {
			return q, err
		}
	}
	res, err := tx.ExecContext(ctx, `UPDATE sep38_quotes SET transaction_id = ? WHERE id = ? AND transaction_id = ''`, transactionID, id)
	if err != nil {
		return q, fmt.Errorf("quote: use quote: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return q, invalid("quote %s was already used", id)
	}
	q.TransactionID = transactionID
	return q, nil
}

// PlatformQuote is Anchor Platform's GetQuoteResponse: the get_quote RPC result and the
// quote_created event payload.
type PlatformQuote struct {
	ID                 string    `json:"id"`
	SellAmount         string    `json:"sell_amount"`
	SellAsset          string    `json:"sell_asset"`
	SellDeliveryMethod string    `json:"sell_delivery_method,omitempty"`
	BuyAmount          string    `json:"buy_amount"`
	BuyAsset           string    `json:"buy_asset"`
	BuyDeliveryMethod  string    `json:"buy_delivery_method,omitempty"`
	ExpiresAt          time.Time `json:"expires_at"`
	Price              string    `json:"price"`
	TotalPrice         string    `json:"total_price"`
	Creator            Creator   `json:"creator"`
	TransactionID      string    `json:"transaction_id,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	Fee                *Fee      `json:"fee,omitempty"`
	// Context is vaspgate's, additive.
	Context string `json:"context,omitempty"`
}

// Creator is Anchor Platform's StellarId of a quote's creator.
type Creator struct {
	Account string `json:"account,omitempty"`
	Memo    string `json:"memo,omitempty"`
}

// Platform returns the business's view of the quote.
func (q Quote) Platform() PlatformQuote {
	return PlatformQuote{
		ID: q.ID, SellAmount: q.SellAmount, SellAsset: q.SellAsset, SellDeliveryMethod: q.SellDeliveryMethod,
		BuyAmount: q.BuyAmount, BuyAsset: q.BuyAsset, BuyDeliveryMethod: q.BuyDeliveryMethod,
		ExpiresAt: q.ExpiresAt, Price: q.Price, TotalPrice: q.TotalPrice,
		Creator: Creator{Account: q.Owner.Account, Memo: q.Owner.Memo}, TransactionID: q.TransactionID,
		CreatedAt: q.CreatedAt, Fee: q.Fee, Context: q.Context,
	}
}
