package travelrule

import (
	"strings"
)

// SEP-9 identity document types and their IVMS101 national identifier types.
var sep9IDTypes = map[string]string{
	"passport": "CCPT", "drivers_license": "DRLC", "id_card": "IDCD", "national_id": "IDCD",
	"tax_id": "TXID", "social_security": "SOCS", "alien_registration": "ARNU",
}

func ivmsIDType(sep9 string) string {
	if t, ok := sep9IDTypes[strings.ToLower(strings.TrimSpace(sep9))]; ok {
		return t
	}
	return "MISC"
}

func sep9IDType(ivms string) string {
	switch ivms {
	case "CCPT":
		return "passport"
	case "DRLC":
		return "drivers_license"
	case "IDCD":
		return "id_card"
	case "TXID":
		return "tax_id"
	case "SOCS":
		return "social_security"
	case "ARNU":
		return "alien_registration"
	}
	return ""
}

func text(f map[string]string, k string) Text { return Text(strings.TrimSpace(f[k])) }

// PersonFromSEP9 builds the IVMS101 person of a SEP-12 customer from its SEP-9 fields: a
// legal person when organization.name is set, else a natural person. The LEGL name of a
// natural person puts the family name (last_name) first and the given names (first_name,
// additional_name) second, as IVMS101 asks; a customer known by one name only has it as the
// primary identifier. Fields the customer did not provide are left out.
func PersonFromSEP9(f map[string]string) Person {
	if n := text(f, "organization.name"); n != "" {
		return Person{LegalPerson: legalFromSEP9(f, n)}
	}
	n := &NaturalPerson{}
	primary, secondary := text(f, "last_name"), text(f, "first_name")
	if add := text(f, "additional_name"); add != "" {
		secondary = Text(strings.TrimSpace(string(secondary) + " " + string(add)))
	}
	if primary == "" {
		primary, secondary = secondary, ""
	}
	if primary != "" {
		n.Name = &NaturalPersonName{NameIdentifier: []NaturalNameIdentifier{{
			PrimaryIdentifier: primary, SecondaryIdentifier: secondary, NameIdentifierType: "LEGL",
		}}}
	}
	if a, ok := addressFromSEP9(f, "", "HOME"); ok {
		n.GeographicAddress = []Address{a}
	}
	if id := text(f, "id_number"); id != "" {
		n.NationalIdentification = &NationalIdentification{
			NationalIdentifier: id, NationalIdentifierType: Text(ivmsIDType(f["id_type"])),
			CountryOfIssue: text(f, "id_country_code"),
		}
	}
	if d := text(f, "birth_date"); d != "" {
		n.DateAndPlaceOfBirth = &DateAndPlaceOfBirth{DateOfBirth: d, PlaceOfBirth: text(f, "birth_place")}
	}
	n.CountryOfResidence = text(f, "address_country_code")
	return Person{NaturalPerson: n}
}

func legalFromSEP9(f map[string]string, name Text) *LegalPerson {
	l := &LegalPerson{Name: &LegalPersonName{NameIdentifier: []LegalNameIdentifier{{
		LegalPersonName: name, LegalPersonNameIdentifierType: "LEGL",
	}}}}
	if a, ok := addressFromSEP9(f, "organization.", "BIZZ"); ok {
		l.GeographicAddress = []Address{a}
	}
	if r := text(f, "organization.registration_number"); r != "" {
		l.NationalIdentification = &NationalIdentification{
			NationalIdentifier: r, NationalIdentifierType: "RAID",
			CountryOfIssue:        text(f, "organization.registered_address_country_code"),
			RegistrationAuthority: text(f, "organization.registration_authority"),
		}
		if leiRe.MatchString(string(r)) {
			l.NationalIdentification.NationalIdentifierType = "LEIX"
			l.NationalIdentification.RegistrationAuthority = ""
		}
	}
	l.CountryOfRegistration = text(f, "organization.address_country_code")
	l.DateOfIncorporation = text(f, "organization.registration_date")
	return l
}

