package travelrule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fixtureDir holds the enclave's example bodies, byte for byte (shared/ beside the repository).
const fixtureDir = "../../../shared/fixtures/travel-rule"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// callbackFixtures lists every callback fixture (response_ok.json is the expected answer).
func callbackFixtures(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(names) < 5 {
		t.Fatalf("fixtures missing in %s: %v", fixtureDir, err)
	}
	var out []string
	for _, n := range names {
		if b := filepath.Base(n); b != "response_ok.json" {
			out = append(out, b)
		}
	}
	return out
}

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		typ   string
		uuid  string
		key   string
		check func(t *testing.T, d Decoded)
	}{
		{
			file: "verification_result_denied.json", typ: TypeVerificationResult,
			uuid: "64ab871b-14a3-47df-9b80-368e29fe8180",
			key:  `["VERIFICATION_RESULT","64ab871b-14a3-47df-9b80-368e29fe8180"]`,
			check: func(t *testing.T, d Decoded) {
				r := d.VerificationResult
				if r.Outcome() != "DENIED" || r.Reason != "UNKNOWN-ADDRESS" {
					t.Errorf("outcome %q reason %q", r.Outcome(), r.Reason)
				}
				var iv IVMS101
				if err := json.Unmarshal(r.IVMS101, &iv); err != nil {
					t.Fatalf("ivms101: %v", err)
				}
				if got := iv.Originator.Persons[0].NaturalPerson.Name.NameIdentifier[0].PrimaryIdentifier; got != "James" {
					t.Errorf("originator name %q", got)
				}
				if got := iv.BeneficiaryVASP.LegalPerson.GeographicAddress[0].PostCode; got != "234234" {
					t.Errorf("postcode variant not accepted: %q", got)
				}
				if got := iv.OriginatingVASP.LegalPerson.NationalIdentification.RegistrationAuthority; got != "RA000151" {
					t.Errorf("registration authority %q", got)
				}
			},
		},
		{
			file: "tx_report.json", typ: TypeTxReport, uuid: "64ab871b-14a3-47df-9b80-368e29fe8181",
			key: `["TX_REPORT","64ab871b-14a3-47df-9b80-368e29fe8181"]`,
			check: func(t *testing.T, d Decoded) {
				if d.TxReport.Hash() != "8a54d58ca4100112a5430818776d74898f2232770bae03046862575cb851a042" || d.TxReport.Vout != "2" {
					t.Errorf("tx report %+v", d.TxReport)
				}
			},
		},
		{
			file: "error_report.json", typ: TypeErrorReport, uuid: "64ab871b-14a3-47df-9b80-368e29fe8182",
			key: `["ERROR_REPORT","64ab871b-14a3-47df-9b80-368e29fe8182"]`,
			check: func(t *testing.T, d Decoded) {
				if d.ErrorReport.Result != "ERROR" || d.ErrorReport.Reason != "BLACKLISTED" || d.ErrorReport.Message == "" {
					t.Errorf("error report %+v", d.ErrorReport)
				}
			},
		},
		{
			file: "chainalysis_kyt_result.json", typ: TypeKYTResult, uuid: "69a310e6-810f-4a31-83d1-bcdafccf5304",
			key: `["CHAINALYSIS_KYT_RESULT","69a310e6-810f-4a31-83d1-bcdafccf5304","79382ac9-c7be-3fab-ad56-8c61c654e2fc","ATTEMPT"]`,
			check: func(t *testing.T, d Decoded) {
				k := d.KYT.RiskAssessment.KYT
				if k.CounterpartyVaspID != "15952089931162059995" || k.UserID != "15952089931162059995" {
					t.Errorf("big ids lost: %q %q", k.CounterpartyVaspID, k.UserID)
				}
				if k.Amount != "1" || k.USDPrice != "1820.17" || k.AlertCount != 1 || k.Status != "PROCESSED" {
					t.Errorf("kyt %+v", k)
				}
				a := d.KYT.RiskAssessment.Alerts
				if len(a) != 1 || a[0].AlertID != "118b8cc8-f579-11ed-b86d-a3210c6ca9b8" || a[0].AlertLevel != "MEDIUM" || a[0].AlertAmount != "1820.17" {
					t.Errorf("alerts %+v", a)
				}
			},
		},
		{
			file: "refinitiv_wco_result.json", typ: TypeWCOResult, uuid: "69a310e6-810f-4a31-83d1-bcdafccf5304",
			key: `["REFINITIV_WCO_RESULT","69a310e6-810f-4a31-83d1-bcdafccf5304","5jb7r2c9xjfk1hoc95gfayv6m","INCOMING"]`,
			check: func(t *testing.T, d Decoded) {
				w := d.WCO.RiskAssessment.WCO
				if w.MatchStrength != "EXACT" || !strings.HasPrefix(string(w.AggregatedSummaryResult), `{"caseId":"69a310e6`) {
					t.Errorf("wco %+v", w)
				}
			},
		},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			d := Decode(fixture(t, tt.file))
			if d.Problem != ProblemNone || d.Type != tt.typ || d.VerificationUUID != tt.uuid || d.NaturalKey != tt.key {
				t.Fatalf("decoded problem=%q type=%q uuid=%q key=%s", d.Problem, d.Type, d.VerificationUUID, d.NaturalKey)
			}
			tt.check(t, d)
		})
	}
	for _, f := range callbackFixtures(t) {
		if !seen[f] {
			t.Errorf("fixture %s has no decode case", f)
		}
	}
}

func TestDecodeVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		problem Problem
		check   func(t *testing.T, d Decoded)
	}{
		{
			name: "result instead of verificationResult",
			body: `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":"u1","result":"VERIFIED","reason":"OK","message":""}}`,
			check: func(t *testing.T, d Decoded) {
				if d.VerificationResult.Outcome() != "VERIFIED" {
					t.Errorf("outcome %q", d.VerificationResult.Outcome())
				}
			},
		},
		{
			name: "verificationResult wins over result",
			body: `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":"u1","result":"VERIFIED","verificationResult":"DENIED"}}`,
			check: func(t *testing.T, d Decoded) {
				if d.VerificationResult.Outcome() != "DENIED" {
					t.Errorf("outcome %q", d.VerificationResult.Outcome())
				}
			},
		},
		{
			name: "numeric vout, txId, unknown fields",
			body: `{"callbackType":"TX_REPORT","extra":1,"data":{"verificationUuid":"u1","txId":"abc","vout":2,"future":{"x":[1]}}}`,
			check: func(t *testing.T, d Decoded) {
				if d.TxReport.Hash() != "abc" || d.TxReport.Vout != "2" {
					t.Errorf("tx %+v", d.TxReport)
				}
			},
		},
		{
			name: "unquoted big ids and amounts keep their digits",
			body: `{"callbackType":"CHAINALYSIS_KYT_RESULT","data":{"verificationUuid":"u1","riskAssessment":{"chainalysisKYT":{"counterpartyVaspId":15952089931162059995,"amount":0.10000000000000000001,"alertCount":"2","requestId":"r-1"}}}}`,
			check: func(t *testing.T, d Decoded) {
				k := d.KYT.RiskAssessment.KYT
				if k.CounterpartyVaspID != "15952089931162059995" || k.Amount != "0.10000000000000000001" || k.AlertCount != 2 {
					t.Errorf("kyt %+v", k)
				}
				if d.NaturalKey != `["CHAINALYSIS_KYT_RESULT","request","r-1"]` {
					t.Errorf("key %s", d.NaturalKey)
				}
			},
		},
		{
			name: "structured aggregatedSummaryResult stays text",
			body: `{"callbackType":"REFINITIV_WCO_RESULT","data":{"verificationUuid":"u1","riskAssessment":{"refinitivWorldCheckOne":{"caseId":"c1","direction":"OUTGOING","aggregatedSummaryResult":{"a": 1}}}}}`,
			check: func(t *testing.T, d Decoded) {
				if d.WCO.RiskAssessment.WCO.AggregatedSummaryResult != `{"a":1}` || d.NaturalKey != `["REFINITIV_WCO_RESULT","u1","c1","OUTGOING"]` {
					t.Errorf("wco %+v key %s", d.WCO.RiskAssessment.WCO, d.NaturalKey)
				}
			},
		},
		{
			name: "a field of the wrong JSON type is skipped, not fatal",
			body: `{"callbackType":"CHAINALYSIS_KYT_RESULT","data":{"verificationUuid":"u1","riskAssessment":{"chainalysisKYT":{"status":"PROCESSED"},"chainalysisKYTAlerts":{"not":"a list"}}}}`,
			check: func(t *testing.T, d Decoded) {
				if d.KYT.RiskAssessment.KYT.Status != "PROCESSED" {
					t.Errorf("kyt %+v", d.KYT)
				}
			},
		},
		{
			name: "VerifyName result is processed as its own record, keyed by request id",
			body: `{"callbackType":"OWNER_VERIFICATION_RESULT_REPORT","data":{"request_id":"rq-9","reported_result":"MATCHED"}}`,
			check: func(t *testing.T, d Decoded) {
				if d.NaturalKey != `["OWNER_VERIFICATION_RESULT_REPORT","rq-9"]` || d.VerificationUUID != "verifyname:rq-9" {
					t.Errorf("key %s uuid %s", d.NaturalKey, d.VerificationUUID)
				}
			},
		},
		{name: "unknown type", problem: ProblemUnknownType, body: `{"callbackType":"SOMETHING_NEW","data":{}}`},
		{name: "not JSON", problem: ProblemMalformed, body: `{"callbackType":`},
		{name: "trailing garbage", problem: ProblemMalformed, body: `{"callbackType":"TX_REPORT","data":{"verificationUuid":"u"}} x`},
		{name: "no callbackType", problem: ProblemMalformed, body: `{"data":{}}`},
		{name: "data not an object", problem: ProblemMalformed, body: `{"callbackType":"TX_REPORT","data":"u"}`},
		{name: "array body", problem: ProblemMalformed, body: `[1,2]`},
		{name: "empty body", problem: ProblemMalformed, body: ``},
		{name: "missing uuid", problem: ProblemMissingKey, body: `{"callbackType":"TX_REPORT","data":{"txHash":"h"}}`},
		{name: "overlong uuid", problem: ProblemMissingKey, body: `{"callbackType":"TX_REPORT","data":{"verificationUuid":"` + strings.Repeat("u", 300) + `"}}`},
		{name: "NUL in uuid", problem: ProblemMissingKey, body: `{"callbackType":"TX_REPORT","data":{"verificationUuid":"a\u0000b"}}`},
		{
			name: "NUL in type", problem: ProblemUnknownType, body: `{"callbackType":"TX\u0000","data":{}}`,
			check: func(t *testing.T, d Decoded) {
				if strings.ContainsRune(d.Type, 0) {
					t.Errorf("type %q", d.Type)
				}
			},
		},
		{name: "VerifyName without request id", problem: ProblemMissingKey, body: `{"callbackType":"OWNER_VERIFICATION_TX_REPORT","data":{"tx_hash":"h"}}`},
		{
			name: "overlong key is hashed",
			body: `{"callbackType":"CHAINALYSIS_KYT_RESULT","data":{"verificationUuid":"u","riskAssessment":{"chainalysisKYT":{"externalId":"` + strings.Repeat("e", 1000) + `"}}}}`,
			check: func(t *testing.T, d Decoded) {
				if len(d.NaturalKey) > maxKeyLen || !strings.HasPrefix(d.NaturalKey, "CHAINALYSIS_KYT_RESULT:sha256:") {
					t.Errorf("key %s", d.NaturalKey)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Decode([]byte(tt.body))
			if d.Problem != tt.problem {
				t.Fatalf("problem %q, want %q", d.Problem, tt.problem)
			}
			if d.NaturalKey == "" {
				t.Fatal("no natural key")
			}
			switch tt.problem {
			case ProblemNone:
			default:
				if d.NaturalKey != HashKey(d.ContentHash) || d.VerificationUUID != "" {
					t.Errorf("quarantined callback keyed %s uuid %q", d.NaturalKey, d.VerificationUUID)
				}
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestContentHashIgnoresFormatting(t *testing.T) {
	t.Parallel()
	a := []byte(`{"callbackType":"TX_REPORT","data":{"verificationUuid":"u","vout":"2"}}`)
	b := []byte("{\n  \"callbackType\": \"TX_REPORT\",\n  \"data\": {\"verificationUuid\": \"u\", \"vout\": \"2\"}\n}\n")
	c := []byte(`{"callbackType":"TX_REPORT","data":{"verificationUuid":"u","vout":"3"}}`)
	if ContentHash(a) != ContentHash(b) {
		t.Error("formatting changed the content hash")
	}
	if ContentHash(a) == ContentHash(c) {
		t.Error("different content, same hash")
	}
	if ContentHash([]byte("not json")) == ContentHash([]byte("not  json")) {
		t.Error("raw bytes of non-JSON must be hashed as they are")
	}
}

// FuzzDecode checks that no body makes the decoder panic, that decoding is deterministic, and
// that the content hash survives reformatting of a valid body.
func FuzzDecode(f *testing.F) {
	for _, name := range callbackFixtures(f) {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"callbackType":"OWNER_VERIFICATION_TX_REPORT","data":{"request_id":1}}`))
	f.Add([]byte(`{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":7,"result":null}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"callbackType":"TX_\u0000REPORT","data":{"verificationUuid":"a\u0000b"}}`))
	f.Add([]byte("{\"callbackType\":\"\xff\xfe\",\"data\":{}}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d := Decode(body)
		if d.NaturalKey == "" || len(d.NaturalKey) > maxKeyLen+64 {
			t.Fatalf("bad natural key %q", d.NaturalKey)
		}
		if d.Problem == ProblemNone && d.VerificationUUID == "" {
			t.Fatal("processable callback without verification uuid")
		}
		// What goes into TEXT columns must be storable on both engines, or one body would
		// fail the whole group commit.
		for _, s := range []string{d.Type, d.VerificationUUID, d.NaturalKey} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("unstorable text %q", s)
			}
		}
		if len(d.Type) > maxTypeLen || len(d.VerificationUUID) > maxUUIDLen {
			t.Fatalf("overlong type or uuid: %d, %d", len(d.Type), len(d.VerificationUUID))
		}
		again := Decode(body)
		if again.NaturalKey != d.NaturalKey || again.ContentHash != d.ContentHash || again.Problem != d.Problem {
			t.Fatal("decode is not deterministic")
		}
		if c, ok := canonical(body); ok {
			// (Keys are not compared: JSON objects with keys equal but for case decode
			// differently once sorted, a property of encoding/json, not of the enclave.)
			if ContentHash(c) != d.ContentHash {
				t.Fatal("reformatting changed the content hash")
			}
		}
	})
}
