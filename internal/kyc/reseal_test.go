package kyc_test

import (
	"context"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// TestReseal: after a key rotation every value is resealed with the new key and still
// opens; the old key can then be dropped.
func TestReseal(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		oldKey, _ := seal.ParseKey(seal.NewKey())
		newKey, _ := seal.ParseKey(seal.NewKey())
		eng, err := callback.New(ctx, db, testkit.CallbackOptions())
		if err != nil {
			t.Fatal(err)
		}
		open := func(current []byte, old ...[]byte) *kyc.Service {
			ring, err := seal.New(current, old...)
			if err != nil {
				t.Fatal(err)
			}
			svc, err := kyc.New(testkit.KYCOptions(kyc.Options{DB: db, Sealer: ring, Outbox: eng.Outbox()}))
			if err != nil {
				t.Fatal(err)
			}
			return svc
		}
		before := open(oldKey)
		caller := wallet.Identity{Account: "GOWNER"}
		id, err := before.Put(ctx, caller, kyc.PutRequest{Fields: map[string]string{"first_name": "Ada", "email_address": "a@b.c"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := before.UploadFile(ctx, caller, kyc.Upload{Data: []byte("img")}); err != nil {
			t.Fatal(err)
		}
		rotated := open(newKey, oldKey)
		n, err := rotated.Reseal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 4 { // two fields, one file, one snapshot
			t.Fatalf("resealed %d values, want 4", n)
		}
		if n, _ := rotated.Reseal(ctx); n != 0 {
			t.Fatalf("second run resealed %d", n)
		}
		after := open(newKey) // the old key is gone
		if v, _, err := after.FieldValue(ctx, id, "email_address"); err != nil || string(v) != "a@b.c" {
			t.Fatalf("after rotation: %q %v", v, err)
		}
	})
}
