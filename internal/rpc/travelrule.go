package rpc

import (
	"context"

	"github.com/vaspgate/vaspgate/internal/transfer"
)

// TravelRule gives the Travel Rule verifications linked to transactions, by transaction id
// (the app satisfies it with the travel-rule records).
type TravelRule interface {
	TransactionVerifications(ctx context.Context, ids []string) (map[string][]transfer.TravelRuleVerification, error)
}

// withTravelRule adds to each transaction the verifications linked to it. The field is
// additive and informative: when the records cannot be read the transactions are answered
// without it (logged), rather than failing a read the business depends on.
func (s *Server) withTravelRule(ctx context.Context, txs []transfer.PlatformTransaction) {
	if s.tr == nil || len(txs) == 0 {
		return
	}
	ids := make([]string, len(txs))
	for i := range txs {
		ids[i] = txs[i].ID
	}
	linked, err := s.tr.TransactionVerifications(ctx, ids)
	if err != nil {
		s.log.Warn("travel rule verifications not shown on transactions", "err", err)
		return
	}
	for i := range txs {
		txs[i].TravelRule = linked[txs[i].ID]
	}
}
