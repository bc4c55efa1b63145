package travelrule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// Problem says why a stored callback is not processed into a verification; such callbacks are
// kept in the quarantine, from which an operator can list and re-process them.
type Problem string

// Quarantine reasons. ProblemNone means the callback is processed.
const (
	ProblemNone Problem = ""
	// ProblemMalformed: the body is not a JSON object with a decodable data object.
	ProblemMalformed Problem = "malformed"
	// ProblemOversized: the body exceeded the size limit; only its first bytes are kept.
	ProblemOversized Problem = "oversized"
	// ProblemUnknownType: callbackType is not one vaspgate knows.
	ProblemUnknownType Problem = "unknown_type"
	// ProblemMissingKey: a known type without the fields of its natural key.
	ProblemMissingKey Problem = "missing_key"
)

// maxKeyLen bounds what a natural key may add to the unique index; longer keys
// are replaced by their hash so a hostile body cannot bloat the index.
const maxKeyLen = 400

// Limits of the decoded fields that are stored as text columns.
const (
	maxTypeLen = 100
	maxUUIDLen = 200
)

// storable returns s as it can be stored in a TEXT column of both engines: valid UTF-8,
// without NUL (PostgreSQL refuses both, which would fail a whole group commit), at most max
// bytes.
func storable(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}

// Decoded is what vaspgate learns from one callback body. Decode never fails: whatever it
// cannot understand is described by Problem and keyed by its content hash.
type Decoded struct {
	// Type is the callbackType as sent ("" when the body is not a JSON object).
	Type string
	// NaturalKey identifies the callback across repeats (spec section 8): a repeat with the
	// same key and the same content is a duplicate, with different content a revision.
	NaturalKey string
	// ContentHash is the SHA-256 of the compact JSON of the body (insignificant whitespace
	// removed), or of the raw bytes when the body is not JSON. Repeats that differ only in
	// indentation or spacing are therefore duplicates.
	ContentHash [32]byte
	// VerificationUUID is the verification the callback is about ("" for what could not be
	// decoded). A VerifyName request is its own record, keyed VerifyNamePrefix + request_id.
	VerificationUUID string
	// Problem is why the callback is quarantined; ProblemNone when it is processable.
	Problem Problem

	// Exactly one of these is set for a known type.
	VerificationResult *VerificationResultData
	TxReport           *TxReportData
	ErrorReport        *ErrorReportData
	KYT                *KYTResultData
	WCO                *WCOResultData
	OwnerVerification  *OwnerVerificationData
}

// Decode decodes a callback body leniently: unknown fields are ignored, the documented
// field-name variants are accepted (spec section 9), a field of an unexpected JSON type is
// skipped rather than failing the whole callback, and big ids and amounts stay text.
func Decode(body []byte) Decoded {
	d := Decoded{ContentHash: ContentHash(body)}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil && !isTypeError(err) {
		return d.quarantine(ProblemMalformed)
	}
	d.Type = storable(env.CallbackType, maxTypeLen)
	target, ok := d.target()
	if !ok {
		if env.CallbackType == "" {
			return d.quarantine(ProblemMalformed)
		}
		return d.quarantine(ProblemUnknownType)
	}
	data := bytes.TrimSpace(env.Data)
	if len(data) == 0 || data[0] != '{' {
		return d.quarantine(ProblemMalformed)
	}
	if err := json.Unmarshal(data, target); err != nil && !isTypeError(err) {
		return d.quarantine(ProblemMalformed)
	}
	parts, uuid := d.keyParts()
	if uuid == "" || storable(uuid, maxUUIDLen) != uuid {
		return d.quarantine(ProblemMissingKey)
	}
	d.VerificationUUID = uuid
	d.NaturalKey = naturalKey(parts)
	return d
}

// quarantine marks d unprocessable and keys it by its content hash.
func (d Decoded) quarantine(p Problem) Decoded {
	d.Problem = p
	d.VerificationUUID = ""
	d.NaturalKey = HashKey(d.ContentHash)
	d.VerificationResult, d.TxReport, d.ErrorReport, d.KYT, d.WCO, d.OwnerVerification = nil, nil, nil, nil, nil, nil
	return d
}

