package observer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"

	"github.com/vaspgate/vaspgate/internal/observer/horizonsim"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// rig is an observer's world: a database with the transfer service, a simulated Horizon,
// the distribution account and the outcomes of every commit.
type rig struct {
	db     *store.DB
	stack  *rpctest.Stack
	sim    *horizonsim.Sim
	dist   *keypair.Full
	issuer string
	usdc   txnbuild.CreditAsset

	mu   sync.Mutex
	outs map[string][]Outcome // by operation id
	new  chan struct{}
}

func newRig(t *testing.T, db *store.DB) *rig {
	t.Helper()
	return newGatedRig(t, db, nil)
}

// newGatedRig is newRig with the transfer service's gate.
func newGatedRig(t *testing.T, db *store.DB, gate transfer.Gate) *rig {
	t.Helper()
	sim := horizonsim.New()
	t.Cleanup(sim.Close)
	h, err := stellar.NewHorizon(sim.URL(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{db: db, stack: rpctest.New(t, db, rpctest.Options{Ledger: transfer.HorizonLedger(h), Gate: gate}), sim: sim,
		dist: keypair.MustRandom(), issuer: keypair.MustRandom().Address(), outs: map[string][]Outcome{}, new: make(chan struct{}, 1024)}
	r.usdc = txnbuild.CreditAsset{Code: "USDC", Issuer: r.issuer}
	return r
}

// observer builds an observer of the rig's account named holder.
func (r *rig) observer(t *testing.T, holder string, ttl time.Duration) *Observer {
	t.Helper()
	h, err := stellar.NewHorizon(r.sim.URL(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err := New(Options{DB: r.db, Horizon: h, Accounts: []string{r.dist.Address()}, Transfers: r.stack.Transfers,
		Events: r.stack.Engine.Outbox(), Instance: holder, LeaseTTL: ttl, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, LagInterval: 50 * time.Millisecond, StartCursor: "0",
		Committed: func(out Outcome) {
			r.mu.Lock()
			r.outs[out.Operation] = append(r.outs[out.Operation], out)
			r.mu.Unlock()
			r.new <- struct{}{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// run starts o and returns a function stopping it (and waiting for it).
func run(t *testing.T, o *Observer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := o.Run(ctx); err != nil {
			t.Errorf("observer %s: %v", o.Holder(), err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// outcome waits for the first commit of operation id.
func (r *rig) outcome(t *testing.T, id string) Outcome {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		r.mu.Lock()
		outs := r.outs[id]
		r.mu.Unlock()
		if len(outs) > 0 {
			return outs[0]
		}
		select {
		case <-r.new:
		case <-deadline:
			t.Fatalf("operation %s not committed after 60s", id)
		}
	}
}

// withdrawal stores a withdrawal waiting for the user's payment of 100 USDC with memo.
func (r *rig) withdrawal(t *testing.T, memo string) transfer.Transaction {
	t.Helper()
	asset := "stellar:USDC:" + r.issuer
	return r.stack.NewTransactionWith(t, transfer.KindWithdrawal, transfer.StatusPendingUserTransferStart, func(tx *transfer.Transaction) {
		tx.AssetIssuer, tx.WithdrawAnchorAccount, tx.WithdrawMemo, tx.WithdrawMemoType = r.issuer, r.dist.Address(), memo, "id"
		tx.AmountIn = &transfer.Amount{Amount: "100", Asset: asset}
		tx.AmountExpected = &transfer.Amount{Amount: "100", Asset: asset}
	})
}

func (r *rig) submit(t *testing.T, p horizonsim.Payment) horizonsim.Submitted {
	t.Helper()
	sub, err := r.sim.Submit(p)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func memoID(s string) txnbuild.Memo {
	n, _ := strconv.ParseUint(s, 10, 64)
	return txnbuild.MemoID(n)
}

// muxed is the M… address of account with id.
func muxed(t *testing.T, account string, id uint64) string {
	t.Helper()
	m, err := xdr.MuxedAccountFromAccountId(account, id)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.GetAddress()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestPaymentsMatched runs the observer against payments of every shape on both engines:
// exact, partial and excess amounts, a path payment, a muxed destination, claimable balances
// with and without a known memo, the wrong asset, an unknown memo and an outgoing payment.
func TestPaymentsMatched(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		user := keypair.MustRandom()
		type want struct {
			status, flag, reason string
			amount, paymentType  string
		}
		cases := []struct {
			name string
			memo string // the withdrawal's memo; "" for none
			pay  func(memo string) horizonsim.Payment
			want want
		}{
			{"exact", "1001", func(m string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID(m)}
			}, want{StatusMatched, "", "", "100", "payment"}},
			{"partial", "1002", func(m string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "90.5", Memo: memoID(m)}
			}, want{StatusMatched, transfer.FlagPartial, "", "90.5", "payment"}},
			{"excess", "1003", func(m string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "110", Memo: memoID(m)}
			}, want{StatusMatched, transfer.FlagExcess, "", "110", "payment"}},
			{"path payment", "1004", func(m string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID(m),
					SendAsset: txnbuild.NativeAsset{}, SendAmount: "750"}
			}, want{StatusMatched, "", "", "100", "path_payment"}},
			{"muxed destination, no memo", "1005", func(m string) horizonsim.Payment {
				id, _ := strconv.ParseUint(m, 10, 64)
				return horizonsim.Payment{From: user, To: muxed(t, r.dist.Address(), id), Asset: r.usdc, Amount: "100"}
			}, want{StatusMatched, "", "", "100", "payment"}},
			{"claimable balance with the memo", "1006", func(m string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID(m), Claimable: true}
			}, want{StatusMatched, transfer.FlagClaimable, "", "100", "payment"}},
			{"claimable balance, unknown memo", "", func(string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID("777"), Claimable: true}
			}, want{status: StatusUnmatched, reason: "claimable balance: no transaction expects memo 777"}},
			{"wrong asset", "1008", func(m string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Amount: "100", Memo: memoID(m)}
			}, want{status: StatusUnmatched, reason: "asset stellar:native"}},
			{"unknown memo", "", func(string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID("888")}
			}, want{status: StatusUnmatched, reason: "no transaction expects memo 888"}},
			{"no memo", "", func(string) horizonsim.Payment {
				return horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100"}
			}, want{status: StatusUnmatched, reason: "the payment has no memo"}},
			{"outgoing", "", func(string) horizonsim.Payment {
				return horizonsim.Payment{From: r.dist, To: user.Address(), Asset: r.usdc, Amount: "50"}
			}, want{status: StatusOutgoing}},
		}
		ids := map[string]string{}
		subs := map[string]horizonsim.Submitted{}
		for _, c := range cases {
			if c.memo != "" {
				ids[c.name] = r.withdrawal(t, c.memo).ID
			}
			subs[c.name] = r.submit(t, c.pay(c.memo))
		}
		o := r.observer(t, "solo", 2*time.Second)
		run(t, o)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				sub := subs[c.name]
				out := r.outcome(t, sub.OperationID)
				if out.Status != c.want.status || out.Flag != c.want.flag || out.Duplicate || !strings.HasPrefix(out.Reason, c.want.reason) {
					t.Fatalf("outcome %+v, want %+v", out, c.want)
				}
				p, err := o.Payment(context.Background(), sub.OperationID)
				if err != nil || p.Status != c.want.status || p.Flag != c.want.flag || p.Reason != out.Reason || p.TransactionHash != sub.Hash {
					t.Fatalf("observed payment %+v (%v)", p, err)
				}
				if c.want.status != StatusMatched {
					if id := ids[c.name]; id != "" {
						if tx, _ := r.stack.Transfers.Get(context.Background(), id); tx.Status != transfer.StatusPendingUserTransferStart {
							t.Fatalf("unmatched payment moved %s to %s", id, tx.Status)
						}
					}
					return
				}
				tx, err := r.stack.Transfers.Get(context.Background(), ids[c.name])
				if err != nil {
					t.Fatal(err)
				}
				if out.Transaction != tx.ID || tx.Status != transfer.StatusPendingAnchor || tx.AmountIn == nil ||
					tx.AmountIn.Amount != c.want.amount || tx.TransferReceivedAt == nil || !tx.TransferReceivedAt.Equal(sub.ClosedAt) {
					t.Fatalf("transaction %+v", tx)
				}
				if (c.want.flag == "") != (tx.Message == "") {
					t.Fatalf("flag %q but message %q", c.want.flag, tx.Message)
				}
				st := tx.StellarTransactions
				if len(st) != 1 || st[0].ID != sub.Hash || st[0].Envelope != sub.Envelope || len(st[0].Payments) != 1 ||
					st[0].Payments[0].ID != sub.OperationID || st[0].Payments[0].PaymentType != c.want.paymentType ||
					st[0].Payments[0].Amount.Amount != c.want.amount || tx.StellarTransactionID != sub.Hash {
					t.Fatalf("stellar_transactions %+v", st)
				}
			})
		}
		list, err := o.Payments(context.Background(), Filter{Status: StatusUnmatched})
		if err != nil || len(list) != 4 {
			t.Fatalf("unmatched list: %d (%v), want 4", len(list), err)
		}
	})
}

