package travelrule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Results and reasons of the enclave-facing APIs (spec sections 5.1 and 7).
const (
	ResultVerified = "VERIFIED"
	ResultDenied   = "DENIED"

	ReasonOK                     = "OK"
	ReasonUnknownSymbol          = "UNKNOWN-SYMBOL"
	ReasonUnknownAddress         = "UNKNOWN-ADDRESS"
	ReasonLackOfInformation      = "LACK-OF-INFORMATION"
	ReasonUnavailableInformation = "UNAVAILABLE-INFORMATION"
	ReasonBlacklisted            = "BLACKLISTED"
	ReasonUnverifiedKYC          = "UNVERIFIED-KYC"
	ReasonMismatchedName         = "MISMATCHED-NAME"
	ReasonUndefinedError         = "UNDEFINED-ERROR"
)

// ErrNotFound is also what a Directory returns for an address no customer receives at.

// Customer is what the beneficiary checks need of our customer: its SEP-12 status and its
// SEP-9 text fields (personal data: never logged).
type Customer struct {
	ID        string
	KYCStatus string
	Fields    map[string]string
}

// Directory finds our customer who receives at a Stellar address. The app satisfies it with
// the SEP-12 customers. It must return ErrNotFound when no customer does.
type Directory interface {
	Lookup(ctx context.Context, account, memo string) (Customer, error)
}

// TransferStates tells the SEP-6 state of a transaction (for Check Transaction Status).
type TransferStates interface {
	// TransferState returns the transaction's SEP-6 status and its Stellar transaction hash
	// ("" when not sent).
	TransferState(ctx context.Context, transactionID string) (status, stellarTxHash string, err error)
}

// AssetInfo is the asset part of a Verify User request.
type AssetInfo struct {
	Symbol               Text  `json:"symbol"`
	Network              Text  `json:"network"`
	Amount               Text  `json:"amount"`
	IsExceedingThreshold *bool `json:"isExceedingThreshold"`
	TradePrice           Text  `json:"tradePrice"`
	TradeCurrency        Text  `json:"tradeCurrency"`
	TradeISODatetime     Text  `json:"tradeISODatetime"`
}

type payload struct {
	Version Text     `json:"version"`
	IVMS101 *IVMS101 `json:"ivms101"`
}

// AccountRequest is the body of Verify User Account (VEGA_VERIFICATION_ACCOUNT_API_PATH).
// The IVMS101 comes at the top level or, as in the enclave's own v1 API, under payload.
type AccountRequest struct {
	OriginatingVaspID Text     `json:"originatingVaspId"`
	Symbol            Text     `json:"symbol"`
	Network           Text     `json:"network"`
	Version           Text     `json:"version"`
	IVMS101           *IVMS101 `json:"ivms101"`
	Payload           *payload `json:"payload"`
}

// UserRequest is the body of Verify User (VEGA_VERIFICATION_API_PATH).
type UserRequest struct {
	VerificationUUID        Text      `json:"verificationUuid"`
	OriginatingVaspID       Text      `json:"originatingVaspId"`
	RequiredBeneficiaryInfo Text      `json:"requiredBeneficiaryInfo"`
	AssetInfo               AssetInfo `json:"assetInfo"`
	IVMS101                 *IVMS101  `json:"ivms101"`
	Payload                 *payload  `json:"payload"`
}

func identity(top *IVMS101, p *payload) IVMS101 {
	if p != nil && p.IVMS101 != nil {
		return *p.IVMS101
	}
	if top != nil {
		return *top
	}
	return IVMS101{}
}

// Required returns the requested beneficiary info codes (a comma list, or a JSON array).
func (r UserRequest) Required() []string {
	s := string(r.RequiredBeneficiaryInfo)
	var list []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &list) == nil {
		s = strings.Join(list, ",")
	}
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.ToUpper(strings.TrimSpace(c)); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Answer is what Verify User and Verify User Account return.
type Answer struct {
	Result  string   `json:"result"`
	Reason  string   `json:"reason"`
	Message string   `json:"message"`
	IVMS101 *IVMS101 `json:"ivms101,omitempty"`
}

// StatusAnswer is what Check Transaction Status returns.
type StatusAnswer struct {
	VerificationUUID  string `json:"verificationUuid"`
	TransactionStatus string `json:"transactionStatus"`
	TxHash            string `json:"txHash,omitempty"`
	Vout              string `json:"vout,omitempty"`
}

