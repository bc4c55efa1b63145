package travelrulehttp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

func TestEveryFixture(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		for _, name := range []string{"verification_result_denied.json", "tx_report.json", "error_report.json",
			"chainalysis_kyt_result.json", "refinitiv_wco_result.json"} {
			b.mustAck(t, fixture(t, name))
		}
		tests := []struct {
			uuid      string
			callbacks int
			check     func(v travelrule.VerificationView) bool
		}{
			{"64ab871b-14a3-47df-9b80-368e29fe8180", 1, func(v travelrule.VerificationView) bool {
				return v.Status == "DENIED" && v.Reason == "UNKNOWN-ADDRESS" && bytes.Contains(v.IVMS101, []byte("Robbins"))
			}},
			{"64ab871b-14a3-47df-9b80-368e29fe8181", 1, func(v travelrule.VerificationView) bool {
				return v.Status == "PENDING" && v.TxHash == "8a54d58ca4100112a5430818776d74898f2232770bae03046862575cb851a042" && v.Vout == "2"
			}},
			{"64ab871b-14a3-47df-9b80-368e29fe8182", 1, func(v travelrule.VerificationView) bool {
				return v.Status == "ERROR" && v.Reason == "BLACKLISTED" && v.Message == "Originator is included in the blacklist." && v.RiskLevel == "severe"
			}},
			// KYT MEDIUM alert and WCO EXACT match on one verification: high.
			{"69a310e6-810f-4a31-83d1-bcdafccf5304", 2, func(v travelrule.VerificationView) bool {
				return v.RiskLevel == "high" && bytes.Contains(v.Screening, []byte("15952089931162059995")) &&
					bytes.Contains(v.Screening, []byte(`"usdPrice":"1820.17"`))
			}},
		}
		for _, tt := range tests {
			v := b.waitProcessed(t, tt.uuid, tt.callbacks)
			if !tt.check(v) {
				t.Errorf("%s: %+v", tt.uuid, v)
			}
			var got map[string]any
			if code := b.admin(t, "GET", "/admin/v1/travel-rule/verifications/"+tt.uuid, &got); code != 200 {
				t.Fatalf("admin get: %d", code)
			}
			for _, k := range []string{"verification_uuid", "status", "reason", "message", "tx_hash", "vout", "risk_level", "updated_at", "callbacks"} {
				if _, ok := got[k]; !ok {
					t.Errorf("admin view lacks %q", k)
				}
			}
			cbs := got["callbacks"].([]any)
			for _, c := range cbs {
				c := c.(map[string]any)
				if c["callback_type"] == nil || c["received_at"] == nil || c["duplicates"] == nil {
					t.Errorf("callback view %v", c)
				}
			}
		}
		var nf map[string]any
		if code := b.admin(t, "GET", "/admin/v1/travel-rule/verifications/no-such-uuid", &nf); code != 404 || nf["error"] == nil {
			t.Errorf("unknown uuid: %d %v", code, nf)
		}
		// Raw bodies and IVMS101 are sealed at rest.
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox WHERE body IS NOT NULL"); n != 5 {
			t.Errorf("%d bodies stored", n)
		}
		var raw []byte
		if err := db.QueryRowContext(context.Background(), "SELECT ivms101 FROM travel_rule_verifications WHERE verification_uuid = ?",
			"64ab871b-14a3-47df-9b80-368e29fe8180").Scan(&raw); err != nil || bytes.Contains(raw, []byte("Robbins")) {
			t.Errorf("IVMS101 not sealed at rest (err %v)", err)
		}
	})
}

func TestConcurrentIdenticalMakeOneRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		body := fixture(t, "verification_result_denied.json")
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				b.mustAck(t, body)
			}()
		}
		close(start)
		wg.Wait()
		// A request that outlived its store budget is in the spool: wait until it is replayed.
		wait.For(t, "spool replayed", func() bool { return !b.svc.SpoolPending() })
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox"); n != 1 {
			t.Fatalf("%d inbox rows, want 1", n)
		}
		if n := b.count(t, "SELECT duplicates FROM travel_rule_inbox"); n != 99 {
			t.Fatalf("duplicates %d, want 99", n)
		}
		v := b.waitProcessed(t, "64ab871b-14a3-47df-9b80-368e29fe8180", 1)
		if v.Callbacks[0].Duplicates != 99 || v.Status != "DENIED" {
			t.Fatalf("%+v", v)
		}
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_verifications"); n != 1 {
			t.Fatalf("%d verifications", n)
		}
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_events"); n != 1 || b.events.count() != 1 {
			t.Fatalf("%d events (%d business), want 1", n, b.events.count())
		}
	})
}

func rewriteUUID(b []byte, from, to string) []byte {
	return bytes.ReplaceAll(b, []byte(from), []byte(to))
}

func TestOutOfOrderArrivalGivesSameRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		bodies := func(u string) map[string][]byte {
			return map[string][]byte{
				"vr":  rewriteUUID(fixture(t, "verification_result_denied.json"), "64ab871b-14a3-47df-9b80-368e29fe8180", u),
				"tx":  rewriteUUID(fixture(t, "tx_report.json"), "64ab871b-14a3-47df-9b80-368e29fe8181", u),
				"kyt": rewriteUUID(fixture(t, "chainalysis_kyt_result.json"), "69a310e6-810f-4a31-83d1-bcdafccf5304", u),
				"wco": rewriteUUID(fixture(t, "refinitiv_wco_result.json"), "69a310e6-810f-4a31-83d1-bcdafccf5304", u),
			}
		}
		orders := map[string][]string{
			"00000000-0000-4000-8000-000000000001": {"vr", "tx", "kyt", "wco"},
			"00000000-0000-4000-8000-000000000002": {"tx", "wco", "kyt", "vr"},
			"00000000-0000-4000-8000-000000000003": {"kyt", "vr", "wco", "tx"},
		}
		for u, order := range orders {
			bs := bodies(u)
			for _, k := range order {
				b.mustAck(t, bs[k])
			}
		}
		var first *travelrule.VerificationView
		for u := range orders {
			v := b.waitProcessed(t, u, 4)
			if v.Status != "DENIED" || v.TxHash == "" || v.RiskLevel != "high" || len(v.IVMS101) == 0 {
				t.Fatalf("%s: %+v", u, v)
			}
			if first == nil {
				first = &v
				continue
			}
			if v.Status != first.Status || v.Reason != first.Reason || v.TxHash != first.TxHash || v.Vout != first.Vout ||
				v.RiskLevel != first.RiskLevel || !bytes.Equal(bytes.ReplaceAll(v.Screening, []byte(u), nil), bytes.ReplaceAll(first.Screening, []byte(first.VerificationUUID), nil)) ||
				!bytes.Equal(v.IVMS101, first.IVMS101) {
				t.Fatalf("records differ by arrival order:\n%+v\n%+v", v, *first)
			}
		}
	})
}

