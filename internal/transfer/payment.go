package transfer

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Payment is one payment-like operation the payment observer saw reaching an anchor
// account: a payment, a path payment (Amount and Asset are what arrived) or a claimable
// balance the anchor account may claim.
type Payment struct {
	// OperationID is Horizon's operation id: the payment's identity.
	OperationID     string
	TransactionHash string
	// Type is Horizon's operation type: payment, path_payment_strict_send,
	// path_payment_strict_receive or create_claimable_balance.
	Type string
	From string
	// To is the anchor's G… account (a muxed destination resolved to its account).
	To string
	// ToMuxedID is the muxed id when the payment went to an M… address, else "".
	ToMuxedID string
	// Asset is in SEP-38 form ("stellar:USDC:G…", "stellar:native").
	Asset  string
	Amount string
	// Memo and MemoType are the Stellar transaction's, as Horizon shows them (hash and
	// return memos in base64).
	Memo     string
	MemoType string
	// ClosedAt is when the ledger holding the payment closed.
	ClosedAt time.Time
	// Envelope is the transaction's envelope XDR (base64), recorded with the transfer.
	Envelope string
}

// Flags a matched payment may carry: what arrived differs from what was expected. The
// transaction moves on either way (as Anchor Platform's observer does) and the business
// decides; the flag is in the transaction's message and on the observed payment.
const (
	FlagPartial = "partial"
	FlagExcess  = "excess"
	// FlagClaimable: the funds wait in a claimable balance the anchor must claim.
	FlagClaimable = "claimable_balance"
)

// Receipt is what became of a Payment.
type Receipt struct {
	// TransactionID is the transaction the payment matched, or "" when it matched none.
	TransactionID string
	// Flag is "" or one of the Flag constants.
	Flag string
	// Reason says, when TransactionID is "", why the payment matched nothing.
	Reason string
	// Held is the transaction the payment was for when the gate refused to let it move
	// (Reason says why); the transaction is left as it was, as the gate's refusal of the
	// same method from the business would leave it.
	Held string
	// Previous and Transaction are the transaction before and after the change (zero when
	// unmatched): Service.PaymentReceived hands both to the gate.
	Previous, Transaction Transaction
}

// receivedMethod is the business method a matched payment stands for.
const receivedMethod = "notify_onchain_funds_received"

// PaymentAdmission is the gate's word on a payment, asked before the observer's database
// transaction opens (Service.AdmitPayment); ReceivePaymentTx follows it.
type PaymentAdmission struct {
	// TransactionID is the transaction the gate was asked about ("" when the payment
	// matched none at the time, or there is no gate).
	TransactionID string
	// Refusal is the gate's refusal ("" when admitted).
	Refusal string
}

// AdmitPayment asks the gate (see Gate) whether the transaction a payment would match may
// receive it, exactly as Apply asks before notify_onchain_funds_received from the business:
// outside any database transaction (the gate reads through the pool, which on SQLite's
// single connection would wait for the caller's own transaction forever). Without a gate,
// or when the payment matches nothing, it admits. A gate error other than a refusal is
// returned (the observer retries the page).
func (s *Service) AdmitPayment(ctx context.Context, p Payment) (PaymentAdmission, error) {
	if s.gate == nil {
		return PaymentAdmission{}, nil
	}
	t, _, err := s.expecting(ctx, s.db, p)
	if err != nil || t == nil {
		return PaymentAdmission{}, err
	}
	err = s.gate.Before(ctx, receivedMethod, t)
	var hold *HoldError
	switch {
	case errors.As(err, &hold):
		return PaymentAdmission{TransactionID: t.ID, Refusal: hold.Msg}, nil
	case err != nil:
		return PaymentAdmission{}, fmt.Errorf("transfer: admit payment %s: %w", p.OperationID, err)
	}
	return PaymentAdmission{TransactionID: t.ID}, nil
}

// PaymentReceived tells the gate, after the observer's commit, what a matched payment
// changed (Gate.After), as Apply does after notify_onchain_funds_received.
func (s *Service) PaymentReceived(ctx context.Context, r Receipt) {
	if s.gate == nil || r.TransactionID == "" {
		return
	}
	s.gate.After(ctx, receivedMethod, &r.Previous, &r.Transaction)
}