// Transaction statuses of Check Transaction Status (spec section 5.1).
const (
	TxPending     = "PENDING"
	TxProcessing  = "PROCESSING"
	TxWaitConfirm = "WAIT-CONFIRM"
	TxConfirmed   = "CONFIRMED"
	TxCanceled    = "CANCELED"
)

// ResponderOptions configure the enclave-facing APIs. Zero values take the defaults named.
type ResponderOptions struct {
	Directory Directory
	States    TransferStates
	Matcher   NameMatcher
	// DenyAccounts and DenyNames screen the originator: an account number listed, or a name
	// matching a listed one (by Matcher), is BLACKLISTED.
	DenyAccounts []string
	DenyNames    []string
	// Symbols are the asset symbols vaspgate receives; another is UNKNOWN-SYMBOL. Empty: any.
	Symbols []string
	// AccountBudget, UserBudget, StatusBudget bound each answer's decision (the enclave allows
	// 1 s, 5 s and 1 s; defaults 600ms, 4s, 600ms, leaving time to record and answer).
	AccountBudget, UserBudget, StatusBudget time.Duration
}

// Responder answers the enclave's calls to the VASP: Verify User Account, Verify User and
// Check Transaction Status. Each answer is decided from what the database holds within a
// budget; past it the answer is the safe one (DENIED with UNDEFINED-ERROR, never VERIFIED;
// PENDING for a transaction status), and the record says so. Every request and answer is
// recorded, sealed, in travel_rule_calls.
type Responder struct {
	s   *Service
	o   ResponderOptions
	log *slog.Logger
}

// CountRejected counts an enclave API call refused before it was read (the HTTP layer calls
// it), with the callbacks refused.
func (b *Responder) CountRejected(reason string) { b.s.CountRejected(reason) }

// Responder returns the enclave-facing APIs of s.
func (s *Service) Responder(o ResponderOptions) *Responder {
	if o.AccountBudget <= 0 {
		o.AccountBudget = 600 * time.Millisecond
	}
	if o.UserBudget <= 0 {
		o.UserBudget = 4 * time.Second
	}
	if o.StatusBudget <= 0 {
		o.StatusBudget = 600 * time.Millisecond
	}
	return &Responder{s: s, o: o, log: s.log}
}

// ParseAddress splits a beneficiary account number into a Stellar account and memo: "G…",
// "G…:memo" (how VerifyVASP writes memo chains) or a muxed "M…" (its id is the memo).
func ParseAddress(a string) (account, memo string, ok bool) {
	a = strings.TrimSpace(a)
	account, memo, _ = strings.Cut(a, ":")
	switch {
	case strkey.IsValidEd25519PublicKey(account):
		return account, memo, true
	case memo == "" && strkey.IsValidMuxedAccountEd25519PublicKey(account):
		m, err := strkey.DecodeMuxedAccount(account)
		if err != nil {
			return "", "", false
		}
		base, err := m.AccountID()
		if err != nil {
			return "", "", false
		}
		return base, strconv.FormatUint(m.ID(), 10), true
	}
	return "", "", false
}

// decided runs decide within budget; past it, or when it fails, the answer is fallback and
// timedOut is set. decide keeps running in the background when late (its context is
// cancelled), so a slow database never holds the answer.
func decided[T any](ctx context.Context, budget time.Duration, decide func(context.Context) (T, error), fallback T) (T, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		defer cancel()
		v, err := decide(ctx)
		ch <- res{v, err}
	}()
	timer := time.NewTimer(budget)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			if errors.Is(r.err, context.DeadlineExceeded) {
				return fallback, true, r.err
			}
			return fallback, false, r.err
		}
		return r.v, false, nil
	case <-timer.C:
		return fallback, true, context.DeadlineExceeded
	}
}

func undefined() Answer {
	return Answer{Result: ResultDenied, Reason: ReasonUndefinedError, Message: "Undefined Error is occurred."}
}

func denied(reason, msg string) Answer {
	return Answer{Result: ResultDenied, Reason: reason, Message: msg}
}

// recordWait is how long an answer may wait for its record: at most max, and never past
// answerBy after start (the record then finishes in the background).
func recordWait(start time.Time, answerBy, max time.Duration) time.Duration {
	return min(max, answerBy-time.Since(start))
}

