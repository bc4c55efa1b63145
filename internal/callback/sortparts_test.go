package callback

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// seedSortRows writes deliveries in every state the lists show, straight into the tables
// (no engine runs, so nothing moves): each status with zero, one, two and eight attempts,
// last changes that tie across the parts a sorted list is read in (migration 00078), and a
// disabled endpoint whose open deliveries are paused. It returns the endpoints' ids.
func seedSortRows(t *testing.T, db *store.DB, n int) (enabled, disabled string) {
	t.Helper()
	ctx := context.Background()
	enabled, disabled = "ep-enabled", "ep-disabled"
	for _, ep := range []struct{ id, state string }{{enabled, "enabled"}, {disabled, "disabled"}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO callback_endpoints (id, kind, url, state, created_at, updated_at)
			VALUES (?, 'wallet', ?, ?, 1, 1)`, ep.id, "https://"+ep.id+".example/cb", ep.state); err != nil {
			t.Fatal(err)
		}
	}
	statuses := []string{StatusDelivered, StatusPending, StatusDelivered, StatusQueued, StatusFailed, StatusDelivered}
	attempts := []int{1, 0, 1, 2, 8, 1, 0, 1, 3}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			ep := enabled
			if i%7 == 3 {
				ep = disabled
			}
			st, at := statuses[i%len(statuses)], attempts[i%len(attempts)]
			var fin int64
			upd := int64(1000 + i%11) // few distinct values: ties across the parts
			if st == StatusDelivered || st == StatusFailed {
				fin = upd
			}
			id := uuid.Must(uuid.NewV7()).String()
			if _, err := tx.ExecContext(ctx, `INSERT INTO callback_deliveries (id, endpoint_id, subject, seq, event_id, event_type,
				occurred_at, created_at, body, status, tries, attempts, next_at, finished_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 't', 1, 1, ?, ?, 0, ?, 1, ?, ?)`,
				id, ep, fmt.Sprint("s", i%5), i, fmt.Sprint("e", i), []byte(`{}`), st, at, fin, upd); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return enabled, disabled
}

// TestSortedListsInParts: every order but creation is read in two parts, each a walk of its
// own index, merged (migration 00078). Walked a page at a time in every order, direction
// and page size, with each status filter, an endpoint and a creation bound, a list shows
// each of its deliveries once, in (column, id) order, as one index on the column would.
func TestSortedListsInParts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		enabled, _ := seedSortRows(t, db, 120)
		ad := NewAdmin(db)
		all, next, err := ad.Deliveries(ctx, Filter{Limit: 500})
		if err != nil || next != "" || len(all) != 120 {
			t.Fatalf("all: %d, next %q, %v", len(all), next, err)
		}
		key := map[string]func(Delivery) string{
			SortStatus:   func(d Delivery) string { return d.rawStatus + " " + d.ID },
			SortUpdated:  func(d Delivery) string { return fmt.Sprintf("%020d %s", store.Micros(d.UpdatedAt), d.ID) },
			SortAttempts: func(d Delivery) string { return fmt.Sprintf("%05d %s", d.Attempts, d.ID) },
		}
		mid := all[len(all)/2].ID
		filters := []Filter{{}, {EndpointID: enabled}, {Before: mid}, {Subject: "s2"}}
		for _, st := range []string{StatusPending, StatusQueued, StatusPaused, StatusDelivered, StatusFailed} {
			filters = append(filters, Filter{Status: st})
		}
		for _, base := range filters {
			var rows []Delivery
			for _, d := range all {
				if (base.Status == "" || d.Status == base.Status) && (base.EndpointID == "" || d.EndpointID == base.EndpointID) &&
					(base.Before == "" || d.ID < base.Before) && (base.Subject == "" || d.Subject == base.Subject) {
					rows = append(rows, d)
				}
			}
			if len(rows) == 0 {
				t.Fatalf("filter %+v matches nothing: the seed needs every state", base)
			}
			for sort, k := range key {
				for _, oldest := range []bool{false, true} {
					want := sortedKeys(rows, k, oldest)
					for _, limit := range []int{1, 4, 50} {
						f := base
						f.Sort, f.Oldest, f.Limit = sort, oldest, limit
						if seen := walkPages(t, ad, f, k, len(rows)); !slices.Equal(seen, want) {
							t.Errorf("status %q endpoint %q before %q subject %q, sort %s oldest=%v, pages of %d:\n walked %v\n want   %v",
								base.Status, base.EndpointID, base.Before, base.Subject, sort, oldest, limit, seen, want)
						}
					}
				}
			}
		}
	})
}

// walkPages lists f's deliveries a page at a time, following each page's cursor (at most n
// pages), and returns each one's key in the order walked.
func walkPages(t *testing.T, l interface {
	Deliveries(context.Context, Filter) ([]Delivery, string, error)
}, f Filter, key func(Delivery) string, n int) []string {
	t.Helper()
	var seen []string
	for range n + 1 {
		page, next, err := l.Deliveries(context.Background(), f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		for _, d := range page {
			seen = append(seen, key(d))
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	return seen
}

// sortedKeys are the keys of ds in the order a list by that key walks them.
func sortedKeys(ds []Delivery, key func(Delivery) string, oldest bool) []string {
	want := make([]string, len(ds))
	for i, d := range ds {
		want[i] = key(d)
	}
	slices.Sort(want)
	if !oldest {
		slices.Reverse(want)
	}
	return want
}
