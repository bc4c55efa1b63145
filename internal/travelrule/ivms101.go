package travelrule

// IVMS101 is the identity payload of a VERIFICATION_RESULT in the VerifyVASP flavour (spec
// section 13.2): every part optional, originatingVASP/beneficiaryVASP one level deep
// ({"legalPerson": ...}), extensions accepted. The raw JSON is what vaspgate stores (sealed);
// these types give typed access without ever rejecting a callback for imperfect IVMS101.
type IVMS101 struct {
	Originator      *Originator  `json:"originator,omitempty"`
	Beneficiary     *Beneficiary `json:"beneficiary,omitempty"`
	OriginatingVASP *Person      `json:"originatingVASP,omitempty"`
	BeneficiaryVASP *Person      `json:"beneficiaryVASP,omitempty"`
}

// Originator is the IVMS101 originator.
type Originator struct {
	Persons       []Person `json:"originatorPersons,omitempty"`
	AccountNumber []Text   `json:"accountNumber,omitempty"`
}

// Beneficiary is the IVMS101 beneficiary.
type Beneficiary struct {
	Persons       []Person `json:"beneficiaryPersons,omitempty"`
	AccountNumber []Text   `json:"accountNumber,omitempty"`
}

// Person is exactly one of a natural or a legal person (not enforced).
type Person struct {
	NaturalPerson *NaturalPerson `json:"naturalPerson,omitempty"`
	LegalPerson   *LegalPerson   `json:"legalPerson,omitempty"`
}

// NaturalPerson is an IVMS101 natural person, with VerifyVASP's nationality extension.
type NaturalPerson struct {
	Name                   *NaturalPersonName      `json:"name,omitempty"`
	GeographicAddress      []Address               `json:"geographicAddress,omitempty"`
	NationalIdentification *NationalIdentification `json:"nationalIdentification,omitempty"`
	CustomerIdentification Text                    `json:"customerIdentification,omitempty"`
	DateAndPlaceOfBirth    *DateAndPlaceOfBirth    `json:"dateAndPlaceOfBirth,omitempty"`
	CountryOfResidence     Text                    `json:"countryOfResidence,omitempty"`
	Nationality            Text                    `json:"nationality,omitempty"`
}

// NaturalPersonName holds the name identifiers of a natural person.
type NaturalPersonName struct {
	NameIdentifier         []NaturalNameIdentifier `json:"nameIdentifier,omitempty"`
	LocalNameIdentifier    []NaturalNameIdentifier `json:"localNameIdentifier,omitempty"`
	PhoneticNameIdentifier []NaturalNameIdentifier `json:"phoneticNameIdentifier,omitempty"`
}

// NaturalNameIdentifier is one name of a natural person.
type NaturalNameIdentifier struct {
	PrimaryIdentifier   Text `json:"primaryIdentifier,omitempty"`
	SecondaryIdentifier Text `json:"secondaryIdentifier,omitempty"`
	NameIdentifierType  Text `json:"nameIdentifierType,omitempty"`
}

// LegalPerson is an IVMS101 legal person, with VerifyVASP's extensions.
type LegalPerson struct {
	Name                   *LegalPersonName        `json:"name,omitempty"`
	GeographicAddress      []Address               `json:"geographicAddress,omitempty"`
	CustomerNumber         Text                    `json:"customerNumber,omitempty"`
	CustomerIdentification Text                    `json:"customerIdentification,omitempty"`
	NationalIdentification *NationalIdentification `json:"nationalIdentification,omitempty"`
	CountryOfRegistration  Text                    `json:"countryOfRegistration,omitempty"`
	DateOfIncorporation    Text                    `json:"dateOfIncorporation,omitempty"`
}

// LegalPersonName holds the name identifiers of a legal person.
type LegalPersonName struct {
	NameIdentifier         []LegalNameIdentifier `json:"nameIdentifier,omitempty"`
	LocalNameIdentifier    []LegalNameIdentifier `json:"localNameIdentifier,omitempty"`
	PhoneticNameIdentifier []LegalNameIdentifier `json:"phoneticNameIdentifier,omitempty"`
}

// LegalNameIdentifier is one name of a legal person.
type LegalNameIdentifier struct {
	LegalPersonName               Text `json:"legalPersonName,omitempty"`
	LegalPersonNameIdentifierType Text `json:"legalPersonNameIdentifierType,omitempty"`
}

// Address is an IVMS101 address. PostCode accepts both "postCode" (IVMS101) and "postcode"
// (VerifyVASP): encoding/json matches keys case-insensitively.
type Address struct {
	AddressType        Text   `json:"addressType,omitempty"`
	Department         Text   `json:"department,omitempty"`
	SubDepartment      Text   `json:"subDepartment,omitempty"`
	StreetName         Text   `json:"streetName,omitempty"`
	BuildingNumber     Text   `json:"buildingNumber,omitempty"`
	BuildingName       Text   `json:"buildingName,omitempty"`
	Floor              Text   `json:"floor,omitempty"`
	PostBox            Text   `json:"postBox,omitempty"`
	Room               Text   `json:"room,omitempty"`
	PostCode           Text   `json:"postCode,omitempty"`
	TownName           Text   `json:"townName,omitempty"`
	TownLocationName   Text   `json:"townLocationName,omitempty"`
	DistrictName       Text   `json:"districtName,omitempty"`
	CountrySubDivision Text   `json:"countrySubDivision,omitempty"`
	AddressLine        []Text `json:"addressLine,omitempty"`
	Country            Text   `json:"country,omitempty"`
}

// NationalIdentification is an IVMS101 national identification.
type NationalIdentification struct {
	NationalIdentifier     Text `json:"nationalIdentifier,omitempty"`
	NationalIdentifierType Text `json:"nationalIdentifierType,omitempty"`
	CountryOfIssue         Text `json:"countryOfIssue,omitempty"`
	RegistrationAuthority  Text `json:"registrationAuthority,omitempty"`
}

// DateAndPlaceOfBirth is an IVMS101 date and place of birth.
type DateAndPlaceOfBirth struct {
	DateOfBirth  Text `json:"dateOfBirth,omitempty"`
	PlaceOfBirth Text `json:"placeOfBirth,omitempty"`
}
