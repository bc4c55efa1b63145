package transfer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/transfer"
)

// apSEP31 is Anchor Platform 4.3.0's getSupportedStatuses for SEP-31 (platform/.../rpc/*Handler.java),
// transcribed from the handlers: method -> statuses, and whether vaspgate additionally
// requires received funds.
var apSEP31 = map[string]struct {
	from      []transfer.Status
	funds     string // "any", "received", "not_received" as Anchor Platform checks it
	vaspFunds string // vaspgate's guard where it is stricter
	next      []transfer.Status
}{
	"notify_onchain_funds_received": {from: []transfer.Status{"pending_sender"}, funds: "any", next: []transfer.Status{"pending_receiver"}},
	"notify_offchain_funds_pending": {from: []transfer.Status{"pending_receiver"}, funds: "any", vaspFunds: "received", next: []transfer.Status{"pending_external"}},
	"notify_offchain_funds_sent":    {from: []transfer.Status{"pending_receiver", "pending_external"}, funds: "any", vaspFunds: "received", next: []transfer.Status{"completed"}},
	"notify_customer_info_updated": {from: []transfer.Status{"pending_receiver", "pending_customer_info_update"}, funds: "any",
		next: []transfer.Status{"pending_receiver", "pending_customer_info_update", "error"}},
	"notify_transaction_recovery": {from: []transfer.Status{"error", "expired"}, funds: "received", next: []transfer.Status{"pending_receiver"}},
}

var sep31Statuses = []transfer.Status{"pending_sender", "pending_stellar", "pending_customer_info_update",
	"pending_transaction_info_update", "pending_receiver", "pending_external", "completed", "refunded", "expired", "error"}

// TestSEP31Machine: every method × SEP-31 status × funds received or not, against Anchor
// Platform's SEP-31 rows, with vaspgate's funds rule (nothing paid out or completed unpaid).
func TestSEP31Machine(t *testing.T) {
	t.Parallel()
	open := func(s transfer.Status) bool {
		return s != "error" && s != "expired" && s != "completed" && s != "refunded"
	}
	for _, method := range append(transfer.Methods(), transfer.MethodCustomerInfoUpdated) {
		for _, from := range sep31Statuses {
			for _, funds := range []bool{false, true} {
				tx := &transfer.Transaction{Kind: transfer.KindReceive, Status: from}
				if funds {
					now := time.Now()
					tx.TransferReceivedAt = &now
				}
				var want bool
				var next []transfer.Status
				switch method {
				case "notify_transaction_error":
					want, next = open(from), []transfer.Status{"error"}
				case "notify_transaction_expired":
					want, next = open(from) && !funds, []transfer.Status{"expired"}
				case "notify_refund_sent":
					// Anchor Platform: pending_stellar and pending_receiver; vaspgate refunds
					// from pending_receiver only what was received.
					want = from == "pending_stellar" || (from == "pending_receiver" && funds)
					next = []transfer.Status{"refunded", "pending_receiver"}
				default:
					row, ok := apSEP31[method]
					if ok && slices.Contains(row.from, from) {
						want = row.funds == "any" || (row.funds == "received") == funds
						if row.vaspFunds == "received" && !funds {
							want = false
						}
					}
					next = row.next
				}
				targets, err := transfer.Allow(method, tx)
				if got := err == nil; got != want {
					t.Errorf("%s from %s (funds %v): allowed %v, want %v", method, from, funds, got, want)
					continue
				}
				if err == nil && !slices.Equal(targets, next) {
					t.Errorf("%s from %s: targets %v, want %v", method, from, targets, next)
				}
			}
		}
	}
	te := &transfer.TransitionError{Method: "notify_trust_set", Status: "pending_receiver", Kind: transfer.KindReceive}
	if want := "RPC method[notify_trust_set] is not supported. Status[pending_receiver], kind[receive], protocol[31], funds received[false]"; te.Error() != want {
		t.Errorf("error text %q", te.Error())
	}
}
