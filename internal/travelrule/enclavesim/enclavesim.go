// Package enclavesim simulates a VerifyVASP TravelRule enclave for tests and load tools, in
// both directions, written from the vendor's public reference pages (VASP API reference,
// Enclave API reference v1, scenarios and flows), not from vaspgate's code:
//
//   - as the caller of the VASP's APIs (Enclave as it forwards the counterparty's requests):
//     Verify User Account, Verify User, Check Transaction Status and the callback, each with
//     the configured authorization token;
//   - as the enclave the VASP calls (Server): POST /v1/verifications, /v1/verifications/tx,
//     /v1/verifications/tx/inquiry, GET /v1/verifications/{uuid} and the error report,
//     recording every request, and sending the callbacks to the VASP (or dropping them, to
//     play lost callbacks).
//
// Its wire types are its own (maps and small structs), so a change of vaspgate's types cannot
// make the simulator agree with a wrong answer.
package enclavesim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Caller calls a VASP's APIs as the enclave does.
type Caller struct {
	// Base is the VASP's admin listener, e.g. http://127.0.0.1:8001.
	Base string
	// Token is VEGA_VERIFICATION_AUTHORIZATION_TOKEN, sent as "Authorization: Bearer".
	Token string
	// Paths of the VASP APIs (the enclave's VEGA_VERIFICATION_*_API_PATH variables).
	AccountPath, UserPath, TransactionPath, CallbackPath string
	// Client; default a client with a 10 s timeout.
	Client *http.Client
}

// Reply is one answer of the VASP.
type Reply struct {
	Status  int
	Body    []byte
	Elapsed time.Duration
}

// JSON decodes the reply body.
func (r Reply) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Post sends body to path with the token.
func (c Caller) Post(ctx context.Context, path string, body any) (Reply, error) {
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return Reply{}, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(b))
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("enclavesim: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return Reply{Status: resp.StatusCode, Body: rb, Elapsed: time.Since(start)}, err
}

// Name is a natural person's name as IVMS101 writes it.
type Name struct{ Primary, Secondary string }

func persons(names []Name) []any {
	var out []any
	for _, n := range names {
		id := map[string]any{"primaryIdentifier": n.Primary, "nameIdentifierType": "LEGL"}
		if n.Secondary != "" {
			id["secondaryIdentifier"] = n.Secondary
		}
		out = append(out, map[string]any{"naturalPerson": map[string]any{"name": map[string]any{"nameIdentifier": []any{id}}}})
	}
	return out
}

// AccountBody is a Verify User Account request (the reference page's example shape): the
// beneficiary's address and, above the legal threshold, name.
func AccountBody(symbol, address string, names ...Name) map[string]any {
	ben := map[string]any{"accountNumber": []string{address}}
	if len(names) > 0 {
		ben["beneficiaryPersons"] = persons(names)
	}
	return map[string]any{"originatingVaspId": "15952089931162060684", "symbol": symbol, "network": "Stellar",
		"version": "1.0", "ivms101": map[string]any{"beneficiary": ben}}
}

// UserRequest describes a Verify User request.
type UserRequest struct {
	VerificationUUID string
	Symbol, Amount   string
	Exceeding        bool
	Required         string // requiredBeneficiaryInfo, comma list
	Originator       Name
	OriginatorAcct   string
	Beneficiary      []Name
	Address          string
}

// Body returns the Verify User request body: verificationUuid (since enclave 1.3.0),
// requiredBeneficiaryInfo, assetInfo and the IVMS101 of both parties under payload.
func (u UserRequest) Body() map[string]any {
	ben := map[string]any{"accountNumber": []string{u.Address}}
	if len(u.Beneficiary) > 0 {
		ben["beneficiaryPersons"] = persons(u.Beneficiary)
	}
	return map[string]any{
		"verificationUuid":        u.VerificationUUID,
		"originatingVaspId":       "15952089931162060684",
		"requiredBeneficiaryInfo": u.Required,
		"assetInfo": map[string]any{"symbol": u.Symbol, "network": "Stellar", "amount": u.Amount,
			"isExceedingThreshold": u.Exceeding, "tradePrice": u.Amount, "tradeCurrency": "USD",
			"tradeISODatetime": "2026-11-29T02:00:00.000Z"},
		"payload": map[string]any{"version": "1.0", "ivms101": map[string]any{
			"originator":  map[string]any{"originatorPersons": persons([]Name{u.Originator}), "accountNumber": []string{u.OriginatorAcct}},
			"beneficiary": ben,
		}},
	}
}
