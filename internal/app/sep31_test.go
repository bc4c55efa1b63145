package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Out of the box (the development configuration), stellar.toml advertises
// DIRECT_PAYMENT_SERVER and ANCHOR_QUOTE_SERVER, SEP-31 receives the development asset and
// SEP-38 prices it against USD with static rates; in production the development sections
// are off.
func TestDevelopmentServesSEP31AndSEP38(t *testing.T) {
	t.Parallel()
	a := startApp(t, store.SQLite, nil)
	base := "http://" + a.Server.PublicAddr()
	// The listener is bound in New: a request waits in its queue until Run serves it.
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	_, toml := get("/.well-known/stellar.toml")
	for _, k := range []string{"DIRECT_PAYMENT_SERVER", "ANCHOR_QUOTE_SERVER"} {
		if !bytes.Contains(toml, []byte(k+` = "`)) {
			t.Errorf("stellar.toml has no %s:\n%s", k, toml)
		}
	}
	code, body := get("/sep31/info")
	var info struct {
		Receive map[string]struct {
			QuotesSupported bool `json:"quotes_supported"`
		} `json:"receive"`
	}
	if err := json.Unmarshal(body, &info); err != nil || code != 200 || !info.Receive["USDC"].QuotesSupported {
		t.Errorf("/sep31/info: %d %s", code, body)
	}
	usdc := "stellar:USDC:" + a.Config.Transfer.Assets[0].Issuer
	code, body = get("/sep38/price?context=sep31&sell_asset=" + usdc + "&buy_asset=iso4217:USD&sell_amount=100")
	if code != 200 || !strings.Contains(string(body), `"buy_amount":"99"`) {
		t.Errorf("/sep38/price: %d %s", code, body)
	}

	// The KYC types a sending anchor registers its sender and receiver under are there once
	// the configuration is validated (its default sep6 type filled in); configured types are
	// kept as they are.
	dev := config.Default()
	dev.FillDevAssetIssuer(a.Config.Transfer.Assets[0].Issuer)
	if err := dev.Validate(); err != nil {
		t.Fatal(err)
	}
	if k := withSEP31Types(dev); k.Types["sep31-sender"].Fields == nil || k.Types["sep31-receiver"].Fields == nil || k.Types["sep6"].Fields == nil {
		t.Errorf("development KYC types: %v", k.Types)
	}
	dev.KYC.Types = map[string]config.KYCType{"own": {Fields: map[string]config.KYCField{"first_name": {Type: "string"}}}}
	if k := withSEP31Types(dev); len(k.Types) != 1 {
		t.Errorf("configured KYC types changed: %v", k.Types)
	}

	prod := config.Default()
	prod.Mode = config.ModeProduction
	prod.FillDevAssetIssuer(a.Config.Transfer.Assets[0].Issuer)
	if quotesOn(prod) || sep31On(prod) || len(sepServers(prod)) != 0 {
		t.Error("the development SEP-31 and SEP-38 sections are served in production")
	}
}

// quotes.rates: business through the assembled service: SEP-38 prices come from the business
// server's GET /rate at kyc.business.base_url (Anchor Platform's callback API, its API key,
// vaspgate's additive context), dialled through the internal scope's guard (its loopback
// range opened in callback.allow_cidrs, as an operator opens its private network).
func TestBusinessRatesThroughConfig(t *testing.T) {
	t.Parallel()
	var asked []url.Values
	var mu sync.Mutex
	biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rate" || r.Header.Get("X-Api-Key") != "rate-secret" {
			http.Error(w, `{"error":"unexpected"}`, http.StatusTeapot)
			return
		}
		mu.Lock()
		asked = append(asked, r.URL.Query())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"rate":{"price":"0.9","sell_amount":"100","buy_amount":"110","fee":{"total":"1","asset":"`+
			r.URL.Query().Get("sell_asset")+`"}}}`)
	}))
	t.Cleanup(biz.Close)
	a := startApp(t, store.SQLite, func(cfg *config.Config) {
		cfg.Callback.AllowCIDRs = []string{"127.0.0.0/8"}
		cfg.Quotes.Rates = config.RatesBusiness
		cfg.KYC.Business.BaseURL = biz.URL
		cfg.KYC.Business.Auth = config.CallbackAuth{Type: config.AuthAPIKey, Secret: "rate-secret"}
	})
	usdc := "stellar:USDC:" + a.Config.Transfer.Assets[0].Issuer
	resp, err := http.Get("http://" + a.Server.PublicAddr() + "/sep38/price?context=sep31&sell_asset=" + usdc +
		"&buy_asset=iso4217:USD&sell_amount=100&buy_delivery_method=SEPA")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"price":"0.9"`) || !strings.Contains(string(body), `"buy_amount":"110"`) {
		t.Fatalf("/sep38/price with business rates: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0].Get("type") != "indicative" || asked[0].Get("context") != "sep31" || asked[0].Get("sell_asset") != usdc {
		t.Errorf("GET /rate asked %v", asked)
	}
}
