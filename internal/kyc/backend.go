package kyc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// backend is where customers' data lives and where their status is decided: vaspgate's own
// database (builtin) or an Anchor Platform business server (business). What does not depend
// on it stays on Service: who owns a customer (resolve, adopt), RecordStatus with its
// snapshots and callbacks, callback registration, uploaded files.
//
// Both implementations embed the Service, so their bodies read the shared parts as s.db,
// s.record, s.resolve.
type backend interface {
	// acceptsAnyType reports whether a customer type outside kyc.types is passed on (the
	// business server decides) rather than refused.
	acceptsAnyType() bool
	// find fills t.id with the customer of t.owner when the request named none; the
	// business back end leaves it empty (the business server finds its customers).
	find(ctx context.Context, q store.Querier, t *target) error
	// get answers GET /customer for a resolved target.
	get(ctx context.Context, c wallet.Identity, t target, typ, lang string) (Customer, error)
	// fetch reads a customer without an ownership check (for the trusted business RPC);
	// q.Type is set.
	fetch(ctx context.Context, q Query) (Customer, error)
	// put answers PUT /customer (r.Type is checked) with the customer id.
	put(ctx context.Context, c wallet.Identity, r PutRequest) (string, error)
	// verify applies PUT /customer/verification codes to a resolved customer.
	verify(ctx context.Context, c wallet.Identity, t target, typ string, codes map[string]string) (Customer, error)
	// existing returns the id of t's customer when the request named none and find could
	// not tell ("" when there is none).
	existing(ctx context.Context, c wallet.Identity, t target) (string, error)
	// erase removes the customer's data where it lives before vaspgate forgets it, filling
	// t.id when the back end is the one that knows it.
	erase(ctx context.Context, t *target) error
	// decide applies an operator decision.
	decide(ctx context.Context, id string, d Decision) (Customer, error)
	// sorts are the orders list offers besides creation (SortCreated, always offered).
	sorts() []string
	// list answers the operators' customer list (q is checked, its Sort among sorts).
	list(ctx context.Context, q ListQuery) ([]Summary, error)
	// profile reads a customer's status for typ and text fields for the Travel Rule: by
	// t.id, else by t.owner (ErrNotFound when there is no such customer, or its values are
	// not to be had).
	profile(ctx context.Context, t target, typ string) (Profile, error)
}

// builtin keeps customers in vaspgate's database, sealed, with operator decisions.
type builtin struct{ *Service }

// business proxies customer calls to an Anchor Platform business server.
type business struct {
	*Service
	client *businessClient
}

func (builtin) acceptsAnyType() bool  { return false }
func (business) acceptsAnyType() bool { return true }

func (s builtin) find(ctx context.Context, q store.Querier, t *target) error {
	err := q.QueryRowContext(ctx, `SELECT customer_id FROM kyc_identities WHERE account = ? AND memo = ?`,
		t.owner.Account, t.owner.Memo).Scan(&t.id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("kyc: read identity: %w", err)
	}
	return nil
}

func (business) find(context.Context, store.Querier, *target) error { return nil }

func (s builtin) get(ctx context.Context, _ wallet.Identity, t target, typ, _ string) (Customer, error) {
	if t.id == "" {
		return s.newCustomer(typ), nil
	}
	return s.customer(ctx, s.db, t.id, typ)
}

func (s business) get(ctx context.Context, c wallet.Identity, t target, typ, lang string) (Customer, error) {
	cust, err := s.client.get(ctx, s.query(t, typ, lang))
	if err != nil {
		return Customer{}, err
	}
	if err := s.adopt(ctx, c, t, &cust); err != nil {
		return Customer{}, err
	}
	cust.Type = typ
	return cust, nil
}

func (s builtin) fetch(ctx context.Context, q Query) (Customer, error) {
	if q.ID == "" {
		return Customer{}, ErrNotFound
	}
	if _, _, err := ownerOf(ctx, s.db, q.ID); err != nil {
		return Customer{}, err
	}
	return s.customer(ctx, s.db, q.ID, q.Type)
}

func (s business) fetch(ctx context.Context, q Query) (Customer, error) {
	cust, err := s.client.get(ctx, q)
	if err != nil {
		return Customer{}, err
	}
	cust.Type = q.Type
	return cust, nil
}

func (s builtin) verify(ctx context.Context, c wallet.Identity, t target, typ string, codes map[string]string) (Customer, error) {
	if _, err := s.applyCodes(ctx, c, t.id, "", "", "", typ, codes); err != nil {
		return Customer{}, err
	}
	return s.customer(ctx, s.db, t.id, typ)
}

func (s business) verify(ctx context.Context, c wallet.Identity, t target, typ string, codes map[string]string) (Customer, error) {
	if _, err := s.put(ctx, c, PutRequest{ID: t.id, Type: typ, Verifications: codes}); err != nil {
		return Customer{}, err
	}
	return s.client.get(ctx, Query{ID: t.id, Type: typ})
}

// existing: find already knew every builtin customer.
func (builtin) existing(context.Context, wallet.Identity, target) (string, error) { return "", nil }

func (s business) existing(ctx context.Context, c wallet.Identity, t target) (string, error) {
	cust, err := s.client.get(ctx, s.query(t, s.defaultType(), ""))
	if err != nil {
		return "", err
	}
	if err := s.adopt(ctx, c, t, &cust); err != nil {
		return "", err
	}
	return cust.ID, nil
}

// erase: the builtin data goes with vaspgate's rows.
func (builtin) erase(context.Context, *target) error { return nil }

func (s business) erase(ctx context.Context, t *target) error {
	cust, err := s.client.get(ctx, s.query(*t, s.defaultType(), ""))
	if err != nil {
		return err
	}
	if cust.ID == "" {
		return ErrNotFound
	}
	if o, _, err := ownerOf(ctx, s.db, cust.ID); err == nil && o != t.owner {
		return ErrNotFound
	}
	if err := s.client.delete(ctx, cust.ID); err != nil {
		return err
	}
	t.id = cust.ID
	return nil
}

func (business) decide(context.Context, string, Decision) (Customer, error) {
	return Customer{}, badRequest("customer decisions are made by the business server with the business back end")
}

// sorts: none besides creation. The business back end lists the customers vaspgate knows
// of (listKnown), whose status is the last one recorded, if any, so there is no index of
// statuses or update times to walk.
func (business) sorts() []string { return nil }

// list: the customers vaspgate knows of (owners recorded, last recorded status).
func (s business) list(ctx context.Context, q ListQuery) ([]Summary, error) {
	return s.listKnown(ctx, q)
}

// profile asks the business server for the customer with its values (GET /customer with
// include_values=true; see businessClient.profile): Anchor Platform's API gives statuses and
// field descriptors only, so a business server that wants the Travel Rule decided answers
// the values too. One that does not is ErrNotFound, as before: never a name check passed
// on nothing.
func (s business) profile(ctx context.Context, t target, typ string) (Profile, error) {
	cust, values, err := s.client.profile(ctx, s.query(t, typ, ""))
	if err != nil {
		return Profile{}, err
	}
	if cust.ID == "" || len(values) == 0 {
		return Profile{}, ErrNotFound
	}
	return Profile{ID: cust.ID, Status: cust.Status, Fields: values}, nil
}

// query is the GET /customer query sent to the business server for a target.
func (s business) query(t target, typ, lang string) Query {
	q := Query{ID: t.id, Type: typ, TransactionID: t.txID, Lang: lang}
	if t.id == "" {
		q.Account, q.Memo = t.owner.Account, t.owner.Memo
	}
	return q
}
