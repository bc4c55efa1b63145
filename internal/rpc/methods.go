package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/transfer"
)

// params is every method's parameters: the transfer methods' (transfer.Params) and those of
// get_transaction and get_transactions, with Anchor Platform's names.
type params struct {
	transfer.Params

	// get_transaction (Anchor Platform reads transaction_id; id is accepted too)
	ID string `json:"id"`
	// get_transactions
	SEP        any      `json:"sep"`
	OrderBy    string   `json:"order_by"`
	Order      string   `json:"order"`
	Statuses   []string `json:"statuses"`
	PageSize   *int     `json:"page_size"`
	PageNumber *int     `json:"page_number"`
}

func invalid(format string, a ...any) error {
	return &transfer.InvalidError{Msg: fmt.Sprintf(format, a...)}
}

// unsupported are Anchor Platform methods of protocols or integrations vaspgate does not
// serve, with the reason.
var unsupported = map[string]string{
	"do_stellar_payment":                "it needs a custody integration, which vaspgate does not have",
	"do_stellar_refund":                 "it needs a custody integration, which vaspgate does not have",
	"notify_interactive_flow_completed": "it belongs to SEP-24, which vaspgate does not serve",
	"request_customer_info_update":      "Anchor Platform removed it; use notify_customer_info_updated",
}

func (s *Server) dispatch(ctx context.Context, name string, raw json.RawMessage) (any, error) {
	if why, ok := unsupported[name]; ok {
		return nil, errorf(CodeMethodNotFound, "RPC method[%s] is not supported: %s", name, why)
	}
	if name == "get_quote" {
		return s.getQuote(ctx, raw)
	}
	isChange := slices.Contains(transfer.Methods(), name)
	if !isChange && name != transfer.MethodCustomerInfoUpdated && name != "get_transaction" && name != "get_transactions" {
		return nil, errorf(CodeMethodNotFound, "RPC method[%s] not found", name)
	}
	var p params
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, invalid("invalid params: %s", paramError(err))
		}
	}
	switch name {
	case transfer.MethodCustomerInfoUpdated:
		return s.notifyCustomerInfoUpdated(ctx, &p)
	case "get_transaction":
		id := p.TransactionID
		if id == "" {
			id = p.ID
		}
		if id == "" {
			return nil, invalid("transaction_id is required")
		}
		t, err := s.transfers.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out := []transfer.PlatformTransaction{t.Platform()}
		s.withTravelRule(ctx, out)
		return out[0], nil
	case "get_transactions":
		return s.getTransactions(ctx, &p)
	}
	t, err := s.transfers.Apply(ctx, name, p.Params)
	if err != nil {
		return nil, err
	}
	return t.Platform(), nil
}

func paramError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return "times must be ISO 8601 (RFC 3339), e.g. 2026-01-02T15:04:05Z"
	}
	return err.Error()
}

// orderBys maps get_transactions' order_by, in Anchor Platform's spellings (the JSON enum
// names and their upper-case Java constants), to transfer's.
var orderBys = map[string]string{
	"": "", "created_at": "created_at", "updated_at": "updated_at",
	"transfer_received_at": "transfer_received_at", "user_action_required_by": "user_action_required_by",
}

func (s *Server) getTransactions(ctx context.Context, p *params) (any, error) {
	f, err := platformFilter(p)
	if err != nil {
		return nil, err
	}
	txs, err := s.transfers.ListAll(ctx, f)
	if err != nil {
		return nil, err
	}
	records := make([]transfer.PlatformTransaction, 0, len(txs))
	for i := range txs {
		records = append(records, txs[i].Platform())
	}
	s.withTravelRule(ctx, records)
	return map[string]any{"records": records}, nil
}

// platformFilter reads get_transactions' parameters (also GET /transactions' query).
func platformFilter(p *params) (transfer.PlatformFilter, error) {
	sep := strings.ToLower(strings.TrimPrefix(strings.ToUpper(fmt.Sprint(p.SEP)), "SEP_"))
	switch sep {
	case "6", "31":
	case "<nil>", "":
		return transfer.PlatformFilter{}, invalid("sep is required")
	default:
		return transfer.PlatformFilter{}, invalid("sep[%v] is not supported: vaspgate serves SEP-6 and SEP-31", p.SEP)
	}
	f := transfer.PlatformFilter{SEP: sep}
	switch strings.ToLower(p.Order) {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return transfer.PlatformFilter{}, invalid("order[%s] is not asc or desc", p.Order)
	}
	ob, ok := orderBys[strings.ToLower(p.OrderBy)]
	if !ok {
		return transfer.PlatformFilter{}, invalid("order_by[%s] is not created_at, updated_at, transfer_received_at or user_action_required_by", p.OrderBy)
	}
	f.OrderBy = ob
	for _, st := range p.Statuses {
		status := transfer.Status(strings.ToLower(st))
		if status == "pending_usr_transfer_start" || status == "pending_usr_transfer_complete" {
			// Anchor Platform's Java constant names for these two.
			status = transfer.Status(strings.Replace(string(status), "_usr_", "_user_", 1))
		}
		if !status.Valid() {
			return transfer.PlatformFilter{}, invalid("statuses: [%s] is not a SEP-6 status", st)
		}
		f.Statuses = append(f.Statuses, status)
	}
	if p.PageSize != nil {
		if *p.PageSize < 1 || *p.PageSize > 200 {
			return transfer.PlatformFilter{}, invalid("page_size should be between 1 and 200")
		}
		f.PageSize = *p.PageSize
	}
	if p.PageNumber != nil {
		if *p.PageNumber < 0 {
			return transfer.PlatformFilter{}, invalid("page_number should be non-negative")
		}
		f.PageNumber = *p.PageNumber
	}
	return f, nil
}
