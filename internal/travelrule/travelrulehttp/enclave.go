package travelrulehttp

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/travelrule"
)

// APIPaths are where the enclave calls the VASP's APIs, as the enclave's variables name them.
type APIPaths struct {
	// Account is VEGA_VERIFICATION_ACCOUNT_API_PATH (Verify User Account).
	Account string
	// User is VEGA_VERIFICATION_API_PATH (Verify User).
	User string
	// Transaction is VEGA_VERIFICATION_TRANSACTION_API_PATH (Check Transaction Status).
	Transaction string
}

// RegisterEnclaveAPI mounts Verify User Account, Verify User and Check Transaction Status on
// mux (the admin listener, without admin auth): each checks the enclave token exactly as the
// callback endpoint does (same configuration), reads the body under the same limit and answers
// what r decides. It returns ErrNoToken when no token is configured (the APIs stay off).
func RegisterEnclaveAPI(mux *http.ServeMux, r *travelrule.Responder, cfg CallbackConfig, paths APIPaths) error {
	auth, err := NewCallbackHandler(nil, cfg)
	if err != nil {
		return err
	}
	h := &enclaveAPI{auth: auth.(*callbackHandler), r: r}
	mux.Handle("POST "+paths.Account, h.handle(func(ctx context.Context, body []byte) (any, error) {
		return r.VerifyUserAccount(ctx, body)
	}))
	mux.Handle("POST "+paths.User, h.handle(func(ctx context.Context, body []byte) (any, error) {
		return r.VerifyUser(ctx, body)
	}))
	mux.Handle("POST "+paths.Transaction, h.handle(func(ctx context.Context, body []byte) (any, error) {
		return r.TransactionStatus(ctx, body)
	}))
	return nil
}

type enclaveAPI struct {
	auth *callbackHandler
	r    *travelrule.Responder
}

func (h *enclaveAPI) handle(answer func(context.Context, []byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := h.auth.refuse(r); reason != "" {
			h.r.CountRejected(reason)
			h.auth.log.Warn("travel rule enclave API call refused", "reason", reason, "path", r.URL.Path, "remote", r.RemoteAddr)
			status := http.StatusUnauthorized
			if reason == "source_not_allowed" {
				status = http.StatusForbidden
			}
			w.Header().Set("Connection", "close")
			httpjson.Error(w, status, reason, "the enclave authorization token is missing or wrong")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, h.auth.cfg.MaxBodyBytes+1))
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_body", "the request body could not be read")
			return
		}
		if int64(len(body)) > h.auth.cfg.MaxBodyBytes {
			w.Header().Set("Connection", "close")
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", "the request body is over the limit")
			return
		}
		v, err := answer(r.Context(), body)
		switch {
		case errors.Is(err, travelrule.ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, "VERIFICATION-NOT-FOUND", "no transaction is known for this verificationUuid")
		case err != nil:
			httpjson.Error(w, http.StatusBadRequest, "invalid_body", "the request body is not a JSON object")
		default:
			httpjson.Write(w, http.StatusOK, v)
		}
	})
}