// record stores one call; a slow database delays the answer by at most wait, after which the
// record is finished in the background.
func (b *Responder) record(c Call, wait time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if c.API == APIVerifyUser && c.TransactionID != "" && c.VerificationUUID != "" {
			err = b.s.db.InTx(ctx, func(tx *store.Tx) error {
				if err := b.s.recordCall(ctx, tx, &c); err != nil {
					return err
				}
				return b.s.linkBeneficiary(ctx, tx, c.VerificationUUID, c.TransactionID)
			})
		} else {
			err = b.s.recordCall(ctx, b.s.db, &c)
		}
		if err != nil {
			b.log.Error("travel rule call not recorded", "api", c.API, "verification", c.VerificationUUID, "err", err)
		}
	}()
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// VerifyUserAccount answers Verify User Account for the raw body (which is recorded).
func (b *Responder) VerifyUserAccount(ctx context.Context, raw []byte) (Answer, error) {
	start := time.Now()
	var req AccountRequest
	if err := json.Unmarshal(raw, &req); err != nil && !isTypeError(err) {
		b.record(Call{Direction: FromEnclave, API: APIVerifyUserAccount, Request: raw, HTTPStatus: 400,
			Error: "malformed body", Elapsed: time.Since(start).Seconds()}, 200*time.Millisecond)
		return Answer{}, fmt.Errorf("travelrule: verify user account: body is not JSON: %w", err)
	}
	ans, late, err := decided(ctx, b.o.AccountBudget, func(ctx context.Context) (Answer, error) {
		return b.checkAccount(ctx, string(req.Symbol), identity(req.IVMS101, req.Payload), true)
	}, undefined())
	b.finish(APIVerifyUserAccount, "", "", raw, ans, late, err, start, recordWait(start, 850*time.Millisecond, 150*time.Millisecond))
	return ans, nil
}

// VerifyUser answers Verify User for the raw body (which is recorded).
func (b *Responder) VerifyUser(ctx context.Context, raw []byte) (Answer, error) {
	start := time.Now()
	var req UserRequest
	if err := json.Unmarshal(raw, &req); err != nil && !isTypeError(err) {
		b.record(Call{Direction: FromEnclave, API: APIVerifyUser, Request: raw, HTTPStatus: 400,
			Error: "malformed body", Elapsed: time.Since(start).Seconds()}, 500*time.Millisecond)
		return Answer{}, fmt.Errorf("travelrule: verify user: body is not JSON: %w", err)
	}
	var withdrawal atomic.Value // written by the decision, which may outlive the budget
	ans, late, err := decided(ctx, b.o.UserBudget, func(ctx context.Context) (Answer, error) {
		var id string
		a, err := b.checkUser(ctx, req, &id)
		withdrawal.Store(id)
		return a, err
	}, undefined())
	wid := ""
	if !late {
		wid, _ = withdrawal.Load().(string)
	}
	b.finish(APIVerifyUser, clean(req.VerificationUUID), wid, raw, ans, late, err, start, recordWait(start, 4500*time.Millisecond, 500*time.Millisecond))
	return ans, nil
}

// finish records an answer; a Verify User about a withdrawal links the verification to it in
// the same transaction.
func (b *Responder) finish(api, uuid, withdrawalID string, raw []byte, ans Answer, late bool, err error, start time.Time, wait time.Duration) {
	resp, _ := json.Marshal(ans)
	c := Call{Direction: FromEnclave, API: api, VerificationUUID: uuid, TransactionID: withdrawalID, Request: raw, Response: resp, HTTPStatus: 200,
		Result: ans.Result, Reason: ans.Reason, TimedOut: late, Elapsed: time.Since(start).Seconds()}
	if err != nil {
		c.Error = err.Error()
		b.log.Warn("travel rule answer fell back to DENIED", "api", api, "verification", uuid, "timed_out", late, "err", err)
	}
	b.s.metrics.answer(api, ans.Result, late, time.Since(start).Seconds())
	b.record(c, wait)
}

// checkAccount is the part shared by both verifications: the symbol, the address and (when
// names are given and nameCheck) the beneficiary's name.
func (b *Responder) checkAccount(ctx context.Context, symbol string, p IVMS101, nameCheck bool) (Answer, error) {
	a, _, _, err := b.lookup(ctx, symbol, "", p, nameCheck)
	return a, err
}

// lookup finds our customer at the beneficiary's address: a customer's own account (a
// custodial deposit), else the SEP-6 withdrawal paid to it (by memo, else by amount), whose
// customer is the beneficiary; withdrawalID names that withdrawal.
func (b *Responder) lookup(ctx context.Context, symbol, amount string, p IVMS101, nameCheck bool) (a Answer, c *Customer, withdrawalID string, err error) {
	a, c, err = b.lookupCustomer(ctx, symbol, amount, p, nameCheck, &withdrawalID)
	return a, c, withdrawalID, err
}