// expecting finds the transaction a payment is for: by destination account and memo (the
// memo the anchor issued, with its type; for a muxed destination without memo, the muxed id
// as an id memo), waiting for its payment and in the payment's asset. It returns nil and
// why when there is none.
func (s *Service) expecting(ctx context.Context, q store.Querier, p Payment) (*Transaction, string, error) {
	keys := p.memoKeys()
	if len(keys) == 0 {
		return nil, unmatchedReason(p, "the payment has no memo"), nil
	}
	var found []Transaction
	for _, k := range keys {
		ts, err := s.query(ctx, q, "SELECT "+columns+" FROM transfer_transactions WHERE pay_to = ? AND pay_memo = ? ORDER BY id DESC LIMIT 20", p.To, k)
		if err != nil {
			return nil, "", fmt.Errorf("transfer: receive payment %s: %w", p.OperationID, err)
		}
		found = append(found, ts...)
	}
	if len(found) == 0 {
		return nil, unmatchedReason(p, fmt.Sprintf("no transaction expects memo %s (%s) at %s", p.Memo, memoTypeName(p.MemoType), p.To)), nil
	}
	var t *Transaction
	for i := range found {
		if found[i].awaitsPayment() || found[i].holdsPayment() {
			t = &found[i]
			break
		}
	}
	if t == nil {
		return nil, unmatchedReason(p, fmt.Sprintf("transaction %s is %s, not waiting for a payment", found[0].ID, found[0].Status)), nil
	}
	if want := t.StellarAsset(); !sameAsset(p.Asset, want) {
		return nil, unmatchedReason(p, fmt.Sprintf("asset %s, transaction %s expects %s", p.Asset, t.ID, want)), nil
	}
	return t, "", nil
}

// ReceivePaymentTx matches an observed payment to the transaction its user was asked to
// make, inside the caller's database transaction (see expecting). A match waiting for its
// payment (a withdrawal in pending_user_transfer_start, a SEP-31 receive in pending_sender)
// moves the transaction as notify_onchain_funds_received does (pending_anchor, or
// pending_receiver for SEP-31; amount_in, transfer_received_at at the ledger's close, the
// Stellar transaction recorded) with its wallet callback and business event, unless the
// gate refused it (a, from AdmitPayment: the transaction is left as it is and the receipt
// says why); anything else is returned unmatched with the reason. A transaction the gate was
// not asked about (it became the match after AdmitPayment) is left too, as refused, so that
// no payment moves a transaction the gate has not seen. The caller makes the call once per
// payment (keyed by operation id): this method does not de-duplicate.
func (s *Service) ReceivePaymentTx(ctx context.Context, tx *store.Tx, p Payment, a PaymentAdmission) (Receipt, error) {
	t, why, err := s.expecting(ctx, tx, p)
	if err != nil {
		return Receipt{}, err
	}
	if t == nil {
		return Receipt{Reason: why}, nil
	}
	if t.Status == StatusOnHold {
		// Put on hold before its payment arrived (a Travel Rule hold): the payment is the
		// transaction's, kept for it, and applied when the hold is released
		// (ReceiveHeldPaymentTx), never moving it out of on_hold on its own.
		return Receipt{Held: t.ID, Reason: unmatchedReason(p, fmt.Sprintf("transaction %s is on_hold: the payment is kept for it and applied when the hold is released", t.ID))}, nil
	}
	if s.gate != nil && (a.TransactionID != t.ID || a.Refusal != "") {
		why := a.Refusal
		if why == "" {
			why = fmt.Sprintf("transaction %s became the payment's match after the gate was asked; the business decides", t.ID)
		}
		return Receipt{Held: t.ID, Reason: unmatchedReason(p, why)}, nil
	}
	return s.receive(ctx, tx, t, p, "")
}

// ErrPaymentNotApplicable: a payment kept for a held transaction can no longer be applied to
// it (the transaction received funds otherwise, or moved on).
var ErrPaymentNotApplicable = errors.New("transfer: the kept payment cannot be applied")

// ReceiveHeldPaymentTx applies, inside the caller's database transaction, a payment that was
// kept for transaction id while it was held (Receipt.Held): the transaction moves as
// ReceivePaymentTx would have moved it (amount_in, transfer_received_at at the ledger's
// close, stellar_transactions, its wallet callback and business event), with message (why it
// moves now) before the amount's own note. The caller asked the gate already (it is the
// hold's release) and tells it afterwards (PaymentReceived). A transaction that can no
// longer receive this payment (it received funds, or moved on) is a *TransitionError and
// nothing changes.
func (s *Service) ReceiveHeldPaymentTx(ctx context.Context, tx *store.Tx, id string, p Payment, message string) (Receipt, error) {
	t, err := getQ(ctx, tx, id)
	if err != nil {
		return Receipt{}, fmt.Errorf("transfer: apply held payment %s: %w", p.OperationID, err)
	}
	if !t.holdsPayment() && !t.awaitsPayment() {
		return Receipt{}, fmt.Errorf("%w: transaction %s is %s, not waiting for a payment", ErrPaymentNotApplicable, t.ID, t.Status)
	}
	if to, memo := t.payKey(); to != p.To || !slices.Contains(p.memoKeys(), memo) {
		return Receipt{}, fmt.Errorf("%w: payment %s is not to transaction %s's account and memo", ErrPaymentNotApplicable, p.OperationID, t.ID)
	}
	r, err := s.receive(ctx, tx, &t, p, message)
	if err == nil && r.TransactionID == "" {
		err = fmt.Errorf("%w: %s", ErrPaymentNotApplicable, r.Reason)
	}
	return r, err
}

