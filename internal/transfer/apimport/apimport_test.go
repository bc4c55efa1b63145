package apimport_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/transfer/apimport"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

const (
	user   = "GDJLBYYKMCXNVVNABOE66NYXQGIA5AC5D223Z2KF6ZEYK4UBCA7FKLTG"
	muxed  = "MDJLBYYKMCXNVVNABOE66NYXQGIA5AC5D223Z2KF6ZEYK4UBCA7FKAAAAAAAAAAE2IY3I"
	issuer = "GDQOE23CFSUMSVQK4Y5JHPPYK73VYCNHZHA7ENKCV37P6SUEO6XQBKPP"
)

// apDatabase creates a PostgreSQL schema with Anchor Platform 4.3.0's tables, from its own
// migration files applied in version order, and returns a connection to it.
func apDatabase(t *testing.T) *sql.DB {
	t.Helper()
	base := os.Getenv("VASPGATE_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "ap_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("PostgreSQL is required for this test: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	db, err := sql.Open("pgx", base+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	files, _ := filepath.Glob(filepath.Join("testdata", "migrations", "V*__*.sql"))
	version := func(f string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(filepath.Base(f), "__", 2)[0], "V"))
		return n
	}
	sort.Slice(files, func(i, j int) bool { return version(files[i]) < version(files[j]) })
	if len(files) != 26 {
		t.Fatalf("%d migration files, want Anchor Platform 4.3.0's 26", len(files))
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
	}
	return db
}

// apRows inserts transactions as Anchor Platform's JPA entities write them: a completed
// deposit with its Stellar transaction, fee details and a refund; a withdrawal waiting for
// the user's payment with its id memo; a deposit of a muxed account; and a row of an
// unknown kind, which is reported and skipped.
func apRows(t *testing.T, db *sql.DB) {
	t.Helper()
	stmts := []string{
		`INSERT INTO sep6_transaction (id, transaction_id, kind, status, type, request_asset_code, request_asset_issuer,
			amount_in, amount_in_asset, amount_out, amount_out_asset, amount_fee, amount_fee_asset, fee_details_list,
			amount_expected, web_auth_account, web_auth_account_memo, client_domain, client_name, request_client_ip_address,
			to_account, memo, memo_type, message, stellar_transaction_id, external_transaction_id, stellar_transactions,
			refunds, started_at, updated_at, completed_at, transfer_received_at, version)
		VALUES ('a1f4c2de-0000-4000-8000-000000000001', 'a1f4c2de-0000-4000-8000-000000000001', 'deposit', 'completed', 'SWIFT', 'USDC', '` + issuer + `',
			'100', 'iso4217:USD', '95', 'stellar:USDC:` + issuer + `', '5', 'iso4217:USD', '[{"name":"service","amount":"5"}]',
			'100', '` + user + `', NULL, 'wallet.example.com', 'referenceCustodial', '127.0.0.1',
			'` + user + `', '12345', 'id', 'test message 3', 'f0e7a3d4', 'ext-123456',
			'[{"id":"f0e7a3d4","created_at":"2024-06-13T20:02:49Z","memo":"12345","memo_type":"id","envelope":"AAAA","payments":[{"id":"5299989118275585","amount":{"amount":"95","asset":"USDC:` + issuer + `"},"payment_type":"payment","source_account":"GBN4NNCDGJO4XW4KQU3CBIESUJWFVBUZPOKUZHT7W7WRB7CWOA7BXVQF","destination_account":"` + user + `"}]}]',
			'{"amount_refunded":{"amount":"0","asset":"iso4217:USD"},"amount_fee":{"amount":"0","asset":"iso4217:USD"},"payments":[]}',
			'2024-06-25 20:02:31.003419', '2024-06-25 20:02:34.180861', '2024-06-25 20:02:34.180858', '2023-07-04 12:34:56', 3)`,
		`INSERT INTO sep6_transaction (id, transaction_id, kind, status, type, request_asset_code, request_asset_issuer,
			amount_in, amount_in_asset, amount_out, amount_out_asset, amount_fee, amount_fee_asset, amount_expected,
			web_auth_account, web_auth_account_memo, client_name, from_account, withdraw_anchor_account, memo, memo_type,
			started_at, updated_at, user_action_required_by, version)
		VALUES ('a1f4c2de-0000-4000-8000-000000000002', 'a1f4c2de-0000-4000-8000-000000000002', 'withdrawal', 'pending_user_transfer_start', 'bank_account', 'USDC', '` + issuer + `',
			'100', 'stellar:USDC:` + issuer + `', '95', 'iso4217:USD', '5', 'stellar:USDC:` + issuer + `', '100',
			'` + user + `', '42', 'referenceCustodial', '` + user + `', 'GBN4NNCDGJO4XW4KQU3CBIESUJWFVBUZPOKUZHT7W7WRB7CWOA7BXVQF', '8123', 'id',
			'2024-06-25 20:12:42.295731', '2024-06-25 20:12:43.318713', '2030-01-01 00:00:00', 1)`,
		`INSERT INTO sep6_transaction (id, transaction_id, kind, status, type, request_asset_code, web_auth_account,
			to_account, started_at, updated_at, version)
		VALUES ('a1f4c2de-0000-4000-8000-000000000003', 'a1f4c2de-0000-4000-8000-000000000003', 'deposit-exchange', 'incomplete', 'SWIFT', 'USDC', '` + muxed + `',
			'` + muxed + `', '2024-06-26 10:00:00', '2024-06-26 10:00:00', 0)`,
		`INSERT INTO sep6_transaction (id, kind, status, web_auth_account, started_at, version)
		VALUES ('a1f4c2de-0000-4000-8000-000000000004', 'receive', 'pending_receiver', '` + user + `', '2024-06-26 10:00:00', 0)`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("insert as Anchor Platform: %v", err)
		}
	}
}

