// Package transfertest holds Anchor Platform 4.3.0's SEP-6 status tables, transcribed from
// its Java handlers, for tests to hold transfer.Machine against. The assembled RPC stack is
// rpc/rpctest; the wallet and business server are the test kit's.
package transfertest

import "github.com/vaspgate/vaspgate/internal/transfer"

// APSupported is Anchor Platform 4.3.0's getSupportedStatuses for SEP-6, transcribed method
// by method from platform/src/main/java/org/stellar/anchor/platform/rpc/*Handler.java in
// the shape of the Java code (not from transfer.Machine), so that tests can hold the table
// against it. It reports whether method may act on a transaction of kind in status from,
// with funds received or not.
func APSupported(method string, kind transfer.Kind, from transfer.Status, funds bool) bool {
	deposit, withdrawal := kind.Deposit(), kind.Withdrawal()
	set := map[transfer.Status]bool{}
	add := func(s ...transfer.Status) {
		for _, x := range s {
			set[x] = true
		}
	}
	switch method {
	case "request_offchain_funds":
		if deposit {
			add("incomplete")
			if !funds {
				add("pending_anchor", "pending_customer_info_update")
			}
		}
	case "notify_offchain_funds_received":
		if deposit {
			add("pending_user_transfer_start", "on_hold", "pending_external")
		}
	case "request_trust":
		if deposit && funds {
			add("pending_anchor")
		}
	case "notify_trust_set":
		if deposit {
			add("pending_trust")
		}
	case "notify_onchain_funds_sent":
		if deposit {
			add("pending_stellar")
			if funds {
				add("pending_anchor")
			}
		}
	case "request_onchain_funds":
		if withdrawal {
			add("incomplete", "pending_customer_info_update")
			if !funds {
				add("pending_anchor")
			}
		}
	case "notify_onchain_funds_received":
		if withdrawal {
			add("pending_user_transfer_start", "on_hold")
		}
	case "notify_offchain_funds_pending":
		if withdrawal && funds {
			add("pending_anchor")
		}
	case "notify_offchain_funds_available":
		if withdrawal && funds {
			add("pending_anchor", "on_hold")
		}
	case "notify_offchain_funds_sent":
		switch {
		case deposit:
			add("pending_user_transfer_start")
		case withdrawal:
			if funds {
				add("pending_anchor")
			}
			add("pending_user_transfer_complete", "pending_external")
		}
	case "notify_amounts_updated":
		if funds {
			add("pending_anchor")
		}
	case "notify_customer_info_updated":
		add("incomplete", "pending_anchor", "pending_customer_info_update")
	case "notify_transaction_on_hold":
		add("pending_user_transfer_start")
		if withdrawal {
			add("pending_anchor")
		}
	case "notify_refund_pending":
		if deposit {
			add("pending_anchor")
		} else {
			add("pending_user_transfer_complete", "pending_external")
		}
	case "notify_refund_sent":
		switch {
		case deposit:
			if funds {
				add("pending_external", "pending_anchor")
			}
		case withdrawal:
			add("pending_stellar")
			if funds {
				add("pending_anchor")
			}
		}
	case "notify_transaction_error", "notify_transaction_expired":
		if method == "notify_transaction_expired" && funds {
			break
		}
		// SepTransactionStatus.values() without isErrorStatus and isFinalStatus.
		switch from {
		case "error", "expired", "completed", "refunded":
		default:
			add(from)
		}
	case "notify_transaction_recovery":
		if funds {
			add("error", "expired")
		}
	}
	return set[from]
}

// APNext is Anchor Platform's getNextStatus for SEP-6 where it does not depend on the
// parameters (notify_refund_sent and notify_customer_info_updated do: "" for them).
func APNext(method string, kind transfer.Kind) transfer.Status {
	switch method {
	case "request_offchain_funds", "request_onchain_funds":
		return "pending_user_transfer_start"
	case "notify_offchain_funds_received", "notify_trust_set", "notify_onchain_funds_received",
		"notify_amounts_updated", "notify_transaction_recovery":
		return "pending_anchor"
	case "request_trust":
		return "pending_trust"
	case "notify_onchain_funds_sent":
		return "completed"
	case "notify_offchain_funds_pending":
		return "pending_external"
	case "notify_offchain_funds_available":
		return "pending_user_transfer_complete"
	case "notify_offchain_funds_sent":
		if kind.Deposit() {
			return "pending_external"
		}
		return "completed"
	case "notify_transaction_on_hold":
		return "on_hold"
	case "notify_refund_pending":
		if kind.Withdrawal() {
			return "pending_anchor"
		}
		return "pending_external"
	case "notify_transaction_error":
		return "error"
	case "notify_transaction_expired":
		return "expired"
	}
	return ""
}

// VaspgateStricter lists where vaspgate refuses what Anchor Platform allows: completing a
// transaction whose funds were never received (docs/anchor-platform.md).
func VaspgateStricter(method string, kind transfer.Kind, from transfer.Status, funds bool) bool {
	if funds {
		return false
	}
	switch {
	case method == "notify_onchain_funds_sent" && kind.Deposit() && from == "pending_stellar":
		return true
	case method == "notify_offchain_funds_sent" && kind.Withdrawal() &&
		(from == "pending_user_transfer_complete" || from == "pending_external"):
		return true
	}
	return false
}
