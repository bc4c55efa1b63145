package transfer

import (
	"github.com/vaspgate/vaspgate/internal/quote"
)

// MatchQuote is the one rule for a new transaction and the firm quote it names (SEP-31 POST
// /transactions, SEP-6 deposit-exchange and withdraw-exchange), given to quote.Service.Use
// (which checks owner, context, expiry and single use in the creating database
// transaction): the quote must sell sellAsset, exactly sellAmount of it, and, when buyAsset
// is given, buy buyAsset. A mismatch is a *quote.InvalidError (the caller's 400).
func MatchQuote(q quote.Quote, sellAsset, sellAmount, buyAsset string) error {
	switch {
	case q.SellAsset != sellAsset:
		return &quote.InvalidError{Msg: "the quote sells " + q.SellAsset + ", not " + sellAsset}
	case !SameAmount(q.SellAmount, sellAmount):
		return &quote.InvalidError{Msg: "amount does not match the quote's sell_amount " + q.SellAmount}
	case buyAsset != "" && q.BuyAsset != buyAsset:
		return &quote.InvalidError{Msg: "the quote buys " + q.BuyAsset + ", not " + buyAsset}
	}
	return nil
}

// TakeQuote gives a new transaction the terms of the firm quote it took (SEP-6's and
// SEP-31's amount formulas with a quote): amount_in is what the quote sells, amount_out what
// it buys, fee_details its fee, and the user (or sending anchor) must act before the quote
// expires (user_action_required_by).
func (t *Transaction) TakeQuote(q quote.Quote) {
	t.QuoteID = q.ID
	t.AmountIn = &Amount{Amount: q.SellAmount, Asset: q.SellAsset}
	t.AmountOut = &Amount{Amount: q.BuyAmount, Asset: q.BuyAsset}
	t.FeeDetails = nil
	if q.Fee != nil {
		fd := &FeeDetails{Total: q.Fee.Total, Asset: q.Fee.Asset}
		for _, d := range q.Fee.Details {
			fd.Details = append(fd.Details, FeeDetail(d))
		}
		t.FeeDetails = fd
	}
	expires := q.ExpiresAt
	t.UserActionRequiredBy = &expires
}
