use super::*;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
}

fn leslie() -> UserInput {
    serde_json::from_value(serde_json::json!({
            "email_address": "leslie@example.com",
            "phone_number": "+12345678909",
            "date_of_birth": "1975-01-18",
            "name": {"given_name": "Leslie", "family_name": "Knope"},
            "address": {"street": "123 Main St.", "city": "Pawnee", "region": "IN", "postal_code": "46001", "country": "US"},
            "id_number": {"value": "123456789", "type": "us_ssn"}
        }))
        .unwrap()
}

#[test]
fn plaid_sandbox_identity_is_valid() {
    let u = leslie().parse(today()).unwrap();
    assert_eq!(u.date_of_birth.as_deref(), Some("1975-01-18"));
    assert_eq!(u.address.unwrap().region.as_deref(), Some("IN"));
}

#[test]
fn emails() {
    for ok in ["a@b.co", "first.last+tag@sub.example.org", "ü@例え.jp"] {
        assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", " a@b.co", "a@b", "@b.co", "a@@b.co", "a@b..co", "a b@c.co", "a@-b.co", ".a@b.co",
    ] {
        assert!(EmailAddress::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn phones() {
    assert!(PhoneNumber::parse("+12345678909").is_ok());
    for bad in [
        "12345678909",
        "+0123456789",
        "+1 234 567 8909",
        "+123",
        "+1234567890123456",
    ] {
        assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn dates_of_birth() {
    assert!(DateOfBirth::parse("1975-01-18", today()).is_ok());
    for bad in [
        "01/18/1975",
        "1975-1-18",
        "1975-02-30",
        "2030-01-01",
        "1800-01-01",
        "1975-01-18T00:00:00Z",
    ] {
        assert!(DateOfBirth::parse(bad, today()).is_err(), "{bad}");
    }
}

#[test]
fn ssn_rules() {
    assert!(parse_id_number("123456789", "us_ssn").is_ok());
    for bad in [
        "923456789",
        "666456789",
        "000456789",
        "123006789",
        "123450000",
        "12345678",
        "123-45-6789",
    ] {
        assert!(parse_id_number(bad, "us_ssn").is_err(), "{bad}");
    }
    assert!(parse_id_number("6789", "us_ssn_last_4").is_ok());
    assert!(parse_id_number("678", "us_ssn_last_4").is_err());
    assert_eq!(
        parse_id_number("1", "xx_unknown").unwrap_err().field,
        "user.id_number.type"
    );
}

/// An address from JSON, as a caller would send it.
fn address(v: serde_json::Value) -> Option<AddressInput> {
    Some(serde_json::from_value(v).unwrap())
}

#[test]
fn addresses_are_country_only_or_full() {
    use serde_json::json;
    let cases = [
        (json!({"country": "US"}), None),
        (
            json!({"city": "Pawnee", "country": "US"}),
            Some("user.address"),
        ),
        (
            json!({"street": "1 A St", "city": "X", "region": "US-IN", "postal_code": "46001", "country": "US"}),
            Some("user.address.region"),
        ),
        (
            json!({"street": "1 A St", "city": "X", "region": "IN", "postal_code": "4600", "country": "US"}),
            Some("user.address.postal_code"),
        ),
        (json!({"country": "us"}), Some("user.address.country")),
    ];
    for (input, refused) in cases {
        let mut u = leslie();
        u.address = address(input.clone());
        assert_eq!(u.parse(today()).err().map(|e| e.field), refused, "{input}");
    }
}

#[test]
fn names_must_not_be_blank() {
    let mut u = leslie();
    u.name = Some(NameInput {
        given_name: "  ".into(),
        family_name: "Knope".into(),
    });
    assert_eq!(u.parse(today()).unwrap_err().field, "user.name.given_name");
}

#[test]
fn unknown_fields_are_refused() {
    let r: Result<UserInput, _> = serde_json::from_value(serde_json::json!({"ssn": "123"}));
    assert!(r.is_err());
}

proptest! {
    #![proptest_config(crate::proptest_seed::config(256))]

    #[test]
    fn validators_never_panic(s in any::<String>()) {
        let _ = EmailAddress::parse(&s);
        let _ = PhoneNumber::parse(&s);
        let _ = DateOfBirth::parse(&s, today());
        let _ = parse_id_number(&s, "us_ssn");
        let _ = parse_id_number(&s, "us_ssn_last_4");
    }

    #[test]
    fn every_valid_e164_number_parses(cc in 1u8..=9, rest in "[0-9]{7,14}") {
        let n = format!("+{cc}{rest}");
        prop_assert!(PhoneNumber::parse(&n).is_ok());
    }
}
