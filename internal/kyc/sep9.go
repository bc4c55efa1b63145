package kyc

import "strings"

// sep9Binary are the SEP-9 fields that carry files (SEP-9 v1.17: natural person and
// organization documents).
var sep9Binary = map[string]bool{
	"photo_id_front": true, "photo_id_back": true, "notary_approval_of_photo_id": true,
	"photo_proof_residence": true, "proof_of_income": true, "proof_of_liveness": true,
	"organization.photo_incorporation_doc": true, "organization.photo_proof_address": true,
}

// sep9Text are the other standard SEP-9 fields: natural person, financial account, card.
var sep9Text = words(`
family_name last_name given_name first_name additional_name address_country_code
state_or_province city postal_code address mobile_number mobile_number_format email_address
birth_date birth_place birth_country_code tax_id tax_id_name occupation employer_name
employer_address language_code id_type id_country_code id_issue_date id_expiration_date
id_number ip_address sex referral_id
bank_name bank_account_type bank_account_number bank_number bank_phone_number
bank_branch_number external_transfer_memo clabe_number cbu_number cbu_alias
mobile_money_number mobile_money_provider crypto_address crypto_memo
card.number card.expiration_date card.cvc card.holder_name card.network card.postal_code
card.country_code card.state_or_province card.city card.address card.token
organization.name organization.VAT_number organization.registration_number
organization.registration_date organization.registered_address
organization.number_of_shareholders organization.shareholder_name
organization.address_country_code organization.state_or_province organization.city
organization.postal_code organization.director_name organization.website
organization.email organization.phone
organization.bank_name organization.bank_account_type organization.bank_account_number
organization.bank_number organization.bank_phone_number organization.bank_branch_number
organization.external_transfer_memo organization.clabe_number organization.cbu_number
organization.cbu_alias organization.mobile_money_number organization.mobile_money_provider
organization.crypto_address organization.crypto_memo
`)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// StandardField reports whether name is a field SEP-9 defines (text or binary). Wallets
// commonly send a standard set of them whatever a customer type asks for.
func StandardField(name string) bool { return sep9Text[name] || sep9Binary[name] }
