package travelrule

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// Status is the state of a verification: PENDING until a result arrives, then VERIFIED,
// DENIED or ERROR. It only moves forward along PENDING < VERIFIED < DENIED < ERROR, so a late
// or repeated callback never undoes a refusal or a cancellation (an ERROR_REPORT after a
// VERIFIED result cancels it; a VERIFIED revision after DENIED is kept but not applied).
type Status string

// Verification statuses.
const (
	StatusPending  Status = "PENDING"
	StatusVerified Status = "VERIFIED"
	StatusDenied   Status = "DENIED"
	StatusError    Status = "ERROR"
)

func (s Status) rank() int {
	switch s {
	case StatusVerified:
		return 1
	case StatusDenied:
		return 2
	case StatusError:
		return 3
	}
	return 0
}

// resultStatus maps a VERIFICATION_RESULT outcome to a status. UNKNOWN (oldest examples) is a
// refusal; WAIT and PENDING and values vaspgate does not know leave the verification pending.
func resultStatus(outcome string) Status {
	switch strings.ToUpper(strings.TrimSpace(outcome)) {
	case "VERIFIED":
		return StatusVerified
	case "DENIED", "UNKNOWN":
		return StatusDenied
	case "ERROR", "TRANSFER_ERROR", "TRANSFER-ERROR":
		return StatusError
	}
	return StatusPending
}

// verifyNameStatus maps a VerifyName result: a match verifies, a reported mismatch or
// failure denies, anything else leaves the request pending.
func verifyNameStatus(result string) Status {
	switch strings.ToUpper(strings.TrimSpace(result)) {
	case "MATCHED", "MATCH", "VERIFIED", "OK":
		return StatusVerified
	case "":
		return StatusPending
	case "WAIT", "PENDING":
		return StatusPending
	}
	return StatusDenied
}

// errorReportStatus maps an ERROR_REPORT result: DENIED stays a refusal, anything else is an
// error (the report is a cancellation).
func errorReportStatus(result string) Status {
	if strings.EqualFold(strings.TrimSpace(result), "DENIED") {
		return StatusDenied
	}
	return StatusError
}

// Received is one stored callback as the state machine sees it.
type Received struct {
	// Revision is 0 for the first content seen under a natural key, then 1, 2, ... for each
	// different content under the same key, in the order they were stored.
	Revision int
	Decoded  Decoded
}

// KYTEntry is the selected result for one KYT natural key.
type KYTEntry struct {
	Key string `json:"key"`
	KYTResult
}

// WCOEntry is the selected result for one World-Check natural key.
type WCOEntry struct {
	Key string `json:"key"`
	WCOResult
}

// Verification is the record vaspgate derives for one verificationUuid from every callback
// stored about it. It is a pure function of that set (see Fold), so callbacks may arrive in
// any order and the record comes out the same.
type Verification struct {
	UUID      string
	Status    Status
	Reason    string
	Message   string
	TxHash    string
	Vout      string
	RiskLevel RiskLevel
	// IVMS101 is the raw identity payload of the applied VERIFICATION_RESULT (personal data:
	// sealed at rest, redacted after the retention period).
	IVMS101 json.RawMessage
	KYT     []KYTEntry
	Alerts  []KYTAlert
	WCO     []WCOEntry
}

// Screening is the JSON form in which KYT and WCO results are stored and shown.
type Screening struct {
	KYT    []KYTEntry `json:"kyt"`
	Alerts []KYTAlert `json:"kyt_alerts"`
	WCO    []WCOEntry `json:"wco"`
}

// Screening returns v's screening results.
func (v Verification) Screening() Screening {
	return Screening{KYT: v.KYT, Alerts: v.Alerts, WCO: v.WCO}
}

// Same reports whether v and o are the same record, IVMS101 included (whether a write is due).
func (v Verification) Same(o Verification) bool {
	return bytes.Equal(v.IVMS101, o.IVMS101) && v.SameFacts(o)
}

