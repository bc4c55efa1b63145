// Package apimport copies SEP-6 transactions from a Stellar Anchor Platform 4.x database
// (its sep6_transaction table, as Anchor Platform's Flyway migrations V1-V26 leave it) into
// vaspgate, keeping ids, statuses, amounts, memos, owners and times. It is idempotent: a
// transaction already in vaspgate is left as it is, so running it twice gives the same
// result. Anchor Platform keeps no per-transaction callback URLs (it ignores
// on_change_callback), so the wallets' callbacks continue from the clients configuration.
//
// Anchor Platform keeps no customers either: its business server does, with the SEP-10
// account and memo each was created with. Given the business server's export of those
// (Customers, a CSV), the import records each customer's owner, so that the wallet that
// created a customer under Anchor Platform reads it by id at once, and nobody else can.
package apimport

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Report says what an import did (or, dry, would do).
type Report struct {
	DryRun bool `json:"dry_run"`
	// Read is the number of Anchor Platform SEP-6 transactions read.
	Read int `json:"read"`
	// Imported were new to vaspgate (would be, dry).
	Imported int `json:"imported"`
	// Existing were already in vaspgate and left as they are.
	Existing int `json:"existing"`
	// Skipped could not be mapped; Problems says why, by transaction id.
	Skipped  int               `json:"skipped"`
	Problems map[string]string `json:"problems,omitempty"`
	// Customers counts the customer owners read from Options.Customers: recorded (would
	// be, dry), already recorded for the same owner, and refused (recorded for another
	// owner, or not mappable; CustomerProblems says why, by customer id).
	Customers        CustomerCounts    `json:"customers"`
	CustomerProblems map[string]string `json:"customer_problems,omitempty"`
}

// CustomerCounts is the customers part of a Report.
type CustomerCounts struct {
	Read     int `json:"read"`
	Imported int `json:"imported"`
	Existing int `json:"existing"`
	Refused  int `json:"refused"`
}

// Options configure Run.
type Options struct {
	// Source is the Anchor Platform database (PostgreSQL).
	Source *sql.DB
	// Transfers is where the transactions go.
	Transfers *transfer.Service
	// DryRun reads and maps everything, writes nothing.
	DryRun bool
	// Customers, when set, is the business server's list of the customers created under
	// Anchor Platform with the SEP-10 identity each was created with: CSV with a header
	// naming the columns id, stellar_account (or account) and memo (optional), as the
	// Anchor Platform reference server's customers table has them. Their owners go to DB.
	Customers io.Reader
	// DB is vaspgate's database (for the customers' owners).
	DB store.Querier
}

const query = `SELECT id, kind, status, type, request_asset_code, request_asset_issuer,
	amount_in, amount_in_asset, amount_out, amount_out_asset, amount_fee, amount_fee_asset,
	CAST(fee_details_list AS TEXT), amount_expected, web_auth_account, web_auth_account_memo,
	client_domain, client_name, request_client_ip_address, from_account, to_account,
	withdraw_anchor_account, memo, memo_type, refund_memo, refund_memo_type, quote_id, message,
	stellar_transaction_id, external_transaction_id, CAST(stellar_transactions AS TEXT),
	CAST(refunds AS TEXT), CAST(instructions AS TEXT), required_info_message,
	CAST(required_info_updates AS TEXT), started_at, updated_at, completed_at,
	transfer_received_at, user_action_required_by
	FROM sep6_transaction ORDER BY started_at, id`

