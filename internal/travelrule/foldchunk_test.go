package travelrule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule"
)

// businessEvents records the business events handed to the outbox, per subject.
type businessEvents struct {
	mu        sync.Mutex
	bySubject map[string][]callback.Message
}

func (e *businessEvents) Business(_ context.Context, tx *store.Tx, m callback.Message) error {
	if tx == nil {
		panic("event outside a transaction")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bySubject[m.Subject] = append(e.bySubject[m.Subject], m)
	return nil
}

func (e *businessEvents) of(subject string) []callback.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.bySubject[subject])
}

// foldService is a service that is not running: the test stores callbacks and folds them
// itself. Originator and beneficiary are on, so that folds enqueue their follow-up jobs (the
// job engine is open, not running: the jobs stay in river_job).
func foldService(t *testing.T, db *store.DB) (*travelrule.Service, *businessEvents) {
	t.Helper()
	keys := travelrule.SpoolKeys(t)
	eng := job.New(db, job.Options{})
	ev := &businessEvents{bySubject: map[string][]callback.Message{}}
	svc, err := travelrule.New(db, eng, testkit.TravelRuleOptions(travelrule.Options{
		Sealer: keys, Events: ev, SpoolDir: t.TempDir(),
		Originator: &travelrule.OriginatorOptions{}, Beneficiary: &travelrule.BeneficiaryOptions{},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(); err != nil {
		t.Fatal(err)
	}
	return svc, ev
}

// callbacks are the enclave's callbacks about one verification, from the fixtures, by kind.
func callbacks(t *testing.T, u string) map[string][]byte {
	t.Helper()
	read := func(name, from string) []byte {
		b, err := os.ReadFile(filepath.Join("../../../shared/fixtures/travel-rule", name))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.ReplaceAll(b, []byte(from), []byte(u))
	}
	return map[string][]byte{
		"verified": fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":%q,"verificationResult":"VERIFIED","reason":"OK","message":""}}`, u),
		"denied":   read("verification_result_denied.json", "64ab871b-14a3-47df-9b80-368e29fe8180"),
		"tx":       read("tx_report.json", "64ab871b-14a3-47df-9b80-368e29fe8181"),
		"error":    read("error_report.json", "64ab871b-14a3-47df-9b80-368e29fe8182"),
		"kyt":      read("chainalysis_kyt_result.json", "69a310e6-810f-4a31-83d1-bcdafccf5304"),
		"wco":      read("refinitiv_wco_result.json", "69a310e6-810f-4a31-83d1-bcdafccf5304"),
	}
}

// folded is everything a fold wrote about one verification, with its uuid's family prefix
// made neutral, so that two families folded differently can be compared.
type folded struct {
	View     travelrule.VerificationView
	Events   []string // travel_rule_events, by version: version and body without updated_at
	Business []string // business events: type and body without updated_at
	Jobs     []string // follow-up jobs, in insertion order
}

func snapshot(t *testing.T, svc *travelrule.Service, db *store.DB, ev *businessEvents, u, prefix string) folded {
	t.Helper()
	ctx := context.Background()
	neutral := func(s string) string { return strings.ReplaceAll(s, prefix, "xxxxxxxx") }
	withoutTime := func(body []byte) string {
		var e travelrule.EventBody
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("event body %s: %v", body, err)
		}
		e.UpdatedAt = time.Time{} // when the fold ran is not compared
		out, _ := json.Marshal(e)
		return neutral(string(out))
	}
	v, err := svc.Verification(ctx, u)
	if err != nil {
		t.Fatalf("verification %s: %v", u, err)
	}
	var f folded
	v.VerificationUUID = neutral(v.VerificationUUID)
	v.Screening = json.RawMessage(neutral(string(v.Screening)))
	v.CreatedAt, v.UpdatedAt = nil, nil
	for i := range v.Callbacks {
		if v.Callbacks[i].State == "pending" {
			t.Errorf("%s: callback %s still pending", u, v.Callbacks[i].ID)
		}
		v.Callbacks[i] = travelrule.StoredCallback{CallbackType: v.Callbacks[i].CallbackType, Revision: v.Callbacks[i].Revision,
			State: v.Callbacks[i].State, Duplicates: v.Callbacks[i].Duplicates}
	}
	slices.SortFunc(v.Callbacks, func(a, b travelrule.StoredCallback) int {
		return strings.Compare(fmt.Sprint(a.CallbackType, a.Revision), fmt.Sprint(b.CallbackType, b.Revision))
	})
	for i := range v.Transactions {
		v.Transactions[i].TransactionID = neutral(v.Transactions[i].TransactionID)
	}
	f.View = v
	rows, err := db.QueryContext(ctx, "SELECT version, body FROM travel_rule_events WHERE verification_uuid = ? ORDER BY version", u)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			version int64
			body    string
		)
		if err := rows.Scan(&version, &body); err != nil {
			t.Fatal(err)
		}
		f.Events = append(f.Events, fmt.Sprint(version, " ", withoutTime([]byte(body))))
	}
	rows.Close()
	for _, m := range ev.of("verification:" + u) {
		f.Business = append(f.Business, m.Type+" "+withoutTime(m.Body))
	}
	rows, err = db.QueryContext(ctx, "SELECT kind, args FROM river_job ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, args string
		if err := rows.Scan(&kind, &args); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(args, u) {
			f.Jobs = append(f.Jobs, kind)
		}
	}
	return f
}

