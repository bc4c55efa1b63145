package stellarhttp

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/stellar"
)

func TestStellarTOML(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	r := b.get(t, "/.well-known/stellar.toml")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, content type %q", r.status, r.header.Get("Content-Type"))
	}
	var got map[string]any
	if _, err := toml.Decode(string(r.body), &got); err != nil {
		t.Fatalf("toml: %v", err)
	}
	want := map[string]string{
		"NETWORK_PASSPHRASE": testnet,
		"SIGNING_KEY":        b.server.Address(),
		"WEB_AUTH_ENDPOINT":  b.srv.URL + "/auth",
		"KYC_SERVER":         b.srv.URL + "/sep12",
		"TRANSFER_SERVER":    b.srv.URL + "/sep6",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %q", k, got[k], v)
		}
	}
	if _, ok := got["CURRENCIES"].([]map[string]any); !ok {
		t.Errorf("CURRENCIES = %#v", got["CURRENCIES"])
	}
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for _, path := range []string{"/auth", "/.well-known/stellar.toml"} {
		req, _ := http.NewRequest(http.MethodOptions, b.srv.URL+path, nil)
		req.Header.Set("Origin", "https://wallet.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		r := do(t, req)
		if r.status != http.StatusNoContent || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("OPTIONS %s: %d %v", path, r.status, r.header)
		}
	}
}

// TestChallenge checks a GET /auth answer as the conformance suite does (stellar-seps.md 6.2
// "returns a valid GET /auth response"), and that the SDK's own reader accepts it.
func TestChallenge(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	client := keypair.MustRandom()
	start := time.Now().Unix()
	r := b.get(t, "/auth?account="+client.Address())
	end := time.Now().Unix()
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if len(r.json) != 2 || r.json["network_passphrase"] != testnet {
		t.Fatalf("body keys: %v", r.json)
	}
	b64 := r.json["transaction"].(string)
	tx := parseTx(t, b64)
	if tx.SourceAccount().AccountID != b.server.Address() || tx.SequenceNumber() != 0 {
		t.Errorf("source %s seq %d", tx.SourceAccount().AccountID, tx.SequenceNumber())
	}
	tb := tx.Timebounds()
	if tb.MinTime < start || tb.MinTime > end || tb.MaxTime != tb.MinTime+900 {
		t.Errorf("time bounds %+v not [now, now+900] (call %d..%d)", tb, start, end)
	}
	ops := tx.Operations()
	first := ops[0].(*txnbuild.ManageData)
	nonce, err := base64.StdEncoding.DecodeString(string(first.Value))
	if first.Name != b.host+" auth" || first.SourceAccount != client.Address() || err != nil || len(nonce) != 48 {
		t.Errorf("first op %q from %s, nonce %d bytes (%v)", first.Name, first.SourceAccount, len(nonce), err)
	}
	webAuth := false
	for _, op := range ops[1:] {
		md, ok := op.(*txnbuild.ManageData)
		if !ok || md.SourceAccount != b.server.Address() {
			t.Errorf("op %#v", op)
			continue
		}
		webAuth = webAuth || (md.Name == "web_auth_domain" && string(md.Value) == b.host)
	}
	if !webAuth {
		t.Error("no web_auth_domain operation with the auth host")
	}
	hash, _ := tx.Hash(testnet)
	if sigs := tx.Signatures(); len(sigs) != 1 || b.server.Verify(hash[:], sigs[0].Signature) != nil {
		t.Errorf("signatures: %d", len(sigs))
	}
	if tx.Memo() != nil {
		t.Errorf("memo %v", tx.Memo())
	}
	// The SDK's reader and verifier agree with us.
	_, acct, home, memo, err := txnbuild.ReadChallengeTx(b64, b.server.Address(), testnet, b.host, []string{b.host})
	if err != nil || acct != client.Address() || home != b.host || memo != nil {
		t.Fatalf("ReadChallengeTx: %v %s %s %v", err, acct, home, memo)
	}
	signed := sign(t, tx, testnet, client)
	if _, err := txnbuild.VerifyChallengeTxSigners(signed, b.server.Address(), testnet, b.host, []string{b.host}, client.Address()); err != nil {
		t.Fatalf("VerifyChallengeTxSigners: %v", err)
	}
}