// SameFacts reports whether v and o agree on everything but the IVMS101 payload: what the
// business is told about (an event is recorded only when this changes, so redaction of
// personal data is not announced as a change).
func (v Verification) SameFacts(o Verification) bool {
	if v.UUID != o.UUID || v.Status != o.Status || v.Reason != o.Reason || v.Message != o.Message ||
		v.TxHash != o.TxHash || v.Vout != o.Vout || v.RiskLevel != o.RiskLevel {
		return false
	}
	a, _ := json.Marshal(v.Screening())
	b, _ := json.Marshal(o.Screening())
	return bytes.Equal(a, b)
}

// pick is a candidate with its total order: higher rank wins, then higher priority, then the
// earlier revision, then the smaller natural key. Taking the maximum of a total order is
// commutative, which is what makes Fold independent of arrival order.
type pick struct {
	rank, prio, rev int
	key             string
}

func (p pick) beats(o pick) bool {
	if p.rank != o.rank {
		return p.rank > o.rank
	}
	if p.prio != o.prio {
		return p.prio > o.prio
	}
	if p.rev != o.rev {
		return p.rev < o.rev
	}
	return p.key < o.key
}

// Fold derives the verification uuid from the callbacks stored about it:
//
//   - status, reason, message: the VERIFICATION_RESULT or ERROR_REPORT with the highest status
//     (see Status); at equal status an ERROR_REPORT wins over a result, then the earliest
//     revision. A revision is therefore applied only when it moves the verification forward.
//   - tx_hash, vout: the earliest TX_REPORT revision with a hash.
//   - IVMS101: from the applied VERIFICATION_RESULT, else the earliest one that carries it.
//   - KYT and WCO: per natural key the most final status (PROCESSED > ERROR > CHECKING >
//     REGISTERED), then the earliest revision; alerts are the union of every KYT callback,
//     unique by alertId, keeping the highest level.
//   - risk_level: policy.Assess of the above.
//
// Callbacks about other verifications and unprocessable ones are ignored.
func Fold(uuid string, cbs []Received, policy RiskPolicy) Verification {
	v := Verification{UUID: uuid, Status: StatusPending}
	var statusPick, txPick, ivmsPick *pick
	kyt := map[string]pick{}
	wco := map[string]pick{}
	alerts := map[string]pick{}
	alertVals := map[string]KYTAlert{}
	kytVals := map[string]KYTEntry{}
	wcoVals := map[string]WCOEntry{}
	// VerifyName: the latest revision of the result report is applied, even when it differs
	// from the first (the VerifyName page asks for it); vnRev is the revision applied.
	vnRev := -1

	for _, cb := range cbs {
		d := cb.Decoded
		if d.Problem != ProblemNone || d.VerificationUUID != uuid {
			continue
		}
		base := pick{rev: cb.Revision, key: d.NaturalKey}
		switch {
		case d.VerificationResult != nil:
			r := d.VerificationResult
			p := base
			p.rank = resultStatus(r.Outcome()).rank()
			if statusPick == nil || p.beats(*statusPick) {
				statusPick = &p
				v.Status, v.Reason, v.Message = resultStatus(r.Outcome()), textField(r.Reason), textField(r.Message)
			}
		case d.ErrorReport != nil:
			r := d.ErrorReport
			p := base
			p.rank, p.prio = errorReportStatus(string(r.Result)).rank(), 1
			if statusPick == nil || p.beats(*statusPick) {
				statusPick = &p
				v.Status, v.Reason, v.Message = errorReportStatus(string(r.Result)), textField(r.Reason), textField(r.Message)
			}
		case d.TxReport != nil:
			if d.TxReport.Hash() == "" {
				continue
			}
			p := base
			if txPick == nil || p.beats(*txPick) {
				txPick = &p
				v.TxHash, v.Vout = textField(Text(d.TxReport.Hash())), textField(d.TxReport.Vout)
			}
		case d.KYT != nil:
			k := d.KYT.RiskAssessment.KYT
			p := base
			p.rank = screeningRank(string(k.Status))
			if old, ok := kyt[d.NaturalKey]; !ok || p.beats(old) {
				kyt[d.NaturalKey] = p
				kytVals[d.NaturalKey] = KYTEntry{Key: d.NaturalKey, KYTResult: k}
			}
			for _, a := range d.KYT.RiskAssessment.Alerts {
				id := clean(a.AlertID)
				if id == "" {
					b, _ := json.Marshal(a)
					id = "content:" + string(b)
				}
				ap := base
				ap.rank = alertRank(policy, string(a.AlertLevel))
				if old, ok := alerts[id]; !ok || ap.beats(old) {
					alerts[id] = ap
					alertVals[id] = a
				}
			}
		case d.OwnerVerification != nil:
			o := d.OwnerVerification
			switch d.Type {
			case TypeOwnerVerificationResult:
				if cb.Revision > vnRev {
					vnRev = cb.Revision
					res := o.VerificationResult
					if res == "" {
						res = o.ReportedResult
					}
					v.Status = verifyNameStatus(string(res))
					v.Reason, v.Message = textField(res), textField(o.Message)
					if r := textField(o.Reason); r != "" {
						v.Reason = r
					}
				}
			case TypeOwnerVerificationTx:
				if o.TxHash != "" && (txPick == nil || base.beats(*txPick)) {
					p := base
					txPick = &p
					v.TxHash = textField(o.TxHash)
				}
			}
		case d.WCO != nil:
			w := d.WCO.RiskAssessment.WCO
			p := base
			p.rank = screeningRank(string(w.Status))
			if old, ok := wco[d.NaturalKey]; !ok || p.beats(old) {
				wco[d.NaturalKey] = p
				wcoVals[d.NaturalKey] = WCOEntry{Key: d.NaturalKey, WCOResult: w}
			}
		}
	}
	// IVMS101 of the applied result, else of the earliest result carrying one.
	for _, cb := range cbs {
		d := cb.Decoded
		if d.Problem != ProblemNone || d.VerificationUUID != uuid || d.VerificationResult == nil {
			continue
		}
		raw := bytes.TrimSpace(d.VerificationResult.IVMS101)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		p := pick{rev: cb.Revision, key: d.NaturalKey}
		applied := statusPick != nil && statusPick.key == d.NaturalKey && statusPick.rev == cb.Revision
		if applied {
			p.prio = 1
		}
		if ivmsPick == nil || p.beats(*ivmsPick) {
			ivmsPick = &p
			v.IVMS101 = compactJSON(raw)
		}
	}
	for _, k := range sortedKeys(kytVals) {
		v.KYT = append(v.KYT, kytVals[k])
	}
	for _, k := range sortedKeys(alertVals) {
		v.Alerts = append(v.Alerts, alertVals[k])
	}
	for _, k := range sortedKeys(wcoVals) {
		v.WCO = append(v.WCO, wcoVals[k])
	}
	v.RiskLevel = policy.Assess(v)
	return v
}

// maxFieldLen bounds a text field of the record (a reason, a message, a hash).
const maxFieldLen = 4096

// textField is a wire text as the record stores it: trimmed, storable on both engines.
func textField(t Text) string { return storable(strings.TrimSpace(string(t)), maxFieldLen) }

// screeningRank orders KYT and WCO statuses by finality.
func screeningRank(s string) int {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "PROCESSED":
		return 4
	case "ERROR":
		return 3
	case "CHECKING":
		return 2
	case "REGISTERED":
		return 1
	}
	return 0
}

func alertRank(p RiskPolicy, level string) int {
	if l, ok := lookup(p.AlertLevels, level); ok {
		return l.rank()
	}
	return p.Unresolved.rank()
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return json.RawMessage(slices.Clone(b))
	}
	return buf.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}
