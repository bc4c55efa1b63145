package actor_test

import (
	"context"
	"testing"

	"github.com/vaspgate/vaspgate/internal/actor"
)

func TestFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want actor.Actor
	}{
		{"none is the system", context.Background(), actor.Actor{Kind: actor.System}},
		{"empty kind is the system", actor.With(context.Background(), actor.Actor{Name: "x"}), actor.Actor{Kind: actor.System}},
		{"a wallet", actor.With(context.Background(), actor.Actor{Kind: actor.Wallet, Name: "GABC"}), actor.Actor{Kind: actor.Wallet, Name: "GABC"}},
		{"the innermost wins", actor.With(actor.With(context.Background(), actor.Actor{Kind: actor.Business, Name: "rpc"}),
			actor.Actor{Kind: actor.Operator, Name: "otto"}), actor.Actor{Kind: actor.Operator, Name: "otto"}},
	} {
		if got := actor.From(tc.ctx); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
