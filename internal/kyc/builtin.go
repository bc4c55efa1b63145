package kyc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// field returns the configured description of a field for a type.
func (s builtin) field(typ, name string) (Field, bool) {
	f, ok := s.cfg.Types[typ].Fields[name]
	return f, ok
}

// knownField reports whether any configured type asks for name, and its kind.
func (s builtin) knownField(name string) (Field, bool) {
	for _, t := range s.types {
		if f, ok := s.cfg.Types[t].Fields[name]; ok {
			return f, true
		}
	}
	return Field{}, false
}

// acceptField decides what happens to a field a PUT /customer sends: a field some type asks
// for is taken (ok); a standard SEP-9 field no type asks for — wallets commonly send a
// standard set — is never a reason to fail the request: it is stored when
// kyc.unrequested_fields is "store", else dropped (ok false); any other name is refused.
func (s builtin) acceptField(name string) (Field, bool, error) {
	if f, ok := s.knownField(name); ok {
		return f, true, nil
	}
	if !StandardField(name) {
		return Field{}, false, badRequest(fmt.Sprintf("field %s is neither a SEP-9 field nor requested by this anchor", name))
	}
	if s.cfg.UnrequestedFields != UnrequestedStore {
		return Field{}, false, nil
	}
	typ := "string"
	if sep9Binary[name] {
		typ = "binary"
	}
	return Field{Type: typ}, true, nil
}

// newCustomer is the GET /customer answer for an identity with no customer yet: no id,
// NEEDS_INFO, every field of the type.
func (s builtin) newCustomer(typ string) Customer {
	c := Customer{Status: StatusNeedsInfo, Type: typ, Fields: map[string]Field{}}
	for name, f := range s.cfg.Types[typ].Fields {
		c.Fields[name] = f
	}
	return c
}

type fieldState struct{ status, errMsg string }

// customer builds the GET /customer body of a stored customer for a type. It reads
// field statuses only: sealed values are never opened to answer a GET.
func (s builtin) customer(ctx context.Context, q store.Querier, id, typ string) (Customer, error) {
	c := Customer{ID: id, Type: typ, Status: StatusNeedsInfo}
	err := q.QueryRowContext(ctx, `SELECT status, message FROM kyc_customer_types WHERE customer_id = ? AND type = ?`,
		id, typ).Scan(&c.Status, &c.Message)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Customer{}, fmt.Errorf("kyc: read customer status: %w", err)
	}
	states, err := fieldStates(ctx, q, id)
	if err != nil {
		return Customer{}, err
	}
	for name, f := range s.cfg.Types[typ].Fields {
		st, provided := states[name]
		if provided {
			if c.ProvidedFields == nil {
				c.ProvidedFields = map[string]ProvidedField{}
			}
			c.ProvidedFields[name] = ProvidedField{Type: f.Type, Description: f.Description, Choices: f.Choices,
				Optional: f.Optional, Status: st.status, Error: st.errMsg}
		}
		if c.Status == StatusNeedsInfo && (!provided || st.status == FieldRejected) {
			if c.Fields == nil {
				c.Fields = map[string]Field{}
			}
			c.Fields[name] = f
		}
	}
	return c, nil
}

func fieldStates(ctx context.Context, q store.Querier, id string) (map[string]fieldState, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, status, error FROM kyc_fields WHERE customer_id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("kyc: read fields: %w", err)
	}
	defer rows.Close()
	out := map[string]fieldState{}
	for rows.Next() {
		var n string
		var st fieldState
		if err := rows.Scan(&n, &st.status, &st.errMsg); err != nil {
			return nil, fmt.Errorf("kyc: read fields: %w", err)
		}
		out[n] = st
	}
	return out, rows.Err()
}

// missing lists the required fields of typ that are absent or rejected.
func (s builtin) missing(typ string, states map[string]fieldState) []string {
	var out []string
	for name, f := range s.cfg.Types[typ].Fields {
		if f.Optional {
			continue
		}
		if st, ok := states[name]; !ok || st.status == FieldRejected || st.status == FieldVerificationRequired {
			out = append(out, name)
		}
	}
	return out
}

