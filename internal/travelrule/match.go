package travelrule

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeName returns the comparable form of a person's or company's name: compatibility
// forms unified (full-width Latin, half-width katakana, circled and parenthesised letters),
// accents removed from Latin, Greek and Cyrillic letters (but not the voicing marks of kana or
// the vowel signs of Indic scripts, which change the name), case folded (ß = ss), punctuation
// and symbols turned into spaces, and whitespace collapsed. Hangul and kanji are kept as
// they are (recomposed), so a name written in them compares with the same name only.
func NormalizeName(s string) string {
	d := norm.NFKD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	var base rune
	for _, r := range d {
		switch {
		case unicode.Is(unicode.Mn, r):
			if unicode.In(base, unicode.Latin, unicode.Greek, unicode.Cyrillic) {
				continue
			}
			b.WriteRune(r)
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r) || unicode.IsControl(r):
			b.WriteByte(' ')
			base = 0
		default:
			b.WriteRune(r)
			base = r
		}
	}
	folded := cases.Fold().String(norm.NFC.String(b.String()))
	return strings.Join(strings.Fields(folded), " ")
}

// Legal forms dropped before comparing company names: "Lambda256 Co., Ltd." and "Lambda256"
// are the same company for the purpose of a name check.
var (
	legalFormTokens = []string{"inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "co", "corp",
		"corporation", "company", "gmbh", "ag", "sa", "sas", "sarl", "srl", "spa", "plc", "bv", "nv", "kk", "pte",
		"pty", "oy", "ab", "as", "the"}
	// CJK legal forms are written without spaces, so they are removed as substrings.
	legalFormCJK = []string{"주식회사", "유한회사", "유한책임회사", "(주)", "株式会社", "有限会社", "合同会社", "有限公司", "股份有限公司"}
)

// NormalizeLegalName is NormalizeName for a legal person, without legal-form words.
func NormalizeLegalName(s string) string {
	s = norm.NFKC.String(s)
	for _, f := range legalFormCJK {
		s = strings.ReplaceAll(s, f, " ")
	}
	toks := strings.Fields(NormalizeName(s))
	kept := toks[:0]
	for _, t := range toks {
		if !slices.Contains(legalFormTokens, t) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 { // a name made only of legal-form words stays itself
		return strings.Join(toks, " ")
	}
	return strings.Join(kept, " ")
}

// NameSimilarity compares two normalised names and returns a score in [0, 1]: 1 when they
// have the same words in any order, or the same letters once the spaces are removed in some
// order of the words ("홍 길동" = "홍길동", "山田 太郎" = "太郎山田"); otherwise the edit-distance
// ratio of the closest arrangement of the words.
func NameSimilarity(a, b string) float64 {
	ta, tb := strings.Fields(a), strings.Fields(b)
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	sa, sb := slices.Sorted(slices.Values(ta)), slices.Sorted(slices.Values(tb))
	if slices.Equal(sa, sb) {
		return 1
	}
	best := ratio(strings.Join(sa, " "), strings.Join(sb, " "))
	for _, pair := range [][2][]string{{ta, tb}, {tb, ta}} {
		joined := strings.Join(pair[1], "")
		for _, p := range arrangements(pair[0]) {
			if p == joined {
				return 1
			}
			best = max(best, ratio(p, joined))
		}
	}
	return best
}

// arrangements returns the concatenations of the words in every order (for up to 5 words;
// longer names in their given order only).
func arrangements(words []string) []string {
	if len(words) > 5 {
		return []string{strings.Join(words, "")}
	}
	var out []string
	var perm func(rest []string, acc string)
	perm = func(rest []string, acc string) {
		if len(rest) == 0 {
			out = append(out, acc)
			return
		}
		for i := range rest {
			next := slices.Concat(rest[:i], rest[i+1:])
			perm(next, acc+rest[i])
		}
	}
	perm(words, "")
	return out
}

// ratio is 1 - levenshtein(a, b) / max(len(a), len(b)), counted in runes.
func ratio(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(n)
}

// NameMatcher decides whether a received beneficiary name is our customer's.
type NameMatcher struct {
	// Threshold is the least NameSimilarity that counts as a match, in (0, 1]. 1 accepts only
	// names equal after normalisation and reordering. Default 0.9 (one typo in ten letters).
	Threshold float64
}

func (m NameMatcher) threshold() float64 {
	if m.Threshold <= 0 || m.Threshold > 1 {
		return 0.9
	}
	return m.Threshold
}

// Match compares the persons received (for a company, its representatives may follow it)
// with our customer and returns whether one of their names matches and the best score. Every
// name of a person counts (legal, local and phonetic names, each in both orders of its
// parts); a natural person is compared with a natural person and a legal with a legal.
func (m NameMatcher) Match(received []Person, ours Person) (bool, float64) {
	our := personNames(ours)
	best := 0.0
	for _, p := range received {
		if (p.LegalPerson != nil) != (ours.LegalPerson != nil) {
			continue
		}
		for _, theirs := range personNames(p) {
			for _, o := range our {
				best = max(best, NameSimilarity(theirs, o))
			}
		}
	}
	return best >= m.threshold(), best
}

// personNames returns the normalised names of a person.
func personNames(p Person) []string {
	var out []string
	add := func(s string, legal bool) {
		if legal {
			s = NormalizeLegalName(s)
		} else {
			s = NormalizeName(s)
		}
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch {
	case p.NaturalPerson != nil && p.NaturalPerson.Name != nil:
		n := p.NaturalPerson.Name
		for _, ids := range [][]NaturalNameIdentifier{n.NameIdentifier, n.LocalNameIdentifier, n.PhoneticNameIdentifier} {
			for _, id := range ids {
				add(strings.TrimSpace(string(id.PrimaryIdentifier)+" "+string(id.SecondaryIdentifier)), false)
			}
		}
	case p.LegalPerson != nil && p.LegalPerson.Name != nil:
		n := p.LegalPerson.Name
		for _, ids := range [][]LegalNameIdentifier{n.NameIdentifier, n.LocalNameIdentifier, n.PhoneticNameIdentifier} {
			for _, id := range ids {
				add(string(id.LegalPersonName), true)
			}
		}
	}
	return out
}
