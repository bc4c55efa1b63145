package travelrule

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// FieldError is one IVMS101 constraint a payload breaks, named by the JSON path of the field
// (for example "beneficiary.beneficiaryPersons[0].naturalPerson.name.nameIdentifier").
type FieldError struct {
	Field string
	// Rule is the IVMS101 constraint or code list ("C6", "length", "code list", ...).
	Rule string
	Msg  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg + " (" + e.Rule + ")" }

// FieldErrors returns every *FieldError inside err (as joined by Validate).
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var fe *FieldError
		if errors.As(e, &fe) && fe == e {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
		}
	}
	walk(err)
	return out
}

// IVMS101 code lists (IVMS101 2020, section 5).
var (
	naturalNameTypes = []string{"ALIA", "BIRT", "MAID", "LEGL", "MISC"}
	legalNameTypes   = []string{"LEGL", "SHRT", "TRAD"}
	addressTypes     = []string{"HOME", "BIZZ", "GEOG"}
	nationalIDTypes  = []string{"ARNU", "CCPT", "RAID", "DRLC", "FIIN", "TXID", "SOCS", "IDCD", "LEIX", "MISC"}
	// C7: a legal person is identified by one of these.
	legalNationalIDTypes = []string{"RAID", "MISC", "LEIX", "TXID"}
)

var (
	leiRe       = regexp.MustCompile(`^[0-9A-Z]{18}[0-9]{2}$`)
	raRe        = regexp.MustCompile(`^RA[0-9]{6}$`)
	dateRe      = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
)

// ValidCountry reports whether c is an ISO 3166-1 alpha-2 country code, or XX (IVMS101 C3:
// "no country").
func ValidCountry(c string) bool {
	if c == "XX" {
		return true
	}
	if !countryCode.MatchString(c) {
		return false
	}
	r, err := language.ParseRegion(c)
	return err == nil && r.IsCountry() && r.ISO3() != "ZZZ"
}

// validator collects field errors with their paths.
type validator struct {
	errs []error
	now  time.Time
}

func (v *validator) add(field, rule, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) maxLen(field string, t Text, n int) {
	if utf8.RuneCountInString(string(t)) > n {
		v.add(field, "length", "longer than %d characters", n)
	}
}

func (v *validator) code(field string, t Text, list []string, required bool) {
	s := string(t)
	if s == "" {
		if required {
			v.add(field, "required", "is required (one of %s)", strings.Join(list, ", "))
		}
		return
	}
	if !slices.Contains(list, s) {
		v.add(field, "code list", "%q is not one of %s", s, strings.Join(list, ", "))
	}
}

func (v *validator) country(field string, t Text, required bool) {
	if t == "" {
		if required {
			v.add(field, "C3", "is required (ISO 3166-1 alpha-2, e.g. KR)")
		}
		return
	}
	if !ValidCountry(string(t)) {
		v.add(field, "C3", "%q is not an ISO 3166-1 alpha-2 country code", string(t))
	}
}

// Validate checks p against the IVMS101 constraints that apply to the parties present: a
// VerifyVASP payload may carry only some of them (a VERIFIED result returns only the
// beneficiary), so absent parties are not errors. Every problem is reported, joined, each a
// *FieldError naming its field.
func (p IVMS101) Validate() error {
	v := &validator{now: time.Now().UTC()}
	if p.Originator != nil {
		if len(p.Originator.Persons) == 0 {
			v.add("originator.originatorPersons", "required", "needs at least one person")
		}
		for i, per := range p.Originator.Persons {
			v.person(fmt.Sprintf("originator.originatorPersons[%d]", i), per)
		}
		v.accounts("originator.accountNumber", p.Originator.AccountNumber)
	}
	if p.Beneficiary != nil {
		if len(p.Beneficiary.Persons) == 0 && len(p.Beneficiary.AccountNumber) == 0 {
			v.add("beneficiary", "required", "needs beneficiaryPersons or accountNumber")
		}
		for i, per := range p.Beneficiary.Persons {
			v.person(fmt.Sprintf("beneficiary.beneficiaryPersons[%d]", i), per)
		}
		v.accounts("beneficiary.accountNumber", p.Beneficiary.AccountNumber)
	}
	if p.OriginatingVASP != nil {
		v.person("originatingVASP", *p.OriginatingVASP)
	}
	if p.BeneficiaryVASP != nil {
		v.person("beneficiaryVASP", *p.BeneficiaryVASP)
	}
	return errors.Join(v.errs...)
}