func (b *Responder) lookupCustomer(ctx context.Context, symbol, amount string, p IVMS101, nameCheck bool, withdrawalID *string) (Answer, *Customer, error) {
	if len(b.o.Symbols) > 0 && symbol != "" && !slices.ContainsFunc(b.o.Symbols, func(s string) bool { return strings.EqualFold(s, symbol) }) {
		return denied(ReasonUnknownSymbol, symbol), nil, nil
	}
	if p.Beneficiary == nil || len(p.Beneficiary.AccountNumber) == 0 {
		return denied(ReasonLackOfInformation, "ACCOUNT_NUMBER"), nil, nil
	}
	addr := string(p.Beneficiary.AccountNumber[0])
	account, memo, ok := ParseAddress(addr)
	if !ok {
		return denied(ReasonUnknownAddress, addr+" is not registered."), nil, nil
	}
	c, err := Customer{}, error(ErrNotFound)
	if b.o.Directory != nil {
		c, err = b.o.Directory.Lookup(ctx, account, memo)
	}
	if errors.Is(err, ErrNotFound) {
		c, err = b.withdrawalCustomer(ctx, account, memo, symbol, amount, withdrawalID)
	}
	if errors.Is(err, ErrNotFound) {
		return denied(ReasonUnknownAddress, addr+" is not registered."), nil, nil
	}
	if err != nil {
		return undefined(), nil, err
	}
	if nameCheck && len(p.Beneficiary.Persons) > 0 {
		if ok, _ := b.o.Matcher.Match(p.Beneficiary.Persons, PersonFromSEP9(c.Fields)); !ok {
			return denied(ReasonMismatchedName, "Name is not matched."), &c, nil
		}
	}
	return Answer{Result: ResultVerified, Reason: ReasonOK}, &c, nil
}

// withdrawalCustomer is the beneficiary customer of the SEP-6 withdrawal or SEP-31 receive
// paid to account (see Service.resolveWithdrawal), or ErrNotFound.
func (b *Responder) withdrawalCustomer(ctx context.Context, account, memo, symbol, amount string, withdrawalID *string) (Customer, error) {
	w, ok, err := b.s.resolveWithdrawal(ctx, account, memo, symbol, amount)
	if err != nil {
		return Customer{}, err
	}
	if !ok || b.s.opts.Beneficiary.Profiles == nil {
		return Customer{}, ErrNotFound
	}
	c, err := b.s.opts.Beneficiary.Profiles.Profile(ctx, w.CustomerID, w.OwnerAccount, w.OwnerMemo, w.CustomerTypes...)
	if err != nil {
		return Customer{}, err
	}
	*withdrawalID = w.ID
	return c, nil
}

// checkUser decides Verify User; withdrawalID is set when the address is a withdrawal's (the
// verification is then linked to it when the call is recorded).
func (b *Responder) checkUser(ctx context.Context, req UserRequest, withdrawalID *string) (Answer, error) {
	p := identity(req.IVMS101, req.Payload)
	exceeding := req.AssetInfo.IsExceedingThreshold == nil || *req.AssetInfo.IsExceedingThreshold
	a, c, wid, err := b.lookup(ctx, string(req.AssetInfo.Symbol), string(req.AssetInfo.Amount), p, false)
	*withdrawalID = wid
	if err != nil || a.Result != ResultVerified {
		return a, err
	}
	if hit := b.screen(p.Originator); hit != "" {
		return denied(ReasonBlacklisted, hit+" is listed on the blacklist."), nil
	}
	if c.KYCStatus != "ACCEPTED" {
		return denied(ReasonUnverifiedKYC, string(p.Beneficiary.AccountNumber[0])+" is unverified KYC"), nil
	}
	ours := PersonFromSEP9(c.Fields)
	if exceeding {
		if len(p.Beneficiary.Persons) == 0 {
			return denied(ReasonLackOfInformation, "NATURAL_PERSON_NAME"), nil
		}
		if ok, _ := b.o.Matcher.Match(p.Beneficiary.Persons, ours); !ok {
			return denied(ReasonMismatchedName, "Name is not matched."), nil
		}
	}
	ben, missing := beneficiaryInfo(req.Required(), ours, p.Beneficiary.AccountNumber)
	if len(missing) > 0 {
		return denied(ReasonUnavailableInformation, strings.Join(missing, ",")), nil
	}
	return Answer{Result: ResultVerified, Reason: ReasonOK, Message: "", IVMS101: &IVMS101{Beneficiary: ben}}, nil
}