func TestRevisions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		const u = "00000000-0000-4000-8000-0000000000aa"
		vr := func(result, reason string) []byte {
			return fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":%q,"verificationResult":%q,"reason":%q,"message":""}}`, u, result, reason)
		}
		b.mustAck(t, vr("VERIFIED", "OK"))
		v := b.waitProcessed(t, u, 1)
		if v.Status != "VERIFIED" {
			t.Fatalf("%+v", v)
		}
		b.mustAck(t, vr("DENIED", "BLACKLISTED")) // moves forward: applied
		v = b.waitProcessed(t, u, 2)
		if v.Status != "DENIED" || v.Reason != "BLACKLISTED" || v.RiskLevel != "severe" || v.Callbacks[1].Revision != 1 {
			t.Fatalf("%+v", v)
		}
		version := v.Version
		b.mustAck(t, vr("VERIFIED", "OK"))        // identical to the first: a duplicate
		b.mustAck(t, vr("VERIFIED", "OK-AGAIN"))  // a revision that would move back: kept, not applied
		b.mustAck(t, vr("DENIED", "BLACKLISTED")) // duplicate of revision 1
		v = b.waitProcessed(t, u, 3)
		if v.Status != "DENIED" || v.Reason != "BLACKLISTED" || v.Version != version {
			t.Fatalf("a backwards revision was applied: %+v", v)
		}
		revs := map[int]int64{}
		for _, c := range v.Callbacks {
			revs[c.Revision] = c.Duplicates
		}
		if len(revs) != 3 || revs[0] != 1 || revs[1] != 1 || revs[2] != 0 {
			t.Fatalf("revisions and duplicates %v", revs)
		}
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_events WHERE verification_uuid = ?", u); n != 2 {
			t.Fatalf("%d events, want 2 (created, denied)", n)
		}
	})
}

