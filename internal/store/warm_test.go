package store_test

import (
	"context"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// KeepWarm opens the connections at once and leaves them idle in the pool (PostgreSQL); on
// SQLite it does nothing.
func TestKeepWarm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if err := db.KeepWarm(context.Background(), 8); err != nil {
			t.Fatal(err)
		}
		st := db.SQL().Stats()
		want := 8
		if db.Dialect() == store.SQLite {
			want = 1
		}
		if st.Idle < want || st.InUse != 0 {
			t.Fatalf("pool after KeepWarm: %d idle, %d in use, want %d idle", st.Idle, st.InUse, want)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