// screen returns the originator's account or name found on the deny list ("" when none).
func (b *Responder) screen(o *Originator) string {
	if o == nil {
		return ""
	}
	for _, a := range o.AccountNumber {
		if slices.Contains(b.o.DenyAccounts, strings.TrimSpace(string(a))) {
			return string(a)
		}
	}
	for _, name := range b.o.DenyNames {
		listed := []Person{wholeName(name), {LegalPerson: &LegalPerson{Name: &LegalPersonName{
			NameIdentifier: []LegalNameIdentifier{{LegalPersonName: Text(name), LegalPersonNameIdentifierType: "LEGL"}}}}}}
		for _, p := range o.Persons {
			for _, l := range listed {
				if ok, _ := b.o.Matcher.Match([]Person{p}, l); ok {
					return "Originator"
				}
			}
		}
	}
	return ""
}

func wholeName(whole string) Person {
	return Person{NaturalPerson: &NaturalPerson{Name: &NaturalPersonName{NameIdentifier: []NaturalNameIdentifier{{
		PrimaryIdentifier: Text(whole), NameIdentifierType: "LEGL"}}}}}
}

// beneficiaryInfo builds the beneficiary to return: only what was asked for (ACCOUNT_NUMBER
// as received, unchanged), and lists the required codes vaspgate cannot provide.
func beneficiaryInfo(required []string, ours Person, accounts []Text) (*Beneficiary, []string) {
	out := &Beneficiary{}
	var missing []string
	np, lp := &NaturalPerson{}, &LegalPerson{}
	for _, code := range required {
		have := true
		switch code {
		case "ACCOUNT_NUMBER":
			out.AccountNumber = accounts
		case "NATURAL_PERSON_NAME", "CORPORATE_REPRESENTATIVE_NAME":
			have = ours.NaturalPerson != nil && ours.NaturalPerson.Name != nil
			if have {
				np.Name = &NaturalPersonName{NameIdentifier: ours.NaturalPerson.Name.NameIdentifier}
			}
		case "LOCAL_NATURAL_PERSON_NAME":
			have = ours.NaturalPerson != nil && ours.NaturalPerson.Name != nil && len(ours.NaturalPerson.Name.LocalNameIdentifier) > 0
			if have {
				if np.Name == nil {
					np.Name = &NaturalPersonName{}
				}
				np.Name.LocalNameIdentifier = ours.NaturalPerson.Name.LocalNameIdentifier
			}
		case "NATURAL_PERSON_DATE_AND_PLACE_OF_BIRTH":
			have = ours.NaturalPerson != nil && ours.NaturalPerson.DateAndPlaceOfBirth != nil
			if have {
				np.DateAndPlaceOfBirth = ours.NaturalPerson.DateAndPlaceOfBirth
			}
		case "NATURAL_PERSON_GEOGRAPHIC_ADDRESS":
			have = ours.NaturalPerson != nil && len(ours.NaturalPerson.GeographicAddress) > 0
			if have {
				np.GeographicAddress = ours.NaturalPerson.GeographicAddress
			}
		case "NATURAL_PERSON_NATIONAL_IDENTIFICATION":
			have = ours.NaturalPerson != nil && ours.NaturalPerson.NationalIdentification != nil
			if have {
				np.NationalIdentification = ours.NaturalPerson.NationalIdentification
			}
		case "NATURAL_PERSON_COUNTRY_OF_RESIDENCE":
			have = ours.NaturalPerson != nil && ours.NaturalPerson.CountryOfResidence != ""
			if have {
				np.CountryOfResidence = ours.NaturalPerson.CountryOfResidence
			}
		case "LEGAL_PERSON_NAME":
			have = ours.LegalPerson != nil && ours.LegalPerson.Name != nil
			if have {
				lp.Name = &LegalPersonName{NameIdentifier: ours.LegalPerson.Name.NameIdentifier}
			}
		case "HEAD_OFFICE_GEOGRAPHIC_ADDRESS":
			have = ours.LegalPerson != nil && len(ours.LegalPerson.GeographicAddress) > 0
			if have {
				lp.GeographicAddress = ours.LegalPerson.GeographicAddress[:1]
			}
		case "LEGAL_PERSON_NATIONAL_IDENTIFICATION":
			have = ours.LegalPerson != nil && ours.LegalPerson.NationalIdentification != nil
			if have {
				lp.NationalIdentification = ours.LegalPerson.NationalIdentification
			}
		case "LEGAL_PERSON_COUNTRY_OF_REGISTRATION":
			have = ours.LegalPerson != nil && ours.LegalPerson.CountryOfRegistration != ""
			if have {
				lp.CountryOfRegistration = ours.LegalPerson.CountryOfRegistration
			}
		case "LEGAL_PERSON_DATE_OF_INCORPORATION":
			have = ours.LegalPerson != nil && ours.LegalPerson.DateOfIncorporation != ""
			if have {
				lp.DateOfIncorporation = ours.LegalPerson.DateOfIncorporation
			}
		default:
			have = false
		}
		if !have {
			missing = append(missing, code)
		}
	}
	if !isZero(np) {
		out.Persons = append(out.Persons, Person{NaturalPerson: np})
	}
	if !isZero(lp) {
		out.Persons = append(out.Persons, Person{LegalPerson: lp})
	}
	return out, missing
}

