//! Plaid's endpoints: `/identity_verification/{create,get,list,retry}`, `/link/token/create`
//! and `/webhook_verification_key/get`, with Plaid's authentication, validation and errors.

use super::endpoints::{
    IDV_CREATE, IDV_GET, IDV_LIST, IDV_RETRY, LINK_TOKEN_CREATE, WEBHOOK_KEY_GET,
};
use super::errors::PlaidApiError;
use super::ids;
use super::state::{LinkTokenRecord, RequestLogEntry, Session, State, Status, Step, ts};
use super::validate::{self as v, Obj};
use super::{Inner, PLAID_VERSION, webhooks};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

type Handler =
    fn(&Inner, &mut State, &Obj) -> Result<(Value, Vec<super::state::Event>), PlaidApiError>;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    fn route(path: &'static str, h: Handler) -> axum::routing::MethodRouter<Arc<Inner>> {
        post(
            move |AxState(inner): AxState<Arc<Inner>>, headers: HeaderMap, body: Bytes| async move {
                handle(inner, path, headers, body, h).await
            },
        )
    }
    Router::new()
        .route(IDV_CREATE, route(IDV_CREATE, create))
        .route(IDV_GET, route(IDV_GET, get))
        .route(IDV_LIST, route(IDV_LIST, list))
        .route(IDV_RETRY, route(IDV_RETRY, retry))
        .route(
            LINK_TOKEN_CREATE,
            route(LINK_TOKEN_CREATE, link_token_create),
        )
        .route(WEBHOOK_KEY_GET, route(WEBHOOK_KEY_GET, key_get))
        .fallback(|uri: Uri| async move {
            if uri.path().starts_with("/emulator/") {
                super::errors::ControlError::NotFound(format!("control route {}", uri.path()))
                    .into_response()
            } else {
                PlaidApiError::not_found_route().into_response_with(&ids::request_id())
            }
        })
        .with_state(inner)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Authentication and the generic checks every Plaid endpoint applies, before its own rules.
fn preflight(inner: &Inner, headers: &HeaderMap, body: &[u8]) -> Result<Obj, PlaidApiError> {
    let content_type = header(headers, "content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(PlaidApiError::invalid_headers(
            "Content-Type header must be application/json",
        ));
    }
    if let Some(version) = header(headers, "plaid-version")
        && version != PLAID_VERSION
    {
        return Err(PlaidApiError::invalid_headers(format!(
            "Plaid-Version {version} is not supported by this emulator; use {PLAID_VERSION}"
        )));
    }
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => return Err(PlaidApiError::invalid_body()),
    };
    let body_str = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let client_id = header(headers, "plaid-client-id")
        .map(str::to_owned)
        .or_else(|| body_str("client_id"));
    let secret = header(headers, "plaid-secret")
        .map(str::to_owned)
        .or_else(|| body_str("secret"));
    match (client_id, secret) {
        (None, None) => Err(PlaidApiError::missing_fields(&[
            "client_id".into(),
            "secret".into(),
        ])),
        (None, Some(_)) => Err(PlaidApiError::missing_fields(&["client_id".into()])),
        (Some(_), None) => Err(PlaidApiError::missing_fields(&["secret".into()])),
        (Some(id), Some(secret)) if id == inner.client_id && secret == inner.secret => Ok(obj),
        _ => Err(PlaidApiError::invalid_api_keys()),
    }
}

/// Non-secret, non-PII fields of a request, for the request log.
fn log_ids(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return (None, None, None);
    };
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let cuid = s(o.get("client_user_id"))
        .or_else(|| s(o.get("user").and_then(|u| u.get("client_user_id"))));
    let template = s(o.get("template_id")).or_else(|| {
        s(o.get("identity_verification")
            .and_then(|i| i.get("template_id")))
    });
    (cuid, template, s(o.get("identity_verification_id")))
}