func TestChallengeMemoMuxedHomeDomain(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *stellar.Options) {
		c.HomeDomains = []string{strings.TrimPrefix(c.PublicURL, "http://"), "anchor.example"}
	}})
	client := keypair.MustRandom()

	tx := b.challenge(t, client.Address(), "memo", "123")
	if m, ok := tx.Memo().(txnbuild.MemoID); !ok || m != 123 {
		t.Errorf("memo = %#v", tx.Memo())
	}

	mx := muxedAddress(t, client.Address(), 99)
	tx = b.challenge(t, mx)
	if src := tx.Operations()[0].GetSourceAccount(); src != mx || tx.Memo() != nil {
		t.Errorf("muxed challenge source %s memo %v", src, tx.Memo())
	}

	tx = b.challenge(t, client.Address(), "home_domain", "anchor.example")
	if n := tx.Operations()[0].(*txnbuild.ManageData).Name; n != "anchor.example auth" {
		t.Errorf("home domain op %q", n)
	}
	r := b.postForm(t, sign(t, tx, testnet, client))
	if r.status != http.StatusOK {
		t.Fatalf("token for second home domain: %d %s", r.status, r.body)
	}
	if c := claims(t, b, r); c["home_domain"] != "anchor.example" {
		t.Errorf("home_domain claim %v", c["home_domain"])
	}
}

func muxedAddress(t *testing.T, g string, id uint64) string {
	t.Helper()
	var m strkey.MuxedAccount
	if err := m.SetAccountID(g); err != nil {
		t.Fatal(err)
	}
	m.SetID(id)
	s, err := m.Address()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestChallengeErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	g := keypair.MustRandom().Address()
	for _, q := range []string{
		"",
		"account=invalid-account",
		"account=" + keypair.MustRandom().Seed(),
		"account=" + g + "&memo=abc",
		"account=" + g + "&memo=-1",
		"account=" + g + "&memo=18446744073709551616",
		"account=" + muxedAddress(t, g, 1) + "&memo=1",
		"account=" + g + "&home_domain=evil.example",
	} {
		r := b.get(t, "/auth?"+q)
		if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET /auth?%s: %d %s", q, r.status, r.body)
			continue
		}
		r.errorString(t)
	}
}

// claims verifies the token of a 200 answer like the suite does (stellar-seps.md 3.3) and
// returns its claims.
func claims(t *testing.T, b *bundle, r response) jwt.MapClaims {
	t.Helper()
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("token answer %d %s", r.status, r.body)
	}
	tok, ok := r.json["token"].(string)
	if !ok || len(r.json) != 1 {
		t.Fatalf("token body %s", r.body)
	}
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if iss, _ := c["iss"].(string); iss != b.srv.URL+"/auth" {
		t.Errorf("iss %v", c["iss"])
	} else if u, err := url.Parse(iss); err != nil || u.Scheme == "" || u.Host == "" {
		t.Errorf("iss %q is not a URI", iss)
	}
	iat, ok1 := c["iat"].(float64)
	exp, ok2 := c["exp"].(float64)
	if !ok1 || !ok2 || exp <= iat {
		t.Errorf("iat %v exp %v", c["iat"], c["exp"])
	}
	sub, _ := c["sub"].(string)
	if !regexp.MustCompile(`^[GM][A-Z2-7]{55,68}(:\d+)?$`).MatchString(sub) {
		t.Errorf("sub %q", sub)
	}
	if _, err := b.auth.Verify(tok); err != nil {
		t.Errorf("Verify: %v", err)
	}
	return c
}

