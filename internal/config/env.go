package config

import (
	"sort"
	"strings"
)

// EnvWarning is a VASPGATE_* environment variable vaspgate does not read.
type EnvWarning struct {
	// Name is the variable as set.
	Name string
	// Closest is the known variable nearest to Name (by edit distance), "" when none is near.
	Closest string
}

func (w EnvWarning) String() string {
	s := "unknown environment variable " + w.Name + " is ignored"
	if w.Closest != "" {
		s += " (did you mean " + w.Closest + "?)"
	}
	return s
}

// KnownEnv lists every environment variable the configuration reads, found by loading with
// a lookup that records what it is asked for, so the list cannot drift from the code.
func KnownEnv() []string {
	seen := map[string]bool{}
	cfg := Default()
	cfg.applyEnv(func(name string) (string, bool) {
		seen[name] = true
		return "", false
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownEnv returns a warning for each VASPGATE_* variable in environ (os.Environ form,
// NAME=value) that the configuration does not read: unknown YAML keys are errors, and an
// unknown variable — usually a typo — must not be silently ignored either. Variables of the
// test suite (VASPGATE_TEST_*) are not configuration and are left alone.
func UnknownEnv(environ []string) []EnvWarning {
	known := KnownEnv()
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var out []EnvWarning
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "VASPGATE_") || strings.HasPrefix(name, "VASPGATE_TEST_") || isKnown[name] {
			continue
		}
		out = append(out, EnvWarning{Name: name, Closest: closest(name, known)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// closest is the candidate nearest to name, when it is near enough to be a likely typo
// (at most a third of the name's length in edits).
func closest(name string, candidates []string) string {
	best, bestD := "", len(name)/3+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes: the names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
