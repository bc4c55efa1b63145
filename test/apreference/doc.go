// Package apreference simulates Anchor Platform 4.3.0's reference business server
// (stellar/anchor-platform, kotlin-reference-server at tag 4.3.0) for tests: the business
// a migrating anchor runs today, pointed at vaspgate instead of the platform.
//
// It is written from that server's source as a specification, in Go, with its own wire
// types; nothing is copied. What it keeps of the reference server is what a platform can
// break:
//
//   - the customer callback API it serves (GET/PUT /customer, DELETE /customer/{id}): the
//     customers with the SEP-10 account, memo and memo type they were created with, the
//     ownership check on reads by id (CustomerService.assertCustomerMatchesRequest), the
//     fields a transaction asks for (TransactionKYC) and the status rule (NEEDS_INFO while
//     a required field is missing, else ACCEPTED);
//   - the event API it serves (POST /event, the platform's JWT checked) and the SEP-6 event
//     processor (Sep6EventProcessor): transaction_created asks for KYC and funds,
//     transaction_status_changed moves deposits and withdrawals on by JSON-RPC,
//     customer_updated lists the transactions waiting for customer info (GET /transactions)
//     and asks for their funds;
//   - its calls to the platform API with their exact shapes: JSON-RPC at the platform's
//     root as a one-element batch whose params carry kotlinx.serialization's polymorphic
//     "type" discriminator (SepHelper.rpcAction), GET /transactions/{id} read as kotlinx
//     reads it (SepHelper.getTransaction: required fields, strings where strings are
//     declared, unknown keys ignored), GET /transactions with lower-cased enum names
//     (PlatformClient.getTransactions, read as Gson reads it), PATCH /transactions
//     (SepHelper.patchTransaction), each with an HS256 JWT of iat and exp
//     (AuthHeaderUtil/JwtTokenProvider);
//   - the places where the reference server would throw (a null dereferenced by `!!` or by
//     Kotlin's non-null types, a Gson type mismatch, a non-200 answer, an RPC error): each
//     is recorded in Problems instead of crashing, so a test can require none (what it only
//     logs as a warning, such as a status it has nothing to do for, is in Warnings).
//
// Stellar payments the reference server makes (PaymentClient) are not made: a deposit's
// notify_onchain_funds_sent carries a made-up transaction hash, which vaspgate accepts
// without Horizon (docs/anchor-platform.md, difference 21).
package apreference
