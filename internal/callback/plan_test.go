package callback

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestPlansWithoutStatistics (issue 16): on a PostgreSQL table loaded a moment ago, before
// any ANALYZE, the claim and the promotion must read the queue's own indexes, not one keyed
// by the endpoint alone (endpointWalks), which walks every open (or every) delivery of an
// endpoint per lookup. The plans are the generic ones the engine's prepared statements end
// up with.
func TestPlansWithoutStatistics(t *testing.T) {
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	for _, table := range []string{"callback_deliveries", "callback_subjects", "callback_endpoints"} {
		// No statistics for the length of the test: autovacuum would analyze after a minute.
		if _, err := db.ExecContext(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := New(ctx, db, testConfig())
	if err != nil {
		t.Fatal(err)
	}
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
		name string
		stmt string
		args []any
	}{
		{"claim", eng.q.claimStmt(0), []any{"token", now, now, now, now, 256}},
		{"claim excluding an endpoint", eng.q.claimStmt(1), []any{"token", now, now, now, now, eps[0], 256}},
		{"promote", pgPromote, []any{eps, subs, make([]bool, len(eps)), 0, now, now, "", 0}},
		{"promote and take over", pgPromote, []any{eps, subs, slices.Repeat([]bool{true}, len(eps)), now, now, now, "token", now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := genericPlan(t, db, tc.stmt, tc.args)
			for _, walk := range endpointWalks {
				if strings.Contains(plan, walk) {
					t.Errorf("plan reads %s:\n%s", walk, plan)
				}
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

// genericPlan prepares stmt and explains its generic plan (the one a prepared statement
// settles on) with args written as literals; nothing is executed.
func genericPlan(t *testing.T, db *store.DB, stmt string, args []any) string {
	t.Helper()
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case []bool:
			lits[i] = "ARRAY" + strings.ReplaceAll(fmt.Sprint(v), " ", ", ")
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
		if _, err := tx.ExecContext(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
			return err
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
// A new index goes here with its reader.
func TestDeliveryIndexes(t *testing.T) {
	readers := map[string]string{
		"callback_deliveries_pkey":                        "a delivery by id: recording, the lease, the console's page",
		"callback_deliveries_endpoint_id_subject_seq_key": "a subject's head by its sequence (promotion); an endpoint's deliveries",
		"callback_deliveries_endpoint_id_event_id_key":    "a repeated event id (enqueue); an endpoint's deliveries",
		"callback_deliveries_due":                         "the claim: due heads by next attempt",
		"callback_deliveries_queued":                      "promotion: a subject's first queued delivery (a replayed one may precede the head)",
		"callback_deliveries_finished":                    "retention: delivered before the cutoff",
		"callback_deliveries_failed":                      "dead letters: an endpoint's since a time (replay), failed counts on SQLite",
		"callback_deliveries_subject":                     "the console: a subject's deliveries, newest first",
		"callback_deliveries_unfinished":                  "the console and metrics: open and failed counts per endpoint",
		"callback_deliveries_status_id":                   "the console: by status (dead letters too), in status order",
		"callback_deliveries_updated":                     "the console: by last change",
		"callback_deliveries_attempts":                    "the console: by attempts",
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
