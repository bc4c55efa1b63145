package kyc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// dropOutbox drops the callbacks of making customers (nothing listens here).
type dropOutbox struct{}

func (dropOutbox) Wallet(context.Context, *store.Tx, string, callback.Message) error { return nil }
func (dropOutbox) Business(context.Context, *store.Tx, callback.Message) error       { return nil }

// A builtin customer's profile, by identity and by id, on both engines: its status for the
// type and its opened text fields; an identity without a customer is ErrNotFound, an id
// without rows a customer that provided nothing.
func TestBuiltinProfile(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key, _ := seal.ParseKey(seal.NewKey())
		ring, _ := seal.New(key)
		k, err := kyc.New(testkit.KYCOptions(kyc.Options{DB: db, Sealer: ring, Outbox: dropOutbox{}}))
		if err != nil {
			t.Fatal(err)
		}
		owner := wallet.Identity{Account: "GAPROFILEOWNER", Memo: "7"}
		id, err := k.Put(ctx, owner, kyc.PutRequest{Type: "sep6", Fields: map[string]string{"first_name": "José", "last_name": "García"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Decide(ctx, id, kyc.Decision{Status: kyc.StatusAccepted}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			get  func() (kyc.Profile, error)
		}{
			{"by identity", func() (kyc.Profile, error) { return k.ProfileByOwner(ctx, owner.Account, owner.Memo, "") }},
			{"by id", func() (kyc.Profile, error) { return k.ProfileByID(ctx, id, "sep6") }},
		} {
			p, err := tc.get()
			if err != nil || p.ID != id || p.Status != kyc.StatusAccepted || p.Fields["first_name"] != "José" ||
				p.Fields["last_name"] != "García" || len(p.Fields) != 2 {
				t.Errorf("%s: %+v (%v)", tc.name, p, err)
			}
		}
		if _, err := k.ProfileByOwner(ctx, owner.Account, "8", ""); !errors.Is(err, kyc.ErrNotFound) {
			t.Errorf("identity without a customer: %v, want ErrNotFound", err)
		}
		if p, err := k.ProfileByID(ctx, "no-such-customer", ""); err != nil || p.Status != kyc.StatusNeedsInfo || len(p.Fields) != 0 {
			t.Errorf("unknown id: %+v (%v), want a customer with nothing provided", p, err)
		}
	})
}