/// Counts a Plaid call in flight while it lives; dropped on answer or when axum drops the
/// call because its caller hung up.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn enter(inner: &Arc<Inner>) -> Self {
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(inner.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    inner: Arc<Inner>,
    endpoint: &'static str,
    headers: HeaderMap,
    body: Bytes,
    h: Handler,
) -> Response {
    let _in_flight = InFlight::enter(&inner);
    let request_id = ids::request_id();
    let fault = inner.lock().take_fault(endpoint);
    let mut forced = None;
    if let Some(fault) = fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(fault.delay_ms)).await;
        }
        forced = fault.status.map(PlaidApiError::for_fault_status);
    }
    let outcome = match forced {
        Some(err) => Err(err),
        None => preflight(&inner, &headers, &body).and_then(|obj| {
            let mut state = inner.lock();
            h(&inner, &mut state, &obj).map(|(value, events)| {
                let ids = webhooks::record(&mut state, &events, inner.environment.as_str());
                (value, ids)
            })
        }),
    };
    let (cuid, template, mut idv) = log_ids(&body);
    let (status, error_code, response) = match outcome {
        Ok((mut value, webhook_ids)) => {
            if idv.is_none() {
                idv = value.get("id").and_then(Value::as_str).map(str::to_owned);
            }
            if let Value::Object(o) = &mut value {
                o.insert("request_id".into(), json!(request_id));
            }
            if !webhook_ids.is_empty() {
                // Plaid fires webhooks after it has answered the call.
                let inner = inner.clone();
                tokio::spawn(async move { webhooks::deliver(&inner, &webhook_ids).await });
            }
            (200, None, axum::Json(value).into_response())
        }
        Err(e) => (
            e.status,
            Some(e.error_code.to_string()),
            e.clone().into_response_with(&request_id),
        ),
    };
    tracing::info!(endpoint, status, request_id = %request_id, error_code = ?error_code, "plaid call");
    let mut state = inner.lock();
    let seq = state.requests.len() as u64 + 1;
    state.requests.push(RequestLogEntry {
        seq,
        endpoint: endpoint.into(),
        at: ts(chrono::Utc::now()),
        status,
        request_id,
        client_user_id: cuid,
        template_id: template,
        identity_verification_id: idv,
        error_code,
    });
    response
}

fn known_template(
    state: &State,
    id: &str,
    field: &str,
) -> Result<super::state::Template, PlaidApiError> {
    state.templates.get(id).cloned().ok_or_else(|| {
        PlaidApiError::invalid_field(format!("{field} does not match a template of this client"))
    })
}

fn no_user_id(obj: &Obj) -> Result<(), PlaidApiError> {
    if obj.get("user_id").is_some_and(|u| !u.is_null()) {
        // The emulator implements no /user/create, so no user_id can exist.
        return Err(PlaidApiError::invalid_field(
            "user_id does not match a user of this client",
        ));
    }
    Ok(())
}

fn new_session(
    inner: &Inner,
    state: &mut State,
    template: &super::state::Template,
    client_user_id: String,
    is_shareable: bool,
) -> Session {
    let id = ids::idv_id();
    let shareable_url = is_shareable.then(|| {
        format!(
            "{}{}/{id}?key={}",
            inner.base_url,
            super::hosted::VERIFY_PATH,
            ids::share_key()
        )
    });
    Session {
        id,
        seq: state.seq(),
        client_user_id,
        template_id: template.id.clone(),
        template_version: template.version,
        template_steps: template.steps,
        created_at: chrono::Utc::now(),
        completed_at: None,
        previous_attempt_id: None,
        shareable_url,
        is_shareable,
        user: Default::default(),
        status: Status::Active,
        steps: [super::state::StepStatus::NotApplicable; 7],
        details: Default::default(),
        watchlist_screening_id: None,
    }
}

/// `IdentityVerificationLanguage` (API 1.778.0).
const IDV_LANGUAGES: &[&str] = &[
    "en-US", "es-ES", "es-US", "fr-CA", "ja-JP", "pt-BR", "pt-PT",
];

