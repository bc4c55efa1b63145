package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// trDirectory gives the travel-rule responder our customers through the KYC back end (the
// builtin store, or the business server's values).
type trDirectory struct{ kyc *kyc.Service }

func (d trDirectory) Lookup(ctx context.Context, account, memo string) (travelrule.Customer, error) {
	p, err := d.kyc.ProfileByOwner(ctx, account, memo, "")
	if errors.Is(err, kyc.ErrNotFound) {
		return travelrule.Customer{}, travelrule.ErrNotFound
	}
	if err != nil {
		return travelrule.Customer{}, err
	}
	return travelrule.Customer{ID: p.ID, KYCStatus: p.Status, Fields: p.Fields}, nil
}

// trStates gives the travel-rule responder the state of SEP-6 transactions.
type trStates struct{ transfers *transfer.Service }

func (s trStates) TransferState(ctx context.Context, id string) (string, string, error) {
	t, err := s.transfers.Get(ctx, id)
	if err != nil {
		return "", "", err
	}
	return string(t.Status), t.StellarTransactionID, nil
}

// registerEnclaveAPI mounts the APIs the enclave calls (Verify User Account, Verify User,
// Check Transaction Status) beside the callback path, with the same token; off without one.
func (a *App) registerEnclaveAPI(tr config.TravelRule) error {
	r := a.TravelRule.Responder(travelrule.ResponderOptions{
		Directory: trDirectory{kyc: a.KYC}, States: trStates{transfers: a.Transfer},
		Matcher:      travelrule.NameMatcher{Threshold: tr.NameMatchThreshold},
		DenyAccounts: tr.DenyAccounts, DenyNames: tr.DenyNames, Symbols: tr.Symbols,
	})
	err := travelrulehttp.RegisterEnclaveAPI(a.Server.Admin, r, enclaveSettings(tr, a.Log), travelrulehttp.APIPaths{Account: tr.AccountAPIPath, User: tr.VerifyAPIPath, Transaction: tr.TransactionAPIPath})
	if errors.Is(err, travelrulehttp.ErrNoToken) {
		return nil
	}
	return err
}

// trTransfers gives the travel-rule originator the SEP-6 transactions.
type trTransfers struct{ transfers *transfer.Service }

func trTransfer(t *transfer.Transaction) travelrule.Transfer {
	out := travelrule.Transfer{ID: t.ID, Kind: string(t.Kind), Status: string(t.Status), AssetCode: t.AssetCode,
		Account: t.Account, Memo: t.Memo, OwnerAccount: t.Owner.Account, OwnerMemo: t.Owner.Memo, CustomerID: t.CustomerID,
		StellarTxHash: t.StellarTransactionID, Message: t.Message}
	for _, a := range []*transfer.Amount{t.AmountOut, t.AmountIn, t.AmountExpected} {
		if a != nil && a.Amount != "" {
			out.Amount = a.Amount
			break
		}
	}
	return out
}

func (s trTransfers) Transfer(ctx context.Context, id string) (travelrule.Transfer, error) {
	t, err := s.transfers.Get(ctx, id)
	if err != nil {
		return travelrule.Transfer{}, err
	}
	return trTransfer(&t), nil
}

// Fail moves a held transaction to error through notify_transaction_error (its rules and
// events); a transaction already ended is left as it is.
func (s trTransfers) Fail(ctx context.Context, id, message string) error {
	t, err := s.transfers.Get(ctx, id)
	if err != nil || t.Status.Terminal() {
		return err
	}
	_, err = s.transfers.Apply(ctx, "notify_transaction_error", transfer.Params{TransactionID: id, Message: message})
	return err
}

// trProfiles gives the travel-rule originator our customers' KYC data by id.
type trProfiles struct{ kyc *kyc.Service }

func (p trProfiles) Profile(ctx context.Context, id, account, memo string, types ...string) (travelrule.Customer, error) {
	if len(types) == 0 {
		types = []string{""} // the default type
	}
	var first kyc.Profile
	for i, typ := range types {
		var c kyc.Profile
		var err error
		if id != "" {
			c, err = p.kyc.ProfileByID(ctx, id, typ)
		} else {
			c, err = p.kyc.ProfileByOwner(ctx, account, memo, typ)
		}
		if errors.Is(err, kyc.ErrNotFound) {
			return travelrule.Customer{}, travelrule.ErrNotFound
		}
		if err != nil {
			return travelrule.Customer{}, err
		}
		if i == 0 {
			first = c
		}
		if c.Status == kyc.StatusAccepted {
			first = c
			break
		}
	}
	return travelrule.Customer{ID: first.ID, KYCStatus: first.Status, Fields: first.Fields}, nil
}

// trGate is transfer's gate backed by the travel-rule originator (bound late: transfer is
// built before the travel-rule service).
type trGate struct{ app *App }

