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

// Withdrawal is a transaction paid to the anchor on Stellar as the beneficiary side sees it:
// a SEP-6 withdrawal (the user pays) or a SEP-31 receive (the sending anchor pays for its
// customer; the beneficiary is the receiver). It says where and how much is paid.
type Withdrawal struct {
	ID, Status, AssetCode string
	// Account and Memo are where the user pays (the anchor's account and the memo it gave).
	Account, Memo string
	// Amount is what the user pays (amount_in, else amount_expected; "" when not known).
	Amount string
	// CustomerID, OwnerAccount and OwnerMemo name our customer (the beneficiary).
	CustomerID, OwnerAccount, OwnerMemo string
	// CustomerTypes are the KYC types the beneficiary is checked under (SEP-31: the asset's
	// receiver types); empty means the default type.
	CustomerTypes []string
	// StellarTxHash is the user's payment, once recorded.
	StellarTxHash string
}

// Withdrawals is what the beneficiary side needs of the transfer service; the app satisfies
// it through transfer.Service (its state machine, wallet callbacks and business events).
type Withdrawals interface {
	// Awaiting returns the open withdrawals paid to account whose funds were not received.
	Awaiting(ctx context.Context, account string) ([]Withdrawal, error)
	// Withdrawal returns one withdrawal (ErrNotFound when unknown).
	Withdrawal(ctx context.Context, id string) (Withdrawal, error)
	// ByPayment returns the withdrawal whose user payment is the Stellar transaction hash,
	// as the business reported it; found is false when none is.
	ByPayment(ctx context.Context, hash string) (w Withdrawal, found bool, err error)
	// Hold puts the withdrawal on_hold with message (notify_transaction_on_hold); nil when it
	// already is, or when the transaction has no on_hold status (SEP-31: the hold row alone
	// holds it, through BeforeWithdrawal); an error wrapping ErrNotHoldable when its state
	// does not allow it.
	Hold(ctx context.Context, id, message string) error
	// Release takes a held withdrawal out of on_hold as the business would
	// (notify_onchain_funds_received), with message: with the user's payment the observer
	// kept for it when there is one, else with txHash (the TX_REPORT's); an error when
	// neither is known ("" txHash and no payment kept).
	Release(ctx context.Context, id, txHash, message string) error
	// Denied tells that the verification about the withdrawal ended DENIED (reason says so):
	// a user payment kept for it while it was held will not be applied, and is left to the
	// operator or the business as an unmatched payment. The withdrawal itself is not moved.
	Denied(ctx context.Context, id, reason string) error
}

// ErrNotHoldable: the withdrawal's state does not allow a hold (it was paid out or ended).
var ErrNotHoldable = errors.New("travelrule: the transaction cannot be put on hold in its state")

// BeneficiaryOptions configure vaspgate as the beneficiary VASP of SEP-6 withdrawals paid from
// another VASP: the verification the enclave forwards is linked to the withdrawal, its risk
// may hold it, and deposits without TX_REPORT are asked of the enclave.
type BeneficiaryOptions struct {
	Client      *EnclaveClient
	Withdrawals Withdrawals
	Profiles    Profiles
	// HoldAt is the risk level at or above which a linked withdrawal is put on_hold until an
	// operator or the business releases it. Default high.
	HoldAt RiskLevel
	// InquireAfter is how long a verification linked to a withdrawal may stay without a
	// TX_REPORT before the reconciliation job asks the enclave (Transaction Status Query),
	// and how long between two questions about one verification. Default 10m. Verifications
	// linked more than InquireFor ago are no longer asked about. Default 7 days.
	InquireAfter, InquireFor time.Duration
	// InquireInterval is how often the reconciliation job runs. Default 1m.
	InquireInterval time.Duration
}

// HoldArgs (re)considers holding the withdrawals linked to a verification after its risk
// rose or a link appeared. Idempotent: one hold per (transaction, verification).
type HoldArgs struct {
	VerificationUUID string `json:"verification_uuid"`
}

// Kind implements river.JobArgs.
func (HoldArgs) Kind() string { return "travel_rule_hold" }

// LinkArgs links a verification to the withdrawal it pays from what its callbacks say, when
// Verify User did not link it (an enclave before 1.3.0 sends no verificationUuid there, or
// the answer was the timeout fallback): the beneficiary address and memo of a
// VERIFICATION_RESULT's IVMS101, else the TX_REPORT's hash as the payment the business
// recorded on the withdrawal.
type LinkArgs struct {
	VerificationUUID string `json:"verification_uuid"`
}

