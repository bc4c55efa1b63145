package app

import (
	"context"
	"errors"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// trDirectory gives the travel-rule responder our customers, from the builtin SEP-12 store.
type trDirectory struct{ kyc *kyc.Service }

func (d trDirectory) Lookup(ctx context.Context, account, memo string) (travelrule.Customer, error) {
	p, err := d.kyc.ProfileByOwner(ctx, account, memo, "")
	if errors.Is(err, kyc.ErrNotFound) {
		return travelrule.Customer{}, travelrule.ErrNotFound
	}
	if err != nil {
		return travelrule.Customer{}, err
	}
	return travelrule.Customer{ID: p.ID, KYCStatus: p.Status, Fields: p.Fields}, nil
}

// trStates gives the travel-rule responder the state of SEP-6 transactions.
type trStates struct{ transfers *transfer.Service }

func (s trStates) TransferState(ctx context.Context, id string) (string, string, error) {
	t, err := s.transfers.Get(ctx, id)
	if err != nil {
		return "", "", err
	}
	return string(t.Status), t.StellarTransactionID, nil
}

// registerEnclaveAPI mounts the APIs the enclave calls (Verify User Account, Verify User,
// Check Transaction Status) beside the callback path, with the same token; off without one.
func (a *App) registerEnclaveAPI(tr config.TravelRule) error {
	r := a.TravelRule.Responder(travelrule.ResponderOptions{
		Directory: trDirectory{kyc: a.KYC}, States: trStates{transfers: a.Transfer},
		Matcher:      travelrule.NameMatcher{Threshold: tr.NameMatchThreshold},
		DenyAccounts: tr.DenyAccounts, DenyNames: tr.DenyNames, Symbols: tr.Symbols,
	})
	err := travelrulehttp.RegisterEnclaveAPI(a.Server.Admin, r, travelrulehttp.CallbackConfig{
		Tokens: tr.Tokens(), Header: tr.AuthorizationKey, AllowCIDRs: tr.Prefixes(),
		MaxBodyBytes: tr.MaxBodyBytes, Logger: a.Log,
	}, travelrulehttp.APIPaths{Account: tr.AccountAPIPath, User: tr.VerifyAPIPath, Transaction: tr.TransactionAPIPath})
	if errors.Is(err, travelrulehttp.ErrNoToken) {
		return nil
	}
	return err
}