func TestImportAnchorPlatform(t *testing.T) {
	t.Parallel()
	src := apDatabase(t)
	apRows(t, src)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		count := func() int {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM transfer_transactions").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		dry, err := apimport.Run(ctx, apimport.Options{Source: src, Transfers: s.Transfers, DryRun: true})
		if err != nil || dry.Read != 4 || dry.Imported != 3 || dry.Skipped != 1 || dry.Problems["a1f4c2de-0000-4000-8000-000000000004"] == "" {
			t.Fatalf("dry run: %+v %v", dry, err)
		}
		if n := count(); n != 0 {
			t.Fatalf("a dry run wrote %d transactions", n)
		}
		first, err := apimport.Run(ctx, apimport.Options{Source: src, Transfers: s.Transfers})
		if err != nil || first.Imported != 3 || first.Existing != 0 || first.Skipped != 1 {
			t.Fatalf("import: %+v %v", first, err)
		}
		before, _ := s.Transfers.Get(ctx, "a1f4c2de-0000-4000-8000-000000000001")
		second, err := apimport.Run(ctx, apimport.Options{Source: src, Transfers: s.Transfers})
		if err != nil || second.Imported != 0 || second.Existing != 3 || count() != 3 {
			t.Fatalf("second import: %+v %v (count %d)", second, err, count())
		}
		after, _ := s.Transfers.Get(ctx, "a1f4c2de-0000-4000-8000-000000000001")
		if after.Version != before.Version || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatal("the second import changed an imported transaction")
		}
		var events int
		_ = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM callback_deliveries").Scan(&events)
		if events != 0 {
			t.Fatalf("the import recorded %d callbacks or events", events)
		}

		p := after.Platform()
		if p.Status != "completed" || p.Kind != "deposit" || p.Type != "SWIFT" || p.AmountIn.Amount != "100" ||
			p.AmountOut.Asset != "stellar:USDC:"+issuer || p.FeeDetails.Total != "5" || len(p.FeeDetails.Details) != 1 ||
			p.AmountExpected.Asset != "stellar:USDC:"+issuer || p.Memo != "12345" || p.MemoType != "id" ||
			p.ClientName != "referenceCustodial" || p.RequestClientIPAddress != "127.0.0.1" || p.ClientDomain != "wallet.example.com" ||
			len(p.StellarTransactions) != 1 || len(p.StellarTransactions[0].Payments) != 1 || p.Refunds == nil ||
			p.CompletedAt == nil || *p.CompletedAt != "2024-06-25T20:02:34.180858Z" || *p.TransferReceivedAt != "2023-07-04T12:34:56Z" ||
			p.StartedAt != "2024-06-25T20:02:31.003419Z" || p.DestinationAccount != user || p.ExternalTransactionID != "ext-123456" {
			t.Fatalf("imported deposit: %+v", p)
		}
		// Owners: the wallet finds its own (account + memo) and nobody else's.
		w, err := s.Transfers.Find(ctx, wallet.Identity{Account: user, Memo: "42"}, transfer.Lookup{ID: "a1f4c2de-0000-4000-8000-000000000002"})
		if err != nil || w.WithdrawMemo != "8123" || w.WithdrawMemoType != "id" || w.UserActionRequiredBy == nil || w.Account != user {
			t.Fatalf("imported withdrawal: %+v %v", w, err)
		}
		if _, err := s.Transfers.Find(ctx, wallet.Identity{Account: user}, transfer.Lookup{ID: w.ID}); err == nil {
			t.Fatal("the withdrawal of memo 42 is visible without the memo")
		}
		m, err := s.Transfers.Get(ctx, "a1f4c2de-0000-4000-8000-000000000003")
		if err != nil || m.Owner.Account != user || m.Owner.Muxed != muxed || m.Owner.Memo != "1234" {
			t.Fatalf("muxed owner: %+v %v", m.Owner, err)
		}
		// Imported transactions go on through the state machine.
		if _, err := s.Transfers.Apply(ctx, "notify_onchain_funds_received", transfer.Params{TransactionID: w.ID, StellarTransactionID: "abc"}); err != nil {
			t.Fatalf("continue the imported withdrawal: %v", err)
		}
	})
}

