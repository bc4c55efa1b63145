package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/store"
)

// cookieName is the session cookie. Its path is the console's, so no other admin route
// ever receives it.
const cookieName = "vaspgate_console"

// Session is a signed-in browser.
type Session struct {
	Operator string
	Role     string
	// CSRF is the token every form of this session carries.
	CSRF string
}

// CanAct reports whether the session may change anything.
func (s *Session) CanAct() bool { return allows(s.Role, RoleOperator) }

// SeesPII reports whether the session may see personal data (never viewers).
func (s *Session) SeesPII() bool { return allows(s.Role, RoleOperator) }

// seenEvery bounds how often a session's last-seen time is written: often enough for an
// idle timeout of minutes, rarely enough that browsing is not a stream of writes.
const seenEvery = 15 * time.Second

type sessionHandler func(w http.ResponseWriter, r *http.Request, s *Session)

// session lets a request through with a live session whose role allows need; without one
// the browser is sent to sign in (then back). Every POST must also come from a console page
// (Origin) and carry the session's CSRF token.
func (c *Console) session(need string, next sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.lookup(r)
		if err != nil {
			c.log.ErrorContext(r.Context(), "console: read session", "error", err)
			c.fail(w, r, nil, http.StatusInternalServerError, "The console could not read your session.")
			return
		}
		if s == nil {
			c.toSignIn(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) {
				c.fail(w, r, s, http.StatusForbidden, "This form did not come from the console.")
				return
			}
			if got := r.PostFormValue("csrf"); subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
				c.log.WarnContext(r.Context(), "console: form without a valid CSRF token refused", "operator", s.Operator, "path", r.URL.Path)
				c.fail(w, r, s, http.StatusForbidden, "This form has expired or did not come from the console. Reload the page and try again.")
				return
			}
			// The text rule (httpjson.ValidText) for every field of every console form.
			if err := httpjson.ValidValues(r.PostForm); err != nil {
				c.fail(w, r, s, http.StatusBadRequest, err.Error())
				return
			}
		}
		if !allows(s.Role, need) {
			c.fail(w, r, s, http.StatusForbidden, "Your role ("+s.Role+") cannot do this.")
			return
		}
		next(w, r, s)
	})
}

func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Path
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	if r.Method != http.MethodGet {
		next = Prefix
	}
	http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
}

func tokenHash(cookie string) []byte {
	h := sha256.Sum256([]byte(cookie))
	return h[:]
}

// lookup returns the request's live session, nil when there is none (no cookie, unknown,
// idle too long, too old, or its operator is no longer configured).
func (c *Console) lookup(r *http.Request) (*Session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	ctx := r.Context()
	key := tokenHash(ck.Value)
	var s Session
	var created, seen int64
	err = c.opts.DB.QueryRowContext(ctx, `SELECT operator, csrf, created_at, seen_at FROM console_sessions
		WHERE token_sha256 = ?`, key).Scan(&s.Operator, &s.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console: read session: %w", err)
	}
	now := c.opts.Now()
	op, ok := c.operator(s.Operator)
	if !ok || now.Sub(store.FromMicros(seen)) > c.opts.IdleTimeout || now.Sub(store.FromMicros(created)) > c.opts.MaxAge {
		if _, err := c.opts.DB.ExecContext(ctx, `DELETE FROM console_sessions WHERE token_sha256 = ?`, key); err != nil {
			return nil, fmt.Errorf("console: end session: %w", err)
		}
		return nil, nil
	}
	// The role comes from the configuration of now, not of sign-in: lowering an operator's
	// role takes effect at once.
	s.Role = op.Role
	if now.Sub(store.FromMicros(seen)) > seenEvery {
		if _, err := c.opts.DB.ExecContext(ctx, `UPDATE console_sessions SET seen_at = ? WHERE token_sha256 = ?`,
			store.Micros(now), key); err != nil {
			return nil, fmt.Errorf("console: touch session: %w", err)
		}
	}
	return &s, nil
}

func (c *Console) operator(name string) (Operator, bool) {
	for _, o := range c.operators {
		if o.Name == name {
			return o, true
		}
	}
	return Operator{}, false
}

