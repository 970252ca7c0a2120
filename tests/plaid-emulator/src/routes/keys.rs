//! `/webhook_verification_key/get`.

use crate::Inner;
use crate::errors::PlaidApiError;
use crate::state::State;
use crate::validate::{self as v, Obj};
use serde_json::{Value, json};

pub(super) fn key_get(
    _: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<crate::state::Event>), PlaidApiError> {
    v::reject_unknown(obj, &["client_id", "secret", "key_id"], "")?;
    v::require(obj, &["key_id"], "")?;
    let kid = v::req_str(obj, "key_id", "")?;
    let key = state
        .keys
        .get(&kid)
        .ok_or_else(PlaidApiError::invalid_key_id)?;
    Ok((json!({"key": key.jwk()}), vec![]))
}
