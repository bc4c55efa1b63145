package travelrule

import (
	"strings"
	"testing"
)

// TestTxReportCallback turns Transaction Status Query answers into the TX_REPORT callback they
// stand for: only with a hash and not CANCELED, fields at the top level or under data/result.
func TestTxReportCallback(t *testing.T) {
	t.Parallel()
	const id = "64ab871b-14a3-47df-9b80-368e29fe8181"
	for _, tc := range []struct {
		name, resp, status string
		want               []string // substrings of the callback; nil: no callback
	}{
		{"confirmed", `{"verificationUuid":"` + id + `","transactionStatus":"CONFIRMED","txHash":"abc","vout":"2"}`, "CONFIRMED",
			[]string{`"callbackType":"TX_REPORT"`, `"txHash":"abc"`, `"vout":"2"`, `"verificationUuid":"` + id + `"`}},
		{"under data", `{"data":{"transactionStatus":"PROCESSING","txHash":"def"}}`, "PROCESSING", []string{`"txHash":"def"`}},
		{"txId spelling", `{"result":{"transactionStatus":"WAIT-CONFIRM","txId":"ghi"}}`, "WAIT-CONFIRM", []string{`"txHash":"ghi"`}},
		{"no hash yet", `{"transactionStatus":"PENDING","txHash":""}`, "PENDING", nil},
		{"canceled", `{"transactionStatus":"CANCELED","txHash":"abc"}`, "CANCELED", nil},
		{"not json", `oops`, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, status := txReportCallback(id, []byte(tc.resp))
			if status != tc.status {
				t.Errorf("status %q, want %q", status, tc.status)
			}
			if tc.want == nil {
				if body != nil {
					t.Fatalf("callback %s, want none", body)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("callback %s lacks %s", body, w)
				}
			}
			if d := Decode(body); d.Problem != ProblemNone || d.TxReport == nil || d.VerificationUUID != id {
				t.Errorf("callback %s decodes as %+v", body, d)
			}
		})
	}
}
