package stellar

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"
)

func horizonAccountJSON(id string, med int, signers ...Signer) string {
	s := `{"_links":{},"id":"` + id + `","account_id":"` + id + `","sequence":"123","subentry_count":0,` +
		`"thresholds":{"low_threshold":0,"med_threshold":` + strconv.Itoa(med) + `,"high_threshold":3},` +
		`"flags":{"auth_required":false},"balances":[],"signers":[`
	for i, sg := range signers {
		if i > 0 {
			s += ","
		}
		s += `{"weight":` + strconv.Itoa(int(sg.Weight)) + `,"key":"` + sg.Key + `","type":"ed25519_public_key"}`
	}
	return s + `,{"weight":1,"key":"XBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWGTOG","type":"preauth_tx"}],"data":{}}`
}

const horizonNotFound = `{"type":"https://stellar.org/horizon-errors/not_found","title":"Resource Missing","status":404,"detail":"The resource at the url requested was not found."}`

func TestHorizonAccount(t *testing.T) {
	t.Parallel()
	found := keypair.MustRandom().Address()
	other := keypair.MustRandom().Address()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/horizon/accounts/" + found:
			w.Header().Set("Content-Type", "application/hal+json")
			_, _ = w.Write([]byte(horizonAccountJSON(found, 2, Signer{Key: other, Weight: 1}, Signer{Key: found, Weight: 1})))
		case "/horizon/accounts/notfound":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(horizonNotFound))
		case "/horizon/accounts/bare404":
			http.NotFound(w, r)
		case "/horizon/accounts/garbage":
			_, _ = w.Write([]byte(`{"account_id":`))
		case "/horizon/accounts/wrongid":
			_, _ = w.Write([]byte(horizonAccountJSON(other, 1)))
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	h, err := NewHorizon(srv.URL+"/horizon/", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Account(context.Background(), found)
	if err != nil {
		t.Fatal(err)
	}
	if got.MedThreshold != 2 || len(got.Signers) != 2 || got.Signers[0] != (Signer{Key: other, Weight: 1}) {
		t.Fatalf("account = %+v", got)
	}

	for _, tc := range []struct {
		h    *Horizon
		id   string
		want error
	}{
		{h, "notfound", ErrAccountNotFound},
		{h, "bare404", ErrLedgerUnavailable},
		{h, "garbage", ErrLedgerUnavailable},
		{h, "wrongid", ErrLedgerUnavailable},
		{h, "error500", ErrLedgerUnavailable},
		{mustHorizon(t, closed.URL), found, ErrLedgerUnavailable},
	} {
		if _, err := tc.h.Account(context.Background(), tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Account(%s) err = %v, want %v", tc.id, err, tc.want)
		}
	}
	if _, err := NewHorizon("not a url", nil, 0); err == nil {
		t.Error("NewHorizon accepted a bad URL")
	}
}

func mustHorizon(t *testing.T, u string) *Horizon {
	h, err := NewHorizon(u, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
