package kychttp_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// clock is a settable time for kyc.Options.Now, safe to read from handlers.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// refused checks a 429 (or 507) answer: its code, the quota it names, and Retry-After.
func refused(t *testing.T, r response, status int, code, quota string, minRetry, maxRetry int) {
	t.Helper()
	var body struct{ Error, Code string }
	_ = json.Unmarshal(r.body, &body)
	if r.status != status || body.Code != code || !strings.Contains(body.Error, quota) {
		t.Fatalf("got %d %s, want %d %s naming %q", r.status, r.body, status, code, quota)
	}
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < minRetry || ra > maxRetry {
		t.Fatalf("Retry-After %q, want %d..%d", r.header.Get("Retry-After"), minRetry, maxRetry)
	}
}

// TestVerificationCodeLimits (issue 11, defect 6): a field's code cannot be re-issued within
// the cooldown nor past the daily cap (each refusal is a 429 with the time to wait, and no
// business event — no SMS), and a resend does not give back the wrong attempts already
// spent: only a new 24-hour window does.
func TestVerificationCodeLimits(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		events := testkit.NewBusiness(t)
		clk := newClock()
		b := setup(t, db, setupOpts{businessEvents: events.URL + "/event", now: clk.now,
			limits: kyc.Limits{CodeCooldown: time.Minute, CodesPerDay: 3},
			mutate: func(c *kyc.Options) { c.VerificationFields = []string{"email_address"} }})
		read := 0 // business events nextCode has looked at
		nextCode := func() string {
			t.Helper()
			for {
				var ev struct {
					Type    string `json:"type"`
					Payload struct {
						Customer map[string]any `json:"customer"`
					} `json:"payload"`
				}
				c := events.WaitEvents(t, read+1, callbackWait)[read]
				read++
				if err := json.Unmarshal(c, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Type == kyc.EventVerificationCode {
					code, _ := ev.Payload.Customer["code"].(string)
					return code
				}
			}
		}
		wrongFor := func(code string) string {
			if code == "000000" {
				return "111111"
			}
			return "000000"
		}
		tok := b.token(t, newAccount())
		id := b.put(t, tok, full())
		code1 := nextCode() // code 1 of the window

		// A resend within the cooldown: 429, Retry-After the rest of the minute.
		clk.advance(20 * time.Second)
		r := b.doJSON(t, http.MethodPut, "/sep12/customer", tok, map[string]string{"email_address": "ada@example.com"})
		refused(t, r, http.StatusTooManyRequests, limit.CodeQuotaExceeded, "limits.verification_resend_cooldown", 40, 41)
		// The refused PUT changed nothing: the first code still verifies... after two wrong ones.
		for range 2 {
			b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": wrongFor(code1)})
		}

		// After the cooldown: code 2. The two wrong attempts stay counted.
		clk.advance(time.Minute)
		b.put(t, tok, map[string]string{"email_address": "ada@example.com"})
		code2 := nextCode()
		for range 3 { // 5 in all
			b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": wrongFor(code2)})
		}
		r = b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": code2})
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "too many wrong codes") {
			t.Fatalf("right code after 5 wrong ones across a resend: %d %s", r.status, r.body)
		}
		// Code 3 (the cap) is sent, but the attempts are still spent.
		clk.advance(time.Minute)
		b.put(t, tok, map[string]string{"email_address": "ada@example.com"})
		code3 := nextCode()
		r = b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": code3})
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "too many wrong codes") {
			t.Fatalf("resend reset the attempts: %d %s", r.status, r.body)
		}
		// A 4th code in the window: the daily cap, Retry-After until the window ends
		// (24h after code 1, which was 2m20s ago... plus this minute).
		clk.advance(time.Minute)
		r = b.doJSON(t, http.MethodPut, "/sep12/customer", tok, map[string]string{"email_address": "ada@example.com"})
		window := 24*time.Hour - (20*time.Second + 3*time.Minute)
		refused(t, r, http.StatusTooManyRequests, limit.CodeQuotaExceeded, "limits.verification_codes_per_day", int(window.Seconds()), int(window.Seconds())+1)

		// A new window: a new code, a fresh count of attempts, and it verifies.
		clk.advance(window)
		b.put(t, tok, map[string]string{"email_address": "ada@example.com"})
		code4 := nextCode()
		b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": wrongFor(code4)})
		r = b.doJSON(t, http.MethodPut, "/sep12/customer/verification", tok, map[string]string{"id": id, "email_address_verification": code4})
		if r.status != http.StatusOK || r.json(t)["status"] != kyc.StatusProcessing {
			t.Fatalf("code of the new window: %d %s", r.status, r.body)
		}
		// Four codes went out in all: the refused resends sent none.
		var sends int
		if err := db.QueryRowContext(t.Context(), `SELECT code_sends FROM kyc_fields WHERE customer_id = ? AND name = 'email_address'`, id).Scan(&sends); err != nil || sends != 1 {
			t.Fatalf("code_sends in the new window = %d (%v), want 1", sends, err)
		}
	})
}

