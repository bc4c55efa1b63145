package server

import (
	"net/http/httptest"
	"testing"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	two := NewTokens("current-token", "", "previous-token")
	for _, tc := range []struct {
		tokens Tokens
		got    string
		want   bool
	}{
		{two, "current-token", true},
		{two, "previous-token", true},
		{two, "current-toke", false}, // a prefix
		{two, "current-token-", false},
		{two, "", false}, // the empty token given to NewTokens is not a token
		{NewTokens(), "", false},
		{NewTokens(), "anything", false},
	} {
		if got := tc.tokens.Match(tc.got); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.got, got, tc.want)
		}
	}
	if !NewTokens("").Empty() || two.Empty() {
		t.Error("Empty is wrong")
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, ok := BearerToken(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
