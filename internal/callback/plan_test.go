package callback

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestPlansWithoutStatistics (issue 16): on a PostgreSQL table loaded a moment ago, before
// any ANALYZE, the claim and the promotion must read the queue's own indexes, not one keyed
// by the endpoint alone (endpointWalks), which walks every open (or every) delivery of an
// endpoint per lookup. The plans are the generic ones the engine's prepared statements end
// up with.
func TestPlansWithoutStatistics(t *testing.T) {
	db, eng := engineWithoutStatistics(t)
	ctx := context.Background()
	// The bench's backlog shape: 4 wallet endpoints, 1,000 subjects, recorded 200 per
	// transaction through the outbox.
	const events, subjects = 20000, 1000
	for b := 0; b < events; b += 200 {
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := b; i < b+200; i++ {
				s := i % subjects
				m := Message{Type: "plan", Subject: "subject-" + strconv.Itoa(s), Body: fmt.Appendf(nil, `{"i":%d}`, i)}
				if err := eng.Outbox().Wallet(ctx, tx, "http://127.0.0.1:1/cb"+strconv.Itoa(s%4), m); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var analyzed bool
	if err := db.QueryRowContext(ctx, `SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL
		FROM pg_stat_user_tables WHERE relid = 'callback_deliveries'::regclass`).Scan(&analyzed); err != nil {
		t.Fatal(err)
	}
	if analyzed {
		t.Fatal("callback_deliveries has statistics: the test needs a table without")
	}
	var eps, subs []string
	rows, err := db.QueryContext(ctx, `SELECT endpoint_id, subject FROM callback_subjects ORDER BY endpoint_id, subject LIMIT 20`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ep, sub string
		if err := rows.Scan(&ep, &sub); err != nil {
			t.Fatal(err)
		}
		eps, subs = append(eps, ep), append(subs, sub)
	}
	rows.Close()
	if len(eps) == 0 {
		t.Fatal("no subjects recorded")
	}
	now := int64(1) << 62
	for _, tc := range []struct {
		name    string
		stmt    string
		args    []any
		setup   []string // what the engine sets in the statement's transaction first
		walkDue bool     // the statement must walk the due index with a plain index scan
	}{
		{"claim", eng.q.claimStmt(0), []any{"token", now, now, now, now, 256}, []string{pgClaimSettings}, true},
		{"claim excluding an endpoint", eng.q.claimStmt(1), []any{"token", now, now, now, now, eps[0], 256}, []string{pgClaimSettings}, true},
		{"promote", pgPromote, []any{eps, subs, make([]bool, len(eps)), 0, now, now, "", 0}, nil, false},
		{"promote and take over", pgPromote, []any{eps, subs, slices.Repeat([]bool{true}, len(eps)), now, now, now, "token", now}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := genericPlan(t, db, tc.stmt, tc.args, tc.setup...)
			for _, walk := range endpointWalks {
				if strings.Contains(plan, walk) {
					t.Errorf("plan reads %s:\n%s", walk, plan)
				}
			}
			// The due index keeps an entry for every finished delivery until a vacuum; only
			// a plain index scan marks those dead as it meets them, so that the next claims
			// skip them without reading the table (pgClaimSettings). A bitmap scan of it read
			// a table page per delivery finished so far, every claim (issue 16, eighth pass).
			if tc.walkDue && (strings.Contains(plan, "Bitmap") || !strings.Contains(plan, "Index Scan using callback_deliveries_due")) {
				t.Errorf("the claim does not walk the due index:\n%s", plan)
			}
		})
	}
}

// TestRecorderPlans (issue 16, sixth pass): the recorder's statements find each subject
// and delivery by its key in the generic plan of tables without statistics that are small
// on disk (here 1,000 subjects with one delivery each, as at the start of the bench), and
// the engine's prepared statements settle on that plan. As joins of the batch with the
// table, those plans hashed the batch and read the whole table, every version of every
// row; a prepared statement that settled on such a plan kept it as the table grew, and one
// that did not planned every batch anew.
func TestRecorderPlans(t *testing.T) {
	db, eng := engineWithoutStatistics(t)
	ctx := context.Background()
	const subjects = 1000
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range subjects {
			m := Message{Type: "plan", Subject: "subject-" + strconv.Itoa(i), Body: []byte(`{}`)}
			if err := eng.Outbox().Wallet(ctx, tx, "http://127.0.0.1:1/cb"+strconv.Itoa(i%4), m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	keys := make([]subjectKey, 2)
	batch := make([]outcome, 2)
	for i := range keys {
		c := claimed{subject: "subject-" + strconv.Itoa(i+1), token: "not-the-lease"}
		if err := db.QueryRowContext(ctx, `SELECT id, endpoint_id FROM callback_deliveries WHERE subject = ?`, c.subject).Scan(&c.id, &c.endpointID); err != nil {
			t.Fatal(err)
		}
		keys[i], batch[i] = subjectKey{c.endpointID, c.subject}, outcome{c: c, status: StatusDelivered}
	}
	eps, subs := []string{keys[0].endpointID, keys[1].endpointID}, []string{keys[0].subject, keys[1].subject}
	heads := map[subjectKey]int64{keys[0]: 1, keys[1]: 1}
	for _, tc := range []struct {
		name, stmt, table, prefix string
		args                      []any
		probes                    int // index scans of the table's primary key
		run                       func(tx *store.Tx) error
	}{
		{"lock subjects", pgLockSubjects, "callback_subjects", "WITH l AS (SELECT s.endpoint_id", []any{eps, subs, []int64{1, 1}},
			2, // the lock, and the clearing of the heads that ended
			func(tx *store.Tx) error { _, _, err := eng.q.lockSubjects(ctx, tx, keys, heads); return err }},
		{"apply outcomes", pgApplyOutcomes, "callback_deliveries", "WITH m AS MATERIALIZED", []any{
			[]string{batch[0].c.id, batch[1].c.id}, []string{"t", "t"}, []string{StatusDelivered, StatusDelivered}, []int64{1, 1},
			[]int64{0, 0}, []int64{200, 200}, []string{"", ""}, []int64{1, 1},
			"plan", []string{batch[0].c.id, batch[1].c.id}, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, []int64{200, 200},
			[]string{"ok", "ok"}, []string{"", ""}, []string{"", ""}, [][]byte{{}, {}}, []int64{0, 0}, 1},
			2, // the match, and the update
			func(tx *store.Tx) error {
				// The lease token matches no delivery: nothing is written, the plan is the same.
				return eng.q.applyOutcomes(ctx, tx, "plan", batch, make([]bool, len(batch)), 1)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := genericPlan(t, db, tc.stmt, tc.args)
			if strings.Contains(plan, "Seq Scan on "+tc.table) {
				t.Errorf("the plan reads all of %s:\n%s", tc.table, plan)
			}
			if n := strings.Count(plan, "Index Scan using "+tc.table+"_pkey"); n != tc.probes {
				t.Errorf("%d probes of %s_pkey, want %d:\n%s", n, tc.table, tc.probes, plan)
			}
			// The engine's prepared statement settles on that generic plan instead of planning
			// every batch anew: batches of two, fewer than the generic plan's estimate, made
			// every custom plan look cheaper.
			var generic, custom int64
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				for range 10 {
					if err := tc.run(tx); err != nil {
						return err
					}
				}
				return tx.QueryRowContext(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
					WHERE starts_with(statement, ?)`, tc.prefix).Scan(&generic, &custom)
			}); err != nil {
				t.Fatal(err)
			}
			if generic < 5 || custom > 5 {
				t.Errorf("planned %d times for 10 batches (%d runs of the generic plan)", custom, generic)
			}
		})
	}
}

// endpointWalks are the indexes of callback_deliveries an engine lookup must not read: keyed
// by the endpoint first and then by nothing the lookup has. The unfinished index holds an
// endpoint's open deliveries; since migration 00077 dropped (endpoint_id, created_at), the
// unique (endpoint_id, event_id) index is the one a planner would take for "the endpoint's
// deliveries", and it holds the endpoint's whole history.
var endpointWalks = []string{"callback_deliveries_unfinished", "callback_deliveries_endpoint_id_event_id_key"}

// engineWithoutStatistics is an engine on a fresh PostgreSQL schema whose queue tables get no
// statistics for the length of the test (autovacuum would analyze them after a minute), as
// the bench's scratch schema and a newly deployed database have none.
func engineWithoutStatistics(t *testing.T) (*store.DB, *Engine) {
	t.Helper()
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	for _, table := range []string{"callback_deliveries", "callback_subjects", "callback_endpoints"} {
		if _, err := db.ExecContext(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := New(ctx, db, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return db, eng
}

// genericPlan prepares stmt and explains its generic plan (the one a prepared statement
// settles on) with args written as literals, after running setup in the same transaction;
// nothing else is executed.
func genericPlan(t *testing.T, db *store.DB, stmt string, args []any, setup ...string) string {
	t.Helper()
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case []bool, []int64:
			lits[i] = "ARRAY" + strings.ReplaceAll(fmt.Sprint(v), " ", ", ")
		case [][]byte:
			lits[i] = "ARRAY[" + strings.TrimSuffix(strings.Repeat("CAST('' AS BYTEA), ", len(v)), ", ") + "]"
		case []string:
			q := make([]string, len(v))
			for j, s := range v {
				q[j] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
			}
			lits[i] = "ARRAY[" + strings.Join(q, ", ") + "]"
		default:
			lits[i] = fmt.Sprint(v)
		}
	}
	var plan strings.Builder
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, q := range append(setup, "SET LOCAL plan_cache_mode = force_generic_plan") {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "PREPARE plan_under_test AS "+db.Rebind(stmt)); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "EXPLAIN EXECUTE plan_under_test("+strings.Join(lits, ", ")+")")
		if err != nil {
			return err
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				rows.Close()
				return err
			}
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DEALLOCATE plan_under_test")
		return err
	})
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	return plan.String()
}

// TestDeliveryIndexes: callback_deliveries carries only the indexes some statement reads,
// on both engines. Every write of a delivery that is not a HOT update adds an entry to
// each of them, so one without a reader is paid for on every delivery (migration 00077).
// A new index goes here with its reader. The console's sort indexes are partial (00078): a
// delivery recorded delivered with one attempt enters none of them.
func TestDeliveryIndexes(t *testing.T) {
	readers := map[string]string{
		"callback_deliveries_pkey":                        "a delivery by id: recording, the lease, the console's page",
		"callback_deliveries_endpoint_id_subject_seq_key": "a subject's head by its sequence (promotion); an endpoint's deliveries",
		"callback_deliveries_endpoint_id_event_id_key":    "a repeated event id (enqueue); an endpoint's deliveries",
		"callback_deliveries_due":                         "the claim: due heads by next attempt",
		"callback_deliveries_queued":                      "promotion: a subject's first queued delivery (a replayed one may precede the head)",
		"callback_deliveries_delivered":                   "retention: delivered before the cutoff; the console by last change, its delivered part",
		"callback_deliveries_failed":                      "dead letters: an endpoint's since a time (replay), failed counts on SQLite",
		"callback_deliveries_subject":                     "the console: a subject's deliveries, newest first",
		"callback_deliveries_unfinished":                  "the console and metrics: open and failed counts per endpoint",
		"callback_deliveries_status_id":                   "the console: a status other than delivered (dead letters too); by status, its part not delivered",
		"callback_deliveries_updated":                     "the console: by last change, its part not delivered",
		"callback_deliveries_attempts":                    "the console: by attempts, its part with other than one attempt (but the open ones never attempted)",
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		stmt := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'callback_deliveries'`
		if db.Dialect() == store.Postgres {
			stmt = `SELECT indexname FROM pg_indexes WHERE tablename = 'callback_deliveries' AND schemaname = current_schema()`
		}
		rows, err := db.QueryContext(ctx, stmt)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		// SQLite names the primary key's and the unique constraints' indexes by number.
		if db.Dialect() == store.SQLite {
			if n := len(slices.DeleteFunc(slices.Clone(got), func(s string) bool { return !strings.HasPrefix(s, "sqlite_autoindex_") })); n != 3 {
				t.Errorf("%d constraint indexes, want 3 (primary key, two unique): %v", n, got)
			}
			got = slices.DeleteFunc(got, func(s string) bool { return strings.HasPrefix(s, "sqlite_autoindex_") })
			got = append(got, "callback_deliveries_pkey", "callback_deliveries_endpoint_id_subject_seq_key", "callback_deliveries_endpoint_id_event_id_key")
		}
		want := slices.Sorted(maps.Keys(readers))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("indexes\n got %v\nwant %v", got, want)
		}
	})
}

// seedListRows writes n deliveries in the shape of a live table, straight into it: most
// delivered with one attempt, a few delivered after retries, dead letters, and an open tail
// (pending and queued, newest), over 4 endpoints and 1,000 subjects; then statistics.
func seedListRows(t *testing.T, db *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	for e := range 4 {
		if _, err := db.ExecContext(ctx, `INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
			VALUES (?, 'wallet', ?, 1, 1)`, fmt.Sprint("ep-", e), fmt.Sprint("https://w", e, ".example/cb")); err != nil {
			t.Fatal(err)
		}
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			st, at := StatusDelivered, 1
			switch {
			case i >= n-n/20 && i%3 == 0:
				st, at = StatusQueued, 0
			case i >= n-n/20:
				st, at = StatusPending, i%2
			case i%33 == 0:
				st, at = StatusFailed, 8
			case i%50 == 1:
				at = 2
			}
			upd, fin := int64(1_000_000+i*1000), int64(0)
			if st == StatusDelivered || st == StatusFailed {
				fin = upd
			}
			id := uuid.Must(uuid.NewV7()).String()
			if _, err := tx.ExecContext(ctx, `INSERT INTO callback_deliveries (id, endpoint_id, subject, seq, event_id, event_type,
				occurred_at, created_at, body, status, tries, attempts, next_at, finished_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 't', 1, ?, ?, ?, 0, ?, 1, ?, ?)`,
				id, fmt.Sprint("ep-", i%4), fmt.Sprint("subject-", i%1000), i, id, upd-500, []byte(`{}`), st, at, fin, upd); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
}

// TestListPlans: on a table shaped like a live one (statistics taken), each part of a
// sorted list is a walk of its own index (migration 00078), on both engines, and so are the
// status filters the partial (status, id) index serves; no list reads the whole table. On
// PostgreSQL the plans are the generic ones the pool's prepared statements settle on.
func TestListPlans(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seedListRows(t, db, 20000)
		ctx := context.Background()
		var mid string
		if err := db.QueryRowContext(ctx, `SELECT id FROM callback_deliveries ORDER BY id LIMIT 1 OFFSET 10000`).Scan(&mid); err != nil {
			t.Fatal(err)
		}
		pkey, full := "callback_deliveries_pkey", "Seq Scan on callback_deliveries"
		if db.Dialect() == store.SQLite {
			pkey, full = "sqlite_autoindex_callback_deliveries_1", "SCAN d\n"
		}
		const (
			status, updated, delivered = "callback_deliveries_status_id", "callback_deliveries_updated", "callback_deliveries_delivered"
			attempts, subject          = "callback_deliveries_attempts", "callback_deliveries_subject"
		)
		for _, tc := range []struct {
			f    Filter
			want []string
		}{
			{Filter{Sort: SortStatus}, []string{pkey, status}},
			{Filter{Sort: SortStatus, Oldest: true}, []string{pkey, status}},
			{Filter{Sort: SortStatus, Cursor: store.Cursor(StatusDelivered, mid)}, []string{pkey, status}},
			{Filter{Sort: SortUpdated}, []string{delivered, updated}},
			{Filter{Sort: SortUpdated, Oldest: true}, []string{delivered, updated}},
			{Filter{Sort: SortUpdated, Cursor: store.Cursor(11_000_000, mid)}, []string{delivered, updated}},
			{Filter{Sort: SortAttempts}, []string{pkey, attempts, status}},
			{Filter{Sort: SortAttempts, Oldest: true}, []string{pkey, attempts, status}},
			{Filter{Sort: SortAttempts, Cursor: store.Cursor(1, mid)}, []string{pkey, attempts, status}},
			{Filter{Sort: SortAttempts, Cursor: store.Cursor(0, mid), Oldest: true}, []string{pkey, attempts, status}},
			{Filter{Sort: SortAttempts, Before: mid}, []string{pkey, attempts, status}},
			{Filter{Sort: SortAttempts, Status: StatusFailed}, []string{status, attempts}},
			{Filter{Sort: SortAttempts, Status: StatusPending}, []string{status, attempts}},
			{Filter{Sort: SortAttempts, Status: StatusPending, Oldest: true}, []string{status, attempts}},
			{Filter{Status: StatusFailed}, []string{status}},
			{Filter{Status: StatusPending}, []string{status}},
			{Filter{Status: StatusDelivered}, []string{pkey}},
			{Filter{Subject: "subject-7"}, []string{subject}},
		} {
			tc.f.Limit = 50
			qs, err := deliveriesQueries(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var plan string
			for _, q := range qs {
				plan += listPlan(t, db, q.stmt, q.args)
			}
			for _, idx := range tc.want {
				if !strings.Contains(plan, idx) {
					t.Errorf("%+v: plan does not read %s:\n%s", tc.f, idx, plan)
				}
			}
			if strings.Contains(plan, full) {
				t.Errorf("%+v: plan reads the whole table:\n%s", tc.f, plan)
			}
		}
	})
}

// listPlan explains stmt: PostgreSQL's generic plan, SQLite's query plan (one line per step).
func listPlan(t *testing.T, db *store.DB, stmt string, args []any) string {
	t.Helper()
	if db.Dialect() == store.Postgres {
		return genericPlan(t, db, stmt, args)
	}
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+stmt, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// TestNewDeliveryIndexEntries: a delivery recorded through the outbox (open, never
// attempted) enters neither the attempts index (migration 00092) nor, being open, the
// delivered one; the status index holds it. Counted on PostgreSQL by ANALYZE, which sets
// each partial index's entry count from its sample (here every row).
func TestNewDeliveryIndexEntries(t *testing.T) {
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	eng, err := New(ctx, db, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			m := Message{Type: "index", Subject: "subject-" + strconv.Itoa(i%10), Body: []byte(`{}`)}
			if err := eng.Outbox().Wallet(ctx, tx, "http://127.0.0.1:1/cb", m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE callback_deliveries"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"callback_deliveries_attempts": 0, "callback_deliveries_delivered": 0, "callback_deliveries_status_id": n}
	for idx, w := range want {
		var got int64
		if err := db.QueryRowContext(ctx, `SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = CAST(? AS regclass)`, idx).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Errorf("%s: %d entries for %d new deliveries, want %d", idx, got, n, w)
		}
	}
}
