package callback

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestPlansWithoutStatistics (issue 16): on a PostgreSQL table loaded a moment ago, before
// any ANALYZE, the claim and the promotion must read the queue's own indexes, not the
// console's per-endpoint unfinished index, which walks every open delivery of an endpoint
// per lookup. The plans are the generic ones the engine's prepared statements end up with.
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
			if strings.Contains(plan, "callback_deliveries_unfinished") {
				t.Errorf("plan reads the unfinished index:\n%s", plan)
			}
		})
	}
}

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
