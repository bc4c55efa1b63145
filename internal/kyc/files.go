package kyc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

func fileAD(id string) []byte { return []byte("kyc.file\x00" + id) }

// UploadFile answers POST /customer/files: stores the file sealed, owned by the caller, until
// a PUT /customer references it or it expires.
func (s *Service) UploadFile(ctx context.Context, c wallet.Identity, u Upload) (File, error) {
	if len(u.Data) == 0 {
		return File{}, badRequest("file is empty")
	}
	if int64(len(u.Data)) > s.cfg.MaxFileSize {
		return File{}, badRequest(fmt.Sprintf("file is larger than %d bytes", s.cfg.MaxFileSize))
	}
	if u.ContentType == "" {
		u.ContentType = "application/octet-stream"
	}
	if err := s.limits.Disk.Check(int64(len(u.Data))); err != nil {
		return File{}, err
	}
	id := newID()
	sealed, err := s.sealer.Seal(u.Data, fileAD(id))
	if err != nil {
		return File{}, fmt.Errorf("kyc: seal file: %w", err)
	}
	now := s.now()
	exp := now.Add(s.cfg.FileTTL).UTC().Truncate(time.Microsecond)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkFileQuotas(ctx, tx, c, int64(len(u.Data))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO kyc_files (id, account, memo, customer_id, content_type, size, data, created_at, expires_at)
			VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)`, id, c.Account, c.Memo, u.ContentType, len(u.Data), sealed,
			store.Micros(now), store.Micros(exp)); err != nil {
			return fmt.Errorf("kyc: store file: %w", err)
		}
		return nil
	})
	if err != nil {
		return File{}, err
	}
	return File{ID: id, ContentType: u.ContentType, Size: int64(len(u.Data)), ExpiresAt: &exp}, nil
}

// Files answers GET /customer/files: the caller's files with that id, or of that customer.
// Anything not the caller's is simply not listed.
func (s *Service) Files(ctx context.Context, c wallet.Identity, fileID, customerID string) ([]File, error) {
	if (fileID == "") == (customerID == "") {
		return nil, badRequest("exactly one of file_id and customer_id is required")
	}
	q := `SELECT id, account, memo, COALESCE(customer_id, ''), content_type, size, expires_at FROM kyc_files WHERE `
	arg := fileID
	if fileID != "" {
		q += `id = ?`
	} else {
		q += `customer_id = ?`
		arg = customerID
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, arg)
	if err != nil {
		return nil, fmt.Errorf("kyc: list files: %w", err)
	}
	defer rows.Close()
	out := []File{}
	now := s.now()
	for rows.Next() {
		var f File
		var o wallet.Identity
		var exp sql.NullInt64
		if err := rows.Scan(&f.ID, &o.Account, &o.Memo, &f.CustomerID, &f.ContentType, &f.Size, &exp); err != nil {
			return nil, fmt.Errorf("kyc: list files: %w", err)
		}
		if !owns(c, o) {
			continue
		}
		if exp.Valid {
			t := store.FromMicros(exp.Int64)
			if t.Before(now) {
				continue
			}
			f.ExpiresAt = &t
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// readFile opens an uploaded file the caller owns, for use as a field of customer id (empty:
// not known yet). Unknown, foreign or expired files are a bad request.
func (s *Service) readFile(ctx context.Context, q store.Querier, c wallet.Identity, fileID, customerID string) (Upload, error) {
	var o wallet.Identity
	var cust, ct string
	var sealed []byte
	var exp sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT account, memo, COALESCE(customer_id, ''), content_type, data, expires_at
		FROM kyc_files WHERE id = ?`, fileID).Scan(&o.Account, &o.Memo, &cust, &ct, &sealed, &exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (!owns(c, o) || (cust != "" && cust != customerID) ||
		(exp.Valid && store.FromMicros(exp.Int64).Before(s.now())))) {
		return Upload{}, badRequest(fmt.Sprintf("file %s not found", fileID))
	}
	if err != nil {
		return Upload{}, fmt.Errorf("kyc: read file: %w", err)
	}
	data, err := s.sealer.Open(sealed, fileAD(fileID))
	if err != nil {
		return Upload{}, fmt.Errorf("kyc: open file: %w", err)
	}
	return Upload{ContentType: ct, Data: data}, nil
}

// attachFile ties a file to its customer: it no longer expires.
func attachFile(ctx context.Context, q store.Querier, fileID, customerID string) error {
	if _, err := q.ExecContext(ctx, `UPDATE kyc_files SET customer_id = ?, expires_at = NULL WHERE id = ?`,
		customerID, fileID); err != nil {
		return fmt.Errorf("kyc: attach file: %w", err)
	}
	return nil
}

// takeFile reads a file for customer id and attaches it.
func (s *Service) takeFile(ctx context.Context, tx *store.Tx, c wallet.Identity, fileID, customerID string) (Upload, error) {
	u, err := s.readFile(ctx, tx, c, fileID, customerID)
	if err != nil {
		return Upload{}, err
	}
	return u, attachFile(ctx, tx, fileID, customerID)
}

// PurgeExpiredFiles deletes uploads that no PUT /customer referenced in time and returns how
// many went. The application runs it as an hourly maintenance task, once per cluster (the
// DELETE is idempotent all the same).
func (s *Service) PurgeExpiredFiles(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM kyc_files WHERE expires_at IS NOT NULL AND expires_at < ?`,
		store.Micros(s.now()))
	if err != nil {
		return 0, fmt.Errorf("kyc: purge files: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
