//! The page cursor codec: a DynamoDB `LastEvaluatedKey` to an opaque string and back, checked so
//! that a cursor only ever reopens the caller's own index partition.

use super::{INDEX_BY_USER, INDEX_BY_USER_TEMPLATE};
use crate::ids::IdvId;
use crate::store::StoreError;
use crate::store::item::{self, Item, attr};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use std::collections::{BTreeMap, HashMap};

/// Cursors are small JSON key objects; anything longer was not issued by us.
const MAX_CURSOR_LEN: usize = 1024;

/// The user-owned index partition a listing reads.
pub(super) enum UserIndex {
    /// `by_user`, partition = the client user id.
    User(String),
    /// `by_user_template`, partition = `ClientUserId::index_key`.
    UserTemplate(String),
}

impl UserIndex {
    pub(super) fn name(&self) -> &'static str {
        match self {
            UserIndex::User(_) => INDEX_BY_USER,
            UserIndex::UserTemplate(_) => INDEX_BY_USER_TEMPLATE,
        }
    }

    pub(super) fn partition_attr(&self) -> &'static str {
        match self {
            UserIndex::User(_) => attr::CLIENT_USER_ID,
            UserIndex::UserTemplate(_) => attr::USER_TEMPLATE,
        }
    }

    pub(super) fn partition_value(&self) -> &str {
        match self {
            UserIndex::User(v) | UserIndex::UserTemplate(v) => v,
        }
    }
}

/// The index key (table key + index keys) of a returned item, the shape of a
/// `LastEvaluatedKey`.
pub(super) fn index_key_of(
    raw: &Item,
    index: &UserIndex,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut key = HashMap::new();
    for name in [attr::ID, attr::CREATED_AT, index.partition_attr()] {
        let v = item::string_attr(raw, name).ok_or_else(|| {
            StoreError::Corrupt(format!("a stored session has no string attribute {name}"))
        })?;
        key.insert(name.to_string(), AttributeValue::S(v.to_string()));
    }
    Ok(key)
}

/// base64url(JSON) of a key whose attributes are all strings, which is true of every key of
/// this table's user indexes.
pub(super) fn encode_cursor(key: &HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let mut plain = BTreeMap::new();
    for (name, v) in key {
        match v {
            AttributeValue::S(s) => plain.insert(name.as_str(), s.as_str()),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "index key attribute {name} is not a string"
                )));
            }
        };
    }
    let json = serde_json::to_vec(&plain)
        .map_err(|_| StoreError::Corrupt("a page cursor could not be encoded".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// A cursor back into an `ExclusiveStartKey`, accepted only if it has exactly the key
/// attributes of `index` and points into the caller's own partition: a forged cursor must not
/// open another user's sessions.
pub(super) fn decode_cursor(
    cursor: &str,
    index: &UserIndex,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::BadCursor);
    }
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let plain: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| StoreError::BadCursor)?;
    let expected = [attr::ID, attr::CREATED_AT, index.partition_attr()];
    if plain.len() != expected.len() || !expected.iter().all(|k| plain.contains_key(*k)) {
        return Err(StoreError::BadCursor);
    }
    if plain[index.partition_attr()] != index.partition_value() {
        return Err(StoreError::BadCursor);
    }
    IdvId::parse(plain[attr::ID].as_str()).map_err(|_| StoreError::BadCursor)?;
    DateTime::parse_from_rfc3339(&plain[attr::CREATED_AT]).map_err(|_| StoreError::BadCursor)?;
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_index() -> UserIndex {
        UserIndex::User("auth0|alice".into())
    }

    fn key(pk_attr: &str, pk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (attr::ID.into(), AttributeValue::S("idv_1".into())),
            (
                attr::CREATED_AT.into(),
                AttributeValue::S("2024-01-01T00:00:00.000Z".into()),
            ),
            (pk_attr.into(), AttributeValue::S(pk.into())),
        ])
    }

    #[test]
    fn cursor_round_trips_for_its_owner() {
        let k = key(attr::CLIENT_USER_ID, "auth0|alice");
        let c = encode_cursor(&k).unwrap();
        assert_eq!(decode_cursor(&c, &user_index()).unwrap(), k);
    }

    #[test]
    fn cursor_of_another_partition_or_index_is_refused() {
        let bob = encode_cursor(&key(attr::CLIENT_USER_ID, "auth0|bob")).unwrap();
        assert!(matches!(
            decode_cursor(&bob, &user_index()),
            Err(StoreError::BadCursor)
        ));
        let tmpl = encode_cursor(&key(attr::USER_TEMPLATE, "auth0|alice")).unwrap();
        assert!(matches!(
            decode_cursor(&tmpl, &user_index()),
            Err(StoreError::BadCursor)
        ));
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let idx = user_index();
        let mut extra = key(attr::CLIENT_USER_ID, "auth0|alice");
        extra.insert("open_shard".into(), AttributeValue::S("open".into()));
        let bad_id = {
            let mut k = key(attr::CLIENT_USER_ID, "auth0|alice");
            k.insert(attr::ID.into(), AttributeValue::S("idv 1".into()));
            k
        };
        for c in [
            String::new(),
            "%%%".into(),
            URL_SAFE_NO_PAD.encode("not json"),
            URL_SAFE_NO_PAD.encode(r#"{"id":1,"created_at":"x","client_user_id":"auth0|alice"}"#),
            encode_cursor(&extra).unwrap(),
            encode_cursor(&bad_id).unwrap(),
            "A".repeat(MAX_CURSOR_LEN + 1),
        ] {
            assert!(
                matches!(decode_cursor(&c, &idx), Err(StoreError::BadCursor)),
                "{c}"
            );
        }
    }
}
