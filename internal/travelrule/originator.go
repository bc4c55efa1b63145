package travelrule

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Transfer is a SEP-6 transaction as the Travel Rule sees it.
type Transfer struct {
	ID, Kind, Status string
	AssetCode        string
	// Amount is what is sent on Stellar (amount_out, else amount_in, else amount_expected).
	Amount string
	// Account and Memo are the deposit's destination.
	Account, Memo string
	// OwnerAccount is the SEP-10 account of the customer who asked for the deposit.
	OwnerAccount, OwnerMemo string
	CustomerID              string
	StellarTxHash           string
	Message                 string
}

// Transfers is what the originator side needs of the transfer service; the app satisfies it.
type Transfers interface {
	Transfer(ctx context.Context, id string) (Transfer, error)
	// Fail moves the transaction to error with message, when its rules allow (a no-op once
	// it is terminal).
	Fail(ctx context.Context, id, message string) error
}

// Profiles gives a customer's SEP-9 fields by customer id, or when the transaction names no
// customer, by its owner's identity (ErrNotFound when unknown). The KYC status is the one
// under the first of types the customer is ACCEPTED under (else under the first type; the
// default type when none is given).
type Profiles interface {
	Profile(ctx context.Context, customerID, account, memo string, types ...string) (Customer, error)
}

// OriginatorOptions configure vaspgate as the originating VASP. Without Counterparties and
// Thresholds no transaction needs a verification.
type OriginatorOptions struct {
	Client    *EnclaveClient
	Transfers Transfers
	Profiles  Profiles
	// Thresholds are per asset code the amount (in the asset's units) at or above which a
	// deposit to another VASP's customer needs a verification. An asset not listed needs none.
	Thresholds map[string]string
	// Counterparties map a Stellar account held by another VASP (a custodial client's
	// account) to that VASP's VerifyVASP id (beneficiaryVaspId).
	Counterparties map[string]string
	// TradeCurrency is the ISO 4217 code of tradePrice. Default USD.
	TradeCurrency string
	// ReconcileAfter is how long a requested verification may stay without a result before
	// the reconciliation job asks the enclave for it. Default 10m. ReconcileInterval is how
	// often that job runs. Default 1m.
	ReconcileAfter, ReconcileInterval time.Duration
}

// RequestArgs requests the verification of a transaction from the enclave.
type RequestArgs struct {
	TransactionID string `json:"transaction_id"`
}

// Kind implements river.JobArgs.
func (RequestArgs) Kind() string { return "travel_rule_request" }

// ReportArgs reports a verified transaction's outcome to the enclave: its Stellar hash
// (Report Transaction Result) or, with no hash, its cancellation (Report Error).
type ReportArgs struct {
	VerificationUUID string `json:"verification_uuid"`
	TransactionID    string `json:"transaction_id"`
	TxHash           string `json:"tx_hash,omitempty"`
	Message          string `json:"message,omitempty"`
}

// Kind implements river.JobArgs.
func (ReportArgs) Kind() string { return "travel_rule_report" }

// ApplyArgs applies a verification's result to the transactions it is about (DENIED or
// ERROR moves them to error).
type ApplyArgs struct {
	VerificationUUID string `json:"verification_uuid"`
}

// Kind implements river.JobArgs.
func (ApplyArgs) Kind() string { return "travel_rule_apply" }

// ReconcileArgs is the periodic job asking the enclave for results that never arrived.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "travel_rule_reconcile" }

func (s *Service) registerOriginator() {
	o := s.opts.Originator
	if o == nil {
		return
	}
	if o.TradeCurrency == "" {
		o.TradeCurrency = "USD"
	}
	if o.ReconcileAfter <= 0 {
		o.ReconcileAfter = 10 * time.Minute
	}
	if o.ReconcileInterval <= 0 {
		o.ReconcileInterval = time.Minute
	}
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, j *river.Job[RequestArgs]) error {
		return s.request(ctx, j.Args.TransactionID)
	}))
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, j *river.Job[ReportArgs]) error { return s.report(ctx, j.Args) }))
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, j *river.Job[ApplyArgs]) error {
		return s.apply(ctx, j.Args.VerificationUUID)
	}))
}

