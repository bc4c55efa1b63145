package kyc

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Limits bound what one wallet can make SEP-12 keep or send. A SEP-10 token costs a random
// keypair, so every bound that matters for the disk is counted in the database (and holds
// across instances) and one of them is global. Zero values leave a bound off.
type Limits struct {
	// FilesPerIdentity and FileBytesPerIdentity bound the uploads (POST /customer/files)
	// one identity (account and memo) keeps, referenced or not.
	FilesPerIdentity     limit.Quota
	FileBytesPerIdentity limit.Quota
	// PendingFileBytes bounds the bytes of every identity's uploads that no customer
	// references yet (they expire after kyc.file_ttl): the anonymous share of the disk.
	PendingFileBytes limit.Quota
	// CustomersPerAccount bounds the customers of one Stellar account across its memos.
	CustomersPerAccount limit.Quota
	// Disk refuses uploads and binary fields when free space is down to the reserve the
	// travel-rule spool needs.
	Disk *limit.Disk
	// CodeCooldown is the least time between two verification codes of one field, and
	// CodesPerDay how many codes one field gets in 24 hours; each code is a business event
	// (an SMS or an email for the business to send).
	CodeCooldown time.Duration
	CodesPerDay  int
}

// checkFileQuotas runs inside the upload's transaction: the identity's count and bytes
// (serialised per identity, so concurrent uploads cannot both take the last room) and the
// bytes of all pending uploads.
func (s *Service) checkFileQuotas(ctx context.Context, tx *store.Tx, c wallet.Identity, size int64) error {
	l := s.limits
	if l.FilesPerIdentity.Max > 0 || l.FileBytesPerIdentity.Max > 0 {
		if err := limit.Serialize(ctx, tx, "kyc.files/"+c.Account+"/"+c.Memo); err != nil {
			return err
		}
		var n, bytes int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM kyc_files WHERE account = ? AND memo = ?`,
			c.Account, c.Memo).Scan(&n, &bytes); err != nil {
			return fmt.Errorf("kyc: count files: %w", err)
		}
		if err := l.FilesPerIdentity.Check(n, 1, "files"); err != nil {
			return err
		}
		if err := l.FileBytesPerIdentity.Check(bytes, size, "bytes of files"); err != nil {
			return err
		}
	}
	if l.PendingFileBytes.Max > 0 {
		var bytes int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM kyc_files WHERE expires_at IS NOT NULL`).Scan(&bytes); err != nil {
			return fmt.Errorf("kyc: count pending files: %w", err)
		}
		if err := l.PendingFileBytes.Check(bytes, size, "bytes of unreferenced uploads, from every wallet"); err != nil {
			return err
		}
	}
	return nil
}

// checkCustomerQuota runs in the transaction that creates a customer for account.
func (s *Service) checkCustomerQuota(ctx context.Context, tx *store.Tx, account string) error {
	q := s.limits.CustomersPerAccount
	if q.Max <= 0 {
		return nil
	}
	if err := limit.Serialize(ctx, tx, "kyc.customers/"+account); err != nil {
		return err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kyc_customers WHERE account = ?`, account).Scan(&n); err != nil {
		return fmt.Errorf("kyc: count customers: %w", err)
	}
	return q.Check(n, 1, "customers of this account")
}
