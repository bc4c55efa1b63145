package transfer_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/transfer/transfertest"
)

var allKinds = []transfer.Kind{transfer.KindDeposit, transfer.KindDepositExchange, transfer.KindWithdrawal, transfer.KindWithdrawalExchange}

var everyStatus = []transfer.Status{"incomplete", "pending_customer_info_update", "pending_transaction_info_update",
	"pending_user_transfer_start", "pending_user_transfer_complete", "pending_external", "pending_anchor", "on_hold",
	"pending_stellar", "pending_trust", "pending_user", "completed", "refunded", "expired", "error", "no_market",
	"too_small", "too_large"}

// TestMachineAgainstAnchorPlatform: every method × kind × status × funds received or not,
// the table against Anchor Platform 4.3.0's getSupportedStatuses and getNextStatus
// (transcribed separately in transfertest), with vaspgate's one stricter rule listed.
func TestMachineAgainstAnchorPlatform(t *testing.T) {
	t.Parallel()
	methods := append(transfer.Methods(), transfer.MethodCustomerInfoUpdated)
	if len(methods) != 18 {
		t.Fatalf("%d methods, want Anchor Platform's 18 SEP-6 state-changing methods: %v", len(methods), methods)
	}
	stricter := 0
	for _, method := range methods {
		if _, ok := transfer.Machine[method]; !ok {
			t.Errorf("%s has no row", method)
		}
		for _, kind := range allKinds {
			for _, from := range everyStatus {
				for _, funds := range []bool{false, true} {
					tx := &transfer.Transaction{Kind: kind, Status: from}
					if funds {
						now := time.Now()
						tx.TransferReceivedAt = &now
					}
					targets, err := transfer.Allow(method, tx)
					ap := transfertest.APSupported(method, kind, from, funds)
					want := ap && !transfertest.VaspgateStricter(method, kind, from, funds)
					if ap != want {
						stricter++
					}
					if got := err == nil; got != want {
						t.Errorf("%s %s from %s (funds %v): allowed %v, want %v (Anchor Platform %v)", method, kind, from, funds, got, want, ap)
						continue
					}
					if err != nil {
						var te *transfer.TransitionError
						if !errors.As(err, &te) || te.Method != method || te.Status != from || te.Kind != kind || te.FundsReceived != funds {
							t.Errorf("%s: error %v", method, err)
						}
						continue
					}
					if next := transfertest.APNext(method, kind); next != "" && !slices.Equal(targets, []transfer.Status{next}) {
						t.Errorf("%s %s: targets %v, want [%s]", method, kind, targets, next)
					}
				}
			}
		}
	}
	// Three documented cases, each for the plain and the exchange kind of its flow.
	if stricter != 6 {
		t.Errorf("vaspgate refuses %d of Anchor Platform's cases, want the 3 documented ones × 2 kinds", stricter)
	}
	for flow, st := range transfer.Machine["notify_refund_sent"] {
		if flow == transfer.FlowReceive {
			continue // TestSEP31Machine
		}
		if !slices.Equal(st.To, []transfer.Status{"refunded", "pending_anchor"}) {
			t.Errorf("notify_refund_sent %s targets %v", flow, st.To)
		}
	}
}

// TestNeverCompletedUnpaid: no row of the table leads to completed from a state whose funds
// were not received.
func TestNeverCompletedUnpaid(t *testing.T) {
	t.Parallel()
	for method, flows := range transfer.Machine {
		for flow, st := range flows {
			if !slices.Contains(st.To, transfer.StatusCompleted) {
				continue
			}
			for _, src := range st.From {
				if src.Funds != transfer.FundsReceived {
					t.Errorf("%s %s: completed from %s without requiring received funds", method, flow, src.Status)
				}
			}
		}
	}
}