// Kind implements river.JobArgs.
func (LinkArgs) Kind() string { return "travel_rule_link" }

// DeniedArgs hands the withdrawals linked to a verification that ended DENIED to
// Withdrawals.Denied. Idempotent: a payment given up once is no longer kept.
type DeniedArgs struct {
	VerificationUUID string `json:"verification_uuid"`
}

// Kind implements river.JobArgs.
func (DeniedArgs) Kind() string { return "travel_rule_denied" }

// denied runs DeniedArgs: each withdrawal linked to verification id as beneficiary.
func (s *Service) denied(ctx context.Context, id string) error {
	var reason, message string
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(reason, ''), COALESCE(message, '') FROM travel_rule_verifications WHERE verification_uuid = ?", id).Scan(&reason, &message); err != nil {
		return fmt.Errorf("travelrule: denied %s: %w", id, err)
	}
	ids, err := s.verificationIDs(ctx, "SELECT transaction_id FROM travel_rule_links WHERE verification_uuid = ? AND role = ?", id, RoleBeneficiary)
	if err != nil {
		return err
	}
	why := strings.TrimSpace(fmt.Sprintf("Travel Rule: verification %s was DENIED (%s %s)", id, reason, message))
	for _, t := range ids {
		if err := s.opts.Beneficiary.Withdrawals.Denied(ctx, t, why+"; the payment kept for this transaction will not be applied: the operator or the business decides"); err != nil {
			return fmt.Errorf("travelrule: denied %s: %w", t, err)
		}
	}
	return nil
}

func (s *Service) registerBeneficiary() {
	b := s.opts.Beneficiary
	if b == nil {
		return
	}
	if b.HoldAt == "" {
		b.HoldAt = RiskHigh
	}
	if b.InquireAfter <= 0 {
		b.InquireAfter = 10 * time.Minute
	}
	if b.InquireFor <= 0 {
		b.InquireFor = 7 * 24 * time.Hour
	}
	if b.InquireInterval <= 0 {
		b.InquireInterval = time.Minute
	}
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, j *river.Job[HoldArgs]) error {
		return s.hold(ctx, j.Args.VerificationUUID)
	}))
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, j *river.Job[DeniedArgs]) error {
		return s.denied(ctx, j.Args.VerificationUUID)
	}))
	job.AddWorker(s.jobs, river.WorkFunc(func(ctx context.Context, j *river.Job[LinkArgs]) error {
		return s.linkLate(ctx, j.Args.VerificationUUID)
	}))
}

// linkLate links verification id to its withdrawal from its callbacks (see LinkArgs); a
// verification already linked is left as it is.
func (s *Service) linkLate(ctx context.Context, id string) error {
	b := s.opts.Beneficiary
	if b == nil || b.Withdrawals == nil {
		return nil
	}
	ls, _, err := links(ctx, s.db, "verification_uuid", id)
	if err != nil || len(ls) > 0 {
		return err
	}
	var (
		hash   string
		sealed []byte
	)
	err = s.db.QueryRowContext(ctx, `SELECT tx_hash, ivms101 FROM travel_rule_verifications WHERE verification_uuid = ?`, id).
		Scan(&hash, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("travelrule: link %s: %w", id, err)
	}
	var w Withdrawal
	found := false
	if sealed != nil {
		plain, err := s.open(sealed, ivmsAD(id))
		if err != nil {
			return err
		}
		var p IVMS101
		if json.Unmarshal(plain, &p) == nil && p.Beneficiary != nil && len(p.Beneficiary.AccountNumber) > 0 {
			if account, memo, ok := ParseAddress(string(p.Beneficiary.AccountNumber[0])); ok && memo != "" {
				if w, found, err = s.resolveWithdrawal(ctx, account, memo, "", ""); err != nil {
					return err
				}
			}
		}
	}
	if !found && hash != "" {
		if w, found, err = b.Withdrawals.ByPayment(ctx, hash); err != nil {
			return err
		}
	}
	if !found {
		return nil
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error { return s.linkBeneficiary(ctx, tx, id, w.ID) })
}

// holdDue reports whether level reaches the configured hold level.
func (s *Service) holdDue(level RiskLevel) bool {
	b := s.opts.Beneficiary
	return b != nil && level.rank() >= b.HoldAt.rank()
}

