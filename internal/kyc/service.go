package kyc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Sealer encrypts values at rest; *seal.Keyring implements it.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// Outbox records callbacks in the caller's transaction; *callback.Outbox implements it.
type Outbox interface {
	Wallet(ctx context.Context, tx *store.Tx, url string, m callback.Message) error
	Business(ctx context.Context, tx *store.Tx, m callback.Message) error
}

// Back ends (Options.Backend).
const (
	// Builtin keeps customers in vaspgate's database, encrypted at rest, with an operator
	// decision through the admin API.
	Builtin = "builtin"
	// Business proxies every customer call to an Anchor Platform business server's
	// GET/PUT/DELETE /customer (anchor-platform-compat.md section 5).
	Business = "business"
)

// What happens to a standard SEP-9 field no customer type asks for (Options.UnrequestedFields).
const (
	UnrequestedDrop  = "drop"
	UnrequestedStore = "store"
)

// CustomerType is one customer type: the SEP-9 fields it asks for, as GET /customer
// publishes them.
type CustomerType struct {
	Fields map[string]Field
}

// BusinessServer is Anchor Platform's callback_api: where the business back end sends
// customer calls.
type BusinessServer struct {
	// BaseURL is the business server, e.g. http://localhost:8081.
	BaseURL string
	// Auth is callback_api.auth.
	Auth callback.Auth
	// Timeout bounds one call (when BusinessClient is nil).
	Timeout time.Duration
}