// TestTwoInstancesCommitOnce commits one payment from two observers at the same moment on
// both engines: one matches it, the other finds it recorded and changes nothing.
func TestTwoInstancesCommitOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		w := r.withdrawal(t, "2001")
		sub := r.submit(t, horizonsim.Payment{To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID("2001")})
		a, b := r.observer(t, "a", time.Second), r.observer(t, "b", time.Second)
		for _, o := range []*Observer{a, b} {
			if _, err := o.cursor(context.Background(), r.dist.Address()); err != nil {
				t.Fatal(err)
			}
		}
		ops, err := a.h.Operations(context.Background(), r.dist.Address(), "0", 10, false)
		if err != nil || len(ops) != 1 || ops[0].ID != sub.OperationID {
			t.Fatalf("page: %+v (%v)", ops, err)
		}
		var wg sync.WaitGroup
		outs := make([]Outcome, 2)
		errs := make([]error, 2)
		for i, o := range []*Observer{a, b} {
			wg.Go(func() {
				got, err := o.commitPage(context.Background(), r.dist.Address(), ops[:1:1])
				if err == nil {
					outs[i] = got[0]
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if outs[0].Duplicate == outs[1].Duplicate {
			t.Fatalf("outcomes %+v: want exactly one duplicate", outs)
		}
		tx, _ := r.stack.Transfers.Get(context.Background(), w.ID)
		if tx.Status != transfer.StatusPendingAnchor || tx.Version != w.Version+1 {
			t.Fatalf("transaction %s version %d, want pending_anchor version %d", tx.Status, tx.Version, w.Version+1)
		}
		// The wallet hears the change once, after a while nothing more.
		r.stack.Wallet.Wait("/sep6", 1, 30*time.Second)
		if n := len(r.stack.Wallet.Got("/sep6")); n != 1 {
			t.Fatalf("wallet got %d callbacks, want 1", n)
		}
	})
}

// TestLeaseTakeoverAndRestart plays a crashed leader (its lease left to expire), a restart
// and a payment made while no observer ran: the waiting instance takes over only after the
// expiry, and a new instance resumes from the stored cursor without missing the payment or
// committing an earlier one again.
func TestLeaseTakeoverAndRestart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		// A crashed instance holds the lease for another 1.5 s.
		if ok, err := acquire(ctx, db, "crashed", time.Now(), 1500*time.Millisecond); !ok || err != nil {
			t.Fatalf("ghost lease: %v %v", ok, err)
		}
		w1 := r.withdrawal(t, "3001")
		sub1 := r.submit(t, horizonsim.Payment{To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID("3001")})
		a := r.observer(t, "a", time.Second)
		stopA := run(t, a)
		if st := a.Status(ctx); st.Leader || st.Lease == nil || st.Lease.Holder != "crashed" {
			t.Fatalf("before the ghost lease expired: %+v", st)
		}
		out := r.outcome(t, sub1.OperationID)
		if out.Status != StatusMatched || out.Transaction != w1.ID {
			t.Fatalf("outcome %+v", out)
		}
		if st := a.Status(ctx); !st.Leader || st.Lease.Holder != "a" || st.Lease.Term != 2 {
			t.Fatalf("after take-over: %+v", st)
		}
		stopA()
		if _, ok, _ := readLease(ctx, db); ok {
			t.Fatal("a clean stop left the lease behind")
		}

		// Paid while nothing watches; a new instance resumes from the cursor.
		w2 := r.withdrawal(t, "3002")
		sub2 := r.submit(t, horizonsim.Payment{To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID("3002")})
		b := r.observer(t, "b", time.Second)
		run(t, b)
		if out := r.outcome(t, sub2.OperationID); out.Status != StatusMatched || out.Transaction != w2.ID {
			t.Fatalf("after restart: %+v", out)
		}
		r.mu.Lock()
		n := len(r.outs[sub1.OperationID])
		r.mu.Unlock()
		if n != 1 {
			t.Fatalf("the first payment was committed %d times, want 1 (resumed from the cursor)", n)
		}
		if tx, _ := r.stack.Transfers.Get(ctx, w1.ID); tx.Version != w1.Version+1 {
			t.Fatalf("first withdrawal version %d, want %d", tx.Version, w1.Version+1)
		}
		// The lag is measured and is zero once caught up.
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := b.Status(ctx)
			if len(st.Accounts) == 1 && st.Accounts[0].LagLedgers == 0 && !st.Accounts[0].MeasuredAt.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lag not measured: %+v", st)
			}
			time.Sleep(20 * time.Millisecond) // polling the observer's reported state
		}
	})
}

