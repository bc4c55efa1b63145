package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/observer/horizonsim"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/test/sendinganchor"
)

// sendingAnchor connects the simulated sending anchor to s through its stellar.toml (the
// home domain anchor.test dialled on the loopback listener) and signs in with SEP-10.
func sendingAnchor(t *testing.T, ctx context.Context, s *stack) *sendinganchor.Anchor {
	t.Helper()
	sa, err := sendinganchor.Connect(ctx, sendinganchor.Options{Home: "http://anchor.test",
		Dial: map[string]string{"anchor.test:80": strings.TrimPrefix(s.public, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	return sa
}

// acceptedCustomer registers a customer of type typ with fields through the sending anchor's
// SEP-12 and has an operator accept it through the admin API, returning its id.
func acceptedCustomer(t *testing.T, ctx context.Context, s *stack, sa *sendinganchor.Anchor, typ string, fields map[string]string) string {
	t.Helper()
	fields["type"] = typ
	id, err := sa.PutCustomer(ctx, fields)
	if err != nil {
		t.Fatal(err)
	}
	s.do(t, "PUT", s.admin+"/admin/v1/customers/"+id+"/status", adminToken, map[string]any{"status": "ACCEPTED", "type": typ}, 200)
	return id
}

// TestSendingAnchorPaysThroughSEP31 is SEP-31's receive flow through the assembled service on
// both engines, driven by a sending anchor written from the SEPs: SEP-10, the sender
// registered through SEP-12 in two steps (NEEDS_INFO, then ACCEPTED by an operator) and the
// receiver in one (each under its own memo of the sending anchor's account), a firm SEP-38
// quote, POST /transactions (refused with customer_info_needed while the sender needs info,
// and a quote used once), the callback URL, the payment on Stellar seen by the observer, the
// business's RPC calls — while the sending anchor's callback endpoint is down — including a
// pending_customer_info_update round (the receiver's account refused, sent again through
// SEP-12), and every SEP-12 and SEP-31 callback verified against stellar.toml's SIGNING_KEY
// and heard once, in order. A second sending anchor reads and uses none of the first one's
// customers, quotes or transactions.
func TestSendingAnchorPaysThroughSEP31(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			recv := sendinganchor.NewReceiver()
			defer recv.Close()
			sim := horizonsim.New()
			defer sim.Close()
			dist := keypair.MustRandom().Address()
			o := startObserved(t, d, sim, dist, func(c *config.Config) {
				c.KYC.CallbackHTTPHosts = append(c.KYC.CallbackHTTPHosts, recv.Host())
				c.Transfer.CallbackHTTPHosts = append(c.Transfer.CallbackHTTPHosts, recv.Host())
				// The endpoint comes back within the test: retry soon, and never open the
				// circuit over the few refusals.
				c.Callback.RetrySchedule = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
					200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}
				c.Callback.CircuitThreshold = 1000
			})
			sa := sendingAnchor(t, ctx, o.stack)
			if sa.TOML.SigningKey != o.signingKey || sa.TOML.AnchorQuoteServer == "" {
				t.Fatalf("stellar.toml as the sending anchor reads it: %+v", sa.TOML)
			}
			recv.Trust(sa.TOML.SigningKey)

			info, err := sa.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			usdc := info["USDC"]
			if !usdc.Enabled || !usdc.QuotesSupported || usdc.SEP12.Sender.Types["sep31-sender"].Description == "" ||
				usdc.SEP12.Receiver.Types["sep31-receiver"].Description == "" {
				t.Fatalf("/sep31/info USDC: %+v", usdc)
			}
			payment := sendinganchor.Payment{Amount: "100", AssetCode: "USDC", AssetIssuer: o.issuer, FundingMethod: "SEPA"}
			if _, err := sa.Send(ctx, payment); sendinganchor.StatusOf(err) != 400 || err.(*sendinganchor.Error).Code != "customer_info_needed" ||
				err.(*sendinganchor.Error).Type != "sep31-sender" {
				t.Fatalf("POST /transactions without a sender: %v", err)
			}

			// The sender in two steps, with its callback registered while it needs info.
			sender, err := sa.PutCustomer(ctx, map[string]string{"type": "sep31-sender", "first_name": "Ada"})
			if err != nil {
				t.Fatal(err)
			}
			if c, err := sa.GetCustomer(ctx, sender, "sep31-sender"); err != nil || c.Status != "NEEDS_INFO" {
				t.Fatalf("sender after one field: %+v %v", c, err)
			}
			if err := sa.PutCustomerCallback(ctx, sender, recv.URL("/sender")); err != nil {
				t.Fatal(err)
			}
			payment.SenderID = sender
			if _, err := sa.Send(ctx, payment); sendinganchor.StatusOf(err) != 400 || err.(*sendinganchor.Error).Type != "sep31-sender" {
				t.Fatalf("POST /transactions with a sender who needs info: %v", err)
			}
			if _, err := sa.PutCustomer(ctx, map[string]string{"id": sender, "type": "sep31-sender", "last_name": "Lovelace",
				"email_address": "ada@example.com"}); err != nil {
				t.Fatal(err)
			}
			o.do(t, "PUT", o.admin+"/admin/v1/customers/"+sender+"/status", adminToken, map[string]any{"status": "ACCEPTED", "type": "sep31-sender"}, 200)
			receiver, err := sa.PutCustomer(ctx, map[string]string{"type": "sep31-receiver", "first_name": "Grace",
				"last_name": "Hopper", "bank_account_number": "DE89370400440532013000"})
			if err != nil {
				t.Fatal(err)
			}
			if err := sa.PutCustomerCallback(ctx, receiver, recv.URL("/receiver")); err != nil {
				t.Fatal(err)
			}
			o.do(t, "PUT", o.admin+"/admin/v1/customers/"+receiver+"/status", adminToken, map[string]any{"status": "ACCEPTED", "type": "sep31-receiver"}, 200)
			payment.ReceiverID = receiver

			// A firm quote, used by the transaction; a second use is refused.
			usdcID := "stellar:USDC:" + o.issuer
			q, err := sa.FirmQuote(ctx, sendinganchor.QuoteRequest{SellAsset: usdcID, BuyAsset: "iso4217:USD", SellAmount: "100",
				BuyDeliveryMethod: "SEPA", Context: "sep31"})
			if err != nil {
				t.Fatal(err)
			}
			if q.BuyAmount != "99" || q.Fee.Total != "1" {
				t.Errorf("quote %+v, want 99 bought and a fee of 1 (development rates)", q)
			}
			payment.QuoteID, payment.DestinationAsset = q.ID, "iso4217:USD"
			created, err := sa.Send(ctx, payment)
			if err != nil {
				t.Fatal(err)
			}
			if created.StellarAccountID != dist || created.StellarMemoType != "id" || created.StellarMemo == "" {
				t.Fatalf("where to pay: %+v, want %s with an id memo", created, dist)
			}
			if _, err := sa.Send(ctx, payment); sendinganchor.StatusOf(err) != 400 {
				t.Errorf("a second transaction on quote %s: %v, want 400", q.ID, err)
			}
			if err := sa.PutTransactionCallback(ctx, created.ID, recv.URL("/sep31")); err != nil {
				t.Fatal(err)
			}
			tx, err := sa.Transaction(ctx, created.ID)
			if err != nil || tx.Status != "pending_sender" || tx.QuoteID != q.ID || tx.AmountIn != "100" || tx.AmountOut != "99" ||
				tx.AmountOutAsset != "iso4217:USD" || tx.AmountFee != "1" {
				t.Fatalf("new transaction: %+v %v", tx, err)
			}

			// Another sending anchor sees none of it.
			other := sendingAnchor(t, ctx, o.stack)
			if _, err := other.Transaction(ctx, created.ID); sendinganchor.StatusOf(err) != 404 {
				t.Errorf("another sending anchor reads the transaction: %v", err)
			}
			if _, err := other.GetQuote(ctx, q.ID); sendinganchor.StatusOf(err) != 404 {
				t.Errorf("another sending anchor reads the quote: %v", err)
			}
			if _, err := other.GetCustomer(ctx, sender, "sep31-sender"); sendinganchor.StatusOf(err) != 404 {
				t.Errorf("another sending anchor reads the sender: %v", err)
			}
			if _, err := other.Send(ctx, payment); sendinganchor.StatusOf(err) != 404 {
				t.Errorf("another sending anchor pays with the first one's customers: %v", err)
			}

			// The callback endpoint goes down; the sending anchor pays on Stellar, the
			// observer sees it, the business pays out. Every change waits in the outbox.
			recv.SetDown(true)
			memo, err := strconv.ParseUint(created.StellarMemo, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := sim.Submit(horizonsim.Payment{From: sa.Key, To: created.StellarAccountID,
				Asset: txnbuild.CreditAsset{Code: "USDC", Issuer: o.issuer}, Amount: "100", Memo: txnbuild.MemoID(memo)})
			if err != nil {
				t.Fatal(err)
			}
			if err := recv.WaitRefused(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if p := o.platform(t, created.ID); p.Status != "pending_receiver" || len(p.StellarTxs) != 1 || p.StellarTxs[0].ID != sub.Hash {
				t.Fatalf("after the payment: %+v, want pending_receiver with %s", p, sub.Hash)
			}
			// The receiver's bank refuses the account: an operator asks for it again, the
			// business tells vaspgate (pending_customer_info_update for the sending anchor).
			o.do(t, "PUT", o.admin+"/admin/v1/customers/"+receiver+"/status", adminToken, map[string]any{"status": "NEEDS_INFO",
				"type": "sep31-receiver", "fields": []string{"bank_account_number"}, "message": "account closed"}, 200)
			o.rpc(t, "notify_customer_info_updated", map[string]any{"transaction_id": created.ID, "customer_id": receiver,
				"customer_type": "sep31-receiver"})
			recv.SetDown(false)

			// The sending anchor hears it, reads what is needed and sends it again through
			// SEP-12; the operator accepts and the business resumes the payout.
			if _, err := recv.Wait(ctx, "/sep31", 2); err != nil {
				t.Fatal(err)
			}
			if c, err := sa.GetCustomer(ctx, receiver, "sep31-receiver"); err != nil || c.Status != "NEEDS_INFO" || c.Fields["bank_account_number"] == nil {
				t.Fatalf("the receiver as the sending anchor reads it: %+v %v", c, err)
			}
			// The registration ended when the receiver was ACCEPTED (a final status): the
			// sending anchor registers again to hear this round.
			if err := sa.PutCustomerCallback(ctx, receiver, recv.URL("/receiver")); err != nil {
				t.Fatal(err)
			}
			if _, err := sa.PutCustomer(ctx, map[string]string{"id": receiver, "type": "sep31-receiver", "bank_account_number": "DE02120300000000202051"}); err != nil {
				t.Fatal(err)
			}
			o.do(t, "PUT", o.admin+"/admin/v1/customers/"+receiver+"/status", adminToken, map[string]any{"status": "ACCEPTED", "type": "sep31-receiver"}, 200)
			o.rpc(t, "notify_customer_info_updated", map[string]any{"transaction_id": created.ID, "customer_id": receiver,
				"customer_type": "sep31-receiver"})
			o.rpc(t, "notify_offchain_funds_pending", map[string]any{"transaction_id": created.ID, "external_transaction_id": "sepa-1"})
			o.rpc(t, "notify_offchain_funds_sent", map[string]any{"transaction_id": created.ID, "external_transaction_id": "sepa-1"})

			want := []string{"pending_receiver", "pending_customer_info_update", "pending_receiver", "pending_external", "completed"}
			got, err := recv.Wait(ctx, "/sep31", len(want))
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range got {
				var body struct{ Transaction sendinganchor.Transaction }
				if c.Err != nil || json.Unmarshal(c.Body, &body) != nil || body.Transaction.ID != created.ID || body.Transaction.Status != want[i] {
					t.Errorf("SEP-31 callback %d: %s (%v), want %s %s", i, c.Body, c.Err, created.ID, want[i])
				}
			}
			if last := got[len(got)-1]; !strings.Contains(string(last.Body), `"stellar_transaction_id":"`+sub.Hash+`"`) {
				t.Errorf("the completed callback does not name the payment %s: %s", sub.Hash, last.Body)
			}
			for path, statuses := range map[string][]string{"/sender": {"PROCESSING", "ACCEPTED"},
				"/receiver": {"ACCEPTED", "PROCESSING", "ACCEPTED"}} {
				got, err := recv.Wait(ctx, path, len(statuses))
				if err != nil {
					_, b := o.do(t, "GET", o.admin+"/admin/v1/deliveries?limit=200", adminToken, nil, 200)
					t.Fatalf("%v\n%s", err, b)
				}
				for i, c := range got {
					var body struct{ ID, Status string }
					if c.Err != nil || json.Unmarshal(c.Body, &body) != nil || body.Status != statuses[i] {
						t.Errorf("SEP-12 callback %s %d: %s (%v), want %s", path, i, c.Body, c.Err, statuses[i])
					}
				}
			}
			tx, err = sa.Transaction(ctx, created.ID)
			if err != nil || tx.Status != "completed" || tx.CompletedAt == nil || tx.StellarTransactionID != sub.Hash ||
				tx.ExternalTransactionID != "sepa-1" || tx.AmountOut != "99" {
				t.Errorf("completed transaction: %+v %v", tx, err)
			}

			// Nothing more is on its way to the sending anchor: every delivery is delivered,
			// and it heard each change once.
			for _, st := range o.settled(t) {
				if st != "delivered" {
					t.Errorf("delivery status %q, want delivered", st)
				}
			}
			for path, n := range map[string]int{"/sep31": 5, "/sender": 2, "/receiver": 3} {
				if all := recv.All(path); len(all) != n {
					t.Errorf("%d callbacks on %s, want %d", len(all), path, n)
				}
			}
		})
	}
}

// TestSEP31TransactionExpiresWithItsQuote: a SEP-31 transaction on a firm quote that is never
// paid expires when the quote does (SEP-31), through the assembled service's periodic sweep,
// and the sending anchor hears "expired" by a signed callback. Both engines.
func TestSEP31TransactionExpiresWithItsQuote(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			recv := sendinganchor.NewReceiver()
			defer recv.Close()
			s := startWith(t, d, testkit.NewWallet(t), func(c *config.Config) {
				c.Transfer.CallbackHTTPHosts = append(c.Transfer.CallbackHTTPHosts, recv.Host())
				// Long enough for the transaction to be created on the quote under a loaded
				// CI machine (2 s was not, on SQLite with the whole suite running), short
				// enough to wait for.
				c.Quotes.QuoteTTL = 6 * time.Second
			})
			sa := sendingAnchor(t, ctx, s)
			recv.Trust(sa.TOML.SigningKey)
			sender := acceptedCustomer(t, ctx, s, sa, "sep31-sender", map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email_address": "ada@example.com"})
			receiver := acceptedCustomer(t, ctx, s, sa, "sep31-receiver", map[string]string{"first_name": "Grace", "last_name": "Hopper", "bank_account_number": "DE89370400440532013000"})
			usdc := "stellar:USDC:" + s.app.Config.Transfer.Assets[0].Issuer
			q, err := sa.FirmQuote(ctx, sendinganchor.QuoteRequest{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "100",
				BuyDeliveryMethod: "SEPA", Context: "sep31"})
			if err != nil {
				t.Fatal(err)
			}
			created, err := sa.Send(ctx, sendinganchor.Payment{Amount: "100", AssetCode: "USDC", FundingMethod: "SEPA",
				SenderID: sender, ReceiverID: receiver, QuoteID: q.ID, DestinationAsset: "iso4217:USD"})
			if err != nil {
				t.Fatal(err)
			}
			if err := sa.PutTransactionCallback(ctx, created.ID, recv.URL("/sep31")); err != nil {
				t.Fatal(err)
			}
			got, err := recv.Wait(ctx, "/sep31", 1)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Transaction sendinganchor.Transaction }
			if got[0].Err != nil || json.Unmarshal(got[0].Body, &body) != nil || body.Transaction.ID != created.ID ||
				body.Transaction.Status != "expired" || body.Transaction.StatusMessage == "" {
				t.Fatalf("callback %s (%v), want %s expired with a message", got[0].Body, got[0].Err, created.ID)
			}
			if tx, err := sa.Transaction(ctx, created.ID); err != nil || tx.Status != "expired" {
				t.Fatalf("after the quote expired: %+v %v", tx, err)
			}
		})
	}
}
