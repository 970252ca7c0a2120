use super::*;
use std::collections::HashMap;

fn base() -> HashMap<&'static str, String> {
    HashMap::from([
        ("TABLE_NAME", "sessions".to_owned()),
        ("PLAID_SECRET_ID", "plaid/creds".to_owned()),
        ("IDV_TEMPLATE_ID", "idvtmp_default".to_owned()),
    ])
}

fn parse(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
    Config::from_lookup(|k| vars.get(k).cloned())
}

#[test]
fn defaults() {
    let c = parse(&base()).unwrap();
    assert_eq!(c.plaid_env, PlaidEnvironment::Sandbox);
    assert_eq!(c.plaid_base_url.as_str(), "https://sandbox.plaid.com/");
    assert_eq!(c.session_ttl, Duration::seconds(172_800));
    assert_eq!(c.country_codes, vec!["US"]);
    assert_eq!(c.local_identity, LocalIdentity::Disabled);
    assert_eq!(c.reviewer_scope, "idv/review");
    assert_eq!(c.max_attempts_per_day, 5);
    assert_eq!(c.open_session_shards.count(), DEFAULT_OPEN_SHARDS);
}

#[test]
fn open_session_shards_are_one_to_the_maximum() {
    use super::open_shards::MAX_OPEN_SHARDS;
    let mut v = base();
    for ok in ["1", "7", &MAX_OPEN_SHARDS.to_string()] {
        v.insert(OPEN_SHARDS_VAR, ok.to_owned());
        assert_eq!(
            parse(&v).unwrap().open_session_shards.count().to_string(),
            ok
        );
    }
    let too_many = (MAX_OPEN_SHARDS + 1).to_string();
    for bad in ["0", "-2", "four", "2.5", too_many.as_str()] {
        v.insert(OPEN_SHARDS_VAR, bad.into());
        let err = parse(&v).map(|c| c.open_session_shards).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OPEN_SESSION_SHARDS is invalid"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn attempt_budget_is_a_positive_count() {
    let mut v = base();
    v.insert("MAX_ATTEMPTS_PER_DAY", "3".into());
    assert_eq!(parse(&v).unwrap().max_attempts_per_day, 3);
    for bad in ["0", "-1", "five", "2.5"] {
        v.insert("MAX_ATTEMPTS_PER_DAY", bad.into());
        let err = parse(&v).map(|c| c.max_attempts_per_day).unwrap_err();
        assert!(
            err.to_string().starts_with("MAX_ATTEMPTS_PER_DAY"),
            "{bad:?}"
        );
    }
}

#[test]
fn reviewer_scope_is_one_scope() {
    let mut v = base();
    v.insert("IDV_REVIEWER_SCOPE", "backoffice/idv".into());
    assert_eq!(parse(&v).unwrap().reviewer_scope, "backoffice/idv");
    for bad in ["idv/review other", " ", "a\"b"] {
        v.insert("IDV_REVIEWER_SCOPE", bad.into());
        let err = parse(&v).map(|c| c.reviewer_scope).unwrap_err();
        assert!(err.to_string().starts_with("IDV_REVIEWER_SCOPE"), "{bad:?}");
    }
}

#[test]
fn each_missing_variable_is_named() {
    for var in ["TABLE_NAME", "PLAID_SECRET_ID", "IDV_TEMPLATE_ID"] {
        let mut v = base();
        v.remove(var);
        assert_eq!(parse(&v).unwrap_err(), ConfigError::Missing(var));
    }
}

#[test]
fn unknown_env_is_rejected_by_name() {
    let mut v = base();
    v.insert("PLAID_ENV", "development".into());
    let err = parse(&v).unwrap_err().to_string();
    assert!(err.starts_with("PLAID_ENV is invalid"), "{err}");
}

#[test]
fn production_picks_production_url_and_override_wins() {
    let mut v = base();
    v.insert("PLAID_ENV", "production".into());
    assert_eq!(
        parse(&v).unwrap().plaid_base_url.as_str(),
        "https://production.plaid.com/"
    );
    v.insert("PLAID_BASE_URL", "http://127.0.0.1:4010".into());
    assert_eq!(
        parse(&v).unwrap().plaid_base_url.as_str(),
        "http://127.0.0.1:4010/"
    );
}

#[test]
fn plaid_base_url_must_be_https_unless_loopback() {
    for ok in [
        "https://sandbox.plaid.com",
        "https://plaid-mock.internal.example:8443/prefix",
        "http://127.0.0.1:4010",
        "http://127.1.2.3/",
        "http://[::1]:4010",
        "http://localhost:4010",
        "http://LOCALHOST:4010",
    ] {
        let mut v = base();
        v.insert("PLAID_BASE_URL", ok.into());
        assert!(parse(&v).is_ok(), "{ok} refused: {:?}", parse(&v).err());
    }
    for bad in [
        "http://sandbox.plaid.com",
        "http://10.0.0.5:4010",
        "http://192.168.1.1",
        "http://[::2]:4010",
        "http://localhost.attacker.example",
        "http://127.0.0.1.nip.io",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
    ] {
        let mut v = base();
        v.insert("PLAID_BASE_URL", bad.into());
        let err = parse(&v).err().unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(
            err.to_string().starts_with("PLAID_BASE_URL is invalid"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn template_list_includes_default_once() {
    let mut v = base();
    v.insert(
        "IDV_TEMPLATE_IDS",
        "idvtmp_b, idvtmp_default,idvtmp_c".into(),
    );
    let c = parse(&v).unwrap();
    let ids: Vec<_> = c.allowed_template_ids.iter().map(|t| t.as_str()).collect();
    assert_eq!(ids, ["idvtmp_default", "idvtmp_b", "idvtmp_c"]);
    v.insert("IDV_TEMPLATE_IDS", "idvtmp_ok,bad#id".into());
    assert!(
        parse(&v)
            .unwrap_err()
            .to_string()
            .starts_with("IDV_TEMPLATE_IDS")
    );
}

#[test]
fn bad_numbers_name_the_variable() {
    let mut v = base();
    v.insert("SESSION_TTL_SECONDS", "two days".into());
    assert!(
        parse(&v)
            .unwrap_err()
            .to_string()
            .starts_with("SESSION_TTL_SECONDS is invalid")
    );
    v.insert("SESSION_TTL_SECONDS", "0".into());
    assert!(parse(&v).is_err());
}

#[test]
fn webhook_source_allow_list_is_off_by_default_and_checked_at_load() {
    assert!(!parse(&base()).unwrap().webhook_source_ips.is_enabled());
    let mut v = base();
    v.insert(SOURCE_IPS_VAR, "52.21.26.131, 52.21.26.0/24".into());
    let c = parse(&v).unwrap();
    assert!(c.webhook_source_ips.allows(Some("52.21.26.7")));
    assert!(!c.webhook_source_ips.allows(Some("192.0.2.10")));
    v.insert(SOURCE_IPS_VAR, "52.21.26.131,52.21.26.300".into());
    let err = parse(&v).unwrap_err().to_string();
    assert!(
        err.starts_with("PLAID_WEBHOOK_SOURCE_IPS is invalid") && err.contains("52.21.26.300"),
        "{err}"
    );
}

#[test]
fn local_identity_only_on_loopback() {
    let mut v = base();
    v.insert(LOCAL_IDENTITY_VAR, LOCAL_IDENTITY_VALUE.into());
    assert!(
        parse(&v)
            .unwrap_err()
            .to_string()
            .starts_with(LOCAL_IDENTITY_VAR)
    );
    v.insert(
        "AWS_ENDPOINT_URL",
        "https://dynamodb.us-east-1.amazonaws.com".into(),
    );
    assert!(parse(&v).is_err());
    v.insert("AWS_ENDPOINT_URL", "http://127.0.0.1:5000".into());
    assert_eq!(parse(&v).unwrap().local_identity, LocalIdentity::Header);
    v.insert(LOCAL_IDENTITY_VAR, "1".into());
    assert!(parse(&v).is_err());
}

#[test]
fn local_identity_is_refused_in_production() {
    let mut v = base();
    v.insert(LOCAL_IDENTITY_VAR, LOCAL_IDENTITY_VALUE.into());
    v.insert("AWS_ENDPOINT_URL", "http://127.0.0.1:5000".into());
    v.insert("PLAID_ENV", "production".into());
    let err = parse(&v).unwrap_err().to_string();
    assert!(err.starts_with(LOCAL_IDENTITY_VAR), "{err}");
    assert!(err.contains("production"), "{err}");
    // The same without the switch is a valid production configuration.
    v.remove(LOCAL_IDENTITY_VAR);
    assert!(parse(&v).is_ok());
}

#[test]
fn the_namespace_is_the_stacks() {
    assert_eq!(namespace(Some("idv-prod")), "PlaidIdv/idv-prod");
    assert_eq!(namespace(Some("")), "PlaidIdv/local");
    assert_eq!(namespace(None), "PlaidIdv/local");
}
