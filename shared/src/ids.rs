//! Identifier newtypes, parsed once at the edge (path, JWT claim, config, Plaid response).
//!
//! Plaid documents its ids as opaque, case-sensitive strings whose length and format may change,
//! so the rules here are deliberately loose: they only keep out what would break our own
//! storage keys or logs (empty values, whitespace, control characters, absurd lengths).

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} contains a character that is not allowed")]
    BadChar { kind: &'static str },
}

fn check(
    kind: &'static str,
    raw: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if raw.chars().count() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if !raw.chars().all(allowed) {
        return Err(IdError::BadChar { kind });
    }
    Ok(())
}

/// Plaid ids (`idv_…`, `idvtmp_…`) use letters, digits and `_`; `-` and `.` are tolerated in
/// case Plaid widens the alphabet. Never `#`: it separates parts of our composite index keys.
fn plaid_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $max:expr, $allowed:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const KIND: &'static str = $kind;

            pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
                let raw = raw.into();
                check($kind, &raw, $max, $allowed)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

string_newtype!(
    /// A Plaid Identity Verification session id (`idv_…`): the `id` of our session bodies.
    IdvId,
    "identity verification id",
    128,
    plaid_id_char
);

string_newtype!(
    /// A Plaid IDV template id (`idvtmp_…`).
    TemplateId,
    "template id",
    128,
    plaid_id_char
);

string_newtype!(
    /// Our user's id as Plaid sees it: the JWT `sub` of the caller. Any printable text (OIDC
    /// providers use `|`, `:`, `@`…), but no control characters and no surrounding whitespace.
    ClientUserId,
    "client user id",
    255,
    |c: char| !c.is_control() && c != '\u{feff}'
);

impl ClientUserId {
    /// The by-user index partition key. Template ids never contain `#`, so splitting at the last
    /// `#` recovers both parts: two different (user, template) pairs never share a key.
    pub fn index_key(&self, template: &TemplateId) -> String {
        format!("{}#{}", self.0, template.0)
    }
}

impl ClientUserId {
    /// [`ClientUserId::parse`] plus the whitespace rule, which the macro's per-char check cannot
    /// express.
    pub fn parse_claim(raw: &str) -> Result<Self, IdError> {
        if raw.trim() != raw {
            return Err(IdError::BadChar { kind: Self::KIND });
        }
        Self::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plaid_examples_parse() {
        assert!(IdvId::parse("idv_52xR9LKo77r1Np").is_ok());
        assert!(TemplateId::parse("idvtmp_4FrXJvfQU3zGUR").is_ok());
        assert!(ClientUserId::parse("auth0|5f7c8ec7c33c6c004bbafe82").is_ok());
    }

    #[test]
    fn empty_and_bad_values_are_rejected() {
        assert_eq!(
            IdvId::parse(""),
            Err(IdError::Empty {
                kind: "identity verification id"
            })
        );
        assert!(IdvId::parse("idv_1#x").is_err());
        assert!(IdvId::parse("idv 1").is_err());
        assert!(IdvId::parse("../idv").is_err());
        assert!(TemplateId::parse("idvtmp_a#b").is_err());
        assert!(ClientUserId::parse("a\nb").is_err());
        assert!(ClientUserId::parse_claim(" user").is_err());
        assert!(IdvId::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn deserialization_applies_the_same_rules() {
        assert!(serde_json::from_str::<IdvId>("\"idv_ok\"").is_ok());
        assert!(serde_json::from_str::<IdvId>("\"\"").is_err());
    }

    proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        #[test]
        fn index_key_is_injective(u1 in "[ -~]{1,20}", u2 in "[ -~]{1,20}", t1 in "[a-z_]{1,8}", t2 in "[a-z_]{1,8}") {
            let (u1, u2) = (ClientUserId::parse(u1).unwrap(), ClientUserId::parse(u2).unwrap());
            let (t1, t2) = (TemplateId::parse(t1).unwrap(), TemplateId::parse(t2).unwrap());
            if (u1.clone(), t1.clone()) != (u2.clone(), t2.clone()) {
                prop_assert_ne!(u1.index_key(&t1), u2.index_key(&t2));
            }
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = IdvId::parse(s.clone());
            let _ = ClientUserId::parse_claim(&s);
        }
    }
}