func TestQuarantine(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{cfg: travelrulehttp.CallbackConfig{MaxBodyBytes: 4096}})
		bodies := map[string][]byte{
			"malformed":    []byte(`{"callbackType": "VERIFICATION_RESULT", "data": {`),
			"unknown_type": []byte(`{"callbackType":"SOMETHING_NEW","data":{"x":1}}`),
			"missing_key":  []byte(`{"callbackType":"TX_REPORT","data":{"txHash":"abc"}}`),
			"oversized":    append([]byte(`{"callbackType":"TX_REPORT","data":{"verificationUuid":"x","pad":"`), bytes.Repeat([]byte("a"), 10000)...),
		}
		for _, body := range bodies {
			b.mustAck(t, body)
		}
		b.mustAck(t, bodies["malformed"]) // a repeat is recognised in the quarantine too
		wait.For(t, "spool replayed", func() bool { return !b.svc.SpoolPending() })
		var page struct {
			Items []travelrule.StoredCallback `json:"items"`
		}
		if code := b.admin(t, "GET", "/admin/v1/travel-rule/quarantine", &page); code != 200 || len(page.Items) != 4 {
			t.Fatalf("quarantine %d: %+v", code, page.Items)
		}
		ids := map[string]travelrule.StoredCallback{}
		for _, c := range page.Items {
			ids[c.Problem] = c
		}
		for p := range bodies {
			if _, ok := ids[p]; !ok {
				t.Errorf("no quarantined callback with problem %s", p)
			}
		}
		if ids["malformed"].Duplicates != 1 || !ids["oversized"].Truncated {
			t.Errorf("quarantine rows %+v", ids)
		}
		var e map[string]any
		if code := b.admin(t, "POST", "/admin/v1/travel-rule/quarantine/"+ids["malformed"].ID+"/reprocess", &e); code != 409 {
			t.Errorf("reprocess malformed: %d %v", code, e)
		}
		if code := b.admin(t, "POST", "/admin/v1/travel-rule/quarantine/nope/reprocess", &e); code != 404 {
			t.Errorf("reprocess unknown: %d", code)
		}
		// A callback an older decoder could not read: put a good one in the quarantine and
		// re-process it.
		const u = "00000000-0000-4000-8000-0000000000bb"
		b.mustAck(t, fmt.Appendf(nil, `{"callbackType":"ERROR_REPORT","data":{"verificationUuid":%q,"result":"ERROR","reason":"USER-CANCELED"}}`, u))
		b.waitProcessed(t, u, 1)
		if _, err := db.ExecContext(context.Background(), "UPDATE travel_rule_inbox SET state = 'quarantined', problem = 'unknown_type' WHERE verification_uuid = ?", u); err != nil {
			t.Fatal(err)
		}
		var id string
		if err := db.QueryRowContext(context.Background(), "SELECT id FROM travel_rule_inbox WHERE verification_uuid = ?", u).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if code := b.admin(t, "POST", "/admin/v1/travel-rule/quarantine/"+id+"/reprocess", &e); code != 200 {
			t.Fatalf("reprocess: %d %v", code, e)
		}
		v := b.waitProcessed(t, u, 1)
		if v.Status != "ERROR" || v.Callbacks[0].State != "processed" {
			t.Fatalf("%+v", v)
		}
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_verifications WHERE verification_uuid = ''"); n != 0 {
			t.Fatal("a quarantined callback made a verification")
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		body := fixture(t, "tx_report.json")
		t.Run("bearer", func(t *testing.T) {
			b := setup(t, db, setupOpts{cfg: travelrulehttp.CallbackConfig{Tokens: []string{token, "next-token-during-rotation"}, AllowCIDRs: loopback}})
			for _, tc := range []struct {
				header, value string
				want          int
			}{
				{"", "", 401},
				{"Authorization", "Bearer wrong", 401},
				{"Authorization", token, 401},
				{"Authorization", "Basic " + token, 401},
				{"X-Api-Key", token, 401},
				{"Authorization", "Bearer " + token + "x", 401},
			} {
				if code, _ := b.postWith(t, body, tc.header, tc.value); code != tc.want {
					t.Errorf("%s: %q: %d, want %d", tc.header, tc.value, code, tc.want)
				}
			}
			if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox"); n != 0 {
				t.Fatalf("%d unauthenticated callbacks stored", n)
			}
			if code, _ := b.postWith(t, body, "Authorization", "Bearer next-token-during-rotation"); code != 200 {
				t.Errorf("second token: %d", code)
			}
		})
		t.Run("custom header", func(t *testing.T) {
			b := setup(t, db, setupOpts{cfg: travelrulehttp.CallbackConfig{Tokens: []string{token}, Header: "X-Api-Key"}})
			if code, _ := b.postWith(t, body, "Authorization", "Bearer "+token); code != 401 {
				t.Errorf("token in the wrong header: %d", code)
			}
			if code, _ := b.postWith(t, body, "X-Api-Key", token); code != 200 {
				t.Errorf("custom header: %d", code)
			}
		})
		t.Run("source not allowed", func(t *testing.T) {
			b := setup(t, db, setupOpts{cfg: travelrulehttp.CallbackConfig{Tokens: []string{token}, AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
			if code, _ := b.post(t, body); code != http.StatusForbidden {
				t.Errorf("outside the allow-list: %d", code)
			}
		})
	})
	if _, err := travelrulehttp.NewCallbackHandler(nil, travelrulehttp.CallbackConfig{}); err == nil {
		t.Fatal("a receiver without a token must be off")
	}
	// The body limit is the operator's (config is its one home): none is no guess.
	if _, err := travelrulehttp.NewCallbackHandler(nil, travelrulehttp.CallbackConfig{Tokens: []string{token}}); err == nil ||
		!strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Fatalf("a receiver without a body limit: %v", err)
	}
}

func TestRetentionRedactsIVMS101(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{retention: 30})
		const u = "64ab871b-14a3-47df-9b80-368e29fe8180"
		b.mustAck(t, fixture(t, "verification_result_denied.json"))
		b.mustAck(t, []byte(`not json, maybe personal data`))
		v := b.waitProcessed(t, u, 1)
		if len(v.IVMS101) == 0 {
			t.Fatal("no IVMS101 before retention")
		}
		if n, err := b.svc.RedactExpired(context.Background(), time.Now().Add(29*24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("redacted %d before the period (err %v)", n, err)
		}
		n, err := b.svc.RedactExpired(context.Background(), time.Now().Add(31*24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("redacted %d, want 2 (err %v)", n, err)
		}
		v, err = b.svc.Verification(context.Background(), u)
		if err != nil || len(v.IVMS101) != 0 || v.Status != "DENIED" || v.Reason != "UNKNOWN-ADDRESS" || !v.Callbacks[0].Redacted {
			t.Fatalf("after retention: %+v (err %v)", v, err)
		}
		// A repeat of the redacted callback is still recognised as a duplicate.
		b.mustAck(t, fixture(t, "verification_result_denied.json"))
		wait.For(t, "spool replayed", func() bool { return !b.svc.SpoolPending() })
		if n := b.count(t, "SELECT duplicates FROM travel_rule_inbox WHERE verification_uuid = ?", u); n != 1 {
			t.Fatalf("duplicates %d", n)
		}
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_events WHERE verification_uuid = ?", u); n != 1 {
			t.Fatalf("redaction announced as a change: %d events", n)
		}
	})
}