fn create(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<super::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &[
            "client_id",
            "secret",
            "client_user_id",
            "user_id",
            "is_shareable",
            "template_id",
            "gave_consent",
            "user",
            "is_idempotent",
            "language",
        ],
        "",
    )?;
    v::require(obj, &["template_id", "gave_consent", "is_shareable"], "")?;
    // `language` (API 1.778.0): the flow's language; nullable. Validated, not otherwise used.
    if let Some(lang) = v::opt_str(obj, "language", "")?
        && !IDV_LANGUAGES.contains(&lang.as_str())
    {
        return Err(PlaidApiError::invalid_field(format!(
            "language must be one of {}",
            IDV_LANGUAGES.join(", ")
        )));
    }
    no_user_id(obj)?;
    let user_obj = v::opt_obj(obj, "user", "")?;
    let root_cuid = v::opt_str(obj, "client_user_id", "")?;
    let client_user_id = match (
        root_cuid,
        user_obj
            .and_then(|u| u.get("client_user_id"))
            .filter(|c| !c.is_null()),
    ) {
        (Some(_), _) => v::client_user_id(obj, "client_user_id", "")?,
        (None, Some(_)) => v::client_user_id(user_obj.unwrap_or(obj), "client_user_id", "user")?,
        (None, None) => return Err(PlaidApiError::missing_fields(&["client_user_id".into()])),
    };
    let template_id = v::req_nonempty(obj, "template_id", "")?;
    let gave_consent = v::req_bool(obj, "gave_consent", "")?;
    let is_shareable = v::req_bool(obj, "is_shareable", "")?;
    let is_idempotent = v::opt_bool(obj, "is_idempotent", "")?.unwrap_or(false);
    let user = match user_obj {
        Some(u) => v::user_data(u, "user", true)?,
        None => Default::default(),
    };
    let template = known_template(state, &template_id, "template_id")?;
    if let Some(existing) = state
        .sessions_of(&client_user_id, Some(&template_id))
        .first()
    {
        if is_idempotent {
            return Ok((existing.to_json(), vec![]));
        }
        return Err(PlaidApiError::invalid_field(
            "client_user_id already has an identity verification for this template_id; pass is_idempotent: true to fetch it, or use /identity_verification/retry",
        ));
    }
    let mut session = new_session(inner, state, &template, client_user_id, is_shareable);
    session.user = user;
    session.lay_out(gave_consent, |_| false, |_| false);
    let value = session.to_json();
    state.sessions.insert(session.id.clone(), session);
    Ok((value, vec![]))
}

fn get(
    _: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<super::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &["client_id", "secret", "identity_verification_id"],
        "",
    )?;
    v::require(obj, &["identity_verification_id"], "")?;
    let id = v::req_str(obj, "identity_verification_id", "")?;
    let session = state.sessions.get(&id).ok_or_else(|| {
        PlaidApiError::invalid_field(
            "identity_verification_id does not match an identity verification of this client",
        )
    })?;
    Ok((session.to_json(), vec![]))
}

fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{seq}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("v1:")?
        .parse()
        .ok()
}

fn list(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<super::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &[
            "client_id",
            "secret",
            "template_id",
            "client_user_id",
            "user_id",
            "cursor",
        ],
        "",
    )?;
    v::require(obj, &["template_id"], "")?;
    no_user_id(obj)?;
    v::require(obj, &["client_user_id"], "")?;
    let template_id = v::req_nonempty(obj, "template_id", "")?;
    let client_user_id = v::req_nonempty(obj, "client_user_id", "")?;
    known_template(state, &template_id, "template_id")?;
    let before = match v::opt_str(obj, "cursor", "")? {
        None => u64::MAX,
        Some(c) => decode_cursor(&c).ok_or_else(|| {
            PlaidApiError::invalid_field("cursor is not a cursor returned by this endpoint")
        })?,
    };
    let matching: Vec<&Session> = state
        .sessions_of(&client_user_id, Some(&template_id))
        .into_iter()
        .filter(|s| s.seq < before)
        .collect();
    let page: Vec<&Session> = matching
        .iter()
        .take(inner.list_page_size)
        .copied()
        .collect();
    let next_cursor = (matching.len() > page.len())
        .then(|| page.last().map(|s| encode_cursor(s.seq)))
        .flatten();
    Ok((
        json!({
            "identity_verifications": page.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
            "next_cursor": next_cursor,
        }),
        vec![],
    ))
}