// registerReconcile registers the periodic reconciliation job (River runs periodic jobs on
// the elected leader only: one instance at a time) when either side needs it.
func (s *Service) registerReconcile() {
	var every time.Duration
	if o := s.opts.Originator; o != nil {
		every = o.ReconcileInterval
	}
	if b := s.opts.Beneficiary; b != nil && b.Client != nil && (every == 0 || b.InquireInterval < every) {
		every = b.InquireInterval
	}
	if every <= 0 {
		return
	}
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
		_, err := s.Reconcile(ctx)
		return err
	}))
	s.jobs.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return ReconcileArgs{}, &river.InsertOpts{Queue: JobQueue, UniqueOpts: river.UniqueOpts{ByPeriod: every}}
		}, &river.PeriodicJobOpts{RunOnStart: true}))
}

// needs says whether t needs a verification, and from which VASP.
func (s *Service) needs(t Transfer) (string, bool) {
	o := s.opts.Originator
	if o == nil || !strings.HasPrefix(t.Kind, "deposit") {
		return "", false
	}
	vasp, ok := o.Counterparties[t.Account]
	if !ok {
		return "", false
	}
	th, ok := o.Thresholds[t.AssetCode]
	if !ok {
		return "", false
	}
	limit, ok1 := new(big.Rat).SetString(th)
	amount, ok2 := new(big.Rat).SetString(t.Amount)
	if !ok1 || !ok2 {
		// An amount not yet known is treated as at the threshold: hold rather than let go.
		return vasp, true
	}
	return vasp, amount.Cmp(limit) >= 0
}

// originatorState is the latest originator verification of a transaction.
type originatorState struct {
	uuid                    string
	status                  Status
	reason, message, txHash string
}

