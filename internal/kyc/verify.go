package kyc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// EventVerificationCode is the business event carrying a code to deliver to the customer.
const EventVerificationCode = "customer_verification_code"

// maxCodeAttempts is how many wrong codes a field takes in one code window (24 hours from
// its first code): sending the field again does not give more, or six digits would fall
// to a wallet that resends after every fifth guess.
const maxCodeAttempts = 5

// codeWindow is the period of Limits.CodesPerDay and of the attempt counter.
const codeWindow = 24 * time.Hour

func codeAD(id, name string) []byte { return []byte("kyc.code\x00" + id + "\x00" + name) }

func (s builtin) needsCode(name string) bool { return slices.Contains(s.cfg.VerificationFields, name) }

// newCode makes a field's confirmation code, stores it sealed and records the business event
// that delivers it — unless the field's last code is more recent than the resend cooldown,
// or the field had its daily number of codes: then a *limit.QuotaError (429, Retry-After
// when the next code may be sent) and the caller's transaction is rolled back. The wrong
// attempts counted against the field stay: only a new 24-hour window clears them.
func (s builtin) newCode(ctx context.Context, tx *store.Tx, id, name string, now time.Time) error {
	var sentAt, window sql.NullInt64
	var sends, attempts int
	if err := tx.QueryRowContext(ctx, `SELECT code_sent_at, code_sends, code_window, code_attempts FROM kyc_fields
		WHERE customer_id = ? AND name = ?`, id, name).Scan(&sentAt, &sends, &window, &attempts); err != nil {
		return fmt.Errorf("kyc: read code state: %w", err)
	}
	start := store.FromMicros(window.Int64)
	if !window.Valid || !now.Before(start.Add(codeWindow)) {
		start, sends, attempts = now, 0, 0
	}
	if cd := s.limits.CodeCooldown; cd > 0 && sentAt.Valid {
		if wait := store.FromMicros(sentAt.Int64).Add(cd).Sub(now); wait > 0 {
			return &limit.QuotaError{Quota: "limits.verification_resend_cooldown", Limit: int64(cd / time.Second), RetryAfter: wait,
				Msg: fmt.Sprintf("a verification code for %s was sent less than %s ago", name, cd)}
		}
	}
	if perDay := s.limits.CodesPerDay; perDay > 0 && sends >= perDay {
		return &limit.QuotaError{Quota: "limits.verification_codes_per_day", Limit: int64(perDay), RetryAfter: start.Add(codeWindow).Sub(now),
			Msg: fmt.Sprintf("%s had %d verification codes in 24 hours", name, sends)}
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return fmt.Errorf("kyc: verification code: %w", err)
	}
	code := fmt.Sprintf("%06d", n.Int64())
	sealed, err := s.sealer.Seal([]byte(code), codeAD(id, name))
	if err != nil {
		return fmt.Errorf("kyc: seal code: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE kyc_fields SET code = ?, code_attempts = ?, code_sent_at = ?, code_sends = ?,
		code_window = ? WHERE customer_id = ? AND name = ?`,
		sealed, attempts, store.Micros(now), sends+1, store.Micros(start), id, name); err != nil {
		return fmt.Errorf("kyc: store code: %w", err)
	}
	body, err := json.Marshal(map[string]any{"customer": map[string]string{"id": id, "field": name, "code": code}})
	if err != nil {
		return fmt.Errorf("kyc: encode code event: %w", err)
	}
	if err := s.outbox.Business(ctx, tx, callback.Message{
		EventID: newID(), Type: EventVerificationCode, Subject: "customer:" + id + ":verification", OccurredAt: now, Body: body,
	}); err != nil {
		return fmt.Errorf("kyc: record code event: %w", err)
	}
	return nil
}

// applyCodes checks `<field>_verification` codes of a builtin customer in its own
// transaction: a right code moves the field to PROCESSING (ACCEPTED under auto_accept) and
// the customer's status is recomputed; a wrong one counts an attempt (committed) and is a
// bad request.
func (s builtin) applyCodes(ctx context.Context, c wallet.Identity, id, account, memo, txID, typ string, codes map[string]string) (string, error) {
	var wrong string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.resolve(ctx, tx, c, id, account, memo, txID, typ)
		if err != nil {
			return err
		}
		if t.id == "" {
			return ErrNotFound
		}
		id = t.id
		if err := lockCustomer(ctx, tx, id); err != nil {
			return err
		}
		now := s.now()
		fieldStatus := FieldProcessing
		if s.cfg.AutoAccept {
			fieldStatus = FieldAccepted
		}
		names := make([]string, 0, len(codes))
		for f := range codes {
			names = append(names, f)
		}
		slices.Sort(names)
		for _, name := range names {
			var status string
			var sealed []byte
			var attempts int
			err := tx.QueryRowContext(ctx, `SELECT status, code, code_attempts FROM kyc_fields WHERE customer_id = ? AND name = ?`,
				id, name).Scan(&status, &sealed, &attempts)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && (status != FieldVerificationRequired || sealed == nil)) {
				return badRequest(fmt.Sprintf("field %s does not require verification", name))
			}
			if err != nil {
				return fmt.Errorf("kyc: read code: %w", err)
			}
			if attempts >= maxCodeAttempts {
				return badRequest(fmt.Sprintf("too many wrong codes for %s: a new code can be asked for 24 hours after the first one", name))
			}
			want, err := s.sealer.Open(sealed, codeAD(id, name))
			if err != nil {
				return fmt.Errorf("kyc: open code: %w", err)
			}
			if subtle.ConstantTimeCompare(want, []byte(codes[name])) != 1 {
				if _, err := tx.ExecContext(ctx, `UPDATE kyc_fields SET code_attempts = code_attempts + 1 WHERE customer_id = ? AND name = ?`,
					id, name); err != nil {
					return fmt.Errorf("kyc: count attempt: %w", err)
				}
				wrong = name
				return nil // commit the attempt; nothing else changes
			}
			if _, err := tx.ExecContext(ctx, `UPDATE kyc_fields SET status = ?, code = NULL, code_attempts = 0, updated_at = ?
				WHERE customer_id = ? AND name = ?`, fieldStatus, store.Micros(now), id, name); err != nil {
				return fmt.Errorf("kyc: verify field: %w", err)
			}
		}
		return s.reevaluate(ctx, tx, id, t.txID, now)
	})
	if err != nil {
		return "", err
	}
	if wrong != "" {
		return "", badRequest(fmt.Sprintf("wrong verification code for %s", wrong))
	}
	return id, nil
}