func TestListVerificationsPaginates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		for i := range 7 {
			result := "VERIFIED"
			if i%2 == 1 {
				result = "DENIED"
			}
			b.mustAck(t, fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":"00000000-0000-4000-8000-00000000010%d","verificationResult":%q}}`, i, result))
		}
		for i := range 7 {
			b.waitProcessed(t, fmt.Sprintf("00000000-0000-4000-8000-00000000010%d", i), 1)
		}
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			var p struct {
				Items      []travelrule.VerificationView `json:"items"`
				NextCursor string                        `json:"next_cursor"`
			}
			if code := b.admin(t, "GET", "/admin/v1/travel-rule/verifications?status=VERIFIED&limit=2&since=2020-01-01T00:00:00Z&cursor="+cursor, &p); code != 200 {
				t.Fatalf("list: %d", code)
			}
			for _, v := range p.Items {
				if v.Status != "VERIFIED" || seen[v.VerificationUUID] {
					t.Fatalf("page item %+v", v)
				}
				seen[v.VerificationUUID] = true
			}
			if cursor = p.NextCursor; cursor == "" || pages > 5 {
				break
			}
		}
		if len(seen) != 4 {
			t.Fatalf("listed %d VERIFIED, want 4", len(seen))
		}
		var e map[string]any
		for _, q := range []string{"status=NOPE", "risk_level=extreme", "since=yesterday", "cursor=!!!", "limit=0"} {
			if code := b.admin(t, "GET", "/admin/v1/travel-rule/verifications?"+q, &e); code != 400 {
				t.Errorf("%s: %d", q, code)
			}
		}
		var hi struct {
			Items []travelrule.VerificationView `json:"items"`
		}
		b.admin(t, "GET", "/admin/v1/travel-rule/verifications?risk_level=severe", &hi)
		if len(hi.Items) != 0 {
			t.Errorf("risk filter: %d", len(hi.Items))
		}
	})
}

// TestHostileTextIsStorable posts bodies whose text fields PostgreSQL would refuse (NUL,
// invalid UTF-8) among good ones: all are stored, none blocks the group commit or the spool.
func TestHostileTextIsStorable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, setupOpts{})
		bodies := [][]byte{
			[]byte(`{"callbackType":"TX_\u0000REPORT","data":{"verificationUuid":"x"}}`),
			[]byte(`{"callbackType":"TX_REPORT","data":{"verificationUuid":"a\u0000b","txHash":"h"}}`),
			[]byte("{\"callbackType\":\"\xff\xfe\",\"data\":{}}"),
			[]byte("\x00\xff not json"),
			fixture(t, "tx_report.json"),
			[]byte(`{"callbackType":"ERROR_REPORT","data":{"verificationUuid":"00000000-0000-4000-8000-0000000000cc","result":"ERROR","reason":"R\u0000","message":"m\u0000"}}`),
		}
		var wg sync.WaitGroup
		for _, body := range bodies {
			wg.Add(1)
			go func() { defer wg.Done(); b.mustAck(t, body) }()
		}
		wg.Wait()
		wait.For(t, "spool replayed", func() bool { return !b.svc.SpoolPending() })
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox"); n != len(bodies) {
			t.Fatalf("%d stored, want %d", n, len(bodies))
		}
		if n := b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox WHERE state = 'quarantined'"); n != len(bodies)-2 {
			t.Fatalf("%d quarantined, want %d", n, len(bodies)-2)
		}
		b.waitProcessed(t, "64ab871b-14a3-47df-9b80-368e29fe8181", 1)
		if v := b.waitProcessed(t, "00000000-0000-4000-8000-0000000000cc", 1); v.Status != "ERROR" || strings.ContainsRune(v.Reason, 0) {
			t.Fatalf("%+v", v)
		}
	})
}

