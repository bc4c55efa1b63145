// Package callback delivers every callback vaspgate sends — SEP-12 customer and SEP-6
// transaction callbacks to wallets, events to the business server — durably, in order per
// subject, signed, with retries, dead letters, replay and an attempt log.
//
// # The way through
//
// A domain package records a callback with [Outbox.Wallet] or [Outbox.Business] inside the
// transaction of the change that causes it (transactional outbox): a rolled-back change
// sends nothing, a committed one is delivered even if the process dies right after. The
// outbox writes every callback of one transaction together just before it commits
// (store.Tx.Deferred): on PostgreSQL one statement (new endpoints, one sequence upsert per
// subject, the deliveries) whatever their number. [Engine.Run]
// claims due deliveries, signs and sends them with an SSRF-guarded client, and records each
// attempt (status, capped response body, Hook0-style error code) with its consequence: done,
// retried on the schedule, or dead.
//
// # Why the delivery table is the queue (and not a River job per delivery)
//
// River deletes finished jobs and has no per-key FIFO, while this engine needs both: the
// delivery and attempt rows are the record operators list and replay, and deliveries of one
// (endpoint, subject) must go one at a time in commit order. So the deliveries table is the
// queue itself. Ordering is structural: only the oldest open delivery of a subject (its
// "head") has status pending; the others are queued and the head's completion promotes the
// next one in the same transaction. Claiming is then a plain index range scan over due heads
// (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite), and a subject in
// retry backoff holds back only itself: there is no head-of-line blocking across subjects or
// endpoints. A per-endpoint in-flight cap keeps one slow endpoint from taking every worker.
//
// Sequence numbers come from an upsert on callback_subjects that keeps the subject row
// locked until the recording transaction ends, so enqueuers of one subject take turns and
// sequence order is commit order. The same upsert reads and moves the subject's head
// pointer (callback_subjects.head) under that lock, so a delivery knows whether it is the
// head without reading other deliveries. Completing a head moves the pointer to the next
// queued delivery in the recording transaction, which takes subject rows with SKIP LOCKED
// only: a subject some business transaction is recording for right now is promoted right
// after the commit (waiting for that one row, holding nothing else) and noted in
// callback_recheck, which a sweep on one instance reads in case the process died between.
// Recorders lock in one order (their own leased delivery rows, then subject rows, then
// endpoint rows) and never wait for a business transaction, so instances cannot deadlock
// with each other or with the business. A claim is a lease (token + expiry longer than the
// request timeout): a crashed instance's in-flight delivery is retried when its lease
// lapses, and a late result of a lost lease is not applied. Results are recorded in batches
// (one commit for every attempt that finished meanwhile, five statements on PostgreSQL
// whatever the batch size); a batch that fails is retried attempt by attempt, each try
// with its own deadline, until recorded, so a sent delivery never waits for its lease to
// lapse. A worker whose attempt delivered a head takes over its successor: the batch's
// promotion leases the new head to this instance in the same statement and hands it back
// to that worker, which sends it at once instead of waiting for a claim round (up to
// maxTakeovers in a row, then its slot goes back to the claim rounds; never for a disabled
// endpoint). A published message ([Engine.Publish]) whose subject is idle needs no claim
// either: the insert leases it to this instance when a worker is free and its endpoint is
// healthy, and it is sent as soon as the transaction has committed (adopt, run by
// store.Tx.AfterEnd). The outbox's callbacks keep the claim rounds, woken once their
// business transaction has committed (see Engine.enqueue for why). A delivery
// leased without a claim is due at its lease's end, so the claim's scan of the due index
// passes over no delivery in flight. In-process wake-ups (a commit that left a head for
// the claim, a promotion no worker took over, a retry due soon, a worker finishing while
// the last claim round left due work behind), plus a poll for other instances' work, keep
// latency low without LISTEN/NOTIFY and without empty claim rounds.
//
// # Where the code is
//
// The unexported queue type holds every statement of the callback tables for both
// dialects; [Engine] keeps the goroutines and the sending; [Admin] serves listing, replay
// and endpoints without starting anything. [Engine.Publish] is the publish API's entry:
// the business's own messages through the same outbox, concurrent calls recorded together
// in one transaction (a group commit led by the calls themselves: publishgroup.go).
//
// # Failure handling
//
// Network errors, timeouts, 408, 429, 5xx and 3xx (redirects are not followed) are retried
// on [DefaultSchedule] (Svix's) with ±20 % jitter, a 60 s floor after a timeout or 429, and
// Retry-After honoured within [delay, 2 x delay]. Other 4xx and refused destinations fail
// the delivery at once; 410 also disables the endpoint. Consecutive failures open an
// endpoint's circuit (cooldown doubling per failed probe, one probe at a time across
// instances); an endpoint that has only failed for DisableAfter is disabled. Deliveries of a
// disabled endpoint are kept (shown as paused) and sent when it is enabled; failed ones stay
// as dead letters with every attempt and can be replayed one by one or per endpoint since a
// time ([Admin.Replay], [Admin.ReplayEndpoint], the callbackhttp admin API and
// `vaspgate deliveries`).
//
// # Signatures
//
// Wallets: SEP-12/SEP-6 `Signature: t=…, s=…` ([StellarSigner]). Business server: Anchor
// Platform X-Api-Key or HS256 JWT ([APIKey], [APJWT]) and/or Standard Webhooks v1 (HMAC) and
// v1a (ed25519), several secrets during a rotation ([StandardWebhooks]). The publish API's
// configured destinations ([Destination]): Standard Webhooks with their own secrets, as a
// webhook service signs a destination registered with a secret. Signatures are made per
// attempt over the exact stored bytes that are sent.
package callback
