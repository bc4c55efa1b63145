// Package travelrule receives the VerifyVASP Travel Rule enclave's callbacks and turns them
// into verification records.
//
// The data's way through the package:
//
//	enclave POST ─▶ Service.Accept ─▶ group commit into travel_rule_inbox ─▶ 200 {"result": true}
//	                       │ database down or slower than the store budget; or a burst
//	                       └▶ Spool (fsync'd local file) ─▶ 200 ─▶ replayed into the inbox, in order
//	inbox row ─▶ folder ─▶ Fold(all callbacks of the verification) ─▶ travel_rule_verifications
//	                                                                  └▶ verification_updated event (same tx)
//
// Every request gets an id on arrival and a receipt row when stored, so a request that went
// both to the database (late) and to the spool counts once. The folder (Service.folder) runs in
// process after each commit, so the acknowledgement path inserts no job; what waits for it is
// listed in travel_rule_pending (a narrow row per callback, deleted by the fold that reads it);
// a sweep processes callbacks left pending (by a killed process), and a periodic job redacts
// IVMS101 after the retention period.
//
// Burst absorption (issue 16, fifth pass): while more than burstAt callbacks are being
// acknowledged at once (and for burstHold after), a callback is acknowledged once it is
// fsync'd in the spool and is not queued for the database (its Outcome is spooled); it is
// not decoded in the burst, and sealed once, as the inbox stores it (the spool writes that
// sealed body, the replay stores it as is). The replay stores the spool afterwards in large
// batches, from the records kept in memory (the file is read back only after a restart),
// decoding each once, and gives way while the burst lasts, at most foldMaxDefer.
// The spool's unreplayed backlog is bounded (spillMax records, spillMaxBytes): at the bound,
// callbacks wait for the database again, so a sustained load runs at the database's rate. A
// spilled callback is durable on this instance's disk until replayed (acknowledged =
// committed or fsync'd); a stopping service stores its spool first (drainSpool), and a
// killed one replays it from the file at its next start. A handful of callbacks at once
// never spill: they are answered after their commit, with their outcome.
//
// Decoding is lenient (wire.go, ivms101.go, decode.go): unknown fields and types never fail a
// callback, documented field-name variants are accepted, big ids and amounts stay text. Every
// callback has a natural key (spec section 8) and a content hash; both are unique in the inbox,
// so repeats, even concurrent ones, are recognised by the database and never by
// read-then-write. What cannot be processed is kept in a quarantine (see Problem).
//
// The verification record is a pure function of the set of callbacks stored about it (Fold),
// so arrival order does not matter, and its risk level comes from a configurable RiskPolicy.
package travelrule
