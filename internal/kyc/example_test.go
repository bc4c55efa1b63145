package kyc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
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
	engine, _ := callback.New(ctx, db, config.Callback{}, "", nil, nil)

	svc, err := kyc.New(kyc.Options{
		Config: config.KYC{Types: map[string]config.KYCType{"sep6": {Fields: map[string]config.KYCField{
			"first_name": {}, "last_name": {},
		}}}},
		DB: db, Sealer: ring, Outbox: engine.Outbox(),
	})
	if err != nil {
		panic(err)
	}
	svc.OnStatusChange(func(_ context.Context, _ *store.Tx, c kyc.Customer, _ wallet.Identity) error {
		fmt.Println("status changed:", c.Status)
		return nil
	})

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