func (s *Service) enqueueHold(ctx context.Context, tx *store.Tx, id string) error {
	p := followUp(HoldArgs{VerificationUUID: id})
	return s.jobs.Enqueue(ctx, tx, p.Args, p.InsertOpts)
}

// resolveWithdrawal finds the withdrawal a payment to account is for, as the VerifyVASP flow
// pages prescribe for a deposit: by address and memo first; without a memo, by the amount
// (and asset) among the withdrawals paid to that address, when exactly one matches.
func (s *Service) resolveWithdrawal(ctx context.Context, account, memo, symbol, amount string) (Withdrawal, bool, error) {
	b := s.opts.Beneficiary
	if b == nil || b.Withdrawals == nil {
		return Withdrawal{}, false, nil
	}
	open, err := b.Withdrawals.Awaiting(ctx, account)
	if err != nil {
		return Withdrawal{}, false, err
	}
	var hits []Withdrawal
	switch {
	case memo != "":
		for _, w := range open {
			if w.Memo == memo {
				hits = append(hits, w)
			}
		}
	case amount != "":
		want, ok := new(big.Rat).SetString(strings.TrimSpace(amount))
		if !ok {
			return Withdrawal{}, false, nil
		}
		for _, w := range open {
			got, ok := new(big.Rat).SetString(w.Amount)
			if ok && got.Cmp(want) == 0 && (symbol == "" || strings.EqualFold(w.AssetCode, symbol)) {
				hits = append(hits, w)
			}
		}
	}
	if len(hits) != 1 {
		return Withdrawal{}, false, nil
	}
	return hits[0], true, nil
}

// linkBeneficiary links a verification the enclave forwarded to the withdrawal it pays, in
// tx, and has the hold reconsidered (screening results may have come first).
func (s *Service) linkBeneficiary(ctx context.Context, tx *store.Tx, verificationUUID, transactionID string) error {
	if err := LinkTx(ctx, tx, verificationUUID, transactionID, RoleBeneficiary); err != nil {
		return err
	}
	return s.enqueueHold(ctx, tx, verificationUUID)
}