// TestToken covers "returns a valid JWT", "accepts JSON requests" and the checks of 3.2.
func TestToken(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})

	t.Run("form", func(t *testing.T) {
		client := keypair.MustRandom()
		tx := b.challenge(t, client.Address())
		c := claims(t, b, b.postForm(t, sign(t, tx, testnet, client)))
		hash, _ := tx.Hash(testnet)
		if c["sub"] != client.Address() || c["jti"] != hex.EncodeToString(hash[:]) || c["home_domain"] != b.host {
			t.Errorf("claims %v", c)
		}
		if _, ok := c["client_domain"]; ok {
			t.Error("client_domain claim without a client domain")
		}
	})
	t.Run("json", func(t *testing.T) {
		client := keypair.MustRandom()
		claims(t, b, b.postJSON(t, sign(t, b.challenge(t, client.Address()), testnet, client)))
	})
	t.Run("json without content type", func(t *testing.T) {
		client := keypair.MustRandom()
		body := `{"transaction":"` + sign(t, b.challenge(t, client.Address()), testnet, client) + `"}`
		claims(t, b, b.post(t, "", body))
	})
	t.Run("memo", func(t *testing.T) {
		client := keypair.MustRandom()
		c := claims(t, b, b.token(t, client.Address(), []*keypair.Full{client}, "memo", "7"))
		if c["sub"] != client.Address()+":7" {
			t.Errorf("sub %v", c["sub"])
		}
	})
	t.Run("muxed", func(t *testing.T) {
		client := keypair.MustRandom()
		mx := muxedAddress(t, client.Address(), 5)
		c := claims(t, b, b.token(t, mx, []*keypair.Full{client}))
		if c["sub"] != mx {
			t.Errorf("sub %v", c["sub"])
		}
	})
	t.Run("SDK built challenge", func(t *testing.T) {
		client := keypair.MustRandom()
		tx, err := txnbuild.BuildChallengeTx(b.server.Seed(), client.Address(), b.host, b.host, testnet, 5*time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		claims(t, b, b.postForm(t, sign(t, tx, testnet, client)))
	})

	bad := func(name string, body func(t *testing.T) (contentType, body string)) {
		t.Run(name, func(t *testing.T) {
			ct, bd := body(t)
			r := b.post(t, ct, bd)
			if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			t.Log(r.errorString(t))
		})
	}
	form := func(tx string) (string, string) {
		return "application/x-www-form-urlencoded", url.Values{"transaction": {tx}}.Encode()
	}
	bad("no transaction key", func(*testing.T) (string, string) { return "application/json", `{}` })
	bad("empty form", func(*testing.T) (string, string) { return form("") })
	bad("transaction not a string", func(*testing.T) (string, string) {
		return "application/json", `{"transaction": {"not a transaction string": true}}`
	})
	bad("transaction not XDR", func(*testing.T) (string, string) { return form("AAAA not xdr") })
	bad("not signed by the client", func(t *testing.T) (string, string) {
		tx, _ := b.challenge(t, keypair.MustRandom().Address()).Base64()
		return form(tx)
	})
	bad("signed by the client for another network", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		return form(sign(t, b.challenge(t, client.Address()), "Public Global Stellar Network ; September 2015", client))
	})
	bad("not signed by SIGNING_KEY", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx, err := txnbuild.BuildChallengeTx(client.Seed(), client.Address(), b.host, b.host, testnet, 5*time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		return form(sign(t, tx, testnet, client))
	})
	bad("server signature from another key", func(t *testing.T) (string, string) {
		client, other := keypair.MustRandom(), keypair.MustRandom()
		tx := b.challenge(t, client.Address())
		tx, _ = tx.ClearSignatures()
		return form(sign(t, tx, testnet, other, client))
	})
	bad("extra signature on a nonexistent account", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		return form(sign(t, b.challenge(t, client.Address()), testnet, client, keypair.MustRandom()))
	})
	bad("client signed twice on a nonexistent account", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		return form(sign(t, b.challenge(t, client.Address()), testnet, client, client))
	})
	bad("other home domain", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx, _ := txnbuild.BuildChallengeTx(b.server.Seed(), client.Address(), b.host, "evil.example", testnet, 5*time.Minute, nil)
		return form(sign(t, tx, testnet, client))
	})
	bad("other web_auth_domain", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx, _ := txnbuild.BuildChallengeTx(b.server.Seed(), client.Address(), "evil.example", b.host, testnet, 5*time.Minute, nil)
		return form(sign(t, tx, testnet, client))
	})
	bad("nonzero sequence", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			p.SourceAccount = &txnbuild.SimpleAccount{AccountID: b.server.Address(), Sequence: 41}
			p.IncrementSequenceNum = true
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("no time bounds", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			p.Preconditions.TimeBounds = txnbuild.NewInfiniteTimeout()
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("not yet valid", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			now := time.Now().Unix()
			p.Preconditions.TimeBounds = txnbuild.NewTimebounds(now+600, now+1200)
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("payment operation", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			p.Operations = append(p.Operations, &txnbuild.BumpSequence{SourceAccount: b.server.Address(), BumpTo: 1})
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("extra operation from the client", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			p.Operations = append(p.Operations, &txnbuild.ManageData{SourceAccount: client.Address(), Name: "x", Value: []byte("y")})
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("short nonce", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			p.Operations[0].(*txnbuild.ManageData).Value = []byte("c2hvcnQ=")
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("text memo", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := rebuild(t, b, b.challenge(t, client.Address()), func(p *txnbuild.TransactionParams) {
			p.Memo = txnbuild.MemoText("hi")
		})
		return form(sign(t, tx, testnet, client))
	})
	bad("fee bump", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		inner := parseTx(t, sign(t, b.challenge(t, client.Address()), testnet, client))
		fb, err := txnbuild.NewFeeBumpTransaction(txnbuild.FeeBumpTransactionParams{Inner: inner, FeeAccount: client.Address(), BaseFee: 200})
		if err != nil {
			t.Fatal(err)
		}
		fb, _ = fb.Sign(testnet, client)
		s, _ := fb.Base64()
		return form(s)
	})
	bad("tampered after signing", func(t *testing.T) (string, string) {
		client := keypair.MustRandom()
		tx := b.challenge(t, client.Address())
		sigs := tx.Signatures()
		other := b.challenge(t, keypair.MustRandom().Address())
		other, _ = other.ClearSignatures()
		other, _ = other.AddSignatureDecorated(sigs...)
		return form(sign(t, other, testnet, client))
	})
}

// rebuild returns tx changed by change and signed again by the server, as a bug or a
// compromised builder could produce it: the token endpoint must refuse it anyway.
func rebuild(t *testing.T, b *bundle, tx *txnbuild.Transaction, change func(*txnbuild.TransactionParams)) *txnbuild.Transaction {
	t.Helper()
	p := txnbuild.TransactionParams{
		SourceAccount: &txnbuild.SimpleAccount{AccountID: b.server.Address(), Sequence: 0},
		Operations:    tx.Operations(),
		BaseFee:       txnbuild.MinBaseFee,
		Memo:          tx.Memo(),
		Preconditions: txnbuild.Preconditions{TimeBounds: tx.Timebounds()},
	}
	change(&p)
	out, err := txnbuild.NewTransaction(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err = out.Sign(testnet, b.server)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTokenReplayAndExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	client := keypair.MustRandom()
	signed := sign(t, b.challenge(t, client.Address()), testnet, client)
	claims(t, b, b.postForm(t, signed))
	if r := b.postJSON(t, signed); r.status != http.StatusBadRequest || !strings.Contains(r.errorString(t), "already been used") {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}

	expired := sign(t, b.challenge(t, client.Address()), testnet, client)
	b.clock.advance(16 * time.Minute)
	if r := b.postForm(t, expired); r.status != http.StatusBadRequest || !strings.Contains(r.errorString(t), "expired") {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
}

// TestSharedAccountRule: an account is shared (memo, muxed) or not, for good (3.4).
func TestSharedAccountRule(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	plain, shared := keypair.MustRandom(), keypair.MustRandom()
	claims(t, b, b.token(t, plain.Address(), []*keypair.Full{plain}))
	claims(t, b, b.token(t, shared.Address(), []*keypair.Full{shared}, "memo", "1"))
	claims(t, b, b.token(t, shared.Address(), []*keypair.Full{shared}, "memo", "2"))
	claims(t, b, b.token(t, muxedAddress(t, shared.Address(), 3), []*keypair.Full{shared}))
	claims(t, b, b.token(t, plain.Address(), []*keypair.Full{plain}))

	for _, q := range []string{
		"account=" + plain.Address() + "&memo=1",
		"account=" + muxedAddress(t, plain.Address(), 1),
		"account=" + shared.Address(),
	} {
		if r := b.get(t, "/auth?"+q); r.status != http.StatusBadRequest {
			t.Errorf("GET /auth?%s: %d %s", q, r.status, r.body)
		}
	}

	// Both forms challenged before either is redeemed: the second redemption is refused.
	fresh := keypair.MustRandom()
	a := sign(t, b.challenge(t, fresh.Address()), testnet, fresh)
	m := sign(t, b.challenge(t, fresh.Address(), "memo", "9"), testnet, fresh)
	claims(t, b, b.postForm(t, m))
	if r := b.postForm(t, a); r.status != http.StatusBadRequest {
		t.Fatalf("plain after shared: %d %s", r.status, r.body)
	}
}

// TestMultisig covers 3.2 check 6 and the "Account Signer Support" group of 6.2 against a
// Horizon-shaped server, and the fail-closed rule of 3.5.
func TestMultisig(t *testing.T) {
	t.Parallel()
	hz := newFakeHorizon(t)
	b := setup(t, options{ledger: hz.ledger(t)})

	type kps = []*keypair.Full
	tests := []struct {
		name   string
		setup  func(acct, s1, s2 *keypair.Full)
		signBy func(acct, s1, s2 *keypair.Full) kps
		status int
	}{
		{
			name:   "weight below the medium threshold",
			setup:  func(a, _, _ *keypair.Full) { hz.set(a.Address(), 2, signerSpec{a.Address(), 1}) },
			signBy: func(a, _, _ *keypair.Full) kps { return kps{a} },
			status: 400,
		},
		{
			name: "non-master signer alone",
			setup: func(a, s1, _ *keypair.Full) {
				hz.set(a.Address(), 1, signerSpec{a.Address(), 1}, signerSpec{s1.Address(), 1})
			},
			signBy: func(_, s1, _ *keypair.Full) kps { return kps{s1} },
			status: 200,
		},
		{
			name: "same signer twice counts once",
			setup: func(a, s1, _ *keypair.Full) {
				hz.set(a.Address(), 2, signerSpec{a.Address(), 1}, signerSpec{s1.Address(), 1})
			},
			signBy: func(_, s1, _ *keypair.Full) kps { return kps{s1, s1} },
			status: 400,
		},
		{
			name: "multiple non-master signers",
			setup: func(a, s1, s2 *keypair.Full) {
				hz.set(a.Address(), 2, signerSpec{a.Address(), 1}, signerSpec{s1.Address(), 1}, signerSpec{s2.Address(), 1})
			},
			signBy: func(_, s1, s2 *keypair.Full) kps { return kps{s1, s2} },
			status: 200,
		},
		{
			name: "master and a signer",
			setup: func(a, s1, _ *keypair.Full) {
				hz.set(a.Address(), 3, signerSpec{a.Address(), 1}, signerSpec{s1.Address(), 2})
			},
			signBy: func(a, s1, _ *keypair.Full) kps { return kps{a, s1} },
			status: 200,
		},
		{
			name: "disabled master key",
			setup: func(a, s1, _ *keypair.Full) {
				hz.set(a.Address(), 1, signerSpec{a.Address(), 0}, signerSpec{s1.Address(), 1})
			},
			signBy: func(a, _, _ *keypair.Full) kps { return kps{a} },
			status: 400,
		},
		{
			name:   "signature from a key that is not a signer",
			setup:  func(a, _, _ *keypair.Full) { hz.set(a.Address(), 1, signerSpec{a.Address(), 1}) },
			signBy: func(a, s1, _ *keypair.Full) kps { return kps{a, s1} },
			status: 400,
		},
		{
			name:   "server key as account signer does not count",
			setup:  func(a, _, _ *keypair.Full) { hz.set(a.Address(), 1, signerSpec{b.server.Address(), 5}) },
			signBy: func(a, _, _ *keypair.Full) kps { return kps{b.server} },
			status: 400,
		},
		{
			name:   "not on the ledger: master key",
			setup:  func(*keypair.Full, *keypair.Full, *keypair.Full) {},
			signBy: func(a, _, _ *keypair.Full) kps { return kps{a} },
			status: 200,
		},
		{
			name:   "not on the ledger: master key and another",
			setup:  func(*keypair.Full, *keypair.Full, *keypair.Full) {},
			signBy: func(a, s1, _ *keypair.Full) kps { return kps{a, s1} },
			status: 400,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct, s1, s2 := keypair.MustRandom(), keypair.MustRandom(), keypair.MustRandom()
			tt.setup(acct, s1, s2)
			r := b.token(t, acct.Address(), tt.signBy(acct, s1, s2))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status == 200 {
				if c := claims(t, b, r); c["sub"] != acct.Address() {
					t.Errorf("sub %v", c["sub"])
				}
			} else {
				t.Log(r.errorString(t))
			}
		})
	}
}

// TestLedgerUnavailable: a configured ledger that cannot answer fails closed with 503, even
// for a signature the master-key branch would accept (anchor-platform-compat.md flaw 11).
func TestLedgerUnavailable(t *testing.T) {
	t.Parallel()
	hz := newFakeHorizon(t)
	b := setup(t, options{ledger: hz.ledger(t)})
	acct := keypair.MustRandom()
	hz.set(acct.Address(), 1, signerSpec{acct.Address(), 0}, signerSpec{keypair.MustRandom().Address(), 1})
	signed := sign(t, b.challenge(t, acct.Address()), testnet, acct)
	hz.setDown(true)
	r := b.postForm(t, signed)
	if r.status != http.StatusServiceUnavailable || r.errorString(t) != "ledger unavailable" {
		t.Fatalf("horizon down: %d %s", r.status, r.body)
	}

	// A challenge the server did not sign is refused before any ledger lookup: 400, not 503.
	forged, err := parseTx(t, signed).ClearSignatures()
	if err != nil {
		t.Fatal(err)
	}
	if r := b.postForm(t, sign(t, forged, testnet, keypair.MustRandom(), acct)); r.status != http.StatusBadRequest {
		t.Fatalf("forged challenge with horizon down: %d %s", r.status, r.body)
	}

	gone := newFakeHorizon(t)
	gone.srv.Close()
	b2 := setup(t, options{ledger: gone.ledger(t)})
	r = b2.token(t, acct.Address(), []*keypair.Full{acct})
	if r.status != http.StatusServiceUnavailable || r.errorString(t) != "ledger unavailable" {
		t.Fatalf("horizon unreachable: %d %s", r.status, r.body)
	}

	// The challenge was not consumed by the failure: it works once the ledger is back
	// (here the master key is disabled, so the answer is a definitive 400).
	hz.setDown(false)
	if r := b.postForm(t, signed); r.status != http.StatusBadRequest {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
}

func TestClientDomain(t *testing.T) {
	t.Parallel()
	walletKey := keypair.MustRandom()
	client := clientDomainServer(t, func(host string) (int, string) {
		switch host {
		case "wallet.example":
			return 200, "VERSION = \"2.7.0\"\nSIGNING_KEY = \"" + walletKey.Address() + "\"\n"
		case "nokey.example":
			return 200, "VERSION = \"2.7.0\"\n"
		case "broken.example":
			return 200, "SIGNING_KEY = \n"
		default:
			return 404, "not found"
		}
	})
	b := setup(t, options{clientHTTP: client})
	user := keypair.MustRandom()

	tx := b.challenge(t, user.Address(), "client_domain", "wallet.example")
	found := false
	for _, op := range tx.Operations()[1:] {
		if md := op.(*txnbuild.ManageData); md.Name == "client_domain" {
			found = md.SourceAccount == walletKey.Address() && string(md.Value) == "wallet.example"
		}
	}
	if !found {
		t.Fatal("no client_domain operation from the wallet's SIGNING_KEY")
	}
	if r := b.postForm(t, sign(t, tx, testnet, user)); r.status != http.StatusBadRequest {
		t.Fatalf("without the client domain signature: %d %s", r.status, r.body)
	}
	tx = b.challenge(t, user.Address(), "client_domain", "wallet.example")
	c := claims(t, b, b.postForm(t, sign(t, tx, testnet, user, walletKey)))
	if c["client_domain"] != "wallet.example" {
		t.Errorf("client_domain claim %v", c["client_domain"])
	}
	if id, _ := b.auth.Verify(b.postForm(t, sign(t, b.challenge(t, user.Address(), "client_domain", "wallet.example"), testnet, user, walletKey)).json["token"].(string)); id.ClientDomain != "wallet.example" {
		t.Errorf("identity client domain %q", id.ClientDomain)
	}

	for _, d := range []string{"unknown.example", "nokey.example", "broken.example", "127.0.0.1", "wallet.example:443", "wallet.example/x", "user@wallet.example"} {
		q := url.Values{"account": {user.Address()}, "client_domain": {d}}
		if r := b.get(t, "/auth?"+q.Encode()); r.status != http.StatusBadRequest {
			t.Errorf("client_domain=%s: %d %s", d, r.status, r.body)
		}
	}

	// Allow-list.
	b2 := setup(t, options{clientHTTP: client, mutate: func(c *stellar.Options) { c.ClientDomains = []string{"other.example"} }})
	if r := b2.get(t, "/auth?account="+user.Address()+"&client_domain=wallet.example"); r.status != http.StatusBadRequest {
		t.Errorf("allow-list: %d %s", r.status, r.body)
	}
	// Without a client to verify with, the parameter is ignored.
	b3 := setup(t, options{})
	tx = b3.challenge(t, user.Address(), "client_domain", "wallet.example")
	if n := len(tx.Operations()); n != 2 {
		t.Errorf("%d operations without client domain verification", n)
	}
}

// readSpy fails the test if the body is read.
type readSpy struct {
	t *testing.T
}

func (s readSpy) Read([]byte) (int, error) {
	s.t.Error("body read before authentication")
	return 0, http.ErrBodyReadAfterClose
}

func TestRequire(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *stellar.Options) { c.JWTSecret = "a-shared-jwt-secret-0123456789abcdef" }})
	other := setup(t, options{})
	user := keypair.MustRandom()
	tok := b.token(t, user.Address(), []*keypair.Full{user}, "memo", "13").json["token"].(string)
	foreign, err := other.auth.IssueToken(user.Address(), "")
	if err != nil {
		t.Fatal(err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"iss": b.srv.URL + "/auth", "sub": user.Address(), "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// Tokens signed with this server's key and issuer but for another home domain, or none
	// (issue 11, defect 12).
	signed := func(homeDomain string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, stellar.Claims{RegisteredClaims: jwt.RegisteredClaims{
			Issuer: b.srv.URL + "/auth", Subject: user.Address(), IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		}, HomeDomain: homeDomain}).SignedString([]byte(b.cfg.JWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	badSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, stellar.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: b.srv.URL + "/auth", Subject: "nobody", IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}}).SignedString([]byte("x"))

	for _, tt := range []struct {
		name, header string
		status       int
	}{
		{"no header", "", 401},
		{"basic", "Basic dXNlcjpwYXNz", 401},
		{"bearer without token", "Bearer ", 401},
		{"garbage", "Bearer not.a.jwt", 403},
		{"other server's token", "Bearer " + foreign, 403},
		{"alg none", "Bearer " + none, 403},
		{"bad sub", "Bearer " + badSub, 403},
		{"another home domain", "Bearer " + signed("other-anchor.example"), 403},
		{"no home domain", "Bearer " + signed(""), 403},
		{"valid", "Bearer " + tok, 200},
		{"valid, lower-case scheme", "bearer " + tok, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status != 200 {
				// In process, so that the body spy sees what the middleware does.
				req := httptest.NewRequest(http.MethodPut, "/protected", readSpy{t})
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				rec := httptest.NewRecorder()
				b.h.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
					t.Error("next handler called")
				})).ServeHTTP(rec, req)
				var body map[string]any
				if rec.Code != tt.status || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
					json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" {
					t.Fatalf("status %d (want %d) %v %s", rec.Code, tt.status, rec.Header(), rec.Body)
				}
				return
			}
			req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/protected", nil)
			req.Header.Set("Authorization", tt.header)
			r := do(t, req)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			want := `{"Account":"` + user.Address() + `","Actor":"wallet:` + user.Address() + `","ClientDomain":"","Memo":"13","Muxed":"","Sub":"` + user.Address() + `:13"}`
			if strings.TrimSpace(string(r.body)) != want {
				t.Errorf("identity %s", r.body)
			}
		})
	}

	b.clock.advance(25 * time.Hour)
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/protected", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if r := do(t, req); r.status != 403 {
		t.Errorf("expired token: %d %s", r.status, r.body)
	}
}
