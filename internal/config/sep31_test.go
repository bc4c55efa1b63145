package config

import (
	"testing"
	"time"
)

func TestQuotesEnv(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		env   map[string]string
		rates string
		ttl   time.Duration
		probs int
	}{
		{"none", map[string]string{}, "", 0, 0},
		{"business rates, 2m quotes", map[string]string{"VASPGATE_QUOTES_RATES": "business", "VASPGATE_QUOTES_QUOTE_TTL": "2m"}, "business", 2 * time.Minute, 0},
		{"bad duration", map[string]string{"VASPGATE_QUOTES_QUOTE_TTL": "soon"}, "", 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var q Quotes
			probs := q.applyEnv(func(s string) (string, bool) { v, ok := c.env[s]; return v, ok })
			if q.Rates != c.rates || q.QuoteTTL != c.ttl || len(probs) != c.probs {
				t.Errorf("env %v: rates %q ttl %v problems %v", c.env, q.Rates, q.QuoteTTL, probs)
			}
		})
	}
}