func (g trGate) Before(ctx context.Context, method string, t *transfer.Transaction) error {
	var err error
	if t.Kind.Withdrawal() || t.Kind == transfer.KindReceive {
		err = g.app.TravelRule.BeforeWithdrawal(ctx, method, t.ID, string(t.Status))
	} else {
		err = g.app.TravelRule.Before(ctx, method, trTransfer(t))
	}
	var hold *travelrule.HoldError
	if errors.As(err, &hold) {
		return &transfer.HoldError{Msg: hold.Msg}
	}
	return err
}

func (g trGate) After(ctx context.Context, method string, prev, t *transfer.Transaction) {
	if t.Kind.Withdrawal() {
		// Only a change that took the withdrawal out of on_hold ends a hold: a payment
		// received (by the business or the observer) while a due hold was not applied yet
		// must leave the hold to be applied.
		if prev.Status == transfer.StatusOnHold && t.Status != transfer.StatusOnHold {
			g.app.TravelRule.AfterWithdrawal(ctx, method, t.ID, string(t.Status))
			g.settleHeld(ctx, method, t)
		}
		return
	}
	if t.Kind == transfer.KindReceive {
		return // the beneficiary side; no on_hold to leave (an operator releases a SEP-31 hold)
	}
	g.app.TravelRule.After(ctx, method, trTransfer(t))
}

// settleHeld settles a payment the observer kept for a withdrawal that left on_hold other
// than by the operator's release (which applies it): the business recorded it (its hash is
// the transaction's) or moved on without it (then it is unmatched and announced).
func (g trGate) settleHeld(ctx context.Context, method string, t *transfer.Transaction) {
	o := g.app.Observer
	if o == nil {
		return
	}
	reason := fmt.Sprintf("transaction %s left on_hold (%s) without this payment: the operator or the business decides", t.ID, method)
	if _, err := o.Unhold(ctx, t.ID, t.StellarTransactionID, reason); err != nil {
		g.app.Log.Error("observer: held payment not settled", "transaction", t.ID, "err", err)
	}
}

// originator returns the travel-rule originator options, or nil when vaspgate does not act
// as the originating VASP.
func (a *App) originator(tr config.TravelRule) *travelrule.OriginatorOptions {
	if !tr.Originating() {
		return nil
	}
	return &travelrule.OriginatorOptions{
		Client:    a.enclaveClient(tr),
		Transfers: trTransfers{transfers: a.Transfer}, Profiles: trProfiles{kyc: a.KYC},
		Thresholds: tr.Threshold, Counterparties: tr.Counterparties,
		ReconcileAfter: tr.ReconcileAfter, ReconcileInterval: tr.ReconcileInterval,
	}
}

// trLinked shows the travel-rule verifications on the transactions the business reads
// (bound late: the RPC is built before the travel-rule service).
type trLinked struct{ app *App }

func (l trLinked) TransactionVerifications(ctx context.Context, ids []string) (map[string][]transfer.TravelRuleVerification, error) {
	linked, err := l.app.TravelRule.Linked(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]transfer.TravelRuleVerification, len(linked))
	for id, ls := range linked {
		for _, v := range ls {
			out[id] = append(out[id], transfer.TravelRuleVerification{VerificationUUID: v.VerificationUUID, Role: v.Role,
				Status: string(v.Status), Reason: v.Reason, RiskLevel: string(v.RiskLevel), TxHash: v.TxHash, Hold: v.Hold})
		}
	}
	return out, nil
}

// trWithdrawals gives the travel-rule beneficiary side the SEP-6 withdrawals and SEP-31
// receives; holds and releases go through the state machine (with their wallet callbacks
// and business events).
type trWithdrawals struct {
	app       *App
	transfers *transfer.Service
	// receiverTypes are the SEP-12 receiver types of each SEP-31 asset (by code): the KYC
	// types a SEP-31 beneficiary is checked under.
	receiverTypes map[string][]string
}

func (w trWithdrawals) withdrawal(t *transfer.Transaction) travelrule.Withdrawal {
	out := trWithdrawal(t)
	if t.Kind == transfer.KindReceive {
		// The beneficiary of a SEP-31 payment is its receiver, a customer of the sending
		// anchor's (the transaction's owner).
		out.CustomerID, out.CustomerTypes = t.ReceiverID, w.receiverTypes[t.AssetCode]
	}
	return out
}

func trWithdrawal(t *transfer.Transaction) travelrule.Withdrawal {
	w := travelrule.Withdrawal{ID: t.ID, Status: string(t.Status), AssetCode: t.AssetCode, Account: t.WithdrawAnchorAccount,
		Memo: t.WithdrawMemo, CustomerID: t.CustomerID, OwnerAccount: t.Owner.Account, OwnerMemo: t.Owner.Memo,
		StellarTxHash: t.StellarTransactionID}
	for _, a := range []*transfer.Amount{t.AmountIn, t.AmountExpected} {
		if a != nil && a.Amount != "" {
			w.Amount = a.Amount
			break
		}
	}
	return w
}

