package transfer

import "testing"

// TestCloneIsDeep checks that editing a clone in place never reaches the original: a
// change function edits the clone, and the service writes only if the two differ.
func TestCloneIsDeep(t *testing.T) {
	orig := Transaction{
		ID:                  "t1",
		AmountIn:            &Amount{Amount: "10", Asset: "stellar:USDC"},
		Refunds:             &Refunds{AmountRefunded: Amount{Amount: "1"}, Payments: []RefundPayment{{}}},
		StellarTransactions: []StellarTransaction{{ID: "h1", Payments: []StellarPayment{{ID: "p1"}}}},
		RequiredInfoUpdates: []string{"first_name"},
		Instructions:        map[string]Instruction{"bank": {}},
	}
	orig.Owner.Sub = "GSUB"

	edits := []struct {
		name  string
		edit  func(c *Transaction)
		check func(o Transaction) bool
	}{
		{"amount pointer", func(c *Transaction) { c.AmountIn.Amount = "99" }, func(o Transaction) bool { return o.AmountIn.Amount == "10" }},
		{"refunds pointer", func(c *Transaction) { c.Refunds.AmountRefunded.Amount = "5" }, func(o Transaction) bool { return o.Refunds.AmountRefunded.Amount == "1" }},
		{"stellar transactions", func(c *Transaction) { c.StellarTransactions[0].Payments[0].ID = "px" }, func(o Transaction) bool { return o.StellarTransactions[0].Payments[0].ID == "p1" }},
		{"slice element", func(c *Transaction) { c.RequiredInfoUpdates[0] = "x" }, func(o Transaction) bool { return o.RequiredInfoUpdates[0] == "first_name" }},
		{"map", func(c *Transaction) { delete(c.Instructions, "bank") }, func(o Transaction) bool { _, ok := o.Instructions["bank"]; return ok }},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			c := orig.clone()
			if c.Owner.Sub != "GSUB" {
				t.Fatalf("clone lost Owner.Sub: %q", c.Owner.Sub)
			}
			e.edit(&c)
			if !e.check(orig) {
				t.Fatalf("editing the clone changed the original")
			}
		})
	}
}