fn retry(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<super::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &[
            "client_id",
            "secret",
            "client_user_id",
            "template_id",
            "strategy",
            "steps",
            "user",
            "is_shareable",
        ],
        "",
    )?;
    v::require(obj, &["client_user_id", "template_id", "strategy"], "")?;
    let client_user_id = v::client_user_id(obj, "client_user_id", "")?;
    let template_id = v::req_nonempty(obj, "template_id", "")?;
    let strategy = v::req_str(obj, "strategy", "")?;
    if !["reset", "incomplete", "infer", "custom"].contains(&strategy.as_str()) {
        return Err(PlaidApiError::invalid_field(
            "strategy must be one of reset, incomplete, infer, custom",
        ));
    }
    let steps = v::opt_obj(obj, "steps", "")?;
    let custom = match (strategy.as_str(), steps) {
        ("custom", None) => return Err(PlaidApiError::missing_fields(&["steps".into()])),
        ("custom", Some(s)) => {
            v::reject_unknown(
                s,
                &[
                    "verify_sms",
                    "kyc_check",
                    "documentary_verification",
                    "selfie_check",
                ],
                "steps",
            )?;
            v::require(
                s,
                &[
                    "verify_sms",
                    "kyc_check",
                    "documentary_verification",
                    "selfie_check",
                ],
                "steps",
            )?;
            let mut on = std::collections::HashMap::new();
            for (key, step) in [
                ("verify_sms", Step::VerifySms),
                ("kyc_check", Step::KycCheck),
                ("documentary_verification", Step::DocumentaryVerification),
                ("selfie_check", Step::SelfieCheck),
            ] {
                on.insert(step, v::req_bool(s, key, "steps")?);
            }
            Some(on)
        }
        (_, Some(_)) => {
            return Err(PlaidApiError::invalid_field(
                "steps must only be provided when strategy is custom",
            ));
        }
        (_, None) => None,
    };
    let user = match v::opt_obj(obj, "user", "")? {
        Some(u) => Some(v::user_data(u, "user", false)?),
        None => None,
    };
    let is_shareable = v::opt_bool(obj, "is_shareable", "")?;
    let template = known_template(state, &template_id, "template_id")?;
    let previous = {
        let same = state.sessions_of(&client_user_id, Some(&template_id));
        let any = state.sessions_of(&client_user_id, None);
        same.first().or(any.first()).map(|s| (*s).clone())
    }
    .ok_or_else(|| {
        PlaidApiError::invalid_field(
            "client_user_id has no identity verification to retry; create one first",
        )
    })?;

    let effective = match strategy.as_str() {
        "infer" => match previous.status {
            Status::Active => {
                return Err(PlaidApiError::invalid_field(
                    "strategy infer is not allowed while the latest identity verification is still active",
                ));
            }
            Status::Failed | Status::Expired => "incomplete",
            _ => "reset",
        },
        other => other,
    };
    if effective == "incomplete" {
        if previous.status == Status::Success {
            return Err(PlaidApiError::invalid_field(
                "strategy incomplete needs a latest identity verification that did not succeed; use reset or custom",
            ));
        }
        if let Some(step @ (Step::RiskCheck | Step::WatchlistScreening)) = previous.failed_step() {
            return Err(PlaidApiError::invalid_field(format!(
                "strategy incomplete is not allowed when the failing step is {}; use reset or custom",
                step.as_str()
            )));
        }
    }

    let mut session = new_session(
        inner,
        state,
        &template,
        client_user_id,
        is_shareable.unwrap_or(previous.is_shareable),
    );
    session.previous_attempt_id = Some(previous.id.clone());
    session.user = previous.user.clone();
    if let Some(u) = user {
        session.user.merge(u);
    }
    let tos_done = previous.tos_accepted();
    match (effective, &custom) {
        ("incomplete", _) => session.lay_out(tos_done, |s| previous.step_passed(s), |_| false),
        ("custom", Some(on)) => session.lay_out(
            tos_done,
            |s| on.get(&s) == Some(&false),
            |s| on.get(&s) == Some(&true),
        ),
        _ => session.lay_out(tos_done, |_| false, |_| false),
    }
    let value = session.to_json();
    let event = super::state::Event {
        code: "RETRIED",
        identity_verification_id: session.id.clone(),
    };
    state.sessions.insert(session.id.clone(), session);
    Ok((value, vec![event]))
}

/// `CountryCode` of the spec; Identity Verification also needs the company in US, CA or GB.
const COUNTRY_CODES: &[&str] = &[
    "US", "GB", "ES", "NL", "FR", "IE", "CA", "DE", "IT", "PL", "DK", "NO", "SE", "EE", "LT", "LV",
    "PT", "BE", "AT", "FI",
];
const LANGUAGES: &[&str] = &[
    "da", "nl", "en", "et", "fr", "de", "hi", "it", "ja", "lv", "lt", "no", "pl", "pt", "ro", "es",
    "sv", "vi",
];
const LINK_TOKEN_FIELDS: &[&str] = &[
    "client_id",
    "secret",
    "client_name",
    "language",
    "country_codes",
    "user",
    "user_id",
    "products",
    "required_if_supported_products",
    "optional_products",
    "additional_consented_products",
    "webhook",
    "access_token",
    "access_tokens",
    "link_customization_name",
    "appearance_mode",
    "redirect_uri",
    "android_package_name",
    "institution_data",
    "card_switch",
    "account_filters",
    "eu_config",
    "institution_id",
    "payment_configuration",
    "payment_initiation",
    "employment",
    "income_verification",
    "base_report",
    "credit_partner_insights",
    "cra_options",
    "cra_report_parameter",
    "consumer_report_permissible_purpose",
    "auth",
    "transfer",
    "update",
    "identity_verification",
    "statements",
    "third_party_user_token",
    "investments",
    "investments_auth",
    "hosted_link",
    "transactions",
    "cashflow_report",
    "cra_enabled",
    "identity",
    "financekit_supported",
    "enable_multi_item_link",
    "user_token",
];

