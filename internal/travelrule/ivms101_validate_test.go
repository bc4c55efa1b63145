package travelrule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestIVMS101ValidateFixture(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "verification_result_denied.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data struct {
			IVMS101 IVMS101 `json:"ivms101"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if err := env.Data.IVMS101.Validate(); err != nil {
		t.Fatalf("the vendor's example is valid IVMS101, got %v", err)
	}
}

func TestIVMS101ValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want []string // "field rule"
	}{
		{"both person kinds", `{"beneficiary":{"beneficiaryPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":"A","nameIdentifierType":"LEGL"}]}},"legalPerson":{}}]}}`,
			[]string{"beneficiary.beneficiaryPersons[0] choice"}},
		{"no LEGL name", `{"originator":{"originatorPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":"A","nameIdentifierType":"ALIA"}]}}}]}}`,
			[]string{"originator.originatorPersons[0].naturalPerson.name.nameIdentifier C6"}},
		{"bad name type and empty primary", `{"originator":{"originatorPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":" ","nameIdentifierType":"NICK"}]}}}]}}`,
			[]string{"originator.originatorPersons[0].naturalPerson.name.nameIdentifier[0].primaryIdentifier required",
				"originator.originatorPersons[0].naturalPerson.name.nameIdentifier[0].nameIdentifierType code list",
				"originator.originatorPersons[0].naturalPerson.name.nameIdentifier C6"}},
		{"address without lines or street", `{"beneficiary":{"beneficiaryPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":"A","nameIdentifierType":"LEGL"}]},"geographicAddress":[{"addressType":"HOME","country":"KR","townName":"Seoul"}]}}]}}`,
			[]string{"beneficiary.beneficiaryPersons[0].naturalPerson.geographicAddress[0] C8"}},
		{"bad country", `{"beneficiary":{"beneficiaryPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":"A","nameIdentifierType":"LEGL"}]},"countryOfResidence":"KOR"}}]}}`,
			[]string{"beneficiary.beneficiaryPersons[0].naturalPerson.countryOfResidence C3"}},
		{"birth in the future", `{"beneficiary":{"beneficiaryPersons":[{"naturalPerson":{"name":{"nameIdentifier":[{"primaryIdentifier":"A","nameIdentifierType":"LEGL"}]},"dateAndPlaceOfBirth":{"dateOfBirth":"2999-01-01","placeOfBirth":"Seoul"}}}]}}`,
			[]string{"beneficiary.beneficiaryPersons[0].naturalPerson.dateAndPlaceOfBirth.dateOfBirth C2"}},
		{"legal person with passport", `{"originatingVASP":{"legalPerson":{"name":{"nameIdentifier":[{"legalPersonName":"X","legalPersonNameIdentifierType":"LEGL"}]},"nationalIdentification":{"nationalIdentifier":"M1","nationalIdentifierType":"CCPT","registrationAuthority":"RA000151"}}}}`,
			[]string{"originatingVASP.legalPerson.nationalIdentification.nationalIdentifierType C7"}},
		{"legal RAID without authority", `{"originatingVASP":{"legalPerson":{"name":{"nameIdentifier":[{"legalPersonName":"X","legalPersonNameIdentifierType":"LEGL"}]},"nationalIdentification":{"nationalIdentifier":"1","nationalIdentifierType":"RAID"}}}}`,
			[]string{"originatingVASP.legalPerson.nationalIdentification.registrationAuthority C9"}},
		{"bad LEI", `{"beneficiaryVASP":{"legalPerson":{"name":{"nameIdentifier":[{"legalPersonName":"X","legalPersonNameIdentifierType":"LEGL"}]},"nationalIdentification":{"nationalIdentifier":"ABC","nationalIdentifierType":"LEIX"}}}}`,
			[]string{"beneficiaryVASP.legalPerson.nationalIdentification.nationalIdentifier C11"}},
		{"account too long", `{"beneficiary":{"accountNumber":["` + string(make100("G")) + `x"]}}`,
			[]string{"beneficiary.accountNumber[0] length"}},
		{"originator without persons", `{"originator":{"accountNumber":["G1"]}}`,
			[]string{"originator.originatorPersons required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p IVMS101
			if err := json.Unmarshal([]byte(tc.in), &p); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, fe := range FieldErrors(p.Validate()) {
				got = append(got, fe.Field+" "+fe.Rule)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("errors\n got %q\nwant %q", got, want)
			}
		})
	}
}

func make100(s string) []byte {
	b := make([]byte, 100)
	for i := range b {
		b[i] = s[0]
	}
	return b
}

func TestSEP9RoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fields map[string]string
	}{
		{"natural", map[string]string{
			"first_name": "Taylor", "additional_name": "Ann", "last_name": "Robbins",
			"address": "100-100 Sechogu street\nFloor 3", "city": "Seoul", "postal_code": "06234",
			"state_or_province": "Seoul", "address_country_code": "KR", "birth_date": "1990-02-03",
			"birth_place": "Busan", "id_type": "passport", "id_number": "M1234567", "id_country_code": "KR",
		}},
		{"legal", map[string]string{
			"organization.name": "Lambda256 Co., Ltd.", "organization.registration_number": "110111-1234567",
			"organization.registration_authority": "RA000151", "organization.address": "Teheran-ro 1",
			"organization.city": "Seoul", "organization.address_country_code": "KR",
			"organization.registration_date": "2018-05-01",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := PersonFromSEP9(tc.fields)
			if err := (IVMS101{Originator: &Originator{Persons: []Person{p}, AccountNumber: []Text{"GABC"}}}).Validate(); err != nil {
				t.Fatalf("built person is not valid IVMS101: %v", err)
			}
			back := SEP9FromPerson(p)
			if !reflect.DeepEqual(back, tc.fields) {
				t.Fatalf("round trip\n got %v\nwant %v", back, tc.fields)
			}
		})
	}
	p := PersonFromSEP9(map[string]string{"first_name": "Taylor", "last_name": "Robbins"})
	id := p.NaturalPerson.Name.NameIdentifier[0]
	if id.PrimaryIdentifier != "Robbins" || id.SecondaryIdentifier != "Taylor" || id.NameIdentifierType != "LEGL" {
		t.Fatalf("family name must be the primary identifier, got %+v", id)
	}
}
