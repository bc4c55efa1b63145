package app

import (
	"reflect"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// TestTestkitHasTheDefaults: the settings tests get from testkit are production's defaults,
// whose one home is config; this keeps the test copy from drifting.
func TestTestkitHasTheDefaults(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Stellar.Ledger = config.LedgerNone // as Load sets it without a Horizon
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}

	got := testkit.CallbackOptions()
	got.AllowCIDRs, got.WalletAllowCIDRs = nil, nil // tests allow loopback past the SSRF guard
	want := callbackOptions(cfg.Callback, "", nil, nil)
	want.Business = callback.Business{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("testkit.CallbackOptions:\n got %+v\nwant %+v", got, want)
	}
	if got, want := testkit.BusinessEvents("http://b/event"), callbackOptions(withBusiness(cfg, "http://b/event").Callback, "", nil, nil).Business; !reflect.DeepEqual(got, want) {
		t.Errorf("testkit.BusinessEvents:\n got %+v\nwant %+v", got, want)
	}

	if got, want := testkit.KYCOptions(kyc.Options{}), kycSettings(cfg.KYC); !reflect.DeepEqual(got, want) {
		t.Errorf("testkit.KYCOptions:\n got %+v\nwant %+v", got, want)
	}

	if got, want := testkit.TravelRuleOptions(travelrule.Options{}), travelRuleSettings(cfg.TravelRule); !reflect.DeepEqual(got, want) {
		t.Errorf("testkit.TravelRuleOptions:\n got %+v\nwant %+v", got, want)
	}
	if got, want := testkit.EnclaveConfig(travelrulehttp.CallbackConfig{}).MaxBodyBytes, enclaveSettings(cfg.TravelRule, nil).MaxBodyBytes; got != want {
		t.Errorf("testkit.EnclaveConfig: MaxBodyBytes %d, want %d", got, want)
	}

	st := stellarSettings(cfg.Stellar)
	if got := testkit.StellarOptions(stellar.Options{PublicURL: st.PublicURL}); got.ChallengeTimeout != st.ChallengeTimeout ||
		got.TokenTTL != st.TokenTTL || got.HorizonTimeout != st.HorizonTimeout || got.LedgerMode != st.LedgerMode ||
		!reflect.DeepEqual(got.HomeDomains, st.HomeDomains) {
		t.Errorf("testkit.StellarOptions: %+v, want the durations, ledger mode and home domains of %+v", got, st)
	}
}

func withBusiness(cfg config.Config, url string) config.Config {
	cfg.Callback.Business.URL = url
	return cfg
}
