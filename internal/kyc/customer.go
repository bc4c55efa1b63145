package kyc

import (
	"context"
	"errors"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Customer statuses (SEP-12 4.2).
const (
	StatusAccepted   = "ACCEPTED"
	StatusProcessing = "PROCESSING"
	StatusNeedsInfo  = "NEEDS_INFO"
	StatusRejected   = "REJECTED"
)

// Provided-field statuses (SEP-12 4.2).
const (
	FieldAccepted             = "ACCEPTED"
	FieldProcessing           = "PROCESSING"
	FieldRejected             = "REJECTED"
	FieldVerificationRequired = "VERIFICATION_REQUIRED"
)

// Errors the service returns; kychttp maps them to HTTP statuses.
var (
	// ErrNotFound: unknown customer, or one that belongs to another identity (404).
	ErrNotFound = errors.New("kyc: customer not found")
	// ErrUnavailable wraps failures to reach the business server (the RPC fails, nothing
	// changes).
	ErrUnavailable = errors.New("kyc: customer back end unavailable")
)

// BadRequestError is a request the caller must fix (400); its message is safe to show.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func badRequest(msg string) error { return &BadRequestError{Msg: msg} }

// Field describes a field the anchor still needs (GET /customer `fields`).
type Field struct {
	Type        string   `json:"type"`
	Description string   `json:"description"`
	Choices     []string `json:"choices,omitempty"`
	Optional    bool     `json:"optional,omitempty"`
}

// ProvidedField describes a field the anchor received (GET /customer `provided_fields`).
type ProvidedField struct {
	Type        string   `json:"type"`
	Description string   `json:"description"`
	Choices     []string `json:"choices,omitempty"`
	Optional    bool     `json:"optional,omitempty"`
	Status      string   `json:"status,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// Customer is the SEP-12 GET /customer body, plus the type it concerns (not serialised: the
// callback adds it explicitly).
type Customer struct {
	ID             string                   `json:"id,omitempty"`
	Status         string                   `json:"status"`
	Fields         map[string]Field         `json:"fields,omitempty"`
	ProvidedFields map[string]ProvidedField `json:"provided_fields,omitempty"`
	Message        string                   `json:"message,omitempty"`
	// Type is the customer type this status is for (sep6, sep31-sender, …).
	Type string `json:"-"`
}

// owns reports whether caller c may reach a customer of owner o (whose Account and
// Memo alone are read): same account, and the
// same memo unless the token carries none (a plain account scopes its customers by the memo
// it sends, stellar-seps.md 4.1).
func owns(c, o wallet.Identity) bool {
	return c.Account == o.Account && (c.Memo == "" || c.Memo == o.Memo)
}

// Query selects a customer for GET /customer and Fetch.
type Query struct {
	ID            string
	Account       string
	Memo          string
	Type          string
	TransactionID string
	Lang          string
}

// Transactions is what kyc needs from SEP-6 transactions (implemented by internal/transfer).
type Transactions interface {
	// wallet.Identity returns the identity that created the transaction, or ErrNotFound, reading
	// through q: kyc asks while it holds its own database transaction, and on SQLite (one
	// connection) a read through the pool would wait for that transaction forever.
	Owner(ctx context.Context, q store.Querier, transactionID string) (wallet.Identity, error)
}

// StatusHook runs inside the transaction of a builtin status change.
type StatusHook func(ctx context.Context, tx *store.Tx, c Customer, owner wallet.Identity) error

// File is an uploaded customer file (POST /customer/files).
type File struct {
	ID          string     `json:"file_id"`
	ContentType string     `json:"content_type"`
	Size        int64      `json:"size"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	CustomerID  string     `json:"customer_id,omitempty"`
}

func final(status string) bool { return status == StatusAccepted || status == StatusRejected }

func validStatus(s string) bool {
	switch s {
	case StatusAccepted, StatusProcessing, StatusNeedsInfo, StatusRejected:
		return true
	}
	return false
}
