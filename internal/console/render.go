package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"signin", "error", "overview", "deliveries", "delivery", "endpoint", "customers", "customer",
	"transactions", "transaction", "verifications", "verification", "quarantine", "audit"}

type pages map[string]*template.Template

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return "—"
	},
	"ms": func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	},
	"short": func(s string) string {
		if len(s) > 13 {
			return s[:8] + "…" + s[len(s)-4:]
		}
		return s
	},
	"query": func(kv ...string) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		if len(q) == 0 {
			return ""
		}
		return template.URL("?" + q.Encode())
	},
	// flip is the other sort order (for a column header's link); arrow shows the current.
	"flip": func(order string) string {
		if order == orderOldest {
			return orderNewest
		}
		return orderOldest
	},
	"arrow": func(order string) string {
		if order == orderOldest {
			return "↑ oldest first"
		}
		return "↓ newest first"
	},
	"statusClass": func(s string) string {
		switch strings.ToLower(s) {
		case "delivered", "accepted", "verified", "completed", "enabled", "ok":
			return "good"
		case "failed", "rejected", "denied", "error", "disabled", "quarantined", "severe", "high":
			return "bad"
		case "pending", "queued", "processing", "needs_info", "paused", "medium":
			return "wait"
		}
		return "plain"
	},
}

func parsePages() (pages, error) {
	p := pages{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse template %s: %w", name, err)
		}
		p[name] = t
	}
	return p, nil
}

func assetHandler() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err) // the directory is embedded: it is there
	}
	return http.FileServerFS(sub)
}

// view is what every page template receives.
type view struct {
	Session *Session
	// Nav names the section highlighted in the menu.
	Nav string
	// Notice is a message about the action just done.
	Notice string
	Data   any
}

// notices are the messages an action's redirect may ask for (?done=…); only these are
// shown, so a link cannot put words in the console's mouth.
var notices = map[string]string{
	"replayed":  "Replay queued: the delivery goes out again at once.",
	"enabled":   "Endpoint enabled: its paused deliveries go out now.",
	"disabled":  "Endpoint disabled: its deliveries wait until it is enabled.",
	"decided":   "Decision recorded; the wallet callback and business event are queued.",
	"reprocess": "The callback left the quarantine and its verification is being derived again.",
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, s *Session, status int, name string, data any) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no page " + name)
	}
	v := view{Session: s, Nav: strings.SplitN(strings.TrimPrefix(r.URL.Path, Prefix), "/", 2)[0], Data: data}
	if s != nil {
		v.Notice = notices[r.URL.Query().Get("done")]
		if r.URL.Query().Get("done") == "replayed_since" {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			v.Notice = strconv.Itoa(n) + " failed deliveries queued again."
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers with the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *Session, status int, msg string) {
	c.render(w, r, s, status, "error", map[string]any{"Status": status, "Message": msg})
}

// internal logs err (never with personal data: errors from the services name ids, not
// values) and answers 500.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, s *Session, what string, err error) {
	c.log.ErrorContext(r.Context(), "console: "+what, "error", err)
	c.fail(w, r, s, http.StatusInternalServerError, "The console could not "+what+".")
}

// redirect sends the browser on after an action (POST, redirect, GET).
func redirect(w http.ResponseWriter, r *http.Request, path, done string) {
	if done != "" {
		path += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}