func (v *validator) accounts(field string, accs []Text) {
	for i, a := range accs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if strings.TrimSpace(string(a)) == "" {
			v.add(f, "required", "is empty")
		}
		v.maxLen(f, a, 100)
	}
}

// person checks exactly one of naturalPerson and legalPerson (IVMS101 Person is a choice).
func (v *validator) person(field string, p Person) {
	switch {
	case p.NaturalPerson != nil && p.LegalPerson != nil:
		v.add(field, "choice", "has both naturalPerson and legalPerson; exactly one is allowed")
	case p.NaturalPerson != nil:
		v.natural(field+".naturalPerson", *p.NaturalPerson)
	case p.LegalPerson != nil:
		v.legal(field+".legalPerson", *p.LegalPerson)
	default:
		v.add(field, "choice", "needs naturalPerson or legalPerson")
	}
}

func (v *validator) natural(field string, n NaturalPerson) {
	if n.Name == nil || len(n.Name.NameIdentifier) == 0 {
		v.add(field+".name.nameIdentifier", "required", "needs at least one name")
	} else {
		legl := false
		for i, id := range n.Name.NameIdentifier {
			f := fmt.Sprintf("%s.name.nameIdentifier[%d]", field, i)
			v.naturalName(f, id)
			legl = legl || id.NameIdentifierType == "LEGL"
		}
		if !legl {
			v.add(field+".name.nameIdentifier", "C6", "needs a name of type LEGL")
		}
	}
	if n.Name != nil {
		for i, id := range n.Name.LocalNameIdentifier {
			v.naturalName(fmt.Sprintf("%s.name.localNameIdentifier[%d]", field, i), id)
		}
		for i, id := range n.Name.PhoneticNameIdentifier {
			v.naturalName(fmt.Sprintf("%s.name.phoneticNameIdentifier[%d]", field, i), id)
		}
	}
	for i, a := range n.GeographicAddress {
		v.address(fmt.Sprintf("%s.geographicAddress[%d]", field, i), a)
	}
	if n.NationalIdentification != nil {
		v.nationalID(field+".nationalIdentification", *n.NationalIdentification, false)
	}
	v.maxLen(field+".customerIdentification", n.CustomerIdentification, 50)
	if b := n.DateAndPlaceOfBirth; b != nil {
		v.birth(field+".dateAndPlaceOfBirth", *b)
	}
	v.country(field+".countryOfResidence", n.CountryOfResidence, false)
	v.country(field+".nationality", n.Nationality, false)
}

func (v *validator) naturalName(f string, id NaturalNameIdentifier) {
	if strings.TrimSpace(string(id.PrimaryIdentifier)) == "" {
		v.add(f+".primaryIdentifier", "required", "is required")
	}
	v.maxLen(f+".primaryIdentifier", id.PrimaryIdentifier, 100)
	v.maxLen(f+".secondaryIdentifier", id.SecondaryIdentifier, 100)
	v.code(f+".nameIdentifierType", id.NameIdentifierType, naturalNameTypes, true)
}

func (v *validator) legal(field string, l LegalPerson) {
	if l.Name == nil || len(l.Name.NameIdentifier) == 0 {
		v.add(field+".name.nameIdentifier", "required", "needs at least one name")
	} else {
		legl := false
		for i, id := range l.Name.NameIdentifier {
			f := fmt.Sprintf("%s.name.nameIdentifier[%d]", field, i)
			v.legalName(f, id)
			legl = legl || id.LegalPersonNameIdentifierType == "LEGL"
		}
		if !legl {
			v.add(field+".name.nameIdentifier", "C5", "needs a name of type LEGL")
		}
	}
	if l.Name != nil {
		for i, id := range l.Name.LocalNameIdentifier {
			v.legalName(fmt.Sprintf("%s.name.localNameIdentifier[%d]", field, i), id)
		}
	}
	for i, a := range l.GeographicAddress {
		v.address(fmt.Sprintf("%s.geographicAddress[%d]", field, i), a)
	}
	v.maxLen(field+".customerNumber", l.CustomerNumber, 50)
	v.maxLen(field+".customerIdentification", l.CustomerIdentification, 50)
	if l.NationalIdentification != nil {
		v.nationalID(field+".nationalIdentification", *l.NationalIdentification, true)
	}
	v.country(field+".countryOfRegistration", l.CountryOfRegistration, false)
	if d := string(l.DateOfIncorporation); d != "" {
		v.pastDate(field+".dateOfIncorporation", d)
	}
}