// Options are the settings and dependencies of a Service. The settings are used as given:
// their defaults have one home, internal/config, whose Load fills them in.
type Options struct {
	// Backend is Builtin or Business.
	Backend string
	// AutoAccept (builtin, development only) accepts a customer as soon as every required
	// field is provided.
	AutoAccept bool
	// Types are the customer types and, for the builtin back end, the fields each requires.
	Types map[string]CustomerType
	// Business is the business server (backend Business).
	Business BusinessServer
	// VerificationFields (builtin) are SEP-9 fields that need a confirmation code.
	VerificationFields []string
	// UnrequestedFields (builtin) is UnrequestedDrop or UnrequestedStore.
	UnrequestedFields string
	// MaxFileSize bounds one uploaded file and one binary field.
	MaxFileSize int64
	// FileTTL is how long an uploaded file that no PUT /customer references is kept.
	FileTTL time.Duration

	// Clients are the statically configured wallets (their callback_urls.sep12).
	Clients wallet.Clients
	DB      *store.DB
	Sealer  Sealer
	Outbox  Outbox
	// Transactions resolves transaction_id ownership; nil means every transaction_id is
	// unknown.
	Transactions Transactions
	// StatusHooks run inside the transaction of every status change made through the
	// builtin back end (operator decision, PUT /customer completing the fields); a hook
	// error rolls the change back.
	StatusHooks []StatusHook
	// CallbackURLs is the policy a wallet's PUT /customer/callback URL must pass.
	CallbackURLs callback.URLPolicy
	// BusinessClient calls the business server; nil means callback.NewHTTPClient with the
	// configured timeout and every address allowed (the operator chose that URL, not a wallet).
	BusinessClient *http.Client
	// Limits are the quotas, the disk guard and the verification-code limits (zero: none).
	Limits Limits
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is SEP-12: customers, their owners, statuses and callbacks.
type Service struct {
	cfg          Options
	clients      wallet.Clients
	db           *store.DB
	sealer       Sealer
	outbox       Outbox
	callbackURLs callback.URLPolicy
	backend      backend
	limits       Limits
	now          func() time.Time
	log          *slog.Logger
	types        []string // sorted configured type names
	txs          Transactions
	hooks        []StatusHook
}

// New returns a Service. The DB must be migrated.
func New(o Options) (*Service, error) {
	cfg := o
	if o.DB == nil || o.Sealer == nil || o.Outbox == nil {
		return nil, errors.New("kyc: DB, Sealer and Outbox are required")
	}
	if o.MaxFileSize <= 0 || o.FileTTL <= 0 {
		return nil, errors.New("kyc: max file size and file TTL must be positive")
	}
	s := &Service{
		cfg: cfg, clients: o.Clients, db: o.DB, sealer: o.Sealer, outbox: o.Outbox,
		callbackURLs: o.CallbackURLs, limits: o.Limits, now: o.Now, log: o.Logger, txs: o.Transactions,
		hooks: slices.Clone(o.StatusHooks),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	for t := range cfg.Types {
		s.types = append(s.types, t)
	}
	sort.Strings(s.types)
	switch cfg.Backend {
	case Builtin:
		s.backend = builtin{s}
	case Business:
		b, err := newBusinessClient(cfg.Business, o.BusinessClient)
		if err != nil {
			return nil, err
		}
		s.backend = business{Service: s, client: b}
	default:
		return nil, fmt.Errorf("kyc: backend %q, want %s or %s", cfg.Backend, Builtin, Business)
	}
	return s, nil
}

// MaxFileSize is the largest accepted file or binary field.
func (s *Service) MaxFileSize() int64 { return s.cfg.MaxFileSize }

func (s *Service) transactions() Transactions { return s.txs }

// defaultType is the type used when a request names none: sep6 when configured, else the
// first configured type.
func (s *Service) defaultType() string {
	if _, ok := s.cfg.Types["sep6"]; ok {
		return "sep6"
	}
	if len(s.types) > 0 {
		return s.types[0]
	}
	return ""
}

// checkType validates a requested type (empty means the default). The builtin back end knows
// only configured types; the business server decides for itself.
func (s *Service) checkType(t string) (string, error) {
	if t == "" {
		return s.defaultType(), nil
	}
	if _, ok := s.cfg.Types[t]; !ok && !s.backend.acceptsAnyType() {
		return "", badRequest(fmt.Sprintf("unknown customer type %q", t))
	}
	return t, nil
}

// target is a resolved customer address: who it is for and, when known, its id.
type target struct {
	id    string // empty: no customer yet for this identity
	owner wallet.Identity
	txID  string
}

// OwnerOf returns the owner of a customer and the client domain it was created with, for
// operators; ErrNotFound when the id is unknown.
func (s *Service) OwnerOf(ctx context.Context, id string) (wallet.Identity, string, error) {
	return ownerOf(ctx, s.db, id)
}

// ownerOf reads a customer's owner; ErrNotFound when the id is unknown.
func ownerOf(ctx context.Context, q store.Querier, id string) (wallet.Identity, string, error) {
	var o wallet.Identity
	var domain string
	err := q.QueryRowContext(ctx, `SELECT account, memo, client_domain FROM kyc_customers WHERE id = ?`, id).
		Scan(&o.Account, &o.Memo, &domain)
	if errors.Is(err, sql.ErrNoRows) {
		return wallet.Identity{}, "", ErrNotFound
	}
	if err != nil {
		return wallet.Identity{}, "", fmt.Errorf("kyc: read customer owner: %w", err)
	}
	return o, domain, nil
}

// RecordOwner records that customer id belongs to owner (created through client domain,
// "" when unknown) unless an owner is recorded already, and returns the owner recorded, so
// a caller sees whether it was another (inserted says whether this call recorded it): the
// first owner stays (ownership is never moved).
// Every SEP-12 read and write by id is checked against this record. With the business back
// end it is written when the business first answers a wallet with a new id (adopt), and by
// `vaspgate import anchor-platform --customers` for customers created under Anchor Platform.
func RecordOwner(ctx context.Context, q store.Querier, id string, owner wallet.Identity, clientDomain string, at time.Time) (recorded wallet.Identity, inserted bool, err error) {
	now := store.Micros(at)
	res, err := q.ExecContext(ctx, `INSERT INTO kyc_customers (id, account, memo, client_domain, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		id, owner.Account, owner.Memo, clientDomain, now, now)
	if err != nil {
		return wallet.Identity{}, false, fmt.Errorf("kyc: record customer owner: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wallet.Identity{}, false, fmt.Errorf("kyc: record customer owner: %w", err)
	}
	recorded, _, err = ownerOf(ctx, q, id)
	return recorded, n == 1, err
}

// OwnerOf reads the owner recorded for customer id through q; ErrNotFound when none is.
func OwnerOf(ctx context.Context, q store.Querier, id string) (wallet.Identity, error) {
	o, _, err := ownerOf(ctx, q, id)
	return o, err
}

// resolve applies the SEP-12 identity and ownership rules (stellar-seps.md 4.1) to a request
// addressing a customer by id, account, memo or transaction_id. Anything the caller does not
// own is ErrNotFound. For the builtin back end it also finds the customer of the identity.
func (s *Service) resolve(ctx context.Context, q store.Querier, c wallet.Identity, id, account, memo, txID, typ string) (target, error) {
	if account != "" && account != c.Account && (c.Muxed == "" || account != c.Muxed) {
		return target{}, ErrNotFound
	}
	if c.Memo != "" && memo != "" && memo != c.Memo {
		return target{}, ErrNotFound
	}
	t := target{owner: wallet.Identity{Account: c.Account, Memo: c.Memo}, txID: txID}
	if t.owner.Memo == "" {
		t.owner.Memo = memo
	}
	if txID != "" {
		if typ == "" {
			return target{}, badRequest("type is required with transaction_id")
		}
		txs := s.transactions()
		if txs == nil {
			return target{}, ErrNotFound
		}
		o, err := txs.Owner(ctx, q, txID)
		if errors.Is(err, ErrNotFound) {
			return target{}, ErrNotFound
		}
		if err != nil {
			return target{}, fmt.Errorf("kyc: transaction owner: %w", err)
		}
		if !owns(c, o) || (memo != "" && memo != o.Memo) {
			return target{}, ErrNotFound
		}
		t.owner = o
	}
	if id != "" {
		o, _, err := ownerOf(ctx, q, id)
		if err != nil {
			return target{}, err
		}
		if !owns(c, o) || (memo != "" && memo != o.Memo) || (txID != "" && o != t.owner) {
			return target{}, ErrNotFound
		}
		t.id, t.owner = id, o
		return t, nil
	}
	if err := s.backend.find(ctx, q, &t); err != nil {
		return target{}, err
	}
	return t, nil
}

// Get answers GET /customer for the caller.
func (s *Service) Get(ctx context.Context, c wallet.Identity, q Query) (Customer, error) {
	typ, err := s.checkType(q.Type)
	if err != nil {
		return Customer{}, err
	}
	if q.TransactionID != "" && q.Type == "" {
		return Customer{}, badRequest("type is required with transaction_id")
	}
	t, err := s.resolve(ctx, s.db, c, q.ID, q.Account, q.Memo, q.TransactionID, typ)
	if err != nil {
		return Customer{}, err
	}
	return s.backend.get(ctx, c, t, typ, q.Lang)
}

// adopt records the owner of a customer id the business server returned for the caller's
// identity, and refuses an id that belongs to someone else.
func (s *Service) adopt(ctx context.Context, c wallet.Identity, t target, cust *Customer) error {
	if cust.ID == "" {
		return nil
	}
	if t.id != "" {
		if cust.ID != t.id {
			return fmt.Errorf("%w: business server answered for another customer id", ErrUnavailable)
		}
		return nil
	}
	o, _, err := RecordOwner(ctx, s.db, cust.ID, t.owner, c.ClientDomain, s.now())
	if err != nil {
		return err
	}
	if o != t.owner {
		s.log.WarnContext(ctx, "kyc: business server returned a customer id owned by another identity")
		return ErrNotFound
	}
	return nil
}

// Fetch reads a customer from the configured back end without an ownership check (for the
// business RPC, which is trusted). The builtin back end needs q.ID.
func (s *Service) Fetch(ctx context.Context, q Query) (Customer, error) {
	typ := q.Type
	if typ == "" {
		typ = s.defaultType()
	}
	q.Type = typ
	return s.backend.fetch(ctx, q)
}

// PutRequest is a PUT /customer (or /customer/verification) body, already split by kind.
type PutRequest struct {
	ID, Account, Memo, MemoType, Type, TransactionID string
	// Fields are the textual SEP-9 fields.
	Fields map[string]string
	// Binary are the binary SEP-9 fields sent inline (multipart).
	Binary map[string]Upload
	// FileIDs are `<field>_file_id` references to uploaded files, keyed by field.
	FileIDs map[string]string
	// Verifications are `<field>_verification` codes, keyed by field.
	Verifications map[string]string
}

// Upload is one binary value.
type Upload struct {
	ContentType string
	Data        []byte
}

// Put answers PUT /customer: stores the fields and returns the customer id.
func (s *Service) Put(ctx context.Context, c wallet.Identity, r PutRequest) (string, error) {
	if r.TransactionID != "" && r.Type == "" {
		return "", badRequest("type is required with transaction_id")
	}
	typ, err := s.checkType(r.Type)
	if err != nil {
		return "", err
	}
	r.Type = typ
	return s.backend.put(ctx, c, r)
}

// Verify answers PUT /customer/verification: applies the codes and returns the customer.
func (s *Service) Verify(ctx context.Context, c wallet.Identity, id, typ string, codes map[string]string) (Customer, error) {
	if id == "" {
		return Customer{}, badRequest("id is required")
	}
	if len(codes) == 0 {
		return Customer{}, badRequest("no *_verification field")
	}
	t, err := s.resolve(ctx, s.db, c, id, "", "", "", "")
	if err != nil {
		return Customer{}, err
	}
	if typ, err = s.checkType(typ); err != nil {
		return Customer{}, err
	}
	return s.backend.verify(ctx, c, t, typ, codes)
}

// Delete answers DELETE /customer/{account}: removes the customer of that account (and
// memo) with its personal data.
func (s *Service) Delete(ctx context.Context, c wallet.Identity, account, memo string) error {
	if account == "" {
		return ErrNotFound
	}
	t, err := s.resolve(ctx, s.db, c, "", account, memo, "", "")
	if err != nil {
		return err
	}
	if err := s.backend.erase(ctx, &t); err != nil {
		return err
	}
	if t.id == "" {
		return ErrNotFound
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`DELETE FROM kyc_files WHERE customer_id = ?`,
			`DELETE FROM kyc_snapshots WHERE customer_id = ?`,
			`DELETE FROM kyc_customers WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, t.id); err != nil {
				return fmt.Errorf("kyc: delete customer: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM kyc_files WHERE account = ? AND memo = ?`,
			t.owner.Account, t.owner.Memo); err != nil {
			return fmt.Errorf("kyc: delete files: %w", err)
		}
		return nil
	})
}

// CallbackRequest is a PUT /customer/callback body.
type CallbackRequest struct {
	ID, Account, Memo, URL string
}

// SetCallback answers PUT /customer/callback: registers (or replaces) the URL that receives
// this customer's status changes until ACCEPTED or REJECTED.
func (s *Service) SetCallback(ctx context.Context, c wallet.Identity, r CallbackRequest) error {
	if r.URL == "" {
		return badRequest("url is required")
	}
	if err := s.CheckCallbackURL(ctx, r.URL); err != nil {
		return err
	}
	t, err := s.resolve(ctx, s.db, c, r.ID, r.Account, r.Memo, "", "")
	if err != nil {
		return err
	}
	if t.id == "" {
		if t.id, err = s.backend.existing(ctx, c, t); err != nil {
			return err
		}
	}
	if t.id == "" {
		return ErrNotFound
	}
	now := store.Micros(s.now())
	_, err = s.db.ExecContext(ctx, `INSERT INTO kyc_callbacks (customer_id, url, registered_at, ended_at)
		VALUES (?, ?, ?, NULL)
		ON CONFLICT (customer_id) DO UPDATE SET url = excluded.url, registered_at = excluded.registered_at, ended_at = NULL`,
		t.id, r.URL, now)
	if err != nil {
		return fmt.Errorf("kyc: register callback: %w", err)
	}
	return nil
}

// Decision is an operator's decision on a builtin customer.
type Decision struct {
	// Type is the customer type decided on; may be empty when the customer has one type.
	Type    string `json:"type"`
	Status  string `json:"status"`
	Message string `json:"message"`
	// Fields are the fields to send again (NEEDS_INFO).
	Fields []string `json:"fields"`
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