// TestChunkFoldEqualsOneByOne folds the same callbacks, arriving in three rounds and
// interleaved differently per verification, into three families of verifications: one a
// verification per transaction, the others all in one chunk, by the service that stored
// them (with the acknowledgements' decodes kept) and by another one (decoding the stored
// bodies). Records, events, business events and follow-up jobs must come out the same,
// folding again must change nothing, and no decode stays kept after its fold.
func TestChunkFoldEqualsOneByOne(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, ev := foldService(t, db)
		other, otherEv := foldService(t, db)
		const n = 6
		families := []struct {
			prefix string
			chunk  int
			folder *travelrule.Service
		}{{"aaaaaaaa", 1, svc}, {"bbbbbbbb", 16, svc}, {"dddddddd", 16, other}}
		uuid := func(prefix string, i int) string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i) }
		// What each verification receives in each round; repeats and revisions included.
		rounds := [][]func(i int) []string{
			{func(i int) []string {
				if i%2 == 0 {
					return []string{"verified", "kyt"}
				}
				return []string{"tx", "wco"}
			}},
			{func(i int) []string {
				switch i % 3 {
				case 0:
					return []string{"denied", "tx", "verified"} // a revision forward, a repeat
				case 1:
					return []string{"error"}
				}
				return []string{"kyt", "wco", "tx"}
			}},
			{func(int) []string { return []string{"verified", "denied", "tx", "error", "kyt", "wco"} }},
		}
		for r, round := range rounds {
			for _, fam := range families {
				var bodies [][]byte
				var ids []string
				for i := range n {
					u := uuid(fam.prefix, i)
					ids = append(ids, u)
					cbs := callbacks(t, u)
					for _, kind := range round[0](i) {
						bodies = append(bodies, cbs[kind])
					}
					if r == 1 && i%2 == 0 {
						// Linked between rounds: later events name the transactions.
						for _, tx := range []string{fam.prefix + "-tx-1", fam.prefix + "-tx-2"} {
							if err := travelrule.LinkTx(ctx, db, u, tx, travelrule.RoleBeneficiary); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				// One group commit per family and round: the chunk's callbacks interleave.
				if err := svc.StoreForTest(ctx, bodies...); err != nil {
					t.Fatalf("round %d: store: %v", r, err)
				}
				if err := fam.folder.FoldForTest(ctx, ids, fam.chunk); err != nil {
					t.Fatalf("round %d: fold %s by %d: %v", r, fam.prefix, fam.chunk, err)
				}
			}
		}
		// The decodes of the callbacks "other" folded were kept by svc, which stored them;
		// they go when svc is asked to fold those verifications (nothing left pending).
		var others []string
		for i := range n {
			others = append(others, uuid("dddddddd", i))
		}
		if err := svc.FoldForTest(ctx, others, 16); err != nil {
			t.Fatal(err)
		}
		if k := svc.DecodesKeptForTest(); k != 0 {
			t.Errorf("%d decodes kept after every verification was folded", k)
		}
		var pending int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM travel_rule_pending").Scan(&pending); err != nil || pending != 0 {
			t.Errorf("%d callbacks still on the pending list after every verification was folded (%v)", pending, err)
		}
		var all []string
		before := map[string]folded{}
		for i := range n {
			a, b := uuid("aaaaaaaa", i), uuid("bbbbbbbb", i)
			all = append(all, a, b)
			fa := snapshot(t, svc, db, ev, a, "aaaaaaaa")
			fb := snapshot(t, svc, db, ev, b, "bbbbbbbb")
			if !reflect.DeepEqual(fa, fb) {
				t.Errorf("verification %d folded one by one:\n%+v\nin a chunk:\n%+v", i, fa, fb)
			}
			if fd := snapshot(t, other, db, otherEv, uuid("dddddddd", i), "dddddddd"); !reflect.DeepEqual(fb, fd) {
				t.Errorf("verification %d folded with the acknowledgements' decodes:\n%+v\nfrom the stored bodies:\n%+v", i, fb, fd)
			}
			// What both must be: the error report wins; one event per version.
			v := fb.View
			if v.Status != travelrule.StatusError || v.Reason != "BLACKLISTED" || v.TxHash == "" || len(v.IVMS101) == 0 ||
				v.RiskLevel != travelrule.RiskSevere {
				t.Errorf("verification %d: %+v", i, v)
			}
			if int64(len(fb.Events)) != v.Version || len(fb.Business) != len(fb.Events) || v.Version < 2 {
				t.Errorf("verification %d: version %d, %d events, %d business events", i, v.Version, len(fb.Events), len(fb.Business))
			}
			if !slices.Contains(fb.Jobs, "travel_rule_hold") || !slices.Contains(fb.Jobs, "travel_rule_apply") {
				t.Errorf("verification %d: jobs %v", i, fb.Jobs)
			}
			if i%2 == 0 && !strings.Contains(fb.Events[len(fb.Events)-1], `"transaction_ids":["xxxxxxxx-tx-1","xxxxxxxx-tx-2"]`) {
				t.Errorf("verification %d: last event does not name its transactions: %s", i, fb.Events[len(fb.Events)-1])
			}
			before[a], before[b] = fa, fb
		}
		// Folding again, in one chunk, changes nothing.
		slices.Sort(all)
		if err := svc.FoldChunksForTest(ctx, all, len(all)); err != nil {
			t.Fatal(err)
		}
		for u, f := range before {
			prefix, _, _ := strings.Cut(u, "-")
			if g := snapshot(t, svc, db, ev, u, prefix); !reflect.DeepEqual(f, g) {
				t.Errorf("%s: folding again changed it:\n%+v\n%+v", u, f, g)
			}
		}
	})
}