// TestSEP31PaymentMatched runs the observer against a sending anchor's payment for a SEP-31
// receive on both engines: the transaction waiting in pending_sender moves to
// pending_receiver with amount_in, transfer_received_at and stellar_transactions set, and a
// second payment with the same memo matches nothing (the transaction waits no more).
func TestSEP31PaymentMatched(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		sender := keypair.MustRandom()
		asset := "stellar:USDC:" + r.issuer
		recv := r.stack.NewTransactionWith(t, transfer.KindReceive, transfer.StatusPendingSender, func(tx *transfer.Transaction) {
			tx.AssetIssuer, tx.WithdrawAnchorAccount, tx.WithdrawMemo, tx.WithdrawMemoType = r.issuer, r.dist.Address(), "3101", "id"
			tx.AmountIn = &transfer.Amount{Amount: "250", Asset: asset}
			tx.AmountExpected = &transfer.Amount{Amount: "250", Asset: asset}
		})
		first := r.submit(t, horizonsim.Payment{From: sender, To: r.dist.Address(), Asset: r.usdc, Amount: "250", Memo: memoID("3101")})
		again := r.submit(t, horizonsim.Payment{From: sender, To: r.dist.Address(), Asset: r.usdc, Amount: "250", Memo: memoID("3101")})
		run(t, r.observer(t, "solo", 2*time.Second))

		out := r.outcome(t, first.OperationID)
		if out.Status != StatusMatched || out.Transaction != recv.ID || out.Flag != "" {
			t.Fatalf("first payment: %+v, want matched to %s", out, recv.ID)
		}
		tx, err := r.stack.Transfers.Get(context.Background(), recv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != transfer.StatusPendingReceiver || tx.AmountIn == nil || tx.AmountIn.Amount != "250" ||
			tx.TransferReceivedAt == nil || !tx.TransferReceivedAt.Equal(first.ClosedAt) ||
			len(tx.StellarTransactions) != 1 || tx.StellarTransactions[0].ID != first.Hash {
			t.Fatalf("SEP-31 transaction after its payment: %+v", tx)
		}
		if out := r.outcome(t, again.OperationID); out.Status != StatusUnmatched || !strings.Contains(out.Reason, "not waiting for a payment") {
			t.Fatalf("second payment: %+v, want unmatched (not waiting)", out)
		}
	})
}

