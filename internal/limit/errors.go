package limit

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspgate/vaspgate/internal/httpjson"
)

// Machine-readable codes of the answers this package writes.
const (
	// CodeRateLimited: too many requests from one source address or identity (429).
	CodeRateLimited = "rate_limited"
	// CodeQuotaExceeded: the caller already owns as much as a quota allows (429).
	CodeQuotaExceeded = "quota_exceeded"
	// CodeInsufficientStorage: free disk space is down to the reserve (507).
	CodeInsufficientStorage = "insufficient_storage"
)

// QuotaError is a request refused because its caller — or everyone together, for a global
// quota — already has as much of something as a quota allows. Domain packages return it;
// handlers answer it with Refuse.
type QuotaError struct {
	// Quota names the limit, as configured, e.g. "limits.files_per_identity".
	Quota string
	// Limit is the quota's value; Msg says what was counted.
	Limit int64
	Msg   string
	// RetryAfter is when trying again may succeed (a cooldown's end), or 0 when only the
	// caller's own action frees the quota (finishing or deleting what it has).
	RetryAfter time.Duration
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%s (%s: %d)", e.Msg, e.Quota, e.Limit)
}

// RateError is a request refused by a rate limit.
type RateError struct {
	// Scope is "address" or "identity".
	Scope      string
	RetryAfter time.Duration
}

func (e *RateError) Error() string {
	return fmt.Sprintf("too many requests from this %s: retry after %s seconds", e.Scope, retryAfter(e.RetryAfter))
}

// DiskError is an upload refused because free space on the disk vaspgate writes to would
// fall below the reserve kept for the travel-rule spool.
type DiskError struct {
	Path           string
	Free, Required uint64
}

func (e *DiskError) Error() string {
	return "the anchor is short of storage and takes no uploads for now"
}

// quotaRetry is the Retry-After of a quota without a cooldown: the caller must act first, and
// a client that retries anyway should do it slowly.
const quotaRetry = time.Hour

// Refuse answers err when it is one of this package's errors — 429 with Retry-After for a
// rate limit or quota, 507 for the disk guard — and reports whether it did. Every answer is
// readable from any origin: the public listener's SEP routes all are.
func Refuse(w http.ResponseWriter, err error) bool {
	var re *RateError
	var qe *QuotaError
	var de *DiskError
	switch {
	case errors.As(err, &re):
		refuse(w, http.StatusTooManyRequests, CodeRateLimited, re.Error(), re.RetryAfter)
	case errors.As(err, &qe):
		ra := qe.RetryAfter
		if ra <= 0 {
			ra = quotaRetry
		}
		refuse(w, http.StatusTooManyRequests, CodeQuotaExceeded, qe.Error(), ra)
	case errors.As(err, &de):
		refuse(w, http.StatusInsufficientStorage, CodeInsufficientStorage, de.Error(), 5*time.Minute)
	default:
		return false
	}
	return true
}

func refuse(w http.ResponseWriter, status int, code, msg string, after time.Duration) {
	w.Header().Set("Retry-After", retryAfter(after))
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
	httpjson.Error(w, status, code, msg)
}

// retryAfter is d in whole seconds, rounded up, at least 1 (RFC 9110 delay-seconds).
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}
