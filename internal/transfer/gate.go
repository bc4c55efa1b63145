package transfer

import "context"

// Gate may hold a business method on a transaction for a reason outside the state machine:
// the Travel Rule holds a deposit to another VASP's customer until its verification is
// VERIFIED. Before runs before the change and refuses it with an error (nothing changes);
// After runs once the change has committed (to report it onwards).
type Gate interface {
	Before(ctx context.Context, method string, t *Transaction) error
	After(ctx context.Context, method string, t *Transaction)
}

// HoldError is a gate's refusal: Msg says why and what releases the hold (safe to show).
type HoldError struct{ Msg string }

func (e *HoldError) Error() string { return e.Msg }

// Gate returns the configured gate, or nil.
func (s *Service) Gate() Gate { return s.gate }
