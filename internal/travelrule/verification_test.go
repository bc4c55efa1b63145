package travelrule

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

const foldUUID = "11111111-2222-4333-8444-555555555555"

// withUUID rewrites a fixture to be about foldUUID, so all fixtures can describe one verification.
func withUUID(t *testing.T, name string) []byte {
	t.Helper()
	b := fixture(t, name)
	for _, u := range []string{"64ab871b-14a3-47df-9b80-368e29fe8180", "64ab871b-14a3-47df-9b80-368e29fe8181",
		"64ab871b-14a3-47df-9b80-368e29fe8182", "69a310e6-810f-4a31-83d1-bcdafccf5304"} {
		b = bytes.ReplaceAll(b, []byte(`"verificationUuid": "`+u+`"`), []byte(`"verificationUuid": "`+foldUUID+`"`))
	}
	if !bytes.Contains(b, []byte(foldUUID)) {
		t.Fatalf("fixture %s: uuid not rewritten", name)
	}
	return b
}

func received(t *testing.T, bodies ...[]byte) []Received {
	t.Helper()
	revs := map[string]int{}
	var out []Received
	for _, b := range bodies {
		d := Decode(b)
		out = append(out, Received{Revision: revs[d.NaturalKey], Decoded: d})
		revs[d.NaturalKey]++
	}
	return out
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestFoldEveryFixtureAnyOrder(t *testing.T) {
	t.Parallel()
	var all []Received
	for _, name := range callbackFixtures(t) {
		all = append(all, received(t, withUUID(t, name))...)
	}
	policy := DefaultRiskPolicy()
	want := Fold(foldUUID, all, policy)
	// ERROR_REPORT (ERROR, BLACKLISTED) beats the DENIED result; TX_REPORT gives the hash;
	// the WCO EXACT match gives high, the blacklisted reason severe.
	if want.Status != StatusError || want.Reason != "BLACKLISTED" || want.TxHash == "" || want.Vout != "2" ||
		want.RiskLevel != RiskSevere || len(want.KYT) != 1 || len(want.Alerts) != 1 || len(want.WCO) != 1 ||
		!bytes.Contains(want.IVMS101, []byte("Taylor")) {
		t.Fatalf("folded %+v", want)
	}
	for _, p := range permutations(len(all)) {
		in := make([]Received, len(all))
		for i, j := range p {
			in[i] = all[j]
		}
		if got := Fold(foldUUID, in, policy); !got.Same(want) {
			t.Fatalf("order %v: %+v, want %+v", p, got, want)
		}
	}
}

func TestFoldRevisions(t *testing.T) {
	t.Parallel()
	vr := func(result, reason string) []byte {
		return fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":%q,"verificationResult":%q,"reason":%q}}`, foldUUID, result, reason)
	}
	er := func(result, reason string) []byte {
		return fmt.Appendf(nil, `{"callbackType":"ERROR_REPORT","data":{"verificationUuid":%q,"result":%q,"reason":%q}}`, foldUUID, result, reason)
	}
	tx := func(hash string) []byte {
		return fmt.Appendf(nil, `{"callbackType":"TX_REPORT","data":{"verificationUuid":%q,"txHash":%q}}`, foldUUID, hash)
	}
	tests := []struct {
		name   string
		bodies [][]byte
		status Status
		reason string
		tx     string
	}{
		{name: "nothing yet", status: StatusPending},
		{name: "tx report alone", bodies: [][]byte{tx("h1")}, status: StatusPending, tx: "h1"},
		{name: "verified", bodies: [][]byte{vr("VERIFIED", "OK")}, status: StatusVerified, reason: "OK"},
		{name: "denied revision moves forward", bodies: [][]byte{vr("VERIFIED", "OK"), vr("DENIED", "BLACKLISTED")}, status: StatusDenied, reason: "BLACKLISTED"},
		{name: "verified revision after denied is not applied", bodies: [][]byte{vr("DENIED", "MISMATCHED-NAME"), vr("VERIFIED", "OK")}, status: StatusDenied, reason: "MISMATCHED-NAME"},
		{name: "same-rank revision is not applied", bodies: [][]byte{vr("DENIED", "UNKNOWN-ADDRESS"), vr("DENIED", "UNKNOWN-SYMBOL")}, status: StatusDenied, reason: "UNKNOWN-ADDRESS"},
		{name: "error report cancels a verified result", bodies: [][]byte{vr("VERIFIED", "OK"), er("ERROR", "USER-CANCELED")}, status: StatusError, reason: "USER-CANCELED"},
		{name: "error report before the result still wins", bodies: [][]byte{er("ERROR", "REQUEST-TIMEOUT"), vr("VERIFIED", "OK")}, status: StatusError, reason: "REQUEST-TIMEOUT"},
		{name: "UNKNOWN is a refusal with free-text reason", bodies: [][]byte{vr("UNKNOWN", "Unknown address")}, status: StatusDenied, reason: "Unknown address"},
		{name: "WAIT stays pending", bodies: [][]byte{vr("WAIT", "")}, status: StatusPending},
		{name: "first tx hash is kept", bodies: [][]byte{tx("h1"), tx("h2")}, status: StatusPending, tx: "h1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := Fold(foldUUID, received(t, tt.bodies...), DefaultRiskPolicy())
			if v.Status != tt.status || v.Reason != tt.reason || v.TxHash != tt.tx {
				t.Fatalf("got %s %q tx %q, want %s %q tx %q", v.Status, v.Reason, v.TxHash, tt.status, tt.reason, tt.tx)
			}
		})
	}
}