// receive moves t as a received payment p (see ReceivePaymentTx); note, when set, goes
// before the amount's own note in the transaction's message.
func (s *Service) receive(ctx context.Context, tx *store.Tx, t *Transaction, p Payment, note string) (Receipt, error) {
	amount := p.Amount
	if r, ok := ParseDecimal(amount); ok {
		amount = ratString(r)
	}
	flag := amountFlag(t, amount)
	if p.Type == "create_claimable_balance" {
		flag = FlagClaimable
	}
	params := Params{
		TransactionID: t.ID, StellarTransactionID: p.TransactionHash,
		AmountIn: &AmountParam{Amount: Decimal(amount)},
		Message:  receivedMessage(t, flag, amount),
	}
	if note != "" {
		params.Message = strings.TrimSuffix(note+"; "+params.Message, "; ")
	}
	params.ledgerTx = &StellarTransaction{
		ID: p.TransactionHash, CreatedAt: p.ClosedAt, Memo: p.Memo, MemoType: p.MemoType, Envelope: p.Envelope,
		Payments: []StellarPayment{{ID: p.OperationID, Amount: Amount{Amount: amount, Asset: p.Asset},
			PaymentType: paymentType(p.Type), SourceAccount: p.From, DestinationAccount: p.To}},
	}
	m := methods[receivedMethod]
	now := s.Now()
	next, _, err := s.ChangeTx(ctx, tx, *t, false, func(t *Transaction) error {
		if _, err := Allow(receivedMethod, t); err != nil {
			return err
		}
		if err := m.check(&params, t, now); err != nil {
			return err
		}
		from := t.Status
		return move(t, from, m.apply(&params, t, now), params.Message, false, nil)
	})
	var te *TransitionError
	if errors.As(err, &te) {
		return Receipt{Reason: unmatchedReason(p, fmt.Sprintf("transaction %s cannot receive funds: %v", t.ID, err))}, nil
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("transfer: receive payment %s: %w", p.OperationID, err)
	}
	return Receipt{TransactionID: next.ID, Flag: flag, Previous: *t, Transaction: next}, nil
}

func unmatchedReason(p Payment, why string) string {
	if p.Type == "create_claimable_balance" {
		return "claimable balance: " + why
	}
	return why
}

func memoTypeName(t string) string {
	if t == "" {
		return "none"
	}
	return t
}

// paymentType is Anchor Platform's payment_type of a StellarPayment.
func paymentType(horizonType string) string {
	if strings.HasPrefix(horizonType, "path_payment") {
		return "path_payment"
	}
	return "payment"
}

// sameAsset compares a payment's asset with the transaction's: both SEP-38; a transaction
// asset without issuer ("stellar:USDC") accepts any issuer of that code.
func sameAsset(paid, want string) bool {
	if paid == want {
		return true
	}
	code, issuer, ok := strings.Cut(strings.TrimPrefix(paid, "stellar:"), ":")
	return ok && issuer != "" && "stellar:"+code == want
}

// expectedAmount is what the user was asked to pay: amount_expected, else amount_in.
func expectedAmount(t *Transaction) string {
	if t.AmountExpected != nil && t.AmountExpected.Amount != "" {
		return t.AmountExpected.Amount
	}
	return t.amountIn()
}

// amountFlag compares what arrived with what was expected ("" when nothing was expected).
func amountFlag(t *Transaction, got string) string {
	want, ok1 := ParseDecimal(expectedAmount(t))
	have, ok2 := ParseDecimal(got)
	if !ok1 || !ok2 {
		return ""
	}
	switch have.Cmp(want) {
	case -1:
		return FlagPartial
	case 1:
		return FlagExcess
	}
	return ""
}

