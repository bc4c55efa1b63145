// Package quote is SEP-38 (Anchor RFQ API): the assets offered for exchange, indicative
// prices, and firm quotes that a SEP-6 or SEP-31 transaction may then reference.
//
// Prices come from a Rates source: the business server's GET /rate callback in Anchor
// Platform's request and response shapes (BusinessRates), or, for development and simple
// deployments, fixed rates from configuration (StaticRates). A firm quote is stored with its
// owner (the SEP-10 identity that asked for it), its context (sep6, sep31) and its expiry,
// together with the quote_created business event, in one database transaction. Service.Use
// is the one rule a transaction follows to take a quote: the caller's own, not expired, not
// used before, assets and amounts matching; a quote serves one transaction.
//
// HTTP handlers live in quotehttp; the business JSON-RPC reads quotes with Service.Find.
package quote
