//! `publish-events`' configuration: its own few variables, not the API functions' `Config`
//! (it needs no table name, Plaid secret or template: everything else comes with the stream).

use crate::config::ConfigError;
use crate::plaid::types::PlaidEnvironment;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// `EVENT_BUS_NAME`: the bus's name or ARN (PutEvents and DescribeEventBus take either).
    pub bus: String,
    /// `EVENT_SOURCE`, default [`super::detail::DEFAULT_SOURCE`].
    pub source: String,
    /// `PLAID_ENV` (`sandbox` | `production`), the events' `environment`.
    pub environment: PlaidEnvironment,
    /// As the other functions: `PlaidIdv/<STACK_NAME>`.
    pub metrics_namespace: String,
}

impl EventsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bus = get("EVENT_BUS_NAME").ok_or(ConfigError::Missing("EVENT_BUS_NAME"))?;
        let source = get("EVENT_SOURCE").unwrap_or_else(|| super::detail::DEFAULT_SOURCE.into());
        // EventBridge's own rules for `Source`: 1-256 characters, and `aws.` is AWS's.
        if source.len() > 256 || source.starts_with("aws.") || source.trim() != source {
            return Err(ConfigError::Invalid {
                var: "EVENT_SOURCE",
                reason: "at most 256 characters, no surrounding spaces, not starting with aws."
                    .into(),
            });
        }
        let environment = match get("PLAID_ENV").as_deref().unwrap_or("sandbox") {
            "sandbox" => PlaidEnvironment::Sandbox,
            "production" => PlaidEnvironment::Production,
            other => {
                return Err(ConfigError::Invalid {
                    var: "PLAID_ENV",
                    reason: format!("expected sandbox or production, got {other:?}"),
                });
            }
        };
        Ok(EventsConfig {
            bus,
            source,
            environment,
            metrics_namespace: crate::config::namespace(get("STACK_NAME").as_deref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<EventsConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EventsConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_refusals() {
        let c = parse(&[("EVENT_BUS_NAME", "idv-events")]).unwrap();
        assert_eq!(c.source, "plaid-idv");
        assert_eq!(c.environment, PlaidEnvironment::Sandbox);
        assert!(matches!(
            parse(&[]),
            Err(ConfigError::Missing("EVENT_BUS_NAME"))
        ));
        assert!(parse(&[("EVENT_BUS_NAME", "b"), ("EVENT_SOURCE", "aws.idv")]).is_err());
        assert!(parse(&[("EVENT_BUS_NAME", "b"), ("PLAID_ENV", "development")]).is_err());
    }
}
