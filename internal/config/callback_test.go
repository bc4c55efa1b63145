package config

import (
	"strings"
	"testing"
)

func TestCallbackDestinationsValidate(t *testing.T) {
	t.Parallel()
	const sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ok := CallbackDestination{ID: "orders", URL: "https://orders.example.com/webhooks", WebhookSecrets: []string{sec}}
	with := func(f func(*CallbackDestination)) CallbackDestination { d := ok; f(&d); return d }
	for _, c := range []struct {
		name string
		ds   []CallbackDestination
		want string // substring of the error; empty: valid
	}{
		{"none", nil, ""},
		{"one", []CallbackDestination{ok}, ""},
		{"two, one with an ed25519 key", []CallbackDestination{ok, with(func(d *CallbackDestination) {
			d.ID, d.WebhookSecrets = "payouts-2", []string{"whsk_" + strings.Repeat("A", 43) + "="}
		})}, ""},
		{"same id twice", []CallbackDestination{ok, ok}, "callback.destinations[1].id: \"orders\" is configured twice"},
		{"id business", []CallbackDestination{with(func(d *CallbackDestination) { d.ID = "business" })}, "callback.destinations[0].id"},
		{"id of a wallet endpoint", []CallbackDestination{with(func(d *CallbackDestination) { d.ID = "wal_0123" })}, "callback.destinations[0].id"},
		{"id with capitals", []CallbackDestination{with(func(d *CallbackDestination) { d.ID = "Orders" })}, "callback.destinations[0].id"},
		{"id empty", []CallbackDestination{with(func(d *CallbackDestination) { d.ID = "" })}, "callback.destinations[0].id"},
		{"id of 65", []CallbackDestination{with(func(d *CallbackDestination) { d.ID = "a" + strings.Repeat("b", 64) })}, "callback.destinations[0].id"},
		{"relative url", []CallbackDestination{with(func(d *CallbackDestination) { d.URL = "/webhooks" })}, "callback.destinations[0].url"},
		{"ftp url", []CallbackDestination{with(func(d *CallbackDestination) { d.URL = "ftp://orders.example.com/" })}, "callback.destinations[0].url"},
		{"no secret", []CallbackDestination{with(func(d *CallbackDestination) { d.WebhookSecrets = nil })}, "callback.destinations[0].webhook_secrets: at least one"},
		{"secret without prefix", []CallbackDestination{with(func(d *CallbackDestination) { d.WebhookSecrets = []string{sec, "hunter2"} })},
			"callback.destinations[0].webhook_secrets[1]"},
	} {
		c2 := Callback{Destinations: c.ds}
		err := c2.validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