// target allocates the data struct for d.Type.
func (d *Decoded) target() (any, bool) {
	switch d.Type {
	case TypeVerificationResult:
		d.VerificationResult = new(VerificationResultData)
		return d.VerificationResult, true
	case TypeTxReport:
		d.TxReport = new(TxReportData)
		return d.TxReport, true
	case TypeErrorReport:
		d.ErrorReport = new(ErrorReportData)
		return d.ErrorReport, true
	case TypeKYTResult:
		d.KYT = new(KYTResultData)
		return d.KYT, true
	case TypeWCOResult:
		d.WCO = new(WCOResultData)
		return d.WCO, true
	case TypeOwnerVerificationResult, TypeOwnerVerificationTx:
		d.OwnerVerification = new(OwnerVerificationData)
		return d.OwnerVerification, true
	}
	return nil, false
}

// keyParts returns the natural key components (type first) and the verification uuid.
//
//	VERIFICATION_RESULT, TX_REPORT, ERROR_REPORT: type + verificationUuid
//	CHAINALYSIS_KYT_RESULT: requestId when present, else verificationUuid + externalId + apiType
//	REFINITIV_WCO_RESULT:   verificationUuid + caseSystemId (else caseId) + direction
//	OWNER_VERIFICATION_*:   request_id + callbackType
//
// TX_REPORT and ERROR_REPORT are keyed by uuid and type alone (not by txHash or reason) so that
// a changed report about one verification is a revision, judged by the state machine, rather
// than a second independent fact.
func (d Decoded) keyParts() ([]string, string) {
	t := d.Type
	switch {
	case d.VerificationResult != nil:
		u := clean(d.VerificationResult.VerificationUUID)
		return []string{t, u}, u
	case d.TxReport != nil:
		u := clean(d.TxReport.VerificationUUID)
		return []string{t, u}, u
	case d.ErrorReport != nil:
		u := clean(d.ErrorReport.VerificationUUID)
		return []string{t, u}, u
	case d.KYT != nil:
		u := clean(d.KYT.VerificationUUID)
		k := d.KYT.RiskAssessment.KYT
		if id := clean(k.RequestID); id != "" {
			return []string{t, "request", id}, u
		}
		return []string{t, u, clean(k.ExternalID), clean(k.APIType)}, u
	case d.WCO != nil:
		u := clean(d.WCO.VerificationUUID)
		w := d.WCO.RiskAssessment.WCO
		c := clean(w.CaseSystemID)
		if c == "" {
			c = clean(w.CaseID)
		}
		return []string{t, u, c, clean(w.Direction)}, u
	case d.OwnerVerification != nil:
		id := clean(d.OwnerVerification.RequestID)
		if id == "" {
			return []string{t, id}, ""
		}
		return []string{t, id}, VerifyNamePrefix + id
	}
	return []string{t}, ""
}

func clean(t Text) string { return strings.TrimSpace(string(t)) }

// naturalKey joins parts as a JSON array (unambiguous whatever the parts contain), hashed
// when too long for the index.
func naturalKey(parts []string) string {
	b, _ := json.Marshal(parts)
	if len(b) <= maxKeyLen {
		return string(b)
	}
	sum := sha256.Sum256(b)
	return parts[0] + ":sha256:" + hex.EncodeToString(sum[:])
}

// HashKey is the natural key of a callback known only by its content hash.
func HashKey(h [32]byte) string { return "sha256:" + hex.EncodeToString(h[:]) }

// ContentHash returns the SHA-256 of the compact form of body (see Decoded.ContentHash), or
// of body itself when it is not JSON. Compacting is a scan, not a parse: it keeps the hot
// path cheap (re-encoding with sorted keys would cost two full decodes more per callback,
// for key reorderings the enclave has never been seen to make).
func ContentHash(body []byte) [32]byte {
	if c, ok := canonical(body); ok {
		return sha256.Sum256(c)
	}
	return sha256.Sum256(body)
}

// canonical returns the compact form of a body that is valid JSON.
func canonical(body []byte) ([]byte, bool) {
	var buf bytes.Buffer
	buf.Grow(len(body))
	if err := json.Compact(&buf, body); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}