// hold puts on_hold every withdrawal linked to verification id whose risk reaches HoldAt,
// once per (transaction, verification): the hold row is written first, so a business
// release racing with the hold finds it; when the transaction cannot be held (already paid
// out, ended) the row is removed again.
func (s *Service) hold(ctx context.Context, id string) error {
	b := s.opts.Beneficiary
	var (
		risk            RiskLevel
		status          Status
		reason, message string
	)
	err := s.db.QueryRowContext(ctx, `SELECT risk_level, status, reason, message FROM travel_rule_verifications
	WHERE verification_uuid = ?`, id).Scan(&risk, &status, &reason, &message)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("travelrule: hold %s: %w", id, err)
	}
	if !s.holdDue(risk) {
		return nil
	}
	ls, _, err := links(ctx, s.db, "verification_uuid", id)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Role != RoleBeneficiary {
			continue
		}
		res, err := s.db.ExecContext(ctx, `INSERT INTO travel_rule_holds (transaction_id, verification_uuid, risk_level,
		reason, held_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			l.TransactionID, id, string(risk), "risk "+string(risk), store.Micros(time.Now()))
		if err != nil {
			return fmt.Errorf("travelrule: hold %s: %w", l.TransactionID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // held (or released) already
		}
		msg := fmt.Sprintf("Travel Rule: verification %s has risk %s (KYT/WCO screening); the withdrawal is on hold until an operator or the business releases it", id, risk)
		herr := b.Withdrawals.Hold(ctx, l.TransactionID, msg)
		if herr == nil {
			s.metrics.holds.Inc()
			s.log.Info("travel rule hold", "transaction", l.TransactionID, "verification", id, "risk", risk)
			continue
		}
		if errors.Is(herr, ErrNotHoldable) {
			// Too late for on_hold (the payout has begun, or the transaction ended): the row
			// stays, so the gate still refuses further payout methods until an operator
			// releases it.
			s.log.Warn("travel rule risk reached the hold level but the withdrawal cannot be put on_hold", "transaction", l.TransactionID,
				"verification", id, "risk", risk, "err", herr)
			if _, err := s.db.ExecContext(ctx, `UPDATE travel_rule_holds SET reason = ? WHERE transaction_id = ? AND verification_uuid = ?`,
				storable("risk "+string(risk)+"; not put on_hold: "+herr.Error(), maxFieldLen), l.TransactionID, id); err != nil {
				return fmt.Errorf("travelrule: hold %s: %w", l.TransactionID, err)
			}
			continue
		}
		// Not applied (the database or the transfer service failed): undo, and the job retries.
		if _, err := s.db.ExecContext(ctx, `DELETE FROM travel_rule_holds WHERE transaction_id = ? AND verification_uuid = ?
		AND released_at IS NULL`, l.TransactionID, id); err != nil {
			return fmt.Errorf("travelrule: hold %s: undo: %w", l.TransactionID, err)
		}
		return herr
	}
	return nil
}

// releaseKey marks a context whose business method is an operator's release.
type releaseKey struct{}

// ReleaseError: the transfer service refused to take the withdrawal out of on_hold (its
// message is the service's, safe to show to the operator).
type ReleaseError struct{ Err error }

func (e *ReleaseError) Error() string { return "travelrule: release refused: " + e.Err.Error() }

// Unwrap returns the transfer service's error.
func (e *ReleaseError) Unwrap() error { return e.Err }

// ErrNoHold: the transaction has no Travel Rule hold to release.
var ErrNoHold = errors.New("travelrule: the transaction has no Travel Rule hold to release")

// Release ends the Travel Rule hold of a withdrawal on an operator's decision: the
// withdrawal leaves on_hold as the business would take it out (notify_onchain_funds_received
// with the user's payment: the one the payment observer kept for it, else the hash on the
// transaction or the TX_REPORT; Withdrawals.Release), and the hold records who released it
// and why. A hold whose transaction is no longer on_hold is only marked.
func (s *Service) Release(ctx context.Context, transactionID, operator, note string) error {
	b := s.opts.Beneficiary
	if b == nil {
		return ErrNoHold
	}
	var id, hash string
	err := s.db.QueryRowContext(ctx, `SELECT h.verification_uuid, COALESCE(v.tx_hash, '') FROM travel_rule_holds h
	LEFT JOIN travel_rule_verifications v ON v.verification_uuid = h.verification_uuid
	WHERE h.transaction_id = ? AND h.released_at IS NULL ORDER BY h.held_at LIMIT 1`, transactionID).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoHold
	}
	if err != nil {
		return fmt.Errorf("travelrule: release %s: %w", transactionID, err)
	}
	w, err := b.Withdrawals.Withdrawal(ctx, transactionID)
	if err != nil {
		return err
	}
	by := "operator"
	if operator != "" {
		by = "operator:" + operator
	}
	if w.Status == "on_hold" {
		if w.StellarTxHash != "" {
			hash = w.StellarTxHash
		}
		msg := "Travel Rule hold released by the operator"
		if note != "" {
			msg += ": " + note
		}
		// The gate's After marks the hold released with this context's marker.
		if err := b.Withdrawals.Release(context.WithValue(ctx, releaseKey{}, by), transactionID, hash, msg); err != nil {
			return &ReleaseError{Err: err}
		}
	}
	return s.markReleased(ctx, transactionID, by, note)
}

func (s *Service) markReleased(ctx context.Context, transactionID, by, note string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE travel_rule_holds SET released_at = ?, released_by = ?, note = ?
	WHERE transaction_id = ? AND released_at IS NULL`, store.Micros(time.Now()), by, note, transactionID)
	if err != nil {
		return fmt.Errorf("travelrule: release %s: %w", transactionID, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.metrics.releases.Inc()
		s.log.Info("travel rule hold released", "transaction", transactionID, "by", by)
	}
	return nil
}

// payouts are the business methods that pay a withdrawal out (or lead to it) from a status
// other than on_hold: refused while a Travel Rule hold is due and not yet applied.
var payouts = map[string]bool{
	"notify_offchain_funds_pending": true, "notify_offchain_funds_available": true, "notify_offchain_funds_sent": true,
}

