// Package console is the operator web console, served under /console/ on the admin
// listener: an overview, deliveries and their attempts, customers, SEP-6 transactions,
// Travel Rule verifications and the audit log.
//
// Pages are rendered on the server with html/template from files embedded in the binary,
// and work without JavaScript (forms and links); a small script only refreshes a page that
// asks for it. Every asset is served from here, and the Content-Security-Policy allows no
// inline script or style.
//
// Operators sign in with the admin token or their own token (only its SHA-256 is
// configured) and get a session cookie (HttpOnly, SameSite=Strict, Secure behind TLS).
// Sessions are rows in the database, so every instance behind a load balancer knows them;
// they end after an idle timeout, a maximum age or a sign-out. Every form carries the
// session's CSRF token.
//
// The console never changes state itself: each action (customer decision, replay, endpoint
// enable/disable, quarantine reprocess) calls the owning service — the same code the admin
// REST API calls — and the audit log row is written inside that service's transaction
// through a store commit hook, so an action and its audit row commit together or not at
// all. Revealing a sealed personal field writes its audit row before the value is read.
package console
