package stellar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/stellar/go-stellar-sdk/strkey"
)

// maxTOMLBytes is SEP-1's limit on stellar.toml.
const maxTOMLBytes = 100 * 1024

// validDomain accepts a DNS name only: no scheme, port, path, user info or IP literal, so
// that client_domain cannot steer the fetch anywhere but https://<name>/.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || strings.HasSuffix(d, ".") {
		return false
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// clientDomainKey reads SIGNING_KEY from https://<domain>/.well-known/stellar.toml through
// the caller's (SSRF-safe) client.
func clientDomainKey(ctx context.Context, client *http.Client, domain string) (string, error) {
	if !validDomain(domain) {
		return "", fmt.Errorf("stellar: client domain %q is not a DNS name", domain)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+domain+"/.well-known/stellar.toml", nil)
	if err != nil {
		return "", fmt.Errorf("stellar: client domain %q: %w", domain, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("stellar: client domain %q: %w", domain, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("stellar: client domain %q: stellar.toml answered %d", domain, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTOMLBytes+1))
	if err != nil {
		return "", fmt.Errorf("stellar: client domain %q: read stellar.toml: %w", domain, err)
	}
	if len(body) > maxTOMLBytes {
		return "", fmt.Errorf("stellar: client domain %q: stellar.toml is larger than %d bytes", domain, maxTOMLBytes)
	}
	var t struct {
		SigningKey string `toml:"SIGNING_KEY"`
	}
	if _, err := toml.Decode(string(body), &t); err != nil {
		return "", fmt.Errorf("stellar: client domain %q: parse stellar.toml: %w", domain, err)
	}
	if !strkey.IsValidEd25519PublicKey(t.SigningKey) {
		return "", fmt.Errorf("stellar: client domain %q: %w", domain, errors.New("stellar.toml has no valid SIGNING_KEY"))
	}
	return t.SigningKey, nil
}
