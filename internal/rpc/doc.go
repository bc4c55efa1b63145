// Package rpc is the business JSON-RPC, wire-compatible with the Stellar Anchor Platform's
// platform RPC (anchor-platform-compat.md sections 2-4): a JSON array of requests (or, as
// an extension, a single request object), a batch limit, Anchor Platform's error codes and
// messages, and authentication by API key or HS256 JWT.
//
// Methods run one after another in batch order. Each status-changing method's params are
// decoded into transfer.Params and run by transfer.Service.Apply, which checks the state
// machine (transfer.Machine) and the parameters and commits, so the change, its wallet callbacks and its business events are one
// database transaction. notify_customer_info_updated reads the customer from the configured
// back end first, outside any database transaction, and commits only if the transaction did
// not change meanwhile (otherwise the retryable conflict error): every customer status the
// business reports reaches the wallet, in the order the business reported it.
package rpc