// TestConcurrentChunkFolds folds the same new verifications from three transactions at once,
// in chunks of different sizes, so that the chunks overlap: on PostgreSQL each creates and
// locks rows another is creating or locking. None may fail (a deadlock would, and so would a
// record created by another fold first and not folded again), and each verification is
// written once.
func TestConcurrentChunkFolds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, ev := foldService(t, db)
		var (
			ids    []string
			bodies [][]byte
		)
		for i := range 60 {
			u := fmt.Sprintf("cccccccc-0000-4000-8000-%012d", i)
			ids = append(ids, u)
			bodies = append(bodies, callbacks(t, u)["tx"])
		}
		if err := svc.StoreForTest(ctx, bodies...); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for _, chunk := range []int{16, 5, 7} {
			wg.Go(func() { errs <- svc.FoldChunksForTest(ctx, ids, chunk) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent fold: %v", err)
			}
		}
		for _, u := range ids {
			f := snapshot(t, svc, db, ev, u, "cccccccc")
			if f.View.Version != 1 || len(f.Events) != 1 || len(f.Business) != 1 || f.View.TxHash == "" {
				t.Errorf("%s: version %d, %d events, %d business events, tx %q", u, f.View.Version, len(f.Events), len(f.Business), f.View.TxHash)
			}
		}
	})
}
