package kyc

import (
	"context"
	"fmt"
)

// Resealer is a Sealer that can tell which values were sealed with a key other than the
// current one; *seal.Keyring implements it.
type Resealer interface {
	Sealer
	NeedsReseal(sealed []byte) bool
}

// resealTarget is one table of sealed values.
type resealTarget struct {
	table, value string
	keys         []string // primary key columns, in order
	ad           func(keys []string) []byte
}

var resealTargets = []resealTarget{
	{"kyc_fields", "value", []string{"customer_id", "name"}, func(k []string) []byte { return fieldAD(k[0], k[1]) }},
	{"kyc_files", "data", []string{"id"}, func(k []string) []byte { return fileAD(k[0]) }},
	{"kyc_snapshots", "body", []string{"customer_id", "type"}, func(k []string) []byte { return snapshotAD(k[0], k[1]) }},
}

// Reseal re-encrypts, with the current key, every KYC value (fields, files, snapshots)
// sealed with an older one, so old keys can be retired after a rotation. It works in small
// transactions and may run while serving; a value changed meanwhile is left for the next
// run. It returns how many values it resealed.
func (s *Service) Reseal(ctx context.Context) (int, error) {
	rs, ok := s.sealer.(Resealer)
	if !ok {
		return 0, fmt.Errorf("kyc: reseal: the sealer cannot tell old values")
	}
	total := 0
	for _, t := range resealTargets {
		n, err := s.resealTable(ctx, rs, t)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (s *Service) resealTable(ctx context.Context, rs Resealer, t resealTarget) (int, error) {
	// Keyset pagination over the primary key; 200 rows per read.
	cols := t.keys[0]
	where := t.keys[0] + " > ?"
	if len(t.keys) == 2 {
		cols += ", " + t.keys[1]
		where = "(" + t.keys[0] + " > ? OR (" + t.keys[0] + " = ? AND " + t.keys[1] + " > ?))"
	}
	after := make([]string, len(t.keys))
	n := 0
	for {
		args := []any{after[0]}
		if len(t.keys) == 2 {
			args = append(args, after[0], after[1])
		}
		rows, err := s.db.QueryContext(ctx, `SELECT `+cols+`, `+t.value+` FROM `+t.table+` WHERE `+where+
			` ORDER BY `+cols+` LIMIT 200`, args...)
		if err != nil {
			return n, fmt.Errorf("kyc: reseal %s: %w", t.table, err)
		}
		type row struct {
			keys  []string
			value []byte
		}
		var batch []row
		for rows.Next() {
			r := row{keys: make([]string, len(t.keys))}
			dest := make([]any, 0, len(t.keys)+1)
			for i := range r.keys {
				dest = append(dest, &r.keys[i])
			}
			dest = append(dest, &r.value)
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return n, fmt.Errorf("kyc: reseal %s: %w", t.table, err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("kyc: reseal %s: %w", t.table, err)
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, r := range batch {
			if !rs.NeedsReseal(r.value) {
				continue
			}
			plain, err := rs.Open(r.value, t.ad(r.keys))
			if err != nil {
				return n, fmt.Errorf("kyc: reseal %s: open: %w", t.table, err)
			}
			sealed, err := rs.Seal(plain, t.ad(r.keys))
			if err != nil {
				return n, fmt.Errorf("kyc: reseal %s: %w", t.table, err)
			}
			match := t.keys[0] + " = ?"
			args := []any{sealed, r.keys[0]}
			if len(t.keys) == 2 {
				match += " AND " + t.keys[1] + " = ?"
				args = append(args, r.keys[1])
			}
			// Compare-and-set on the old value: a concurrent change wins.
			res, err := s.db.ExecContext(ctx, `UPDATE `+t.table+` SET `+t.value+` = ? WHERE `+match+` AND `+t.value+` = ?`,
				append(args, r.value)...)
			if err != nil {
				return n, fmt.Errorf("kyc: reseal %s: %w", t.table, err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				n++
			}
		}
		copy(after, batch[len(batch)-1].keys)
	}
}