// authenticate finds the operator whose token this is. Every configured hash is compared,
// in constant time, whatever matches first.
func (c *Console) authenticate(token string) (Operator, bool) {
	got := sha256.Sum256([]byte(token))
	var found Operator
	ok := 0
	for _, o := range c.operators {
		if subtle.ConstantTimeCompare(got[:], o.TokenSHA256[:]) == 1 {
			found, ok = o, 1
		}
	}
	return found, ok == 1 && token != ""
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusOK, "signin", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a post-sign-in destination inside the console (no open redirect).
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix
	}
	return next
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		c.fail(w, r, nil, http.StatusForbidden, "This form did not come from the console.")
		return
	}
	addr := sourceAddress(r)
	wait, err := c.signInWait(r.Context(), addr)
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: sign-in limit", "error", err)
		c.fail(w, r, nil, http.StatusInternalServerError, "The console could not sign you in.")
		return
	}
	if wait > 0 {
		// Not audited: a refused attempt adds no row, so a flood cannot grow the table.
		c.log.WarnContext(r.Context(), "console: sign-in refused, too many failures", "remote", addr)
		c.tooManySignIns(w, r, next, wait)
		return
	}
	op, ok := c.authenticate(r.PostFormValue("token"))
	if !ok {
		c.log.WarnContext(r.Context(), "console: sign-in refused", "remote", addr)
		// The row never holds the token tried, only where it came from.
		e := Entry{At: c.opts.Now(), Action: ActionSignInFailed, Target: "address:" + addr, Before: "signed out", After: "refused: unknown token"}
		if err := insertAudit(r.Context(), c.opts.DB, e); err != nil {
			c.log.ErrorContext(r.Context(), "console: audit failed sign-in", "error", err)
			c.fail(w, r, nil, http.StatusInternalServerError, "The console could not sign you in.")
			return
		}
		c.render(w, r, nil, http.StatusUnauthorized, "signin", map[string]any{"Next": next, "Error": "That token is not known."})
		return
	}
	token := randomToken()
	now := c.opts.Now()
	err = c.opts.DB.InTx(r.Context(), func(tx *store.Tx) error {
		// Sessions that ended by idling are removed here, at the rare moment someone signs in.
		if _, err := tx.ExecContext(r.Context(), `DELETE FROM console_sessions WHERE seen_at < ?`,
			store.Micros(now.Add(-c.opts.IdleTimeout))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO console_sessions (token_sha256, operator, csrf, created_at, seen_at)
			VALUES (?, ?, ?, ?, ?)`, tokenHash(token), op.Name, randomToken(), store.Micros(now), store.Micros(now)); err != nil {
			return err
		}
		return insertAudit(r.Context(), tx, Entry{At: now, Operator: op.Name, Role: op.Role, Action: ActionSignIn,
			Target: "address:" + addr, Before: "signed out", After: "signed in"})
	})
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: create session", "error", err)
		c.fail(w, r, nil, http.StatusInternalServerError, "The console could not sign you in.")
		return
	}
	c.log.InfoContext(r.Context(), "console: signed in", "operator", op.Name, "role", op.Role)
	http.SetCookie(w, c.cookie(r, token, int(c.opts.MaxAge/time.Second)))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *Session) {
	if ck, err := r.Cookie(cookieName); err == nil {
		if _, err := c.opts.DB.ExecContext(r.Context(), `DELETE FROM console_sessions WHERE token_sha256 = ?`, tokenHash(ck.Value)); err != nil {
			c.log.ErrorContext(r.Context(), "console: end session", "error", err)
			c.fail(w, r, s, http.StatusInternalServerError, "The console could not sign you out.")
			return
		}
	}
	c.log.InfoContext(r.Context(), "console: signed out", "operator", s.Operator)
	http.SetCookie(w, c.cookie(r, "", -1))
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// cookie is the session cookie: HttpOnly (no script reads it), SameSite=Strict (no other
// site's page sends it), Secure when the console is reached over TLS (directly or through
// a proxy that says so), and scoped to the console's path.
func (c *Console) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: cookieName, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
}

// Sessions counts live sessions (for tests and the overview).
func (c *Console) sessions(ctx context.Context) (int64, error) {
	var n int64
	err := c.opts.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM console_sessions WHERE seen_at >= ?`,
		store.Micros(c.opts.Now().Add(-c.opts.IdleTimeout))).Scan(&n)
	return n, err
}
