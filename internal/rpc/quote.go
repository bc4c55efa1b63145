package rpc

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/vaspgate/vaspgate/internal/quote"
)

// getQuote is Anchor Platform's get_quote: the quote by quote_id, whoever owns it, in
// GetQuoteResponse's shape.
func (s *Server) getQuote(ctx context.Context, raw json.RawMessage) (any, error) {
	if s.quotes == nil {
		return nil, errorf(CodeMethodNotFound, "RPC method[get_quote] is not supported: SEP-38 is not served (quotes.assets is empty)")
	}
	var p struct {
		QuoteID string `json:"quote_id"`
	}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, invalid("invalid params: %s", paramError(err))
		}
	}
	if p.QuoteID == "" {
		return nil, invalid("quote_id is required")
	}
	q, err := s.quotes.Find(ctx, p.QuoteID)
	if errors.Is(err, quote.ErrNotFound) {
		return nil, errorf(CodeInvalidParams, "quote[%s] is not found", p.QuoteID)
	}
	if err != nil {
		return nil, err
	}
	return q.Platform(), nil
}