func isZero(v any) bool {
	b, _ := json.Marshal(v)
	return bytes.Equal(b, []byte("{}"))
}

// TransactionStatus answers Check Transaction Status for the raw body (which is recorded): the
// state of the deposit vaspgate sent under that verification. ErrNotFound when vaspgate has no
// transaction for it.
func (b *Responder) TransactionStatus(ctx context.Context, raw []byte) (StatusAnswer, error) {
	start := time.Now()
	var req struct {
		VerificationUUID Text `json:"verificationUuid"`
	}
	if err := json.Unmarshal(raw, &req); err != nil && !isTypeError(err) {
		b.record(Call{Direction: FromEnclave, API: APITransactionStatus, Request: raw, HTTPStatus: 400,
			Error: "malformed body", Elapsed: time.Since(start).Seconds()}, 200*time.Millisecond)
		return StatusAnswer{}, fmt.Errorf("travelrule: transaction status: body is not JSON: %w", err)
	}
	id := clean(req.VerificationUUID)
	fallback := StatusAnswer{VerificationUUID: id, TransactionStatus: TxPending}
	ans, late, err := decided(ctx, b.o.StatusBudget, func(ctx context.Context) (StatusAnswer, error) {
		ls, _, err := links(ctx, b.s.db, "verification_uuid", id)
		if err != nil {
			return fallback, err
		}
		for _, l := range ls {
			if l.Role != RoleOriginator || b.o.States == nil {
				continue
			}
			st, hash, err := b.o.States.TransferState(ctx, l.TransactionID)
			if err != nil {
				return fallback, err
			}
			return StatusAnswer{VerificationUUID: id, TransactionStatus: TxStatusOf(st, hash), TxHash: hash}, nil
		}
		return fallback, ErrNotFound
	}, fallback)
	resp, _ := json.Marshal(ans)
	c := Call{Direction: FromEnclave, API: APITransactionStatus, VerificationUUID: id, Request: raw, Response: resp,
		HTTPStatus: 200, Result: ans.TransactionStatus, TimedOut: late, Elapsed: time.Since(start).Seconds()}
	if errors.Is(err, ErrNotFound) {
		c.HTTPStatus, c.Result, c.Response = 404, "", nil
	}
	if err != nil {
		c.Error = err.Error()
	}
	b.s.metrics.answer(APITransactionStatus, c.Result, late, time.Since(start).Seconds())
	b.record(c, recordWait(start, 850*time.Millisecond, 150*time.Millisecond))
	if errors.Is(err, ErrNotFound) {
		return StatusAnswer{}, ErrNotFound
	}
	return ans, nil
}

// TxStatusOf maps a SEP-6 status (and whether a Stellar hash exists) to the enclave's
// transaction status: sent and final is CONFIRMED, being sent is PROCESSING, given up is
// CANCELED, anything else (held, waiting for the business) is PENDING.
func TxStatusOf(sep6Status, hash string) string {
	switch sep6Status {
	case "completed":
		return TxConfirmed
	case "pending_stellar":
		return TxProcessing
	case "error", "expired", "refunded", "no_market", "too_small", "too_large":
		if hash != "" {
			return TxConfirmed
		}
		return TxCanceled
	}
	if hash != "" {
		return TxProcessing
	}
	return TxPending
}
