package console

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Roles, from least to most allowed.
const (
	// RoleViewer sees lists and states, never personal data, and cannot act.
	RoleViewer = "viewer"
	// RoleOperator acts and may reveal personal data.
	RoleOperator = "operator"
	// RoleAdmin is an operator (the admin token signs in with it).
	RoleAdmin = "admin"
)

// Operator is one person who may sign in.
type Operator struct {
	Name string
	Role string
	// TokenSHA256 is the SHA-256 of the operator's token.
	TokenSHA256 [32]byte
}

// Deliveries is what the console needs of the delivery engine (*callback.Engine).
type Deliveries interface {
	Deliveries(ctx context.Context, f callback.Filter) ([]callback.Delivery, string, error)
	Delivery(ctx context.Context, id string) (callback.Delivery, error)
	Replay(ctx context.Context, id string) error
	Endpoints(ctx context.Context) ([]callback.Endpoint, error)
	Endpoint(ctx context.Context, id string) (callback.Endpoint, error)
	ReplayEndpoint(ctx context.Context, id string, since time.Time) (int64, error)
	SetEndpointEnabled(ctx context.Context, id string, enabled bool) error
}

// Customers is what the console needs of SEP-12 customers (*kyc.Service).
type Customers interface {
	List(ctx context.Context, q kyc.ListQuery) ([]kyc.Summary, error)
	// Sorts are the orders List offers besides creation (they depend on the KYC back end).
	Sorts() []string
	Fetch(ctx context.Context, q kyc.Query) (kyc.Customer, error)
	OwnerOf(ctx context.Context, id string) (wallet.Identity, string, error)
	FieldValue(ctx context.Context, id, name string) ([]byte, string, error)
	Decide(ctx context.Context, id string, d kyc.Decision) (kyc.Customer, error)
}

// Transfers is what the console needs of SEP-6 transactions (*transfer.Service).
type Transfers interface {
	Browse(ctx context.Context, f transfer.BrowseFilter) ([]transfer.Transaction, string, error)
	Get(ctx context.Context, id string) (transfer.Transaction, error)
	History(ctx context.Context, id string) ([]transfer.StatusChange, error)
}

// TravelRule is what the console needs of the Travel Rule receiver (*travelrule.Service).
type TravelRule interface {
	ListVerifications(ctx context.Context, f travelrule.Filter) ([]travelrule.VerificationView, string, error)
	Verification(ctx context.Context, id string) (travelrule.VerificationView, error)
	ListQuarantine(ctx context.Context, cursor string, limit int) ([]travelrule.StoredCallback, string, error)
	Reprocess(ctx context.Context, id string) (travelrule.Decoded, error)
	// TransactionVerifications are the verifications linked to a SEP-6 transaction (the
	// travel_rule_links rows), oldest first.
	TransactionVerifications(ctx context.Context, transactionID string) ([]string, error)
}

// Options configure the console. DB holds sessions and the audit log; the four services
// are the owners of everything shown and every action.
type Options struct {
	DB         *store.DB
	Deliveries Deliveries
	Customers  Customers
	Transfers  Transfers
	TravelRule TravelRule
	// AdminToken signs in as "admin" with the admin role (empty: it does not sign in).
	AdminToken string
	Operators  []Operator
	// IdleTimeout ends a session after this long without a request (default 30m); MaxAge
	// ends it this long after sign-in (default 12h).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// SignInLimit bounds failed sign-ins (per source address and in all).
	SignInLimit SignInLimit
	// Now is the clock (default time.Now); tests move it to age sessions.
	Now    func() time.Time
	Logger *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	opts      Options
	log       *slog.Logger
	operators []Operator
	pages     pages
	mux       *http.ServeMux
}

// Prefix is where the console is mounted.
const Prefix = "/console/"