// Run imports every SEP-6 transaction of the source.
func Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{DryRun: o.DryRun, Problems: map[string]string{}}
	rows, err := o.Source.QueryContext(ctx, query)
	if err != nil {
		return rep, fmt.Errorf("apimport: read sep6_transaction: %w", err)
	}
	var txs []transfer.Transaction
	for rows.Next() {
		t, err := scan(rows)
		rep.Read++
		if err != nil {
			rep.Skipped++
			rep.Problems[t.ID] = err.Error()
			continue
		}
		txs = append(txs, t)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return rep, fmt.Errorf("apimport: read sep6_transaction: %w", err)
	}
	rows.Close()
	for i := range txs {
		t := &txs[i]
		if o.DryRun {
			if _, err := o.Transfers.Get(ctx, t.ID); err == nil {
				rep.Existing++
			} else {
				rep.Imported++
			}
			continue
		}
		inserted, err := o.Transfers.Import(ctx, t)
		if err != nil {
			return rep, err
		}
		if inserted {
			rep.Imported++
		} else {
			rep.Existing++
		}
	}
	if len(rep.Problems) == 0 {
		rep.Problems = nil
	}
	if o.Customers != nil {
		if err := importCustomers(ctx, o, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// importCustomers records the owner of each customer of o.Customers. An owner already
// recorded is never replaced: a different one is refused and reported, not overwritten
// (ownership moving to another identity would be an IDOR).
func importCustomers(ctx context.Context, o Options, rep *Report) error {
	rep.CustomerProblems = map[string]string{}
	r := csv.NewReader(o.Customers)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("apimport: customers: read the header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["account"]; !ok {
		if i, ok := col["stellar_account"]; ok {
			col["account"] = i
		}
	}
	for _, need := range []string{"id", "account"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("apimport: customers: no %q column in the header %q (want id, stellar_account, memo)", need, strings.Join(head, ","))
		}
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	now := time.Now()
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("apimport: customers: %w", err)
		}
		rep.Customers.Read++
		id := field(rec, "id")
		owner, err := ownerOf(field(rec, "account"), field(rec, "memo"))
		if id == "" || err != nil {
			rep.Customers.Refused++
			key := id
			if key == "" {
				key = fmt.Sprintf("line %d", rep.Customers.Read+1)
			}
			rep.CustomerProblems[key] = fmt.Sprintf("no id or no Stellar account (%v)", err)
			continue
		}
		owner = wallet.Identity{Account: owner.Account, Memo: owner.Memo}
		if o.DryRun {
			cur, err := kyc.OwnerOf(ctx, o.DB, id)
			switch {
			case errors.Is(err, kyc.ErrNotFound):
				rep.Customers.Imported++
			case err != nil:
				return fmt.Errorf("apimport: customer %s: %w", id, err)
			case cur == owner:
				rep.Customers.Existing++
			default:
				rep.Customers.Refused++
				rep.CustomerProblems[id] = "recorded for another owner already: left as it is"
			}
			continue
		}
		got, inserted, err := kyc.RecordOwner(ctx, o.DB, id, owner, "", now)
		switch {
		case err != nil:
			return fmt.Errorf("apimport: customer %s: %w", id, err)
		case got != owner:
			rep.Customers.Refused++
			rep.CustomerProblems[id] = "recorded for another owner already: left as it is"
		case inserted:
			rep.Customers.Imported++
		default:
			rep.Customers.Existing++
		}
	}
	if len(rep.CustomerProblems) == 0 {
		rep.CustomerProblems = nil
	}
	return nil
}