func (w trWithdrawals) Awaiting(ctx context.Context, account string) ([]travelrule.Withdrawal, error) {
	txs, err := w.transfers.AwaitingPayment(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]travelrule.Withdrawal, len(txs))
	for i := range txs {
		out[i] = w.withdrawal(&txs[i])
	}
	return out, nil
}

func (w trWithdrawals) Withdrawal(ctx context.Context, id string) (travelrule.Withdrawal, error) {
	t, err := w.transfers.Get(ctx, id)
	if errors.Is(err, transfer.ErrNotFound) {
		return travelrule.Withdrawal{}, travelrule.ErrNotFound
	}
	if err != nil {
		return travelrule.Withdrawal{}, err
	}
	return w.withdrawal(&t), nil
}

func (w trWithdrawals) ByPayment(ctx context.Context, hash string) (travelrule.Withdrawal, bool, error) {
	t, err := w.transfers.WithdrawalByPayment(ctx, hash)
	if errors.Is(err, transfer.ErrNotFound) {
		return travelrule.Withdrawal{}, false, nil
	}
	if err != nil {
		return travelrule.Withdrawal{}, false, err
	}
	return w.withdrawal(&t), true, nil
}

func (w trWithdrawals) Hold(ctx context.Context, id, message string) error {
	t, err := w.transfers.Get(ctx, id)
	if err != nil || t.Status == transfer.StatusOnHold {
		return err
	}
	if t.Kind == transfer.KindReceive {
		// SEP-31 has no on_hold (nor has Anchor Platform's SEP-31): the status the sending
		// anchor sees stays, the hold row stops every payout (trGate) until an operator
		// releases it, and the business reads the hold on the transaction (travel_rule).
		return nil
	}
	_, err = w.transfers.Apply(ctx, "notify_transaction_on_hold", transfer.Params{TransactionID: id, Message: message})
	var te *transfer.TransitionError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %v", travelrule.ErrNotHoldable, err)
	}
	return err
}

func (w trWithdrawals) Release(ctx context.Context, id, txHash, message string) error {
	// The user's payment the observer kept for the held withdrawal moves it as the observer
	// would have (amounts, received time, stellar_transactions); bound late: the observer is
	// built after the travel-rule service.
	if o := w.app.Observer; o != nil {
		applied, err := o.ApplyHeld(ctx, id, message)
		if applied || (err != nil && !errors.Is(err, transfer.ErrPaymentNotApplicable)) {
			return err
		}
	}
	if txHash == "" {
		return errors.New("no Stellar payment is known yet (none observed, no TX_REPORT): the business releases it with notify_onchain_funds_received")
	}
	_, err := w.transfers.Apply(ctx, "notify_onchain_funds_received",
		transfer.Params{TransactionID: id, StellarTransactionID: txHash, Message: message})
	return err
}

// Denied gives up the payment the observer kept for the withdrawal: it becomes unmatched
// and is announced to the business (nothing to do without the observer).
func (w trWithdrawals) Denied(ctx context.Context, id, reason string) error {
	if o := w.app.Observer; o != nil {
		_, err := o.Unhold(ctx, id, "", reason)
		return err
	}
	return nil
}

// beneficiary returns the travel-rule beneficiary options: on whenever the enclave may call
// (a token is configured).
func (a *App) beneficiary(tr config.TravelRule) (*travelrule.BeneficiaryOptions, error) {
	if !tr.Enabled() {
		return nil, nil
	}
	level, err := travelrule.ParseRiskLevel(tr.HoldAt)
	if err != nil {
		return nil, fmt.Errorf("travel_rule.hold_at: %w", err)
	}
	return &travelrule.BeneficiaryOptions{
		Client:      a.enclaveClient(tr),
		Withdrawals: trWithdrawals{app: a, transfers: a.Transfer, receiverTypes: sep31ReceiverTypes(a.Config)}, Profiles: trProfiles{kyc: a.KYC},
		HoldAt: level, InquireAfter: tr.InquireAfter, InquireInterval: tr.ReconcileInterval,
	}, nil
}

// enclaveClient reaches the VASP's own enclave through the internal scope's SSRF guard, like
// every destination the operator configured (checked at start: checkDestinations).
func (a *App) enclaveClient(tr config.TravelRule) *travelrule.EnclaveClient {
	h, err := internalClient(a.Config, tr.Enclave.Timeout)
	if err != nil {
		// allow_cidrs was parsed already (build stops on it): the strictest guard anyway.
		h = callback.NewHTTPClient(callback.ClientOptions{Timeout: tr.Enclave.Timeout})
	}
	return &travelrule.EnclaveClient{URL: tr.Enclave.URL, HTTP: h, Timeout: tr.Enclave.Timeout}
}
