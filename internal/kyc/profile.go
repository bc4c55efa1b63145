package kyc

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Profile is a customer as compliance checks need it: its SEP-12 status for a type and its
// SEP-9 text fields, opened (personal data: never log it). Both back ends give one: the
// builtin one from its sealed rows, the business one from the business server (see
// business.profile).
type Profile struct {
	ID     string
	Status string
	Fields map[string]string
}

// ProfileByOwner returns the customer of the identity (account, memo) for typ ("" for the
// default type), or ErrNotFound when the identity has none (or, with the business back end,
// when the business server does not hand vaspgate the values). Binary fields (photos) are
// left out.
func (s *Service) ProfileByOwner(ctx context.Context, account, memo, typ string) (Profile, error) {
	if typ == "" {
		typ = s.defaultType()
	}
	return s.backend.profile(ctx, target{owner: wallet.Identity{Account: account, Memo: memo}}, typ)
}

// ProfileByID is ProfileByOwner for a customer id.
func (s *Service) ProfileByID(ctx context.Context, id, typ string) (Profile, error) {
	if typ == "" {
		typ = s.defaultType()
	}
	return s.backend.profile(ctx, target{id: id}, typ)
}

// profile reads the customer, its status for typ and its fields in one statement (the
// enclave's Verify User Account has 1 s: one round trip, one connection from the pool): by
// t.id, else by the identity t.owner (ErrNotFound when it has no customer). An id without
// rows is a customer with nothing provided yet.
func (s builtin) profile(ctx context.Context, t target, typ string) (Profile, error) {
	which, arg := "c.id = ?", []any{typ, t.id}
	if t.id == "" {
		which, arg = "c.id = (SELECT customer_id FROM kyc_identities WHERE account = ? AND memo = ?)", []any{typ, t.owner.Account, t.owner.Memo}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, COALESCE(ct.status, ''), f.name, f.value, f.content_type
	FROM kyc_customers c
	LEFT JOIN kyc_customer_types ct ON ct.customer_id = c.id AND ct.type = ?
	LEFT JOIN kyc_fields f ON f.customer_id = c.id
	WHERE `+which, arg...)
	if err != nil {
		return Profile{}, fmt.Errorf("kyc: read customer: %w", err)
	}
	defer rows.Close()
	p := Profile{ID: t.id, Status: StatusNeedsInfo, Fields: map[string]string{}}
	found := false
	for rows.Next() {
		var (
			id, status string
			name, ct   sql.NullString
			sealed     []byte
		)
		if err := rows.Scan(&id, &status, &name, &sealed, &ct); err != nil {
			return Profile{}, fmt.Errorf("kyc: read customer: %w", err)
		}
		found, p.ID = true, id
		if status != "" {
			p.Status = status
		}
		if !name.Valid || (ct.String != "" && !strings.HasPrefix(ct.String, "text/")) {
			continue
		}
		v, err := s.sealer.Open(sealed, fieldAD(id, name.String))
		if err != nil {
			return Profile{}, fmt.Errorf("kyc: open field %s: %w", name.String, err)
		}
		p.Fields[name.String] = string(v)
	}
	if err := rows.Err(); err != nil {
		return Profile{}, fmt.Errorf("kyc: read customer: %w", err)
	}
	if !found && t.id == "" {
		return Profile{}, ErrNotFound
	}
	return p, nil
}