func scan(rows *sql.Rows) (transfer.Transaction, error) {
	var (
		t                                                                     transfer.Transaction
		kind, status                                                          string
		typ, code, issuer, in, inAsset, out, outAsset, fee, feeAsset, feeList sql.NullString
		expected, account, accountMemo, domain, client, ip, from, to, anchor  sql.NullString
		memo, memoType, refundMemo, refundMemoType, quote, message, stx, ext  sql.NullString
		stxs, refunds, instructions, infoMsg, infoUpdates                     sql.NullString
		started, updated, completed, received, actionBy                       sql.NullTime
	)
	if err := rows.Scan(&t.ID, &kind, &status, &typ, &code, &issuer, &in, &inAsset, &out, &outAsset,
		&fee, &feeAsset, &feeList, &expected, &account, &accountMemo, &domain, &client, &ip, &from, &to,
		&anchor, &memo, &memoType, &refundMemo, &refundMemoType, &quote, &message, &stx, &ext, &stxs,
		&refunds, &instructions, &infoMsg, &infoUpdates, &started, &updated, &completed, &received, &actionBy); err != nil {
		return t, fmt.Errorf("scan: %w", err)
	}
	t.Kind, t.Status = transfer.Kind(kind), transfer.Status(status)
	if !t.Kind.Valid() || t.Kind.SEP() != "6" {
		return t, fmt.Errorf("kind %q is not a SEP-6 kind", kind)
	}
	if !t.Status.Valid() {
		return t, fmt.Errorf("status %q is not a SEP-6 status", status)
	}
	owner, err := ownerOf(account.String, accountMemo.String)
	if err != nil {
		return t, err
	}
	owner.ClientDomain = domain.String
	t.Owner = owner
	t.FundingMethod, t.AssetCode, t.AssetIssuer = typ.String, code.String, issuer.String
	t.ClientName, t.RequestClientIPAddress = client.String, ip.String
	t.QuoteID, t.Message, t.StellarTransactionID, t.ExternalTransactionID = quote.String, message.String, stx.String, ext.String
	t.RefundMemo, t.RefundMemoType, t.RequiredInfoMessage = refundMemo.String, refundMemoType.String, infoMsg.String
	t.CustomerType = "sep6"
	if in.Valid {
		t.AmountIn = &transfer.Amount{Amount: in.String, Asset: inAsset.String}
	}
	if out.Valid {
		t.AmountOut = &transfer.Amount{Amount: out.String, Asset: outAsset.String}
	}
	if expected.Valid {
		t.AmountExpected = &transfer.Amount{Amount: expected.String, Asset: inAsset.String}
	}
	if fee.Valid {
		t.FeeDetails = &transfer.FeeDetails{Total: fee.String, Asset: feeAsset.String}
		if err := jsonField(feeList, &t.FeeDetails.Details); err != nil {
			return t, fmt.Errorf("fee_details_list: %w", err)
		}
	}
	if t.Kind.Deposit() {
		t.Account, t.Memo, t.MemoType = to.String, memo.String, memoType.String
	} else {
		t.Account, t.WithdrawAnchorAccount, t.WithdrawMemo, t.WithdrawMemoType = from.String, anchor.String, memo.String, memoType.String
	}
	for name, f := range map[string]struct {
		src sql.NullString
		dst any
	}{
		"stellar_transactions":  {stxs, &t.StellarTransactions},
		"refunds":               {refunds, &t.Refunds},
		"instructions":          {instructions, &t.Instructions},
		"required_info_updates": {infoUpdates, &t.RequiredInfoUpdates},
	} {
		if err := jsonField(f.src, f.dst); err != nil {
			return t, fmt.Errorf("%s: %w", name, err)
		}
	}
	// Anchor Platform writes TIMESTAMP WITHOUT TIME ZONE in UTC.
	utc := func(n sql.NullTime) *time.Time {
		if !n.Valid {
			return nil
		}
		v := time.Date(n.Time.Year(), n.Time.Month(), n.Time.Day(), n.Time.Hour(), n.Time.Minute(), n.Time.Second(),
			n.Time.Nanosecond(), time.UTC).Truncate(time.Microsecond)
		return &v
	}
	if s := utc(started); s != nil {
		t.StartedAt = *s
	} else {
		return t, fmt.Errorf("started_at is empty")
	}
	if u := utc(updated); u != nil {
		t.UpdatedAt = *u
	}
	t.CompletedAt, t.TransferReceivedAt, t.UserActionRequiredBy = utc(completed), utc(received), utc(actionBy)
	return t, nil
}

// ownerOf turns Anchor Platform's web_auth_account (G… or M…) and memo into an owner.
func ownerOf(account, memo string) (wallet.Identity, error) {
	switch {
	case strings.HasPrefix(account, "G") && strkey.IsValidEd25519PublicKey(account):
		return wallet.Identity{Account: account, Memo: memo}, nil
	case strings.HasPrefix(account, "M"):
		m, err := strkey.DecodeMuxedAccount(account)
		if err != nil {
			return wallet.Identity{}, fmt.Errorf("web_auth_account %q: %w", account, err)
		}
		base, err := m.AccountID()
		if err != nil {
			return wallet.Identity{}, fmt.Errorf("web_auth_account %q: %w", account, err)
		}
		return wallet.Identity{Account: base, Memo: fmt.Sprint(m.ID()), Muxed: account}, nil
	}
	return wallet.Identity{}, fmt.Errorf("web_auth_account %q is not a Stellar account", account)
}

func jsonField(s sql.NullString, v any) error {
	if !s.Valid || s.String == "" || s.String == "null" {
		return nil
	}
	return json.Unmarshal([]byte(s.String), v)
}