func upload(t *testing.T, b *bundle, tok string, size int) response {
	t.Helper()
	ct, body := multipartBody(t, nil, map[string][]byte{"file": bytes.Repeat([]byte("k"), size)})
	return b.do(t, http.MethodPost, "/sep12/customer/files", tok, ct, body)
}

// TestUploadQuotas (issue 11, defect 2): an identity's uploads are bounded in count and
// bytes, all wallets' unreferenced uploads together in bytes, and the bounds hold under
// concurrent uploads (counted from rows, serialised per identity) on both engines.
func TestUploadQuotas(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setup(t, db, setupOpts{limits: kyc.Limits{
			FilesPerIdentity:     limit.Quota{Name: "limits.files_per_identity", Max: 2},
			FileBytesPerIdentity: limit.Quota{Name: "limits.file_bytes_per_identity", Max: 1500},
			PendingFileBytes:     limit.Quota{Name: "limits.pending_file_bytes", Max: 2500},
		}})
		a := b.token(t, newAccount())
		if r := upload(t, b, a, 1000); r.status != http.StatusOK {
			t.Fatalf("first upload: %d %s", r.status, r.body)
		}
		refused(t, upload(t, b, a, 600), http.StatusTooManyRequests, limit.CodeQuotaExceeded, "limits.file_bytes_per_identity", 3600, 3600)
		if r := upload(t, b, a, 400); r.status != http.StatusOK {
			t.Fatalf("second upload: %d %s", r.status, r.body)
		}
		refused(t, upload(t, b, a, 1), http.StatusTooManyRequests, limit.CodeQuotaExceeded, "limits.files_per_identity", 3600, 3600)
		// Another wallet: its own quota has room, the global one does not (1400 + 1000 + 200).
		c := b.token(t, newAccount())
		if r := upload(t, b, c, 1000); r.status != http.StatusOK {
			t.Fatalf("other wallet: %d %s", r.status, r.body)
		}
		refused(t, upload(t, b, c, 200), http.StatusTooManyRequests, limit.CodeQuotaExceeded, "limits.pending_file_bytes", 3600, 3600)
	})
}

func TestUploadQuotaUnderConcurrency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setup(t, db, setupOpts{limits: kyc.Limits{FilesPerIdentity: limit.Quota{Name: "limits.files_per_identity", Max: 3}}})
		tok := b.token(t, newAccount())
		var wg sync.WaitGroup
		var ok, quota atomic.Int32
		for range 12 {
			wg.Go(func() {
				switch r := upload(t, b, tok, 10); r.status {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					quota.Add(1)
				default:
					t.Errorf("concurrent upload: %d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 3 || quota.Load() != 9 {
			t.Fatalf("%d uploads stored, %d refused; want 3 and 9", ok.Load(), quota.Load())
		}
	})
}

// TestCustomersPerAccount: memos are free, so one account's customers are bounded across
// them.
func TestCustomersPerAccount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setup(t, db, setupOpts{limits: kyc.Limits{CustomersPerAccount: limit.Quota{Name: "limits.customers_per_account", Max: 2}}})
		acct := newAccount()
		for _, memo := range []string{"1", "2"} {
			b.put(t, b.token(t, acct+":"+memo), full())
		}
		tok3 := b.token(t, acct+":3")
		r := b.doJSON(t, http.MethodPut, "/sep12/customer", tok3, full())
		refused(t, r, http.StatusTooManyRequests, limit.CodeQuotaExceeded, "limits.customers_per_account", 3600, 3600)
		// An existing customer is still updated, and another account is not affected.
		b.put(t, b.token(t, acct+":1"), map[string]string{"first_name": "Ada"})
		b.put(t, b.token(t, newAccount()), full())
	})
}

// TestDiskGuard: with free space down to the reserve, uploads and binary fields are refused
// 507 before anything is written; text fields still go through.
func TestDiskGuard(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	b := setup(t, db, setupOpts{limits: kyc.Limits{Disk: limit.NewDisk(1<<62, t.TempDir())}})
	tok := b.token(t, newAccount())
	refused(t, upload(t, b, tok, 10), http.StatusInsufficientStorage, limit.CodeInsufficientStorage, "storage", 300, 300)
	ct, body := multipartBody(t, map[string]string{"type": "sep6", "first_name": "Ada"}, map[string][]byte{"photo_id_front": []byte("png")})
	refused(t, b.do(t, http.MethodPut, "/sep12/customer", tok, ct, body), http.StatusInsufficientStorage, limit.CodeInsufficientStorage, "storage", 300, 300)
	b.put(t, tok, full())
	var files int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM kyc_files`).Scan(&files); err != nil || files != 0 {
		t.Fatalf("%d files stored (%v)", files, err)
	}
}