func (v *validator) legalName(f string, id LegalNameIdentifier) {
	if strings.TrimSpace(string(id.LegalPersonName)) == "" {
		v.add(f+".legalPersonName", "required", "is required")
	}
	v.maxLen(f+".legalPersonName", id.LegalPersonName, 100)
	v.code(f+".legalPersonNameIdentifierType", id.LegalPersonNameIdentifierType, legalNameTypes, true)
}

// address checks C8 (an address line, or a street name with a building name or number),
// the address type and the country.
func (v *validator) address(f string, a Address) {
	v.code(f+".addressType", a.AddressType, addressTypes, true)
	v.country(f+".country", a.Country, true)
	if len(a.AddressLine) > 7 {
		v.add(f+".addressLine", "length", "has %d lines, at most 7", len(a.AddressLine))
	}
	for i, l := range a.AddressLine {
		v.maxLen(fmt.Sprintf("%s.addressLine[%d]", f, i), l, 70)
	}
	hasLine := false
	for _, l := range a.AddressLine {
		hasLine = hasLine || strings.TrimSpace(string(l)) != ""
	}
	if !hasLine && (a.StreetName == "" || (a.BuildingName == "" && a.BuildingNumber == "")) {
		v.add(f, "C8", "needs addressLine, or streetName with buildingName or buildingNumber")
	}
	v.maxLen(f+".postCode", a.PostCode, 16)
	v.maxLen(f+".townName", a.TownName, 35)
	v.maxLen(f+".streetName", a.StreetName, 70)
	v.maxLen(f+".buildingNumber", a.BuildingNumber, 16)
	v.maxLen(f+".buildingName", a.BuildingName, 35)
}

// nationalID checks the identifier, its type (C7 for legal persons), the issuing country,
// the registration authority (C9, C10) and the LEI format (C11).
func (v *validator) nationalID(f string, n NationalIdentification, legal bool) {
	if strings.TrimSpace(string(n.NationalIdentifier)) == "" {
		v.add(f+".nationalIdentifier", "required", "is required")
	}
	v.maxLen(f+".nationalIdentifier", n.NationalIdentifier, 35)
	v.code(f+".nationalIdentifierType", n.NationalIdentifierType, nationalIDTypes, true)
	t := string(n.NationalIdentifierType)
	if legal && t != "" && !slices.Contains(legalNationalIDTypes, t) {
		v.add(f+".nationalIdentifierType", "C7", "%q cannot identify a legal person (RAID, MISC, LEIX or TXID)", t)
	}
	v.country(f+".countryOfIssue", n.CountryOfIssue, false)
	ra := string(n.RegistrationAuthority)
	switch {
	case t == "LEIX":
		if ra != "" {
			v.add(f+".registrationAuthority", "C10", "must be empty for an LEI")
		}
		if !leiRe.MatchString(string(n.NationalIdentifier)) {
			v.add(f+".nationalIdentifier", "C11", "is not an LEI (20 characters, 18 alphanumeric then 2 digits)")
		}
	case legal && ra == "":
		v.add(f+".registrationAuthority", "C9", "is required unless the type is LEIX (GLEIF code RA followed by 6 digits)")
	case ra != "" && !raRe.MatchString(ra):
		v.add(f+".registrationAuthority", "C9", "%q is not a GLEIF registration authority code (RA followed by 6 digits)", ra)
	}
}

func (v *validator) birth(f string, b DateAndPlaceOfBirth) {
	if b.DateOfBirth == "" {
		v.add(f+".dateOfBirth", "required", "is required")
	} else {
		v.pastDate(f+".dateOfBirth", string(b.DateOfBirth))
	}
	if strings.TrimSpace(string(b.PlaceOfBirth)) == "" {
		v.add(f+".placeOfBirth", "required", "is required")
	}
	v.maxLen(f+".placeOfBirth", b.PlaceOfBirth, 70)
}

// pastDate checks an ISO 8601 date (YYYY-MM-DD) before today (C2).
func (v *validator) pastDate(f, d string) {
	t, err := time.Parse(time.DateOnly, d)
	if !dateRe.MatchString(d) || err != nil {
		v.add(f, "format", "%q is not a date (YYYY-MM-DD)", d)
		return
	}
	if !t.Before(v.now.Truncate(24 * time.Hour)) {
		v.add(f, "C2", "%s is not in the past", d)
	}
}