func TestFoldIgnoresOtherVerifications(t *testing.T) {
	t.Parallel()
	v := Fold(foldUUID, received(t, fixture(t, "verification_result_denied.json"), []byte("junk")), DefaultRiskPolicy())
	if v.Status != StatusPending || v.IVMS101 != nil {
		t.Fatalf("%+v", v)
	}
}

func TestRiskPolicy(t *testing.T) {
	t.Parallel()
	kyt := func(status string, count int, alerts ...string) []byte {
		var as []string
		for i, a := range alerts {
			level, exposure, _ := strings.Cut(a, "/")
			as = append(as, fmt.Sprintf(`{"alertId":"a%d","alertLevel":%q,"exposureType":%q}`, i, level, exposure))
		}
		return fmt.Appendf(nil, `{"callbackType":"CHAINALYSIS_KYT_RESULT","data":{"verificationUuid":%q,"riskAssessment":{"chainalysisKYT":{"apiType":"ATTEMPT","externalId":"e%d","status":%q,"alertCount":%d},"chainalysisKYTAlerts":[%s]}}}`,
			foldUUID, len(alerts)+count, status, count, strings.Join(as, ","))
	}
	wco := func(status, strength string) []byte {
		return fmt.Appendf(nil, `{"callbackType":"REFINITIV_WCO_RESULT","data":{"verificationUuid":%q,"riskAssessment":{"refinitivWorldCheckOne":{"caseSystemId":"c","direction":"INCOMING","status":%q,"matchStrength":%q}}}}`,
			foldUUID, status, strength)
	}
	discount := DefaultRiskPolicy()
	discount.IndirectDiscount = 1
	tests := []struct {
		name   string
		policy RiskPolicy
		bodies [][]byte
		want   RiskLevel
	}{
		{name: "no screening", want: RiskNone},
		{name: "clear KYT", bodies: [][]byte{kyt("PROCESSED", 0)}, want: RiskNone},
		{name: "KYT still checking never clears", bodies: [][]byte{kyt("CHECKING", 0)}, want: RiskMedium},
		{name: "KYT error never clears", bodies: [][]byte{kyt("ERROR", 0)}, want: RiskMedium},
		{name: "alerts announced, none received", bodies: [][]byte{kyt("PROCESSED", 2)}, want: RiskMedium},
		{name: "low alert", bodies: [][]byte{kyt("PROCESSED", 1, "LOW/DIRECT")}, want: RiskLow},
		{name: "max of alerts", bodies: [][]byte{kyt("PROCESSED", 2, "LOW/DIRECT", "SEVERE/INDIRECT")}, want: RiskSevere},
		{name: "indirect discount", policy: discount, bodies: [][]byte{kyt("PROCESSED", 1, "HIGH/INDIRECT")}, want: RiskMedium},
		{name: "indirect discount stops at low", policy: discount, bodies: [][]byte{kyt("PROCESSED", 1, "LOW/INDIRECT")}, want: RiskLow},
		{name: "direct not discounted", policy: discount, bodies: [][]byte{kyt("PROCESSED", 1, "HIGH/DIRECT")}, want: RiskHigh},
		{name: "unknown alert level", bodies: [][]byte{kyt("PROCESSED", 1, "WEIRD/DIRECT")}, want: RiskMedium},
		{name: "WCO no match", bodies: [][]byte{wco("PROCESSED", "")}, want: RiskNone},
		{name: "WCO weak", bodies: [][]byte{wco("PROCESSED", "WEAK")}, want: RiskLow},
		{name: "WCO exact", bodies: [][]byte{wco("PROCESSED", "EXACT")}, want: RiskHigh},
		{name: "WCO not final", bodies: [][]byte{wco("REGISTERED", "")}, want: RiskMedium},
		{name: "later WCO revision that is final wins", bodies: [][]byte{wco("CHECKING", ""), wco("PROCESSED", "WEAK")}, want: RiskLow},
		{name: "max over KYT and WCO", bodies: [][]byte{kyt("PROCESSED", 1, "LOW/DIRECT"), wco("PROCESSED", "EXACT")}, want: RiskHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.policy
			if p.AlertLevels == nil {
				p = DefaultRiskPolicy()
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := Fold(foldUUID, received(t, tt.bodies...), p).RiskLevel; got != tt.want {
				t.Fatalf("risk %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRiskPolicyValidate(t *testing.T) {
	t.Parallel()
	p := DefaultRiskPolicy()
	p.AlertLevels["HIGH"] = "extreme"
	if p.Validate() == nil {
		t.Error("unknown level accepted")
	}
	if _, err := ParseRiskLevel("High"); err != nil {
		t.Error(err)
	}
	if _, err := ParseRiskLevel("x"); err == nil {
		t.Error("x accepted")
	}
}

func TestFoldVerifyNameAppliesALaterDifferentResult(t *testing.T) {
	t.Parallel()
	first := Decode([]byte(`{"callbackType":"OWNER_VERIFICATION_RESULT_REPORT","data":{"request_id":"rq-1","verification_result":"MATCHED"}}`))
	final := Decode([]byte(`{"callbackType":"OWNER_VERIFICATION_RESULT_REPORT","data":{"request_id":"rq-1","verification_result":"NOT_MATCHED","reason":"MISMATCHED-NAME"}}`))
	tx := Decode([]byte(`{"callbackType":"OWNER_VERIFICATION_TX_REPORT","data":{"request_id":"rq-1","tx_hash":"abc"}}`))
	for _, d := range []Decoded{first, final, tx} {
		if d.Problem != ProblemNone || d.VerificationUUID != "verifyname:rq-1" {
			t.Fatalf("decoded %+v", d)
		}
	}
	v := Fold("verifyname:rq-1", []Received{{Revision: 0, Decoded: first}}, DefaultRiskPolicy())
	if v.Status != StatusVerified {
		t.Fatalf("first report: %s", v.Status)
	}
	// Arrival order does not matter: the revision number says which came last.
	v = Fold("verifyname:rq-1", []Received{{Revision: 1, Decoded: final}, {Revision: 0, Decoded: tx}, {Revision: 0, Decoded: first}}, DefaultRiskPolicy())
	if v.Status != StatusDenied || v.Reason != "MISMATCHED-NAME" || v.TxHash != "abc" {
		t.Fatalf("final report not applied: %+v", v)
	}
}