// checkValue validates a textual SEP-9 value against its configured kind.
func checkValue(name string, f Field, v string) error {
	switch f.Type {
	case "binary":
		return badRequest(fmt.Sprintf("field %s is binary: send it as a multipart file part or %s_file_id", name, name))
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return badRequest(fmt.Sprintf("field %s must be a number", name))
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			if _, err2 := time.Parse(time.RFC3339, v); err2 != nil {
				return badRequest(fmt.Sprintf("field %s must be an ISO 8601 date", name))
			}
		}
	}
	if len(f.Choices) > 0 {
		for _, ch := range f.Choices {
			if ch == v {
				return nil
			}
		}
		return badRequest(fmt.Sprintf("field %s must be one of %s", name, strings.Join(f.Choices, ", ")))
	}
	return nil
}

func fieldAD(customerID, name string) []byte {
	return []byte("kyc.field\x00" + customerID + "\x00" + name)
}

// put stores a PUT /customer in one transaction: the customer (created on first PUT),
// the sealed fields, the resulting status per type and, when a status changed, its snapshot,
// callbacks and hooks.
func (s builtin) put(ctx context.Context, c wallet.Identity, r PutRequest) (string, error) {
	type value struct {
		data        []byte
		contentType string
	}
	values := map[string]value{}
	var binaryBytes int64
	for name, v := range r.Fields {
		f, ok, err := s.acceptField(name)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if err := checkValue(name, f, v); err != nil {
			return "", err
		}
		values[name] = value{data: []byte(v), contentType: "text/plain; charset=utf-8"}
	}
	for name, u := range r.Binary {
		f, ok, err := s.acceptField(name)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if f.Type != "binary" {
			return "", badRequest(fmt.Sprintf("field %s is not binary", name))
		}
		if int64(len(u.Data)) > s.cfg.MaxFileSize {
			return "", badRequest(fmt.Sprintf("field %s is larger than %d bytes", name, s.cfg.MaxFileSize))
		}
		values[name] = value{data: u.Data, contentType: u.ContentType}
		binaryBytes += int64(len(u.Data))
	}
	if binaryBytes > 0 {
		if err := s.limits.Disk.Check(binaryBytes); err != nil {
			return "", err
		}
	}
	for name := range r.FileIDs {
		_, ok, err := s.acceptField(name)
		if err != nil {
			return "", err
		}
		if !ok {
			delete(r.FileIDs, name)
		}
	}
	var id string
	if len(r.Verifications) > 0 {
		var err error
		if id, err = s.applyCodes(ctx, c, r.ID, r.Account, r.Memo, r.TransactionID, r.Type, r.Verifications); err != nil {
			return "", err
		}
		if len(values) == 0 && len(r.FileIDs) == 0 {
			return id, nil
		}
	}

	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.resolve(ctx, tx, c, r.ID, r.Account, r.Memo, r.TransactionID, r.Type)
		if err != nil {
			return err
		}
		now := s.now()
		if t.id == "" {
			if t.id, err = s.createCustomer(ctx, tx, c, t.owner, now); err != nil {
				return err
			}
		}
		id = t.id
		if err := lockCustomer(ctx, tx, id); err != nil {
			return err
		}
		for name, fid := range r.FileIDs {
			u, err := s.takeFile(ctx, tx, c, fid, id)
			if err != nil {
				return err
			}
			values[name] = value{data: u.Data, contentType: u.ContentType}
		}
		status := FieldProcessing
		if s.cfg.AutoAccept {
			status = FieldAccepted
		}
		for name, v := range values {
			sealed, err := s.sealer.Seal(v.data, fieldAD(id, name))
			if err != nil {
				return fmt.Errorf("kyc: seal field: %w", err)
			}
			st := status
			if s.needsCode(name) {
				st = FieldVerificationRequired
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_fields (customer_id, name, value, content_type, status, error, updated_at)
				VALUES (?, ?, ?, ?, ?, '', ?)
				ON CONFLICT (customer_id, name) DO UPDATE SET value = excluded.value, content_type = excluded.content_type,
					status = excluded.status, error = '', updated_at = excluded.updated_at`,
				id, name, sealed, v.contentType, st, store.Micros(now)); err != nil {
				return fmt.Errorf("kyc: store field: %w", err)
			}
			if st == FieldVerificationRequired {
				if err := s.newCode(ctx, tx, id, name, now); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_customer_types (customer_id, type, status, message, updated_at)
			VALUES (?, ?, ?, '', ?) ON CONFLICT (customer_id, type) DO NOTHING`,
			id, r.Type, StatusNeedsInfo, store.Micros(now)); err != nil {
			return fmt.Errorf("kyc: store customer type: %w", err)
		}
		return s.reevaluate(ctx, tx, id, t.txID, now)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// createCustomer makes the customer of an identity, or finds the one a concurrent PUT made:
// the identity's unique key decides, never a read before the write.
func (s builtin) createCustomer(ctx context.Context, tx *store.Tx, c wallet.Identity, o wallet.Identity, now time.Time) (string, error) {
	if err := s.checkCustomerQuota(ctx, tx, o.Account); err != nil {
		return "", err
	}
	id := newID()
	if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_customers (id, account, memo, client_domain, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, id, o.Account, o.Memo, c.ClientDomain, store.Micros(now), store.Micros(now)); err != nil {
		return "", fmt.Errorf("kyc: create customer: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO kyc_identities (account, memo, customer_id) VALUES (?, ?, ?)
		ON CONFLICT (account, memo) DO NOTHING`, o.Account, o.Memo, id)
	if err != nil {
		return "", fmt.Errorf("kyc: create identity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM kyc_customers WHERE id = ?`, id); err != nil {
		return "", fmt.Errorf("kyc: create customer: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT customer_id FROM kyc_identities WHERE account = ? AND memo = ?`,
		o.Account, o.Memo).Scan(&id); err != nil {
		return "", fmt.Errorf("kyc: read identity: %w", err)
	}
	return id, nil
}

// lockCustomer serialises every change of one builtin customer (PUT, operator decision) on
// its row, so their field and status writes never interleave or deadlock. SQLite writers
// are serialised already. ErrNotFound when the customer does not exist.
func lockCustomer(ctx context.Context, tx *store.Tx, id string) error {
	q := `SELECT id FROM kyc_customers WHERE id = ?`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	err := tx.QueryRowContext(ctx, q, id).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("kyc: lock customer: %w", err)
	}
	return nil
}

// reevaluate recomputes the status of every type of a customer after its fields changed:
// a type with fields missing (or rejected) needs info; a type waiting for info whose fields
// are now complete goes to PROCESSING (ACCEPTED under auto_accept). Decisions already taken
// (PROCESSING, ACCEPTED, REJECTED) stand.
func (s builtin) reevaluate(ctx context.Context, tx *store.Tx, id, txID string, now time.Time) error {
	states, err := fieldStates(ctx, tx, id)
	if err != nil {
		return err
	}
	// The caller holds the customer lock (lockCustomer), so a concurrent operator decision
	// is either fully before or fully after this read.
	rows, err := tx.QueryContext(ctx, `SELECT type, status FROM kyc_customer_types WHERE customer_id = ? ORDER BY type`, id)
	if err != nil {
		return fmt.Errorf("kyc: read customer types: %w", err)
	}
	cur := map[string]string{}
	var order []string
	for rows.Next() {
		var t, st string
		if err := rows.Scan(&t, &st); err != nil {
			rows.Close()
			return fmt.Errorf("kyc: read customer types: %w", err)
		}
		cur[t] = st
		order = append(order, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("kyc: read customer types: %w", err)
	}
	for _, typ := range order {
		next := cur[typ]
		switch {
		case next == StatusRejected:
		case len(s.missing(typ, states)) > 0:
			next = StatusNeedsInfo
		case next == StatusNeedsInfo && s.cfg.AutoAccept:
			next = StatusAccepted
		case next == StatusNeedsInfo:
			next = StatusProcessing
		}
		if next != cur[typ] {
			if _, err := tx.ExecContext(ctx, `UPDATE kyc_customer_types SET status = ?, message = '', updated_at = ?
				WHERE customer_id = ? AND type = ?`, next, store.Micros(now), id, typ); err != nil {
				return fmt.Errorf("kyc: update customer status: %w", err)
			}
		}
		cust, err := s.customer(ctx, tx, id, typ)
		if err != nil {
			return err
		}
		if _, err := s.record(ctx, tx, cust, txID, true); err != nil {
			return err
		}
	}
	return nil
}

// Decide applies an operator decision (PUT /admin/v1/customers/{id}/status) to a builtin
// customer and returns the resulting GET /customer body.
func (s *Service) Decide(ctx context.Context, id string, d Decision) (Customer, error) {
	return s.backend.decide(ctx, id, d)
}

func (s builtin) decide(ctx context.Context, id string, d Decision) (Customer, error) {
	if !validStatus(d.Status) {
		return Customer{}, badRequest("status must be ACCEPTED, REJECTED, NEEDS_INFO or PROCESSING")
	}
	if d.Status == StatusRejected && d.Message == "" {
		return Customer{}, badRequest("message is required with REJECTED")
	}
	if d.Status == StatusNeedsInfo && len(d.Fields) == 0 {
		return Customer{}, badRequest("fields (to send again) are required with NEEDS_INFO")
	}
	if d.Status != StatusNeedsInfo && len(d.Fields) > 0 {
		return Customer{}, badRequest("fields are only used with NEEDS_INFO")
	}
	var out Customer
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockCustomer(ctx, tx, id); err != nil {
			return err
		}
		typ := d.Type
		if typ == "" {
			var types []string
			rows, err := tx.QueryContext(ctx, `SELECT type FROM kyc_customer_types WHERE customer_id = ?`, id)
			if err != nil {
				return fmt.Errorf("kyc: read customer types: %w", err)
			}
			for rows.Next() {
				var t string
				if err := rows.Scan(&t); err != nil {
					rows.Close()
					return fmt.Errorf("kyc: read customer types: %w", err)
				}
				types = append(types, t)
			}
			rows.Close()
			if len(types) != 1 {
				return badRequest("type is required: the customer has several types")
			}
			typ = types[0]
		}
		if _, ok := s.cfg.Types[typ]; !ok {
			return badRequest(fmt.Sprintf("unknown customer type %q", typ))
		}
		for _, f := range d.Fields {
			if _, ok := s.field(typ, f); !ok {
				return badRequest(fmt.Sprintf("field %s is not a field of type %s", f, typ))
			}
		}
		now := store.Micros(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_customer_types (customer_id, type, status, message, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id, type) DO UPDATE SET status = excluded.status,
				message = excluded.message, updated_at = excluded.updated_at`,
			id, typ, d.Status, d.Message, now); err != nil {
			return fmt.Errorf("kyc: store decision: %w", err)
		}
		errMsg := d.Message
		if errMsg == "" {
			errMsg = "please send this field again"
		}
		for _, f := range d.Fields {
			if _, err := tx.ExecContext(ctx, `UPDATE kyc_fields SET status = ?, error = ?, updated_at = ?
				WHERE customer_id = ? AND name = ?`, FieldRejected, errMsg, now, id, f); err != nil {
				return fmt.Errorf("kyc: reject field: %w", err)
			}
		}
		if d.Status == StatusAccepted {
			for name := range s.cfg.Types[typ].Fields {
				if _, err := tx.ExecContext(ctx, `UPDATE kyc_fields SET status = ?, error = '', updated_at = ?
					WHERE customer_id = ? AND name = ?`, FieldAccepted, now, id, name); err != nil {
					return fmt.Errorf("kyc: accept field: %w", err)
				}
			}
		}
		c, err := s.customer(ctx, tx, id, typ)
		if err != nil {
			return err
		}
		out = c
		_, err = s.record(ctx, tx, c, "", true)
		return err
	})
	return out, err
}

// FieldValue opens one stored field of a builtin customer (for operators and exports; never
// logged).
func (s *Service) FieldValue(ctx context.Context, id, name string) ([]byte, string, error) {
	var sealed []byte
	var ct string
	err := s.db.QueryRowContext(ctx, `SELECT value, content_type FROM kyc_fields WHERE customer_id = ? AND name = ?`,
		id, name).Scan(&sealed, &ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("kyc: read field: %w", err)
	}
	v, err := s.sealer.Open(sealed, fieldAD(id, name))
	if err != nil {
		return nil, "", fmt.Errorf("kyc: open field: %w", err)
	}
	return v, ct, nil
}

// Summary is one customer type's state, as operators list it.
type Summary struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	Account   string    `json:"account"`
	Memo      string    `json:"memo,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ListQuery filters List; zero values mean no filter. After and AfterType are the id and
// type of the last entry of the previous page (creation order, ascending); Cursor, from
// NextCursor, continues a page of any order.
type ListQuery struct {
	Status, Type, After, AfterType string
	// Account (and Memo, when Account is set) keep the customers of one owner.
	Account, Memo string
	// Sort is SortCreated (by id: creation order) or one of Sorts (SortStatus, SortUpdated
	// with the builtin back end); Desc lists newest (last) first. The business back end
	// lists in creation order only.
	Sort   string
	Desc   bool
	Cursor string
	Limit  int
}

// List returns customers by id (creation order) or by q.Sort, for the operator's work
// queue, e.g. every PROCESSING sep6 customer. With the business back end it lists the
// customers vaspgate knows of (listKnown).
func (s *Service) List(ctx context.Context, q ListQuery) ([]Summary, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 100
	}
	if q.Status != "" && !validStatus(q.Status) {
		return nil, badRequest("status must be ACCEPTED, REJECTED, NEEDS_INFO or PROCESSING")
	}
	if sorts := s.Sorts(); q.Sort != SortCreated && !slices.Contains(sorts, q.Sort) {
		if len(sorts) == 0 {
			return nil, badRequest("with this KYC back end customers are listed in creation order only")
		}
		return nil, badRequest("sort must be " + strings.Join(sorts, " or ") + " (or nothing: by creation)")
	}
	return s.backend.list(ctx, q)
}

// Sorts are the orders List offers besides creation (ListQuery.Sort), which depend on the
// back end: callers such as the console ask rather than guess, so they offer only these.
func (s *Service) Sorts() []string { return s.backend.sorts() }

// sorts: every order pageOf walks an index for.
func (builtin) sorts() []string { return []string{SortStatus, SortUpdated} }

// list reads the builtin customers' statuses.
func (s builtin) list(ctx context.Context, q ListQuery) ([]Summary, error) {
	page, err := pageOf(q, "t.customer_id", "t.type", "t.status", "t.updated_at")
	if err != nil {
		return nil, err
	}
	// Each condition is written only when asked for, so PostgreSQL plans the query on the
	// index of the filter or of the order instead of walking every customer.
	var where string
	var args []any
	if q.Status != "" {
		where, args = where+" AND t.status = ?", append(args, q.Status)
	}
	if q.Type != "" {
		where, args = where+" AND t.type = ?", append(args, q.Type)
	}
	if q.Account != "" {
		where, args = where+" AND c.account = ?", append(args, q.Account)
		if q.Memo != "" {
			where, args = where+" AND c.memo = ?", append(args, q.Memo)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT t.customer_id, t.type, t.status, c.account, c.memo, t.updated_at
		FROM kyc_customer_types t JOIN kyc_customers c ON c.id = t.customer_id
		WHERE 1 = 1`+where+page.cond+`
		ORDER BY `+page.keys.OrderBy(q.Desc)+` LIMIT ?`, append(append(args, page.args...), q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("kyc: list customers: %w", err)
	}
	out, err := scanSummaries(rows)
	if err != nil {
		return nil, fmt.Errorf("kyc: list customers: %w", err)
	}
	return out, nil
}

// scanSummaries reads rows of (customer id, type, status, account, memo, updated_at micros),
// the columns both back ends' lists select, and closes them.
func scanSummaries(rows *sql.Rows) ([]Summary, error) {
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		var sm Summary
		var at int64
		if err := rows.Scan(&sm.ID, &sm.Type, &sm.Status, &sm.Account, &sm.Memo, &at); err != nil {
			return nil, err
		}
		sm.UpdatedAt = store.FromMicros(at)
		out = append(out, sm)
	}
	return out, rows.Err()
}