func (s *Service) originatorState(ctx context.Context, transactionID string) (originatorState, bool, error) {
	var st originatorState
	var status, reason, message, hash sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT l.verification_uuid, v.status, v.reason, v.message, v.tx_hash
	FROM travel_rule_links l LEFT JOIN travel_rule_verifications v ON v.verification_uuid = l.verification_uuid
	WHERE l.transaction_id = ? AND l.role = ? ORDER BY l.created_at DESC, l.verification_uuid DESC LIMIT 1`,
		transactionID, RoleOriginator).Scan(&st.uuid, &status, &reason, &message, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("travelrule: read verification of %s: %w", transactionID, err)
	}
	st.status, st.reason, st.message, st.txHash = StatusPending, reason.String, message.String, hash.String
	if status.Valid && status.String != "" {
		st.status = Status(status.String)
	}
	return st, true, nil
}

// HoldError is the refusal of a business method while a transaction is held.
type HoldError struct{ Msg string }

func (e *HoldError) Error() string { return e.Msg }

// Before is the Travel Rule gate before a business method on a transaction: a deposit to
// another VASP's customer at or above the threshold gets its verification requested when the
// user's funds are received, and notify_onchain_funds_sent is refused until it is VERIFIED.
func (s *Service) Before(ctx context.Context, method string, t Transfer) error {
	if _, ok := s.needs(t); !ok {
		return nil
	}
	switch method {
	case "notify_offchain_funds_received", "notify_onchain_funds_sent", "notify_amounts_updated":
	default:
		return nil
	}
	st, found, err := s.originatorState(ctx, t.ID)
	if err != nil {
		return err
	}
	if !found {
		if err := s.requestSoon(ctx, t.ID); err != nil {
			return err
		}
		if method != "notify_onchain_funds_sent" {
			return nil
		}
		return &HoldError{Msg: "Travel Rule: this deposit goes to another VASP's customer; a verification has been requested from the enclave and the funds may be sent only once it is VERIFIED"}
	}
	if method != "notify_onchain_funds_sent" {
		return nil
	}
	switch st.status {
	case StatusVerified:
		return nil
	case StatusDenied, StatusError:
		return &HoldError{Msg: fmt.Sprintf("Travel Rule: verification %s was %s (%s %s); the funds must not be sent", st.uuid, st.status, st.reason, st.message)}
	}
	return &HoldError{Msg: fmt.Sprintf("Travel Rule: verification %s is not VERIFIED yet (%s); the funds may be sent only once it is", st.uuid, st.status)}
}

// After reports what a committed business method means to the enclave: the Stellar hash of a
// verified deposit (Report Transaction Result), or the end of a verified deposit that was not
// sent (Report Error).
func (s *Service) After(ctx context.Context, method string, t Transfer) {
	if s.opts.Originator == nil {
		return
	}
	st, found, err := s.originatorState(ctx, t.ID)
	if err != nil || !found || st.status != StatusVerified {
		return
	}
	var args ReportArgs
	switch {
	case method == "notify_onchain_funds_sent" && t.StellarTxHash != "":
		args = ReportArgs{VerificationUUID: st.uuid, TransactionID: t.ID, TxHash: t.StellarTxHash}
	case t.StellarTxHash == "" && (t.Status == "error" || t.Status == "expired" || t.Status == "refunded"):
		args = ReportArgs{VerificationUUID: st.uuid, TransactionID: t.ID, Message: t.Message}
	default:
		return
	}
	if err := s.enqueue(ctx, args, true); err != nil {
		s.log.Error("travel rule report not queued", "transaction", t.ID, "verification", st.uuid, "err", err)
	}
}

func (s *Service) enqueue(ctx context.Context, args river.JobArgs, unique bool) error {
	opts := &river.InsertOpts{Queue: JobQueue, MaxAttempts: 25}
	if unique {
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error { return s.jobs.Enqueue(ctx, tx, args, opts) })
}

func (s *Service) requestSoon(ctx context.Context, transactionID string) error {
	return s.enqueue(ctx, RequestArgs{TransactionID: transactionID}, true)
}

// request asks the enclave to verify the beneficiary of a transaction (POST /v1/verifications)
// with the originator's IVMS101 built from the customer's SEP-12 data, and links the
// verification to the transaction. A transaction already linked is not requested again.
func (s *Service) request(ctx context.Context, transactionID string) error {
	o := s.opts.Originator
	if _, found, err := s.originatorState(ctx, transactionID); err != nil || found {
		return err
	}
	t, err := o.Transfers.Transfer(ctx, transactionID)
	if err != nil {
		return err
	}
	vasp, ok := s.needs(t)
	if !ok {
		return nil
	}
	cust, err := o.Profiles.Profile(ctx, t.CustomerID, t.OwnerAccount, t.OwnerMemo)
	if err == nil && len(cust.Fields) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return river.JobCancel(fmt.Errorf("travelrule: transaction %s: no KYC data for customer %q to build the originator: %w", t.ID, t.CustomerID, err))
	}
	person := PersonFromSEP9(cust.Fields)
	required := "ACCOUNT_NUMBER,NATURAL_PERSON_NAME"
	if person.LegalPerson != nil {
		required = "ACCOUNT_NUMBER,LEGAL_PERSON_NAME"
	}
	dest := t.Account
	if t.Memo != "" {
		dest += ":" + t.Memo
	}
	body := map[string]any{
		"keyType": "PerVasp", "beneficiaryVaspId": vasp, "requiredBeneficiaryInfo": required,
		"assetInfo": map[string]any{"symbol": t.AssetCode, "network": "Stellar", "amount": t.Amount,
			"isExceedingThreshold": true, "tradePrice": t.Amount, "tradeCurrency": o.TradeCurrency,
			"tradeISODatetime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z")},
		"payload": map[string]any{"version": "1.0", "ivms101": IVMS101{
			Originator:  &Originator{Persons: []Person{person}, AccountNumber: []Text{Text(t.OwnerAccount)}},
			Beneficiary: &Beneficiary{Persons: []Person{person}, AccountNumber: []Text{Text(dest)}},
		}},
	}
	start := time.Now()
	req, resp, status, err := o.Client.do(ctx, "POST", "/v1/verifications", body)
	call := &Call{Direction: ToEnclave, API: APIRequest, TransactionID: t.ID, Request: req, Response: resp,
		HTTPStatus: status, Elapsed: time.Since(start).Seconds()}
	var ans struct {
		VerificationUUID Text `json:"verificationUuid"`
	}
	if err == nil {
		if json.Unmarshal(resp, &ans) != nil || clean(ans.VerificationUUID) == "" {
			err = fmt.Errorf("travelrule: enclave answered /v1/verifications without verificationUuid")
		}
	}
	if err != nil {
		call.Error = err.Error()
		if rerr := s.recordCall(ctx, s.db, call); rerr != nil {
			s.log.Error("travel rule call not recorded", "api", call.API, "err", rerr)
		}
		return err
	}
	id := clean(ans.VerificationUUID)
	call.VerificationUUID, call.Result = id, "requested"
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.recordCall(ctx, tx, call); err != nil {
			return err
		}
		if err := LinkTx(ctx, tx, id, t.ID, RoleOriginator); err != nil {
			return err
		}
		// The result may have come before the link: apply it now (a no-op unless final).
		return s.jobs.Enqueue(ctx, tx, ApplyArgs{VerificationUUID: id}, &river.InsertOpts{Queue: JobQueue, MaxAttempts: 25})
	})
}

// report calls Report Transaction Result (with a hash) or Report Error (without).
func (s *Service) report(ctx context.Context, a ReportArgs) error {
	path, api := "/v1/verifications/tx", APIReportTx
	body := map[string]any{"verificationUuid": a.VerificationUUID, "txHash": a.TxHash}
	if a.TxHash == "" {
		path, api = "/v1/verifications/error", APIReportError
		msg := a.Message
		if msg == "" {
			msg = "The transfer was cancelled."
		}
		body = map[string]any{"verificationUuid": a.VerificationUUID, "result": "ERROR", "reason": "USER-CANCELED", "message": msg}
	}
	start := time.Now()
	req, resp, status, err := s.opts.Originator.Client.do(ctx, "POST", path, body)
	call := &Call{Direction: ToEnclave, API: api, VerificationUUID: a.VerificationUUID, TransactionID: a.TransactionID,
		Request: req, Response: resp, HTTPStatus: status, Elapsed: time.Since(start).Seconds(), Result: "reported"}
	if err != nil {
		call.Error, call.Result = err.Error(), ""
	}
	if rerr := s.recordCall(ctx, s.db, call); rerr != nil {
		return rerr
	}
	return err
}

// apply moves the transactions of a DENIED or ERROR originator verification to error, with
// the reason in their message.
func (s *Service) apply(ctx context.Context, id string) error {
	var status Status
	var reason, message string
	err := s.db.QueryRowContext(ctx, `SELECT status, reason, message FROM travel_rule_verifications WHERE verification_uuid = ?`, id).
		Scan(&status, &reason, &message)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && status != StatusDenied && status != StatusError) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("travelrule: apply %s: %w", id, err)
	}
	ls, _, err := links(ctx, s.db, "verification_uuid", id)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Role != RoleOriginator {
			continue
		}
		msg := strings.TrimSpace(fmt.Sprintf("Travel Rule verification %s %s: %s %s", id, status, reason, message))
		if err := s.opts.Originator.Transfers.Fail(ctx, l.TransactionID, msg); err != nil {
			return err
		}
	}
	return nil
}

// Reconcile recovers lost callbacks: as the originator, the results of verifications still
// without one (reconcileResults); as the beneficiary, the TX_REPORTs of withdrawals' verifications
// (inquire). It returns how many results and hashes it found.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	n, err := s.reconcileResults(ctx)
	if err != nil {
		return n, err
	}
	m, err := s.inquire(ctx)
	return n + m, err
}

// reconcileResults asks the enclave for the result of every originator verification still
// without one after ReconcileAfter (Get Verification Result) and folds each answer in as the
// VERIFICATION_RESULT callback it stands for (same natural key: a late real callback is a
// repeat or a revision, never a second effect). It returns how many results it found.
func (s *Service) reconcileResults(ctx context.Context) (int, error) {
	o := s.opts.Originator
	if o == nil {
		return 0, nil
	}
	ids, err := s.verificationIDs(ctx, `SELECT DISTINCT l.verification_uuid FROM travel_rule_links l
	LEFT JOIN travel_rule_verifications v ON v.verification_uuid = l.verification_uuid
	WHERE l.role = ? AND l.created_at <= ? AND (v.status IS NULL OR v.status = ?) LIMIT 200`,
		RoleOriginator, store.Micros(time.Now().Add(-o.ReconcileAfter)), StatusPending)
	if err != nil {
		return 0, fmt.Errorf("travelrule: reconcile: %w", err)
	}
	return s.foldAnswers(ctx, ids, APIGetResult, func(ctx context.Context, id string) ([]byte, []byte, int, error) {
		return o.Client.do(ctx, "GET", "/v1/verifications/"+id, nil)
	}, resultCallback)
}

// resultCallback turns a Get Verification Result answer into the VERIFICATION_RESULT callback
// body it stands for, or nil while the verification has no final result. The answer's fields
// may sit at the top level or under "data" or "result".
func resultCallback(id string, resp []byte) ([]byte, string) {
	data, ok := enclaveData(resp)
	if !ok {
		return nil, ""
	}
	var r VerificationResultData
	if err := json.Unmarshal(data, &r); err != nil && !isTypeError(err) {
		return nil, ""
	}
	outcome := strings.ToUpper(r.Outcome())
	if s := resultStatus(outcome); s == StatusPending {
		return nil, outcome
	}
	cb := map[string]any{"callbackType": TypeVerificationResult, "data": map[string]any{
		"verificationUuid": id, "verificationResult": outcome, "reason": string(r.Reason), "message": string(r.Message),
	}}
	if len(r.IVMS101) > 0 {
		cb["data"].(map[string]any)["ivms101"] = r.IVMS101
	}
	b, _ := json.Marshal(cb)
	return b, outcome
}