// BeforeWithdrawal is the Travel Rule gate before a business method on a withdrawal: while a
// linked verification's risk reaches the hold level and no release was recorded, the
// withdrawal may not be paid out except by leaving on_hold (which is the business's release).
func (s *Service) BeforeWithdrawal(ctx context.Context, method, transactionID, status string) error {
	if s.opts.Beneficiary == nil || !payouts[method] || status == "on_hold" {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT l.verification_uuid, v.risk_level, h.released_at FROM travel_rule_links l
	JOIN travel_rule_verifications v ON v.verification_uuid = l.verification_uuid
	LEFT JOIN travel_rule_holds h ON h.transaction_id = l.transaction_id AND h.verification_uuid = l.verification_uuid
	WHERE l.transaction_id = ? AND l.role = ?`, transactionID, RoleBeneficiary)
	if err != nil {
		return fmt.Errorf("travelrule: read holds of %s: %w", transactionID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id       string
			risk     RiskLevel
			released sql.NullInt64
		)
		if err := rows.Scan(&id, &risk, &released); err != nil {
			return fmt.Errorf("travelrule: read holds of %s: %w", transactionID, err)
		}
		if s.holdDue(risk) && !released.Valid {
			return &HoldError{Msg: fmt.Sprintf("Travel Rule: verification %s has risk %s; the transaction is held for review and may be paid out only once released (admin API; a SEP-6 withdrawal also by taking it out of on_hold)", id, risk)}
		}
	}
	return rows.Err()
}

// AfterWithdrawal records the release of a Travel Rule hold when a business method took the
// withdrawal out of on_hold (by the business, or the operator's Release).
func (s *Service) AfterWithdrawal(ctx context.Context, method, transactionID, status string) {
	if s.opts.Beneficiary == nil || status == "on_hold" || method == "notify_transaction_on_hold" {
		return
	}
	by, _ := ctx.Value(releaseKey{}).(string)
	if by != "" {
		return // Release marks it itself, with the note
	}
	if err := s.markReleased(ctx, transactionID, "business:"+method, ""); err != nil {
		s.log.Error("travel rule release not recorded", "transaction", transactionID, "err", err)
	}
}

// inquire asks the enclave, for every verification linked to a withdrawal that still has no
// TX_REPORT after InquireAfter, the state of the transfer (Transaction Status Query), and
// folds a reported hash in as the TX_REPORT callback it stands for (same natural key, so the
// real callback arriving later is a repeat or a revision, never a second effect). One
// question per verification per InquireAfter; it returns how many hashes it found.
func (s *Service) inquire(ctx context.Context) (int, error) {
	b := s.opts.Beneficiary
	if b == nil || b.Client == nil {
		return 0, nil
	}
	now := time.Now()
	ids, err := s.verificationIDs(ctx, `SELECT DISTINCT l.verification_uuid FROM travel_rule_links l
	LEFT JOIN travel_rule_verifications v ON v.verification_uuid = l.verification_uuid
	WHERE l.role = ? AND l.created_at <= ? AND l.created_at > ? AND (v.tx_hash IS NULL OR v.tx_hash = '')
	AND NOT EXISTS (SELECT 1 FROM travel_rule_calls c WHERE c.verification_uuid = l.verification_uuid AND c.api = ?
	AND c.created_at > ?) LIMIT 200`,
		RoleBeneficiary, store.Micros(now.Add(-b.InquireAfter)), store.Micros(now.Add(-b.InquireFor)), APITxInquiry,
		store.Micros(now.Add(-b.InquireAfter)))
	if err != nil {
		return 0, fmt.Errorf("travelrule: inquire: %w", err)
	}
	return s.foldAnswers(ctx, ids, APITxInquiry, func(ctx context.Context, id string) ([]byte, []byte, int, error) {
		return b.Client.do(ctx, "POST", "/v1/verifications/tx/inquiry", map[string]string{"verificationUuid": id})
	}, txReportCallback)
}

// txReportCallback turns a Transaction Status Query answer ({verificationUuid,
// transactionStatus, txHash, vout?}, possibly under "data" or "result") into the TX_REPORT
// callback it stands for, or nil while no hash is known; it also returns the status.
func txReportCallback(id string, resp []byte) ([]byte, string) {
	data, ok := enclaveData(resp)
	if !ok {
		return nil, ""
	}
	var a struct {
		TransactionStatus Text `json:"transactionStatus"`
		TxHash            Text `json:"txHash"`
		TxID              Text `json:"txId"`
		Vout              Text `json:"vout"`
	}
	if err := json.Unmarshal(data, &a); err != nil && !isTypeError(err) {
		return nil, ""
	}
	status := strings.ToUpper(clean(a.TransactionStatus))
	hash := clean(a.TxHash)
	if hash == "" {
		hash = clean(a.TxID)
	}
	if hash == "" || status == TxCanceled {
		return nil, status
	}
	d := map[string]any{"verificationUuid": id, "txHash": hash}
	if v := clean(a.Vout); v != "" {
		d["vout"] = v
	}
	body, _ := json.Marshal(map[string]any{"callbackType": TypeTxReport, "data": d})
	return body, status
}
