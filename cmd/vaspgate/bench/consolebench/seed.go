package consolebench

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// deliveryGapMillis spaces the seeded deliveries in time (a million over about a month).
const deliveryGapMillis = 2500

// seeded names rows the timed pages open.
type seeded struct {
	baseMillis                                     int64
	endpoint, subject, delivery, customer, account string
}

// subjects is how many subjects the deliveries spread over (about five deliveries each,
// half customers, half transactions).
func subjects(o Options) int { return max(o.Deliveries/5, 1) }

// seed fills the tables with set-based INSERT … SELECT over generate_series: minutes of
// row-by-row inserts become seconds. The rows are shaped like the services' own (time-ordered
// UUIDv7-like ids, statuses in realistic shares) because the console reads them through the
// services, which expect that shape.
func seed(ctx context.Context, db *store.DB, o Options) (seeded, error) {
	base := time.Now().Add(-time.Duration(o.Deliveries) * deliveryGapMillis * time.Millisecond).UnixMilli()
	s := seeded{baseMillis: base}
	// uuid7(ms, n): a UUIDv7-shaped id whose first 48 bits are the time, so ids sort by it.
	const uuid7 = `substr(lpad(to_hex(%[1]s), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex(%[1]s), 12, '0'), 9, 4) || '-7000-8000-' || lpad(to_hex(%[2]s), 12, '0')`
	custID := fmt.Sprintf(uuid7, fmt.Sprintf("(%d + (%%[1]s) * 1000)", base), "(%[1]s)")
	cust := func(n string) string { return fmt.Sprintf(custID, n) }
	account := func(n string) string { return `'G' || lpad((` + n + `)::text, 55, 'A')` }
	nowUS := store.Micros(time.Now())
	subj := subjects(o)
	stmts := []struct {
		what string
		sql  string
	}{
		{"endpoints", `INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
			SELECT 'bench-ep-' || n, CASE WHEN n = 2 THEN 'business' ELSE 'wallet' END,
				'https://wallet' || n || '.example/callback', ` + fmt.Sprint(nowUS) + `, ` + fmt.Sprint(nowUS) + `
			FROM generate_series(0::bigint, 2) AS s(n)`},
		{"customers", `INSERT INTO kyc_customers (id, account, memo, client_domain, created_at, updated_at)
			SELECT ` + cust("n") + `, ` + account("n") + `, CASE WHEN n % 10 = 0 THEN n::text ELSE '' END, '',
				` + fmt.Sprint(nowUS) + ` - n, ` + fmt.Sprint(nowUS) + ` - n
			FROM generate_series(1::bigint, ` + fmt.Sprint(o.Customers) + `) AS s(n)`},
		{"customer statuses", `INSERT INTO kyc_customer_types (customer_id, type, status, message, updated_at)
			SELECT ` + cust("n") + `, 'sep6', CASE WHEN n % 20 < 14 THEN 'ACCEPTED' WHEN n % 20 < 17 THEN 'PROCESSING'
				WHEN n % 20 < 19 THEN 'NEEDS_INFO' ELSE 'REJECTED' END, '', ` + fmt.Sprint(nowUS) + ` - n
			FROM generate_series(1::bigint, ` + fmt.Sprint(o.Customers) + `) AS s(n)`},
		{"transactions", `INSERT INTO transfer_transactions (id, sep, kind, status, version, owner_account, owner_memo, client_domain,
				asset_code, customer_id, stellar_transaction_id, external_transaction_id, started_at, updated_at, data)
			SELECT id, '6', 'deposit', st, 1, acct, '', '', 'USDC', cid, '', '', ` + fmt.Sprint(nowUS) + ` - n, ` + fmt.Sprint(nowUS) + ` - n,
				'{"kind":"deposit","owner":{"account":"' || acct || '"},"asset_code":"USDC","customer_id":"' || cid ||
				'","amount_in":{"amount":"' || (n % 1000 + 1) || '","asset":"iso4217:USD"},"started_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z"}'
			FROM (SELECT n, ` + fmt.Sprintf(uuid7, fmt.Sprintf("(%d + n * 1000 + 7)", base), "n") + ` AS id, ` + cust("n") + ` AS cid, ` + account("n") + ` AS acct,
				(ARRAY['pending_user_transfer_start','pending_anchor','completed','completed','completed','pending_customer_info_update'])[n % 6 + 1] AS st
				FROM generate_series(1::bigint, ` + fmt.Sprint(o.Customers) + `) AS s(n)) t`},
		{"deliveries", `INSERT INTO callback_deliveries (id, endpoint_id, subject, seq, event_id, event_type, occurred_at, created_at,
				body, status, tries, attempts, next_at, last_status, last_error, finished_at, updated_at)
			SELECT id, 'bench-ep-' || (k % 3), CASE WHEN k % 2 = 0 THEN 'customer:' || ` + cust("k / 2 + 1") + ` || ':sep6' ELSE 'transaction:' || k END,
				n / ` + fmt.Sprint(subj) + ` + 1, id, CASE WHEN k % 2 = 0 THEN 'sep12.customer' ELSE 'sep6.transaction' END,
				at, at, convert_to('{"status":"ACCEPTED","updated_at":"2026-11-01T00:00:00Z"}', 'UTF8'),
				CASE WHEN n % 100 < 3 THEN 'failed' ELSE 'delivered' END, 0, CASE WHEN n % 100 < 3 THEN 8 ELSE 1 END, at,
				CASE WHEN n % 100 < 3 THEN 500 ELSE 200 END, CASE WHEN n % 100 < 3 THEN 'http_status' ELSE '' END, at + 90000, at + 90000
			FROM (SELECT n, n % ` + fmt.Sprint(subj) + ` AS k, (` + fmt.Sprint(base) + ` + n * ` + fmt.Sprint(deliveryGapMillis) + `) * 1000 AS at,
				` + fmt.Sprintf(uuid7, fmt.Sprintf("(%d + n * %d)", base, deliveryGapMillis), "n") + ` AS id
				FROM generate_series(0::bigint, ` + fmt.Sprint(o.Deliveries-1) + `) AS s(n)) d`},
		{"attempts", `INSERT INTO callback_attempts (delivery_id, n, instance, started_at, duration_us, status_code, outcome, error_code, error, response_body)
			SELECT id, 1, 'bench', created_at, 41000, last_status, CASE WHEN status = 'failed' THEN 'failed' ELSE 'delivered' END,
				last_error, '', convert_to('ok', 'UTF8') FROM callback_deliveries WHERE id >= (SELECT id FROM callback_deliveries ORDER BY id DESC OFFSET 1000 LIMIT 1)`},
		{"verifications", `INSERT INTO travel_rule_verifications (verification_uuid, status, reason, message, tx_hash, vout, risk_level,
				screening, version, created_at, updated_at)
			SELECT ` + fmt.Sprintf(uuid7, fmt.Sprintf("(%d + n * 60000)", base), "n") + `,
				(ARRAY['VERIFIED','VERIFIED','VERIFIED','PENDING','DENIED','ERROR'])[n % 6 + 1], '', '', md5(n::text) || md5(n::text), '0',
				(ARRAY['none','none','low','medium','high','severe'])[n % 6 + 1], '{}', 1, ` + fmt.Sprint(nowUS) + ` - n * 1000, ` + fmt.Sprint(nowUS) + ` - n * 1000
			FROM generate_series(1::bigint, ` + fmt.Sprint(o.Verifications) + `) AS s(n)`},
		{"audit log", `INSERT INTO console_audit (at, operator, role, action, target, before, after, reason)
			SELECT ` + fmt.Sprint(nowUS) + ` - (` + fmt.Sprint(o.AuditRows) + ` - n) * 1000000, 'op-' || (n % 10), 'operator', 'customer.decide',
				'customer:' || ` + cust("n % "+fmt.Sprint(o.Customers)+" + 1") + `, 'PROCESSING', 'ACCEPTED', 'documents checked'
			FROM generate_series(1::bigint, ` + fmt.Sprint(o.AuditRows) + `) AS s(n)`},
		{"statistics", `VACUUM ANALYZE`},
	}
	// The seed is one bulk load; a live database gets the same from autovacuum: statistics
	// and the visibility map that lets counts be answered from the indexes alone.
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st.sql); err != nil {
			return s, fmt.Errorf("consolebench: seed %s: %w", st.what, err)
		}
	}
	s.endpoint = "bench-ep-1"
	if err := db.QueryRowContext(ctx, `SELECT id, subject FROM callback_deliveries WHERE subject LIKE 'customer:%' ORDER BY id DESC LIMIT 1`).
		Scan(&s.delivery, &s.subject); err != nil {
		return s, fmt.Errorf("consolebench: pick a delivery: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT id, account FROM kyc_customers WHERE id = (SELECT min(customer_id) FROM kyc_customer_types WHERE status = 'PROCESSING')`).
		Scan(&s.customer, &s.account); err != nil {
		return s, fmt.Errorf("consolebench: pick a customer: %w", err)
	}
	return s, nil
}
