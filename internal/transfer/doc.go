// Package transfer holds SEP-6 transactions and their state machine.
//
// A transaction is owned by the SEP-10 identity that created it (account plus memo or muxed
// id); every wallet lookup is scoped to that owner. Every change goes through Service.Change:
// it re-reads the row in a database transaction, applies the change, writes it with an
// optimistic version check (a concurrent change makes the loser fail with ErrConflict, so no
// update is ever lost) and, in the same database transaction, records the wallet callbacks
// (the GET /transaction body to on_change_callback and to the client's static SEP-6 URL) and
// the business event. Nothing is sent from here: the callback engine delivers what commits.
//
// The business methods (Anchor Platform's RPC methods) live here too: Machine is the state
// machine as data (method -> flow -> allowed source statuses with their guard on received
// funds -> target statuses), methods.go has each method's parameter checks and edits, and
// Service.Apply runs them. docs/state_machine.md draws the table. HTTP handlers for wallets
// live in transferhttp; the business JSON-RPC envelope in package rpc.
package transfer
