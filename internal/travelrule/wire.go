package travelrule

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Callback types the enclave sends on VEGA_VERIFICATION_CALLBACK_API_PATH (spec sections 1 and 11).
const (
	TypeVerificationResult = "VERIFICATION_RESULT"
	TypeTxReport           = "TX_REPORT"
	TypeErrorReport        = "ERROR_REPORT"
	TypeKYTResult          = "CHAINALYSIS_KYT_RESULT"
	TypeWCOResult          = "REFINITIV_WCO_RESULT"
	// TypeOwnerVerificationResult and TypeOwnerVerificationTx are VerifyName callbacks that
	// share the path; each VerifyName request is a record of its own (see VerifyNamePrefix).
	TypeOwnerVerificationResult = "OWNER_VERIFICATION_RESULT_REPORT"
	TypeOwnerVerificationTx     = "OWNER_VERIFICATION_TX_REPORT"
)

// VerifyNamePrefix starts the record key of a VerifyName request: "verifyname:<request_id>".
const VerifyNamePrefix = "verifyname:"

// Text is a lenient JSON scalar kept as text: a JSON string gives its value, a number its
// literal digits (so a 20-digit VASP id or an amount never passes through float64), true/false
// their words, null the empty string, and an object or array its compact JSON text (the WCO
// aggregatedSummaryResult is documented as a string but a structured value must not fail the
// decode).
type Text string

// UnmarshalJSON implements json.Unmarshaler leniently (see Text).
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	case b[0] == '{' || b[0] == '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*t = Text(buf.String())
	default:
		*t = Text(b)
	}
	return nil
}

// Count is a lenient non-negative count: a JSON number or a numeric string. Anything else
// decodes as zero rather than failing the callback.
type Count int64

// UnmarshalJSON implements json.Unmarshaler leniently (see Count).
func (c *Count) UnmarshalJSON(b []byte) error {
	var t Text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(t), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(t), 64)
		if ferr != nil || f < 0 || f > 1e15 {
			*c = 0
			return nil
		}
		n = int64(f)
	}
	if n < 0 {
		n = 0
	}
	*c = Count(n)
	return nil
}

// Envelope is the outer shape of every callback: {"callbackType": ..., "data": {...}}.
type Envelope struct {
	CallbackType string          `json:"callbackType"`
	Data         json.RawMessage `json:"data"`
}

// VerificationResultData is data of VERIFICATION_RESULT. The result is documented both as
// verificationResult (examples) and result (reason note); see Outcome.
type VerificationResultData struct {
	VerificationUUID   Text            `json:"verificationUuid"`
	VerificationResult Text            `json:"verificationResult"`
	Result             Text            `json:"result"`
	Reason             Text            `json:"reason"`
	Message            Text            `json:"message"`
	IVMS101            json.RawMessage `json:"ivms101"`
}

// Outcome returns the reported result: verificationResult wins over result when both are set.
func (d VerificationResultData) Outcome() string {
	if d.VerificationResult != "" {
		return string(d.VerificationResult)
	}
	return string(d.Result)
}

// TxReportData is data of TX_REPORT. Some enclaves say txId for chains without hashes.
type TxReportData struct {
	VerificationUUID Text `json:"verificationUuid"`
	TxHash           Text `json:"txHash"`
	TxID             Text `json:"txId"`
	Vout             Text `json:"vout"`
}

// Hash returns txHash, or txId when txHash is absent.
func (d TxReportData) Hash() string {
	if d.TxHash != "" {
		return string(d.TxHash)
	}
	return string(d.TxID)
}

// ErrorReportData is data of ERROR_REPORT.
type ErrorReportData struct {
	VerificationUUID Text `json:"verificationUuid"`
	Result           Text `json:"result"`
	Reason           Text `json:"reason"`
	Message          Text `json:"message"`
}

// KYTResultData is data of CHAINALYSIS_KYT_RESULT.
type KYTResultData struct {
	VerificationUUID Text `json:"verificationUuid"`
	RiskAssessment   struct {
		KYT    KYTResult  `json:"chainalysisKYT"`
		Alerts []KYTAlert `json:"chainalysisKYTAlerts"`
	} `json:"riskAssessment"`
}

// KYTResult is one Chainalysis KYT assessment. Ids, amounts and prices stay text.
type KYTResult struct {
	RequestID          Text  `json:"requestId"`
	CounterpartyVaspID Text  `json:"counterpartyVaspId"`
	APIType            Text  `json:"apiType"`
	UserID             Text  `json:"userId"`
	Direction          Text  `json:"direction"`
	Network            Text  `json:"network"`
	Asset              Text  `json:"asset"`
	Amount             Text  `json:"amount"`
	USDPrice           Text  `json:"usdPrice"`
	OutputAddress      Text  `json:"outputAddress"`
	Timestamp          Text  `json:"timestamp"`
	ExternalID         Text  `json:"externalId"`
	Status             Text  `json:"status"`
	AlertCount         Count `json:"alertCount"`
	CreatedAt          Text  `json:"createdAt"`
	AssessedAt         Text  `json:"assessedAt"`
}

// KYTAlert is one Chainalysis KYT alert; alerts are unique by AlertID.
type KYTAlert struct {
	CounterpartyVaspID Text `json:"counterpartyVaspId"`
	ExternalID         Text `json:"externalId"`
	Direction          Text `json:"direction"`
	AlertID            Text `json:"alertId"`
	AlertLevel         Text `json:"alertLevel"`
	EntityCategory     Text `json:"entityCategory"`
	ServiceName        Text `json:"serviceName"`
	ExposureType       Text `json:"exposureType"`
	AlertAmount        Text `json:"alertAmount"`
	CreatedAt          Text `json:"createdAt"`
}

// WCOResultData is data of REFINITIV_WCO_RESULT.
type WCOResultData struct {
	VerificationUUID Text `json:"verificationUuid"`
	RiskAssessment   struct {
		WCO WCOResult `json:"refinitivWorldCheckOne"`
	} `json:"riskAssessment"`
}

// WCOResult is one Refinitiv World-Check One screening. AggregatedSummaryResult is a JSON
// string (truncated in the vendor's own example) and is kept as text.
type WCOResult struct {
	CounterpartyVaspID      Text `json:"counterpartyVaspId"`
	Direction               Text `json:"direction"`
	CaseSystemID            Text `json:"caseSystemId"`
	CaseID                  Text `json:"caseId"`
	Status                  Text `json:"status"`
	MatchStrength           Text `json:"matchStrength"`
	AggregatedSummaryResult Text `json:"aggregatedSummaryResult"`
	CreatedAt               Text `json:"createdAt"`
	AssessedAt              Text `json:"assessedAt"`
}

// OwnerVerificationData is data of the VerifyName callbacks (snake_case on the wire).
type OwnerVerificationData struct {
	RequestID          Text `json:"request_id"`
	VerificationResult Text `json:"verification_result"`
	ReportedResult     Text `json:"reported_result"`
	Reason             Text `json:"reason"`
	Message            Text `json:"message"`
	ResultReportedAt   Text `json:"result_reported_at"`
	TxHash             Text `json:"tx_hash"`
	OrderedAt          Text `json:"ordered_at"`
}
