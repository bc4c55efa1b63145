package kyc

import (
	"context"
	"database/sql"
	"errors"
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
	t := target{owner: wallet.Identity{Account: account, Memo: memo}}
	if err := s.backend.find(ctx, s.db, &t); err != nil {
		return Profile{}, err
	}
	if typ == "" {
		typ = s.defaultType()
	}
	return s.backend.profile(ctx, t, typ)
}

// ProfileByID is ProfileByOwner for a customer id.
func (s *Service) ProfileByID(ctx context.Context, id, typ string) (Profile, error) {
	if typ == "" {
		typ = s.defaultType()
	}
	return s.backend.profile(ctx, target{id: id}, typ)
}

func (s builtin) profile(ctx context.Context, t target, typ string) (Profile, error) {
	if t.id == "" {
		return Profile{}, ErrNotFound
	}
	id := t.id
	p := Profile{ID: id, Status: StatusNeedsInfo, Fields: map[string]string{}}
	err := s.db.QueryRowContext(ctx, `SELECT status FROM kyc_customer_types WHERE customer_id = ? AND type = ?`, id, typ).Scan(&p.Status)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Profile{}, fmt.Errorf("kyc: read customer status: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, value, content_type FROM kyc_fields WHERE customer_id = ?`, id)
	if err != nil {
		return Profile{}, fmt.Errorf("kyc: read fields: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name, ct string
			sealed   []byte
		)
		if err := rows.Scan(&name, &sealed, &ct); err != nil {
			return Profile{}, fmt.Errorf("kyc: read fields: %w", err)
		}
		if ct != "" && !strings.HasPrefix(ct, "text/") {
			continue
		}
		v, err := s.sealer.Open(sealed, fieldAD(id, name))
		if err != nil {
			return Profile{}, fmt.Errorf("kyc: open field %s: %w", name, err)
		}
		p.Fields[name] = string(v)
	}
	return p, rows.Err()
}
