use super::*;
use crate::state::{IdNumber, Name};

fn user(email: &str, kind: &str, value: &str) -> UserData {
    UserData {
        email_address: Some(email.into()),
        name: Some(Name {
            given_name: "Leslie".into(),
            family_name: "Knope".into(),
        }),
        date_of_birth: Some(leslie::DATE_OF_BIRTH.into()),
        id_number: Some(IdNumber {
            kind: kind.into(),
            value: value.into(),
        }),
        ..Default::default()
    }
}

#[test]
fn api_1_778_0_keys() {
    let u = user("leslie.knope@example.com", "us_ssn", "123456789");
    let all = [Some(true); 3];
    assert_eq!(
        ssa_verification(&u, all),
        json!({"match": "match", "is_deceased": false})
    );
    let wrong_name = [Some(false), Some(true), Some(true)];
    assert_eq!(ssa_verification(&u, wrong_name)["match"], "no_match");
    let no_dob = [Some(true), None, Some(true)];
    assert_eq!(ssa_verification(&u, no_dob)["match"], "no_data");
    let last4 = user("x@example.com", "us_ssn_last_4", "6789");
    assert_eq!(ssa_verification(&last4, all), Value::Null);
    assert_eq!(email_name(&u), "match");
    assert_eq!(
        email_name(&user("lknope@example.com", "us_ssn", "1")),
        "partial_match"
    );
    assert_eq!(
        email_name(&user("ann@example.com", "us_ssn", "1")),
        "no_match"
    );
    assert_eq!(
        email_name(&user("1234@example.com", "us_ssn", "1")),
        "indeterminate"
    );
    assert_eq!(email_name(&UserData::default()), "no_input");
    let now: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().unwrap();
    let a = age_check(&u, true, now);
    assert_eq!(
        (a["status"].as_str(), a["reported_age"].as_i64()),
        (Some("match"), Some(51))
    );
    assert!(a["age_estimate_lower_bound"].as_i64() <= Some(51));
    assert_eq!(
        age_check(&UserData::default(), true, now)["status"],
        "no_data"
    );
}