// TestImportCustomers: the owners of customers created under Anchor Platform, from the
// business server's export, are recorded once; an owner already recorded is never moved to
// another identity; a dry run writes nothing; bad rows are reported.
func TestImportCustomers(t *testing.T) {
	t.Parallel()
	src := apDatabase(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		other := "GBN4NNCDGJO4XW4KQU3CBIESUJWFVBUZPOKUZHT7W7WRB7CWOA7BXVQF"
		// Recorded before the import, for another identity than the export says.
		if _, _, err := kyc.RecordOwner(ctx, db, "ap-cust-taken", wallet.Identity{Account: other}, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		// The reference server's customers table, exported: columns in its order, with more.
		export := "id,stellar_account,memo,memo_type,first_name\n" +
			"ap-cust-1," + user + ",,,Ada\n" +
			"ap-cust-2," + user + ",42,id,Grace\n" +
			"ap-cust-3," + muxed + ",,,Alan\n" +
			"ap-cust-taken," + user + ",,,Eve\n" +
			"ap-cust-bad,not-an-account,,,Mallory\n"
		run := func(dry bool) apimport.Report {
			t.Helper()
			rep, err := apimport.Run(ctx, apimport.Options{Source: src, Transfers: s.Transfers, DryRun: dry, DB: db, Customers: strings.NewReader(export)})
			if err != nil {
				t.Fatal(err)
			}
			return rep
		}
		want := apimport.CustomerCounts{Read: 5, Imported: 3, Refused: 2}
		if rep := run(true); rep.Customers != want || rep.CustomerProblems["ap-cust-taken"] == "" || rep.CustomerProblems["ap-cust-bad"] == "" {
			t.Fatalf("dry run: %+v %v", rep.Customers, rep.CustomerProblems)
		}
		if _, err := kyc.OwnerOf(ctx, db, "ap-cust-1"); !errors.Is(err, kyc.ErrNotFound) {
			t.Fatalf("a dry run recorded an owner: %v", err)
		}
		if rep := run(false); rep.Customers != want {
			t.Fatalf("import: %+v %v", rep.Customers, rep.CustomerProblems)
		}
		want = apimport.CustomerCounts{Read: 5, Existing: 3, Refused: 2}
		if rep := run(false); rep.Customers != want {
			t.Fatalf("second import: %+v %v", rep.Customers, rep.CustomerProblems)
		}
		for id, owner := range map[string]wallet.Identity{
			"ap-cust-1":     {Account: user},
			"ap-cust-2":     {Account: user, Memo: "42"},
			"ap-cust-3":     {Account: user, Memo: "1234"},
			"ap-cust-taken": {Account: other},
		} {
			if got, err := kyc.OwnerOf(ctx, db, id); err != nil || got != owner {
				t.Errorf("owner of %s = %+v (%v), want %+v", id, got, err, owner)
			}
		}
		if _, err := apimport.Run(ctx, apimport.Options{Source: src, Transfers: s.Transfers, DB: db, Customers: strings.NewReader("id,first_name\nx,y\n")}); err == nil {
			t.Error("an export without an account column was accepted")
		}
	})
}