fn link_token_create(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<super::state::Event>), PlaidApiError> {
    v::reject_unknown(obj, LINK_TOKEN_FIELDS, "")?;
    v::require(obj, &["client_name", "language", "country_codes"], "")?;
    no_user_id(obj)?;
    v::require(obj, &["user", "products", "identity_verification"], "")?;
    v::req_nonempty(obj, "client_name", "")?;
    let language = v::req_nonempty(obj, "language", "")?;
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(PlaidApiError::invalid_field(
            "language is not a supported language code",
        ));
    }
    let countries = match obj.get("country_codes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(PlaidApiError::invalid_field(
                "country_codes must be a non-empty array of country codes",
            ));
        }
    };
    for c in countries {
        let code = c.as_str().unwrap_or_default();
        if !COUNTRY_CODES.contains(&code) {
            return Err(PlaidApiError::invalid_field(format!(
                "country_codes contains an unsupported country code: {c}"
            )));
        }
        if !["US", "CA", "GB"].contains(&code) {
            return Err(PlaidApiError::invalid_field(
                "country_codes: Identity Verification is only available to companies based in US, CA or GB",
            ));
        }
    }
    let user = v::opt_obj(obj, "user", "")?
        .ok_or_else(|| PlaidApiError::invalid_field("user must be an object"))?;
    v::reject_unknown(
        user,
        &[
            "client_user_id",
            "legal_name",
            "name",
            "phone_number",
            "phone_number_verified_time",
            "email_address",
            "email_address_verified_time",
            "ssn",
            "date_of_birth",
            "address",
            "id_number",
        ],
        "user",
    )?;
    v::require(user, &["client_user_id"], "user")?;
    let client_user_id = v::client_user_id(user, "client_user_id", "user")?;
    let prefill: Obj = user
        .iter()
        .filter(|(k, val)| {
            [
                "name",
                "phone_number",
                "email_address",
                "date_of_birth",
                "address",
                "id_number",
            ]
            .contains(&k.as_str())
                && !val.is_null()
        })
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    let prefill = v::user_data(&prefill, "user", false)?;
    match obj.get("products") {
        Some(Value::Array(p)) if p.len() == 1 && p[0] == "identity_verification" => {}
        _ => {
            return Err(PlaidApiError::invalid_field(
                "products must be exactly [\"identity_verification\"]: Identity Verification cannot be combined with other products",
            ));
        }
    }
    for key in [
        "required_if_supported_products",
        "optional_products",
        "additional_consented_products",
    ] {
        if obj
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(PlaidApiError::invalid_field(format!(
                "{key} cannot be used with identity_verification"
            )));
        }
    }
    let idv = v::opt_obj(obj, "identity_verification", "")?
        .ok_or_else(|| PlaidApiError::invalid_field("identity_verification must be an object"))?;
    v::reject_unknown(
        idv,
        &["template_id", "consent", "gave_consent"],
        "identity_verification",
    )?;
    v::require(idv, &["template_id"], "identity_verification")?;
    let template_id = v::req_nonempty(idv, "template_id", "identity_verification")?;
    let gave_consent = v::opt_bool(idv, "gave_consent", "identity_verification")?.or(v::opt_bool(
        idv,
        "consent",
        "identity_verification",
    )?);
    known_template(state, &template_id, "identity_verification.template_id")?;
    let now = chrono::Utc::now();
    let link_token = format!("link-{}-{}", inner.environment.as_str(), ids::uuid_v4());
    let expiration = ts(now + chrono::Duration::hours(4));
    state.link_tokens.insert(
        link_token.clone(),
        LinkTokenRecord {
            link_token: link_token.clone(),
            template_id,
            client_user_id,
            gave_consent,
            created_at: ts(now),
            expiration: expiration.clone(),
            invalidated_at: None,
            user: prefill,
        },
    );
    Ok((
        json!({"link_token": link_token, "expiration": expiration}),
        vec![],
    ))
}

fn key_get(
    _: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<super::state::Event>), PlaidApiError> {
    v::reject_unknown(obj, &["client_id", "secret", "key_id"], "")?;
    v::require(obj, &["key_id"], "")?;
    let kid = v::req_str(obj, "key_id", "")?;
    let key = state
        .keys
        .get(&kid)
        .ok_or_else(PlaidApiError::invalid_key_id)?;
    Ok((json!({"key": key.jwk()}), vec![]))
}
