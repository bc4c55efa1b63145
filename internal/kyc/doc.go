// Package kyc implements SEP-12 customers: who owns each customer, what the wallet may read
// and change, and what happens when a customer's status changes.
//
// Two back ends hold the KYC data. The builtin one keeps SEP-9 fields in vaspgate's database,
// sealed with AES-256-GCM, with the required fields per customer type from configuration and
// an operator decision through the admin API. The business one proxies every call to an
// Anchor Platform business server (GET/PUT/DELETE /customer), so existing business servers
// work unchanged; vaspgate then keeps only the owner of each customer id.
//
// Either way, every status change goes through one code path (Service.RecordStatus): the
// GET /customer body as of that change is stored as a snapshot, and, only if the status
// differs from the last recorded one, a signed wallet callback and a business
// customer_updated event are written to the outbox in the same transaction. The HTTP
// handlers live in the kychttp sub-package.
package kyc
