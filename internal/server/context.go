package server

import (
	"context"
	"net/http"
)

func contextWithID(r *http.Request, id string) context.Context {
	return context.WithValue(r.Context(), ctxKey{}, id)
}