// addressFromSEP9 builds an address from the SEP-9 address fields under prefix; ok is false
// when the customer gave none. The SEP-9 "address" (full text, possibly several lines)
// becomes addressLine.
func addressFromSEP9(f map[string]string, prefix, typ string) (Address, bool) {
	addr := f[prefix+"address"]
	if prefix == "organization." && addr == "" {
		addr = f["organization.registered_address"]
	}
	a := Address{
		AddressType: Text(typ), TownName: text(f, prefix+"city"), PostCode: text(f, prefix+"postal_code"),
		CountrySubDivision: text(f, prefix+"state_or_province"), Country: text(f, prefix+"address_country_code"),
	}
	for _, l := range strings.Split(addr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			a.AddressLine = append(a.AddressLine, Text(l))
		}
	}
	if len(a.AddressLine) == 0 && a.TownName == "" && a.PostCode == "" && a.Country == "" {
		return Address{}, false
	}
	return a, true
}

// SEP9FromPerson is the inverse of PersonFromSEP9: the SEP-9 fields a person's IVMS101 data
// gives (the LEGL name, else the first name; the first address; the national identifier; the
// birth data). Fields without a SEP-9 equivalent are dropped.
func SEP9FromPerson(p Person) map[string]string {
	f := map[string]string{}
	set := func(k string, v Text) {
		if s := strings.TrimSpace(string(v)); s != "" {
			f[k] = s
		}
	}
	switch {
	case p.NaturalPerson != nil:
		n := p.NaturalPerson
		if n.Name != nil {
			if id, ok := leglNatural(n.Name.NameIdentifier); ok {
				if id.SecondaryIdentifier == "" {
					set("first_name", id.PrimaryIdentifier)
				} else {
					set("last_name", id.PrimaryIdentifier)
					given := strings.Fields(string(id.SecondaryIdentifier))
					set("first_name", Text(given[0]))
					set("additional_name", Text(strings.Join(given[1:], " ")))
				}
			}
		}
		if len(n.GeographicAddress) > 0 {
			addressToSEP9(set, "", n.GeographicAddress[0])
		}
		if id := n.NationalIdentification; id != nil {
			set("id_number", id.NationalIdentifier)
			set("id_type", Text(sep9IDType(string(id.NationalIdentifierType))))
			set("id_country_code", id.CountryOfIssue)
		}
		if b := n.DateAndPlaceOfBirth; b != nil {
			set("birth_date", b.DateOfBirth)
			set("birth_place", b.PlaceOfBirth)
		}
		if n.CountryOfResidence != "" {
			set("address_country_code", n.CountryOfResidence)
		}
	case p.LegalPerson != nil:
		l := p.LegalPerson
		if l.Name != nil {
			for _, id := range l.Name.NameIdentifier {
				if id.LegalPersonNameIdentifierType == "LEGL" || f["organization.name"] == "" {
					set("organization.name", id.LegalPersonName)
				}
			}
		}
		if len(l.GeographicAddress) > 0 {
			addressToSEP9(set, "organization.", l.GeographicAddress[0])
		}
		if id := l.NationalIdentification; id != nil {
			set("organization.registration_number", id.NationalIdentifier)
			set("organization.registration_authority", id.RegistrationAuthority)
			set("organization.registered_address_country_code", id.CountryOfIssue)
		}
		if l.CountryOfRegistration != "" {
			set("organization.address_country_code", l.CountryOfRegistration)
		}
		set("organization.registration_date", l.DateOfIncorporation)
	}
	return f
}

func addressToSEP9(set func(string, Text), prefix string, a Address) {
	lines := make([]string, 0, len(a.AddressLine))
	for _, l := range a.AddressLine {
		lines = append(lines, string(l))
	}
	if len(lines) == 0 && a.StreetName != "" {
		lines = append(lines, strings.TrimSpace(string(a.BuildingNumber)+" "+string(a.StreetName)))
	}
	set(prefix+"address", Text(strings.Join(lines, "\n")))
	set(prefix+"city", a.TownName)
	set(prefix+"postal_code", a.PostCode)
	set(prefix+"state_or_province", a.CountrySubDivision)
	set(prefix+"address_country_code", a.Country)
}

// leglNatural returns the LEGL name of a natural person, else its first name.
func leglNatural(ids []NaturalNameIdentifier) (NaturalNameIdentifier, bool) {
	for _, id := range ids {
		if id.NameIdentifierType == "LEGL" {
			return id, true
		}
	}
	if len(ids) > 0 {
		return ids[0], true
	}
	return NaturalNameIdentifier{}, false
}
