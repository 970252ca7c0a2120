//! The ready-made events in tests/events/ (the ones the README invokes with
//! `cargo lambda invoke --data-file`) are real API Gateway v2 events: they parse, carry the
//! caller and the path the handlers read.

use lambda_http::request::from_str;
use shared::config::Config;
use shared::http::ApiError;
use shared::http::request::{caller, session_id};

fn event(name: &str) -> lambda_http::Request {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    from_str(&text).unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

fn config() -> Config {
    Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some("t".into()),
        "PLAID_SECRET_ID" => Some("s".into()),
        "IDV_TEMPLATE_ID" => Some("idvtmp_1".into()),
        _ => None,
    })
    .unwrap()
}

#[test]
fn route_events_carry_the_jwt_subject() {
    for name in [
        "create-session.json",
        "link-token.json",
        "get-session.json",
        "list-sessions.json",
    ] {
        let req = event(name);
        assert_eq!(
            caller(&req, &config()).unwrap().as_str(),
            "user-alice",
            "{name}"
        );
    }
}

#[test]
fn session_ids_come_from_the_path() {
    assert_eq!(
        session_id(&event("get-session.json"))
            .unwrap()
            .unwrap()
            .as_str(),
        "idv_52xR9LKo77r1Np"
    );
    assert_eq!(
        session_id(&event("link-token.json"))
            .unwrap()
            .unwrap()
            .as_str(),
        "idv_52xR9LKo77r1Np"
    );
    assert!(session_id(&event("list-sessions.json")).unwrap().is_none());
}

#[test]
fn an_event_without_claims_is_unauthorized() {
    assert!(matches!(
        caller(&event("no-claims.json"), &config()),
        Err(ApiError::Unauthorized)
    ));
}

#[test]
fn the_webhook_event_has_no_authorizer_and_a_verification_header() {
    let req = event("webhook-forged.json");
    assert!(shared::webhook_verify::find_header(req.headers()).is_some());
    assert!(matches!(
        caller(&req, &config()),
        Err(ApiError::Unauthorized)
    ));
}

#[test]
fn the_schedule_event_is_an_eventbridge_event() {
    let path = format!(
        "{}/events/reconcile-schedule.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v.detail_type, "Scheduled Event");
}
