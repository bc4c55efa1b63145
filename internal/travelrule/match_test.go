package travelrule

import (
	"testing"
)

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"  José   GARCÍA ", "jose garcia"},
		{"Zoë O'Brien-Smith", "zoe o brien smith"},
		{"Straße", "strasse"},
		{"Ｔａｙｌｏｒ　Ｒｏｂｂｉｎｓ", "taylor robbins"}, // full-width letters and space
		{"홍 길동", "홍 길동"},
		{"ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"}, // half-width katakana, voicing mark kept
		{"山田・太郎", "山田 太郎"},      // katakana middle dot separates
		{"Ångström\tÉmile", "angstrom emile"},
		{"Дмитрий Шостакович", "дмитрии шостакович"}, // й loses its breve like any Cyrillic accent
	} {
		if got := NormalizeName(tc.in); got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeLegalName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Lambda256 Co., Ltd.", "lambda256"},
		{"주식회사 람다256", "람다256"},
		{"(주)람다256", "람다256"},
		{"㈜람다256", "람다256"},
		{"株式会社ラムダ", "ラムダ"},
		{"The Company Ltd", "the company ltd"}, // only legal-form words: kept whole
	} {
		if got := NormalizeLegalName(tc.in); got != tc.want {
			t.Errorf("NormalizeLegalName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func natural(primary, secondary string) Person {
	return Person{NaturalPerson: &NaturalPerson{Name: &NaturalPersonName{NameIdentifier: []NaturalNameIdentifier{{
		PrimaryIdentifier: Text(primary), SecondaryIdentifier: Text(secondary), NameIdentifierType: "LEGL"}}}}}
}

func legal(name string) Person {
	return Person{LegalPerson: &LegalPerson{Name: &LegalPersonName{NameIdentifier: []LegalNameIdentifier{{
		LegalPersonName: Text(name), LegalPersonNameIdentifierType: "LEGL"}}}}}
}

func TestNameMatcher(t *testing.T) {
	t.Parallel()
	withLocal := natural("Hong", "Gildong")
	withLocal.NaturalPerson.Name.LocalNameIdentifier = []NaturalNameIdentifier{{PrimaryIdentifier: "홍", SecondaryIdentifier: "길동", NameIdentifierType: "LEGL"}}
	for _, tc := range []struct {
		name     string
		received []Person
		ours     Person
		match    bool
	}{
		{"same", []Person{natural("Robbins", "Taylor")}, natural("Robbins", "Taylor"), true},
		{"parts swapped", []Person{natural("Taylor", "Robbins")}, natural("Robbins", "Taylor"), true},
		{"whole name in primary", []Person{natural("Taylor Robbins", "")}, natural("Robbins", "Taylor"), true},
		{"case and spaces", []Person{natural("  ROBBINS ", "taylor")}, natural("Robbins", "Taylor"), true},
		{"accents", []Person{natural("Garcia", "Jose Maria")}, natural("García", "José María"), true},
		{"one typo", []Person{natural("Robins", "Taylor")}, natural("Robbins", "Taylor"), true},
		{"another person", []Person{natural("Din", "James")}, natural("Robbins", "Taylor"), false},
		{"same family other given", []Person{natural("Robbins", "Tom")}, natural("Robbins", "Taylor"), false},
		{"hangul with space", []Person{natural("홍", "길동")}, natural("홍", "길동"), true},
		{"hangul without space", []Person{natural("홍길동", "")}, natural("홍", "길동"), true},
		{"hangul given first", []Person{natural("길동", "홍")}, natural("홍", "길동"), true},
		{"hangul other person", []Person{natural("김", "철수")}, natural("홍", "길동"), false},
		{"hangul one syllable differs", []Person{natural("홍길순", "")}, natural("홍", "길동"), false},
		{"hangul local name", []Person{natural("홍길동", "")}, withLocal, true},
		{"japanese kanji", []Person{natural("山田太郎", "")}, natural("山田", "太郎"), true},
		{"japanese half-width kana", []Person{natural("ﾔﾏﾀﾞ", "ﾀﾛｳ")}, natural("ヤマダ", "タロウ"), true},
		{"japanese voicing differs", []Person{natural("ヤマタ", "タロウ")}, natural("ヤマダ", "タロウ"), false},
		{"script differs", []Person{natural("Hong", "Gildong")}, natural("홍", "길동"), false},
		{"legal with forms", []Person{legal("LAMBDA256 CO., LTD.")}, legal("Lambda256"), true},
		{"legal korean", []Person{legal("(주)람다256")}, legal("주식회사 람다256"), true},
		{"legal other", []Person{legal("Lambda Exchange")}, legal("Lambda256"), false},
		{"legal vs natural", []Person{natural("Lambda256", "")}, legal("Lambda256"), false},
		{"second representative", []Person{legal("Other Inc"), natural("Robbins", "Taylor")}, natural("Robbins", "Taylor"), true},
		{"no name", []Person{{NaturalPerson: &NaturalPerson{}}}, natural("Robbins", "Taylor"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, score := NameMatcher{}.Match(tc.received, tc.ours)
			if ok != tc.match {
				t.Fatalf("match = %v (score %.3f), want %v", ok, score, tc.match)
			}
		})
	}
}

func TestNameMatcherThreshold(t *testing.T) {
	t.Parallel()
	r, o := []Person{natural("Robins", "Taylor")}, natural("Robbins", "Taylor")
	if ok, _ := (NameMatcher{Threshold: 1}).Match(r, o); ok {
		t.Fatal("threshold 1 accepted a typo")
	}
	if ok, _ := (NameMatcher{Threshold: 0.9}).Match(r, o); !ok {
		t.Fatal("threshold 0.9 refused one typo in 14 letters")
	}
}
