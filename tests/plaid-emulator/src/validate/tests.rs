use super::*;
use serde_json::json;

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

#[test]
fn phone_rules() {
    assert!(check_phone("+12345678909", "p").is_ok());
    assert!(check_phone("+442071838750", "p").is_ok());
    for bad in [
        "12345678909",
        "+1234",
        "+11345678909",
        "+12341678909",
        "+1 234 567 8909",
        "+0123456789",
    ] {
        assert!(check_phone(bad, "p").is_err(), "{bad}");
    }
}

#[test]
fn ssn_rules() {
    assert!(check_ssn("123456789", "us_ssn", "v").is_ok());
    for bad in [
        "923456789",
        "666456789",
        "000456789",
        "123006789",
        "123450000",
        "12345678",
        "12345678a",
    ] {
        assert!(check_ssn(bad, "us_ssn", "v").is_err(), "{bad}");
    }
    assert!(check_ssn("6789", "us_ssn_last_4", "v").is_ok());
    assert!(check_ssn("67890", "us_ssn_last_4", "v").is_err());
}

#[test]
fn address_forms() {
    let leslie = json!({"street":"123 Main St.","city":"Pawnee","region":"IN","postal_code":"46001","country":"US"});
    assert!(validate_address(&obj(leslie), "a").is_ok());
    assert!(validate_address(&obj(json!({"country":"US"})), "a").is_ok());
    let partial =
        validate_address(&obj(json!({"street":"1 Main","country":"US"})), "a").unwrap_err();
    assert!(partial.message.contains("a.city"), "{}", partial.message);
    let zip = validate_address(
        &obj(
            json!({"street":"1 Main","city":"X","region":"IN","postal_code":"4600","country":"US"}),
        ),
        "a",
    )
    .unwrap_err();
    assert!(zip.message.starts_with("a.postal_code"));
    let gb = validate_address(&obj(json!({"street":"1 High St","city":"London","region":"LND","postal_code":"SW1A 1AA","country":"GB"})), "a").unwrap_err();
    assert!(gb.message.starts_with("a.region"));
    assert!(validate_address(&obj(json!({"country":"us"})), "a").is_err());
}

#[test]
fn user_sub_objects_are_all_or_nothing() {
    let e = user_data(&obj(json!({"name":{"given_name":"Leslie"}})), "user", true).unwrap_err();
    assert_eq!(e.error_code, "INVALID_FIELD");
    assert!(e.message.starts_with("user.name.family_name"));
    let e = user_data(
        &obj(json!({"id_number":{"value":"123456789","type":"xx_id"}})),
        "user",
        true,
    )
    .unwrap_err();
    assert!(e.message.starts_with("user.id_number.type"));
    let e = user_data(&obj(json!({"date_of_birth":"01/18/1975"})), "user", true).unwrap_err();
    assert!(e.message.starts_with("user.date_of_birth"));
    let e = user_data(&obj(json!({"nickname":"x"})), "user", true).unwrap_err();
    assert_eq!(e.error_code, "UNKNOWN_FIELDS");
}