// TestTwoInstancesOnePostgres runs two receivers on one PostgreSQL database, as N instances
// behind a load balancer would, and posts every callback to both at once: each is stored once
// (the other copy counted as a duplicate) and processed into one record.
func TestTwoInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.Postgres)
	a, b := setup(t, db, setupOpts{}), setup(t, db, setupOpts{})
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		body := fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":"00000000-0000-4000-8000-%012d","verificationResult":"VERIFIED","reason":"OK"}}`, 900+i)
		for _, inst := range []*bundle{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); inst.mustAck(t, body) }()
		}
	}
	wg.Wait()
	wait.For(t, "spools replayed", func() bool { return !a.svc.SpoolPending() && !b.svc.SpoolPending() })
	if got := a.count(t, "SELECT COUNT(*) FROM travel_rule_inbox"); got != n {
		t.Fatalf("%d stored, want %d", got, n)
	}
	if got := a.count(t, "SELECT SUM(duplicates) FROM travel_rule_inbox"); got != n {
		t.Fatalf("%d duplicates counted, want %d", got, n)
	}
	for i := range n {
		if v := a.waitProcessed(t, fmt.Sprintf("00000000-0000-4000-8000-%012d", 900+i), 1); v.Status != "VERIFIED" {
			t.Fatalf("%+v", v)
		}
	}
	if got := a.count(t, "SELECT COUNT(*) FROM travel_rule_events"); got != n {
		t.Fatalf("%d events, want one per verification (%d)", got, n)
	}
}

// TestMetricsOnTheInjectedRegistry: the receiver counts on the registry it is given (each
// test its own: no package-level collectors), the refusals included.
func TestMetricsOnTheInjectedRegistry(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reg := prometheus.NewRegistry()
		b := setup(t, db, setupOpts{metrics: reg})
		b.mustAck(t, []byte(`{"callbackType":"ERROR_REPORT","data":{"verificationUuid":"00000000-0000-4000-9000-000000000001","result":"ERROR","reason":"USER-CANCELED"}}`))
		if code, _ := b.postWith(t, []byte(`{}`), "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", code)
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				switch {
				case m.GetCounter() != nil:
					got[f.GetName()] += m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					got[f.GetName()] += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		for _, name := range []string{"vaspgate_travel_rule_callbacks_total", "vaspgate_travel_rule_ack_seconds", "vaspgate_travel_rule_callbacks_rejected_total"} {
			if got[name] != 1 {
				t.Errorf("%s = %v, want 1 (all: %v)", name, got[name], got)
			}
		}
	})
}

// TestNewRefusesMissingSettings: the store budget and the retention are the operator's
// (config is their one home); the service refuses to guess them.
func TestNewRefusesMissingSettings(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	for _, tc := range []struct {
		name string
		opts travelrule.Options
		want string
	}{
		{"no store budget", travelrule.Options{RetentionDays: 1}, "StoreBudget"},
		{"no retention", travelrule.Options{StoreBudget: time.Millisecond}, "RetentionDays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.SpoolDir = t.TempDir()
			_, err := travelrule.New(db, job.New(db, job.Options{}), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want a refusal naming %s", err, tc.want)
			}
		})
	}
}