// holdGate is a transfer gate holding the transactions named in held (as the Travel Rule's
// does) and noting what After hears.
type holdGate struct {
	held  map[string]bool
	mu    sync.Mutex
	after []string // "method prev→next" per call
}

func (g *holdGate) Before(_ context.Context, _ string, t *transfer.Transaction) error {
	if g.held[t.ID] {
		return &transfer.HoldError{Msg: "held for review: " + t.ID}
	}
	return nil
}

func (g *holdGate) After(_ context.Context, method string, prev, t *transfer.Transaction) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.after = append(g.after, fmt.Sprintf("%s %s %s→%s", method, t.ID, prev.Status, t.Status))
}

// TestPaymentsGoThroughTheGate runs, on both engines, a backlog of payments committed as one
// page (one database transaction) through the transfer gate: a payment for a transaction the
// gate holds leaves it as it was and is kept for it (status held, flagged held, naming it,
// announced to the business); the others move their transactions and the gate hears each
// change once, after the commit, with the status before and after; the page replayed changes
// nothing. Once the hold is released, ApplyHeld applies the kept payment once (the gate
// hears it), and a second ApplyHeld finds nothing.
func TestPaymentsGoThroughTheGate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		gate := &holdGate{held: map[string]bool{}}
		r := newGatedRig(t, db, gate)
		user := keypair.MustRandom()
		var ws []transfer.Transaction
		var subs []horizonsim.Submitted
		for i := range 5 {
			memo := strconv.Itoa(4001 + i)
			ws = append(ws, r.withdrawal(t, memo))
			subs = append(subs, r.submit(t, horizonsim.Payment{From: user, To: r.dist.Address(), Asset: r.usdc, Amount: "100", Memo: memoID(memo)}))
		}
		gate.held[ws[2].ID] = true
		o := r.observer(t, "solo", 2*time.Second)
		if _, err := o.cursor(context.Background(), r.dist.Address()); err != nil {
			t.Fatal(err)
		}
		ops, err := o.h.Operations(context.Background(), r.dist.Address(), "0", PageSize, false)
		if err != nil || len(ops) != len(subs) {
			t.Fatalf("page: %d operations (%v), want %d", len(ops), err, len(subs))
		}
		outs, err := o.commitPage(context.Background(), r.dist.Address(), ops)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i, out := range outs {
			tx, err := r.stack.Transfers.Get(context.Background(), ws[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if i == 2 {
				if out.Status != StatusHeld || out.Flag != FlagHeld || out.Transaction != ws[i].ID || !strings.Contains(out.Reason, "held for review") {
					t.Errorf("held payment: %+v", out)
				}
				if tx.Status != transfer.StatusPendingUserTransferStart || tx.Version != ws[i].Version {
					t.Errorf("held transaction moved: %s v%d", tx.Status, tx.Version)
				}
				p, err := o.Payment(context.Background(), subs[i].OperationID)
				if err != nil || p.Flag != FlagHeld || p.TransactionID != ws[i].ID {
					t.Errorf("recorded held payment %+v (%v)", p, err)
				}
				continue
			}
			if out.Status != StatusMatched || out.Transaction != ws[i].ID || tx.Status != transfer.StatusPendingAnchor {
				t.Errorf("payment %d: %+v, transaction %s", i, out, tx.Status)
			}
			want = append(want, fmt.Sprintf("notify_onchain_funds_received %s pending_user_transfer_start→pending_anchor", ws[i].ID))
		}
		gate.mu.Lock()
		if !slices.Equal(gate.after, want) {
			t.Errorf("gate heard %v, want %v", gate.after, want)
		}
		gate.mu.Unlock()
		again, err := o.commitPage(context.Background(), r.dist.Address(), ops)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range again {
			if !out.Duplicate {
				t.Errorf("replayed page: %+v, want a duplicate", out)
			}
		}
		gate.mu.Lock()
		if len(gate.after) != len(want) {
			t.Errorf("gate heard the replay: %v", gate.after)
		}
		gate.held[ws[2].ID] = false
		gate.mu.Unlock()

		for i, wantApplied := range []bool{true, false} {
			applied, err := o.ApplyHeld(context.Background(), ws[2].ID, "hold released")
			if err != nil || applied != wantApplied {
				t.Fatalf("ApplyHeld #%d: %v %v, want %v", i+1, applied, err, wantApplied)
			}
		}
		tx, err := r.stack.Transfers.Get(context.Background(), ws[2].ID)
		if err != nil || tx.Status != transfer.StatusPendingAnchor || tx.StellarTransactionID != subs[2].Hash ||
			tx.AmountIn == nil || tx.AmountIn.Amount != "100" || tx.Message != "hold released" {
			t.Errorf("released transaction: %+v (%v)", tx, err)
		}
		if p, err := o.Payment(context.Background(), subs[2].OperationID); err != nil || p.Status != StatusMatched || p.TransactionID != ws[2].ID {
			t.Errorf("applied payment %+v (%v)", p, err)
		}
		want = append(want, fmt.Sprintf("notify_onchain_funds_received %s pending_user_transfer_start→pending_anchor", ws[2].ID))
		gate.mu.Lock()
		defer gate.mu.Unlock()
		if !slices.Equal(gate.after, want) {
			t.Errorf("gate heard %v, want %v", gate.after, want)
		}
	})
}
