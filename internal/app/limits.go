package app

import (
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
)

// limits are cfg.Limits built: the rate limiters, the disk guard and the quotas handed to
// kyc and transfer. The per-address limit is kept in this process (a flood filter in front
// of everything: it must not cost a database round trip); the per-identity limit, which
// bounds what an authenticated caller makes vaspgate do, is shared by every instance
// through the database on PostgreSQL (limit.Shared), the engine of N instances; on SQLite,
// one instance, it is kept in the process as well.
type limits struct {
	address  *limit.Limiter
	identity limit.Bucket
	// purgeBuckets drops the shared identity limit's full buckets (nil when it is in memory).
	purgeBuckets job.Task
	proxies      []netip.Prefix
	disk         *limit.Disk
	kyc          kyc.Limits
	pending      limit.Quota
}

func newLimits(cfg config.Config, db *store.DB, log *slog.Logger) limits {
	l := cfg.Limits.WithDefaults()
	identityRate := limit.Rate{PerMinute: l.IdentityRatePerMinute, Burst: l.IdentityBurst}
	var (
		identity limit.Bucket = limit.NewLimiter(identityRate)
		purge    job.Task
	)
	if db != nil && db.Dialect() == store.Postgres {
		shared := limit.NewShared(db, "identity", identityRate, log)
		identity = shared
		if shared != nil {
			purge = shared.Purge
		}
	}
	// The guard watches the filesystem of the travel-rule spool (acknowledged enclave
	// callbacks go there when the database cannot take them) and, on SQLite, the database's.
	paths := []string{spoolPath(cfg)}
	if p, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite:"); ok {
		p = strings.TrimPrefix(p, "//")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		paths = append(paths, filepath.Dir(p))
	}
	disk := limit.NewDisk(uint64(l.DiskReserve), paths...)
	return limits{
		address:      limit.NewLimiter(limit.Rate{PerMinute: l.AddressRatePerMinute, Burst: l.AddressBurst}),
		identity:     identity,
		purgeBuckets: purge,
		proxies:      l.Proxies(),
		disk:         disk,
		kyc: kyc.Limits{
			FilesPerIdentity:     limit.Quota{Name: "limits.files_per_identity", Max: l.FilesPerIdentity},
			FileBytesPerIdentity: limit.Quota{Name: "limits.file_bytes_per_identity", Max: l.FileBytesPerIdentity},
			PendingFileBytes:     limit.Quota{Name: "limits.pending_file_bytes", Max: l.PendingFileBytes},
			CustomersPerAccount:  limit.Quota{Name: "limits.customers_per_account", Max: l.CustomersPerAccount},
			Disk:                 disk,
			CodeCooldown:         l.VerificationResendCooldown,
			CodesPerDay:          l.VerificationCodesPerDay,
		},
		pending: limit.Quota{Name: "limits.pending_transactions_per_identity", Max: l.PendingTransactionsPerIdentity},
	}
}

// publicEdge limits every request of the public listener by source address.
func (l limits) publicEdge() func(http.Handler) http.Handler {
	return limit.PerAddress(l.address, l.proxies)
}

// sep puts the per-identity rate limit behind a SEP's authentication middleware, where the
// identity is known.
func (l limits) sep(auth func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	per := limit.PerKey(l.identity, "identity", func(r *http.Request) string {
		id, ok := stellar.IdentityFrom(r.Context())
		if !ok {
			return ""
		}
		return id.Account + ":" + id.Memo // text both engines store (no NUL)
	})
	return func(h http.Handler) http.Handler { return auth(per(h)) }
}

// spoolPath is the travel-rule spool directory build uses.
func spoolPath(cfg config.Config) string {
	if d := cfg.TravelRule.WithDefaults().SpoolDir; d != "" {
		return d
	}
	return spoolDir(cfg.DatabaseURL)
}
