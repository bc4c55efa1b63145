package stellarhttp

import (
	"net/http"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestInstancesAgree runs two instances behind one public URL on one database: a challenge
// from one is redeemed once across both, and the account form recorded by one binds the
// other.
func TestInstancesAgree(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := setup(t, options{redemptions: stellar.NewDBRedemptions(db, nil)})
		b := setup(t, options{redemptions: stellar.NewDBRedemptions(db, nil), mutate: func(c *stellar.Options) {
			c.SigningSeed = a.cfg.SigningSeed
			c.PublicURL = a.cfg.PublicURL
		}})

		user := keypair.MustRandom()
		signed := sign(t, a.challenge(t, user.Address()), testnet, user)
		if r := b.postForm(t, signed); r.status != http.StatusOK {
			t.Fatalf("redeem at b: %d %s", r.status, r.body)
		}
		if r := a.postForm(t, signed); r.status != http.StatusBadRequest {
			t.Fatalf("replay at a: %d %s", r.status, r.body)
		}
		if r := a.get(t, "/auth?account="+user.Address()+"&memo=1"); r.status != http.StatusBadRequest {
			t.Fatalf("other form at a: %d %s", r.status, r.body)
		}
		tok := b.postForm(t, sign(t, b.challenge(t, user.Address()), testnet, user)).json["token"].(string)
		if id, err := a.auth.Verify(tok); err != nil || id.Account != user.Address() {
			t.Fatalf("b's token at a: %+v %v", id, err)
		}
	})
}
