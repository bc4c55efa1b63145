// Package conformance runs, in Go and over HTTP against a running vaspgate, the checks the
// SDF's public SEP conformance suite (stellar-anchor-tests) makes for SEP-1, SEP-6, SEP-10
// and SEP-12 (docs: ../../shared/spec/stellar-seps.md section 6), so a regression in what
// wallets and that suite see fails the build. The four SEP-10 "account signer support" tests
// need the live test network and are not run here.
package conformance
