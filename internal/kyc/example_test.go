package kyc_test

import (
	"context"
	"fmt"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"os"
	"path/filepath"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Example shows the builtin back end end to end, without HTTP: a wallet's customer sends
// its fields (NEEDS_INFO, then PROCESSING), and an operator accepts it. Every status change
// is recorded with its callbacks in the same transaction.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kyc-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "vaspgate.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		panic(err)
	}
	key, _ := seal.ParseKey(seal.NewKey())
	ring, _ := seal.New(key)
	engine, _ := callback.New(ctx, db, testkit.CallbackOptions())

	// The settings are complete (app fills them from the configuration); the status hook
	// is how SEP-6 hears of a customer's status change.
	svc, err := kyc.New(kyc.Options{
		Backend: kyc.Builtin,
		Types: map[string]kyc.CustomerType{"sep6": {Fields: map[string]kyc.Field{
			"first_name": {Type: "string", Description: "first name"},
			"last_name":  {Type: "string", Description: "last name"},
		}}},
		UnrequestedFields: kyc.UnrequestedDrop, MaxFileSize: 10 << 20, FileTTL: 24 * time.Hour,
		DB: db, Sealer: ring, Outbox: engine.Outbox(),
		StatusHooks: []kyc.StatusHook{func(_ context.Context, _ *store.Tx, c kyc.Customer, _ wallet.Identity) error {
			fmt.Println("status changed:", c.Status)
			return nil
		}},
	})
	if err != nil {
		panic(err)
	}

	user := wallet.Identity{Account: "GDWALLETACCOUNT", Memo: "42"}
	id, _ := svc.Put(ctx, user, kyc.PutRequest{Type: "sep6", Fields: map[string]string{"first_name": "Ada"}})
	_, _ = svc.Put(ctx, user, kyc.PutRequest{ID: id, Type: "sep6", Fields: map[string]string{"last_name": "Lovelace"}})
	_, _ = svc.Decide(ctx, id, kyc.Decision{Type: "sep6", Status: kyc.StatusAccepted})

	c, _ := svc.Get(ctx, user, kyc.Query{ID: id, Type: "sep6"})
	fmt.Println(c.Status, c.ProvidedFields["last_name"].Status)

	_, err = svc.Get(ctx, wallet.Identity{Account: "GDSOMEONEELSE"}, kyc.Query{ID: id})
	fmt.Println(err == kyc.ErrNotFound)
	// Output:
	// status changed: NEEDS_INFO
	// status changed: PROCESSING
	// status changed: ACCEPTED
	// ACCEPTED ACCEPTED
	// true
}
