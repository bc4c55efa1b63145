package config_test

import (
	"slices"
	"testing"

	"github.com/vaspgate/vaspgate/internal/config"
)

// Unknown VASPGATE_* variables are reported, each with the closest known variable when one
// is near; known ones, other prefixes and the test suite's own variables are not.
func TestUnknownVASPGATEVariablesWarnWithClosestKnown(t *testing.T) {
	t.Parallel()
	known := config.KnownEnv()
	for _, k := range []string{"VASPGATE_PUBLIC_URL", "VASPGATE_SIGNING_SEED", "VASPGATE_DATABASE_URL", "VASPGATE_TRAVEL_RULE_SPOOL_DIR", "VEGA_VERIFICATION_AUTHORIZATION_TOKEN"} {
		if !slices.Contains(known, k) {
			t.Errorf("KnownEnv lacks %s", k)
		}
	}
	got := config.UnknownEnv([]string{
		"VASPGATE_PUBLIC_URL=http://localhost:8000", // known
		"VASPGATE_PUBLC_URL=https://x",              // typo
		"VASPGATE_SINGING_SEED=S",                   // typo
		"VASPGATE_FROBNICATE=1",                     // nothing close
		"VASPGATE_TEST_POSTGRES_URL=postgres://",    // the tests' own
		"HOME=/root", "PATH=/bin", "NOEQUALS",
	})
	want := []config.EnvWarning{
		{Name: "VASPGATE_FROBNICATE"},
		{Name: "VASPGATE_PUBLC_URL", Closest: "VASPGATE_PUBLIC_URL"},
		{Name: "VASPGATE_SINGING_SEED", Closest: "VASPGATE_SIGNING_SEED"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("UnknownEnv = %+v, want %+v", got, want)
	}
	if s := want[1].String(); s != "unknown environment variable VASPGATE_PUBLC_URL is ignored (did you mean VASPGATE_PUBLIC_URL?)" {
		t.Errorf("message %q", s)
	}
}
