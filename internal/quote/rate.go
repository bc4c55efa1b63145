package quote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
)

// Rate types of a RateRequest (Anchor Platform's GetRateRequest.Type).
const (
	Indicative = "indicative"
	Firm       = "firm"
)

// RateRequest asks a Rates source for a price: Anchor Platform's GET /rate query.
// Exactly one of SellAmount and BuyAmount is set.
type RateRequest struct {
	Type               string
	SellAsset          string
	SellAmount         string
	SellDeliveryMethod string
	BuyAsset           string
	BuyAmount          string
	BuyDeliveryMethod  string
	CountryCode        string
	// ExpireAfter is the client's earliest acceptable expiry of a firm quote (zero: any).
	ExpireAfter time.Time
	// ClientID names the client asking (its SEP-10 account).
	ClientID string
	// Context is sep6 or sep31 (vaspgate sends it; Anchor Platform 4.3.0 does not).
	Context string
}

// FeeDetail is one named part of a fee.
type FeeDetail struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Amount      string `json:"amount"`
}

// Fee is a SEP-38 fee object.
type Fee struct {
	Total   string      `json:"total"`
	Asset   string      `json:"asset"`
	Details []FeeDetail `json:"details,omitempty"`
}

// Rate is a Rates source's answer (Anchor Platform's GetRateResponse.rate). A firm rate
// has an ID and an expiry.
type Rate struct {
	ID         string    `json:"id,omitempty"`
	Price      string    `json:"price"`
	SellAmount string    `json:"sell_amount"`
	BuyAmount  string    `json:"buy_amount"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	Fee        *Fee      `json:"fee,omitempty"`
}

// Rates prices an asset pair.
type Rates interface {
	Rate(ctx context.Context, r RateRequest) (Rate, error)
}

// ErrNoRate: the source has no price for the pair (the pair is not offered).
var ErrNoRate = errors.New("quote: no rate for this asset pair")

// ErrUnavailable: the source could not be asked (business server down, bad answer).
var ErrUnavailable = errors.New("quote: rates unavailable")

// StaticPair is one fixed rate: Price units of Sell for one unit of Buy, before a fee in the
// Sell asset of FeeFixed plus FeePercent percent of the amount exchanged.
type StaticPair struct {
	Sell, Buy  string
	Price      string
	FeeFixed   string
	FeePercent string
}

// StaticRates prices from fixed pairs (configuration); firm quotes live TTL.
type StaticRates struct {
	Pairs []StaticPair
	// Decimals gives an asset's number of decimals (amounts are rounded to it).
	Decimals func(asset string) int
	// TTL is the life of a firm quote. Zero means 10 minutes.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Check reports the first pair whose numbers are not decimals.
func (s StaticRates) Check() error {
	for i, p := range s.Pairs {
		if _, ok := parseAmount(p.Price); !ok {
			return fmt.Errorf("pairs[%d].price: %q is not a positive decimal", i, p.Price)
		}
		for name, v := range map[string]string{"fee_fixed": p.FeeFixed, "fee_percent": p.FeePercent} {
			if _, ok := parseNonNegative(v); v != "" && !ok {
				return fmt.Errorf("pairs[%d].%s: %q is not a non-negative decimal", i, name, v)
			}
		}
	}
	return nil
}

// Rate implements Rates. With a sell amount the fee comes off it and the buy amount is
// rounded down; with a buy amount the sell amount is rounded up and the fee added to it, so
// the anchor never gives more than the price says.
func (s StaticRates) Rate(_ context.Context, r RateRequest) (Rate, error) {
	var pair *StaticPair
	for i := range s.Pairs {
		if s.Pairs[i].Sell == r.SellAsset && s.Pairs[i].Buy == r.BuyAsset {
			pair = &s.Pairs[i]
		}
	}
	if pair == nil {
		return Rate{}, ErrNoRate
	}
	price, ok := parseAmount(pair.Price)
	if !ok {
		return Rate{}, fmt.Errorf("%w: static price %q", ErrUnavailable, pair.Price)
	}
	fixed, _ := parseNonNegative(pair.FeeFixed)
	if fixed == nil {
		fixed = new(big.Rat)
	}
	pct, _ := parseNonNegative(pair.FeePercent)
	if pct == nil {
		pct = new(big.Rat)
	}
	sd, bd := s.decimals(r.SellAsset), s.decimals(r.BuyAsset)
	feeOf := func(base *big.Rat) *big.Rat {
		f := new(big.Rat).Mul(base, pct)
		f.Quo(f, big.NewRat(100, 1))
		f.Add(f, fixed)
		v, _ := new(big.Rat).SetString(format(f, sd, true))
		return v
	}
	var sell, buy, fee *big.Rat
	switch {
	case r.SellAmount != "":
		var ok bool
		if sell, ok = parseAmount(r.SellAmount); !ok {
			return Rate{}, fmt.Errorf("quote: sell_amount %q", r.SellAmount)
		}
		fee = feeOf(sell)
		net := new(big.Rat).Sub(sell, fee)
		buy, _ = new(big.Rat).SetString(format(net.Quo(net, price), bd, false))
		if buy.Sign() <= 0 {
			return Rate{}, &InvalidError{Msg: "sell_amount does not cover the fee"}
		}
	default:
		var ok bool
		if buy, ok = parseAmount(r.BuyAmount); !ok {
			return Rate{}, fmt.Errorf("quote: buy_amount %q", r.BuyAmount)
		}
		net, _ := new(big.Rat).SetString(format(new(big.Rat).Mul(buy, price), sd, true))
		fee = feeOf(net)
		sell = new(big.Rat).Add(net, fee)
	}
	out := Rate{
		Price: pair.Price, SellAmount: format(sell, sd, false), BuyAmount: format(buy, bd, false),
		Fee: &Fee{Total: format(fee, sd, false), Asset: r.SellAsset},
	}
	if r.Type == Firm {
		ttl := s.TTL
		if ttl <= 0 {
			ttl = 10 * time.Minute
		}
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		out.ExpiresAt = now().UTC().Add(ttl).Truncate(time.Second)
		if !r.ExpireAfter.IsZero() && out.ExpiresAt.Before(r.ExpireAfter) {
			return Rate{}, &InvalidError{Msg: "expire_after is later than this anchor's quotes live"}
		}
	}
	return out, nil
}

func (s StaticRates) decimals(asset string) int {
	if s.Decimals == nil {
		return 7
	}
	return s.Decimals(asset)
}

// BusinessRates asks the business server's GET /rate (Anchor Platform's callback API:
// query type, sell_asset, sell_amount, sell_delivery_method, buy_asset, buy_amount,
// buy_delivery_method, country_code, expire_after, client_id; answer {"rate": {...}}).
type BusinessRates struct {
	// BaseURL is the business server (the path /rate is added).
	BaseURL string
	// Client makes the call (callback.NewHTTPClient with the operator's guard).
	Client *http.Client
	// Signer authenticates the call (API key or JWT, as the KYC callbacks).
	Signer callback.Signer
}

// Rate implements Rates. A 4xx answer with an error message is the client's mistake
// (InvalidError, shown to it); 404 is ErrNoRate; anything else ErrUnavailable.
func (b BusinessRates) Rate(ctx context.Context, r RateRequest) (Rate, error) {
	u, err := url.Parse(strings.TrimRight(b.BaseURL, "/") + "/rate")
	if err != nil {
		return Rate{}, fmt.Errorf("%w: base_url: %v", ErrUnavailable, err)
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("type", r.Type)
	set("sell_asset", r.SellAsset)
	set("sell_amount", r.SellAmount)
	set("sell_delivery_method", r.SellDeliveryMethod)
	set("buy_asset", r.BuyAsset)
	set("buy_amount", r.BuyAmount)
	set("buy_delivery_method", r.BuyDeliveryMethod)
	set("country_code", r.CountryCode)
	set("client_id", r.ClientID)
	set("context", r.Context)
	if !r.ExpireAfter.IsZero() {
		q.Set("expire_after", r.ExpireAfter.UTC().Format(time.RFC3339))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Rate{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	if b.Signer != nil {
		if err := b.Signer.Sign(req.Header, callback.SignInput{URL: u, Now: time.Now()}); err != nil {
			return Rate{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	client := b.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Rate{}, fmt.Errorf("%w: GET /rate: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Rate{}, fmt.Errorf("%w: read /rate answer: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return Rate{}, ErrNoRate
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Error == "" {
			e.Error = "the rate request was refused"
		}
		return Rate{}, &InvalidError{Msg: e.Error}
	default:
		return Rate{}, fmt.Errorf("%w: GET /rate answered %d", ErrUnavailable, resp.StatusCode)
	}
	var body struct {
		Rate *Rate `json:"rate"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil || body.Rate == nil {
		return Rate{}, fmt.Errorf("%w: GET /rate answer has no rate", ErrUnavailable)
	}
	rate := *body.Rate
	if _, ok := parseAmount(rate.Price); !ok {
		return Rate{}, fmt.Errorf("%w: GET /rate price %q is not a positive decimal", ErrUnavailable, rate.Price)
	}
	if r.Type == Firm && (rate.ID == "" || rate.ExpiresAt.IsZero()) {
		// Anchor Platform refuses a firm rate without them too.
		return Rate{}, fmt.Errorf("%w: GET /rate firm answer lacks id or expires_at", ErrUnavailable)
	}
	return rate, nil
}