// New builds the console.
func New(o Options) (*Console, error) {
	if o.DB == nil || o.Deliveries == nil || o.Customers == nil || o.Transfers == nil || o.TravelRule == nil {
		return nil, errors.New("console: DB and every service are required")
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 12 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.SignInLimit = o.SignInLimit.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Console{opts: o, log: o.Logger}
	if o.AdminToken != "" {
		c.operators = append(c.operators, Operator{Name: "admin", Role: RoleAdmin, TokenSHA256: sha256.Sum256([]byte(o.AdminToken))})
	}
	for _, op := range o.Operators {
		switch op.Role {
		case RoleViewer, RoleOperator, RoleAdmin:
		default:
			return nil, errors.New("console: operator " + op.Name + ": unknown role " + op.Role)
		}
		c.operators = append(c.operators, op)
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = p
	c.routes()
	return c, nil
}

// Register mounts the console on mux (the admin listener's) under /console/.
func (c *Console) Register(mux *http.ServeMux) {
	mux.Handle(Prefix, c)
	mux.Handle("GET /console", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
}

// maxForm caps a console request body: forms are a few fields.
const maxForm = 64 << 10

// ServeHTTP applies the security headers every console answer carries, then routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: with it browsers send "Origin: null" on forms
	h.Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c.mux.ServeHTTP(w, r)
}

// csp allows only what the console itself serves: no inline script or style, no frames,
// forms posting back to the console only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) routes() {
	m := http.NewServeMux()
	c.mux = m
	m.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", assetHandler()))
	m.HandleFunc("GET /console/signin", c.signInPage)
	m.HandleFunc("POST /console/signin", c.signIn)
	m.Handle("POST /console/signout", c.session(RoleViewer, c.signOut))

	m.Handle("GET /console/{$}", c.session(RoleViewer, c.overview))
	m.Handle("GET /console/deliveries", c.session(RoleViewer, c.deliveries))
	m.Handle("GET /console/deliveries/{id}", c.session(RoleViewer, c.delivery))
	m.Handle("POST /console/deliveries/{id}/replay", c.session(RoleOperator, c.replay))
	m.Handle("GET /console/endpoints/{id}", c.session(RoleViewer, c.endpoint))
	m.Handle("POST /console/endpoints/{id}/replay", c.session(RoleOperator, c.replayEndpoint))
	m.Handle("POST /console/endpoints/{id}/enable", c.session(RoleOperator, c.setEndpoint(true)))
	m.Handle("POST /console/endpoints/{id}/disable", c.session(RoleOperator, c.setEndpoint(false)))
	m.Handle("GET /console/customers", c.session(RoleViewer, c.customers))
	m.Handle("GET /console/customers/{id}", c.session(RoleViewer, c.customer))
	m.Handle("POST /console/customers/{id}/decision", c.session(RoleOperator, c.decide))
	m.Handle("POST /console/customers/{id}/reveal", c.session(RoleOperator, c.revealField))
	m.Handle("GET /console/transactions", c.session(RoleViewer, c.transactions))
	m.Handle("GET /console/transactions/{id}", c.session(RoleViewer, c.transaction))
	m.Handle("GET /console/travel-rule", c.session(RoleViewer, c.verifications))
	m.Handle("GET /console/travel-rule/quarantine", c.session(RoleViewer, c.quarantine))
	m.Handle("POST /console/travel-rule/quarantine/{id}/reprocess", c.session(RoleOperator, c.reprocess))
	m.Handle("GET /console/travel-rule/{uuid}", c.session(RoleViewer, c.verification))
	m.Handle("POST /console/travel-rule/{uuid}/reveal", c.session(RoleOperator, c.revealIVMS))
	m.Handle("GET /console/audit", c.session(RoleViewer, c.audit))
	// Anything else under /console/: a signed-in operator gets a page saying so; anyone
	// else is sent to sign in first, so the console's shape is not visible without a session.
	m.Handle("/console/", c.session(RoleViewer, func(w http.ResponseWriter, r *http.Request, s *Session) {
		c.fail(w, r, s, http.StatusNotFound, "No such page.")
	}))
}

// allows reports whether role may do what needs at least need.
func allows(role, need string) bool {
	rank := map[string]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}
	return rank[role] >= rank[need]
}

// sameOrigin reports whether a state-changing request came from a console page: a browser
// sends Origin with every POST; when it names another site the request is refused even
// before the CSRF token is looked at.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	_, host, ok := strings.Cut(o, "://")
	return ok && strings.EqualFold(host, r.Host)
}