// receivedMessage is the transaction's message for a received payment: empty when it is
// exactly what was expected, else what differs, for the business.
func receivedMessage(t *Transaction, flag, amount string) string {
	switch flag {
	case FlagPartial:
		return fmt.Sprintf("The incoming payment amount was insufficient: expected %s, received %s", expectedAmount(t), amount)
	case FlagExcess:
		return fmt.Sprintf("The incoming payment amount was more than expected: expected %s, received %s", expectedAmount(t), amount)
	case FlagClaimable:
		return fmt.Sprintf("The payment of %s arrived as a claimable balance: the anchor must claim it", amount)
	}
	return ""
}

// memoKey normalises a memo for matching: "type:value", with id memos as decimal numbers
// and hash and return memos as lowercase hex of their 32 bytes (given in hex or base64).
func memoKey(typ, memo string) (string, bool) {
	switch typ {
	case "", "id":
		n, err := strconv.ParseUint(strings.TrimSpace(memo), 10, 64)
		if err != nil {
			return "", false
		}
		return "id:" + strconv.FormatUint(n, 10), true
	case "text":
		return "text:" + memo, true
	case "hash", "return":
		b, err := hex.DecodeString(memo)
		if err != nil || len(b) != 32 {
			b, err = base64.StdEncoding.DecodeString(memo)
		}
		if err != nil || len(b) != 32 {
			return "", false
		}
		return typ + ":" + hex.EncodeToString(b), true
	}
	return "", false
}

// awaitsPayment says whether the transaction waits for a Stellar payment to the anchor: a
// SEP-6 withdrawal in pending_user_transfer_start (the user pays), a SEP-31 receive in
// pending_sender (the sending anchor pays).
func (t *Transaction) awaitsPayment() bool {
	if t.Kind == KindReceive {
		return t.Status == StatusPendingSender
	}
	return t.Kind.Withdrawal() && t.Status == StatusPendingUserTransferStart
}

// holdsPayment says whether the transaction was put on_hold before its payment arrived (a
// withdrawal held while it waited for its user's payment): a payment for it is kept and
// applied when the hold is released. No Stellar transaction recorded is the test, not
// transfer_received_at, which notify_transaction_on_hold sets (as Anchor Platform does).
func (t *Transaction) holdsPayment() bool {
	return t.Kind.Withdrawal() && t.Status == StatusOnHold && t.StellarTransactionID == "" && len(t.StellarTransactions) == 0
}

// memoKeys are the pay_memo keys the payment may be for: its memo (normalised, as payKey's),
// and for a muxed destination the muxed id as an id memo.
func (p Payment) memoKeys() []string {
	keys := []string{}
	if p.Memo != "" {
		if k, ok := memoKey(p.MemoType, p.Memo); ok {
			keys = append(keys, k)
		}
	}
	if p.ToMuxedID != "" {
		keys = append(keys, "id:"+p.ToMuxedID)
	}
	return keys
}

// payKey is where and with which memo the transaction is paid on Stellar (a withdrawal or a
// SEP-31 receive, to an anchor account with a memo), or "", "".
func (t *Transaction) payKey() (to, memo string) {
	if !(t.Kind.Withdrawal() || t.Kind == KindReceive) || t.WithdrawAnchorAccount == "" || t.WithdrawMemo == "" {
		return "", ""
	}
	k, ok := memoKey(t.WithdrawMemoType, t.WithdrawMemo)
	if !ok {
		return "", ""
	}
	return t.WithdrawAnchorAccount, k
}

// indexPay keeps the pay_to and pay_memo columns in step with the transaction (prev is nil
// for a new one); it writes only when they change, which is rare (creation and
// request_onchain_funds).
func (s *Service) indexPay(ctx context.Context, tx *store.Tx, prev, next *Transaction) error {
	to, memo := next.payKey()
	if prev != nil {
		if pto, pmemo := prev.payKey(); pto == to && pmemo == memo {
			return nil
		}
	} else if to == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE transfer_transactions SET pay_to = ?, pay_memo = ? WHERE id = ?", to, memo, next.ID); err != nil {
		return fmt.Errorf("transfer: index payment memo of %s: %w", next.ID, err)
	}
	return nil
}

// IndexPayments fills the payment columns of transactions stored before they existed
// (waiting for the user's payment, columns empty); the observer calls it once on start.
// It returns how many it indexed.
func (s *Service) IndexPayments(ctx context.Context) (int, error) {
	ts, err := s.query(ctx, s.db, "SELECT "+columns+" FROM transfer_transactions WHERE status IN (?, ?) AND pay_to = ''",
		string(StatusPendingUserTransferStart), string(StatusPendingSender))
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range ts {
		if to, _ := ts[i].payKey(); to == "" {
			continue
		}
		err := s.db.InTx(ctx, func(tx *store.Tx) error { return s.indexPay(ctx, tx, &Transaction{}, &ts[i]) })
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
