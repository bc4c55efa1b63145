// Package fault is vaspgate's fault-injection suite (issue 11, "Proof"): it runs the real
// binary (`vaspgate serve`) against real databases on loopback, injects the failures an
// operator meets — SIGKILL of vaspgate during delivery and during Travel Rule enclave load,
// PostgreSQL stopped, killed and hung (SIGSTOP), two instances with one killed — and
// asserts that nothing acknowledged is lost and nothing is delivered out of order.
//
// Each test uses its own PostgreSQL cluster (initdb into a temporary directory, its own
// port), never the shared server on 5432. `go test ./test/fault` is the short profile (part
// of scripts/test); `go test ./test/fault -run . -fault.long -timeout 60m` the long one.
package fault
