//! Configuration, parsed once per cold start from the environment. Every error names the
//! variable at fault.

use crate::ids::TemplateId;
use crate::plaid::types::PlaidEnvironment;
use chrono::Duration;
use open_shards::{DEFAULT_OPEN_SHARDS, OPEN_SHARDS_VAR, OpenShards};
use source_ips::{SOURCE_IPS_VAR, SourceAllowList};
use url::Url;

pub mod open_shards;
pub mod source_ips;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Who the caller is when there is no JWT authorizer (local `cargo lambda watch` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalIdentity {
    /// Deployed behaviour: only the JWT authorizer's `sub` claim counts.
    Disabled,
    /// Local development: the `x-local-user` header names the caller of a request no
    /// authorizer has seen (with any authorizer context, only its claims count). Refused with
    /// `PLAID_ENV=production` and unless DynamoDB is on loopback.
    Header,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub plaid_env: PlaidEnvironment,
    pub plaid_base_url: Url,
    pub plaid_secret_id: String,
    pub default_template_id: TemplateId,
    /// The default template first, then the other allowed ones.
    pub allowed_template_ids: Vec<TemplateId>,
    /// The app expiry window (`SESSION_TTL_SECONDS`, default 172800).
    pub session_ttl: Duration,
    /// How long an abandoned session is kept before DynamoDB TTL may remove it.
    pub abandoned_retention: Duration,
    /// A non-final session read longer ago than this is re-read from Plaid on `GET`.
    pub freshness_window: Duration,
    pub client_name: String,
    pub country_codes: Vec<String>,
    pub language: String,
    pub redirect_uris: Vec<String>,
    pub android_package_names: Vec<String>,
    /// webhook: addresses Plaid's deliveries may come from (`PLAID_WEBHOOK_SOURCE_IPS`, IPs or
    /// CIDR blocks, comma-separated); empty, the default, turns the check off.
    pub webhook_source_ips: SourceAllowList,
    /// reconcile: refresh open sessions last synced longer ago than this.
    pub reconcile_stale_after: Duration,
    /// reconcile: at most this many Plaid calls per run.
    pub reconcile_max_calls: u32,
    /// How many partitions of the open-sessions index writers spread sessions over
    /// (`OPEN_SESSION_SHARDS`, 1 to 16, default 4); reconcile reads all 16 whatever this is.
    pub open_session_shards: OpenShards,
    pub local_identity: LocalIdentity,
    /// The token scope (`IDV_REVIEWER_SCOPE`, default `idv/review`) that lets a caller read
    /// Plaid's full result and any user's session by id (audited).
    pub reviewer_scope: String,
    /// Billed attempts (creates and retries) one user may start for one template in a rolling
    /// 24 hours (`MAX_ATTEMPTS_PER_DAY`, default 5).
    pub max_attempts_per_day: u32,
    /// The CloudWatch namespace of the EMF metrics: `PlaidIdv/<STACK_NAME>` (the template sets
    /// `STACK_NAME` from `AWS::StackName`), `PlaidIdv/local` without one.
    pub metrics_namespace: String,
}

pub const LOCAL_IDENTITY_VAR: &str = "IDV_LOCAL_IDENTITY";
pub const LOCAL_IDENTITY_VALUE: &str = "insecure-local-only";

fn list(raw: Option<String>) -> Vec<String> {
    raw.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: i64,
) -> Result<Duration, ConfigError> {
    match get(var) {
        None => Ok(Duration::seconds(default)),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if n > 0 => Ok(Duration::seconds(n)),
            _ => Err(ConfigError::Invalid {
                var,
                reason: format!("expected a positive number of seconds, got {raw:?}"),
            }),
        },
    }
}

fn is_loopback_url(raw: &str) -> bool {
    Url::parse(raw).ok().is_some_and(|u| is_loopback_host(&u))
}

/// 127.0.0.0/8, ::1 or `localhost`: traffic that never leaves the machine.
fn is_loopback_host(u: &Url) -> bool {
    u.host().is_some_and(|h| match h {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    })
}

/// `PLAID_BASE_URL`: https, or plain http to a loopback host only (the emulator, a contract
/// mock). Anything else would send `PLAID-SECRET` and identity data in clear text across a
/// network, so it is a cold-start error rather than a request-time surprise.
fn plaid_base_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        var: "PLAID_BASE_URL",
        reason,
    };
    let url = Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => Err(invalid(
            "must be https unless the host is loopback (127.0.0.0/8, ::1, localhost)".into(),
        )),
        other => Err(invalid(format!(
            "expected an https URL, got scheme {other:?}"
        ))),
    }
}

fn positive_count(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                var,
                reason: format!("expected a positive whole number, got {raw:?}"),
            }),
        },
    }
}

/// The CloudWatch namespace of the EMF metrics (`emf`): this prefix, then the stack name.
pub const NAMESPACE_PREFIX: &str = "PlaidIdv/";

/// `PlaidIdv/<stack>`, or `PlaidIdv/local` outside a stack (`Config::metrics_namespace`).
pub fn namespace(stack: Option<&str>) -> String {
    let stack = stack.filter(|s| !s.is_empty()).unwrap_or("local");
    format!("{NAMESPACE_PREFIX}{stack}")
}

pub const DEFAULT_REVIEWER_SCOPE: &str = "idv/review";

/// One scope token as OAuth writes them (RFC 6749 §3.3): printable ASCII, no space, `"` or `\\`.
fn reviewer_scope(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let raw = get("IDV_REVIEWER_SCOPE").unwrap_or_else(|| DEFAULT_REVIEWER_SCOPE.into());
    let scope = raw.trim();
    if scope.is_empty()
        || !scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err(ConfigError::Invalid {
            var: "IDV_REVIEWER_SCOPE",
            reason: "expected one OAuth scope, such as idv/review".into(),
        });
    }
    Ok(scope.to_owned())
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Parse from any variable lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |var: &'static str| get(var).ok_or(ConfigError::Missing(var));

        let table_name = required("TABLE_NAME")?;
        let plaid_env = match get("PLAID_ENV").as_deref().unwrap_or("sandbox") {
            "sandbox" => PlaidEnvironment::Sandbox,
            "production" => PlaidEnvironment::Production,
            other => {
                return Err(ConfigError::Invalid {
                    var: "PLAID_ENV",
                    reason: format!("expected sandbox or production, got {other:?}"),
                });
            }
        };
        let plaid_base_url = match get("PLAID_BASE_URL") {
            Some(raw) => plaid_base_url(&raw)?,
            None => Url::parse(match plaid_env {
                PlaidEnvironment::Production => "https://production.plaid.com",
                _ => "https://sandbox.plaid.com",
            })
            .expect("static URL"),
        };
        let plaid_secret_id = required("PLAID_SECRET_ID")?;
        let default_template_id =
            TemplateId::parse(required("IDV_TEMPLATE_ID")?).map_err(|e| ConfigError::Invalid {
                var: "IDV_TEMPLATE_ID",
                reason: e.to_string(),
            })?;
        let mut allowed_template_ids = vec![default_template_id.clone()];
        for raw in list(get("IDV_TEMPLATE_IDS")) {
            let t = TemplateId::parse(raw).map_err(|e| ConfigError::Invalid {
                var: "IDV_TEMPLATE_IDS",
                reason: e.to_string(),
            })?;
            if !allowed_template_ids.contains(&t) {
                allowed_template_ids.push(t);
            }
        }
        let country_codes = {
            let codes = list(get("PLAID_COUNTRY_CODES"));
            let codes = if codes.is_empty() {
                vec!["US".to_owned()]
            } else {
                codes
            };
            for c in &codes {
                if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
                    return Err(ConfigError::Invalid {
                        var: "PLAID_COUNTRY_CODES",
                        reason: format!("{c:?} is not an ISO-3166-1 alpha-2 code such as US"),
                    });
                }
            }
            codes
        };
        let client_name =
            get("PLAID_CLIENT_NAME").unwrap_or_else(|| "Identity Verification".into());
        if client_name.chars().count() > 30 {
            return Err(ConfigError::Invalid {
                var: "PLAID_CLIENT_NAME",
                reason: "Plaid shows names over 30 characters as \"This Application\"".into(),
            });
        }

        let local_identity = match get(LOCAL_IDENTITY_VAR) {
            None => LocalIdentity::Disabled,
            Some(v) if v == LOCAL_IDENTITY_VALUE => {
                // Refused anywhere but on a developer machine: the store must be on loopback,
                // which a deployed function's never is.
                let endpoint = get("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| get("AWS_ENDPOINT_URL"));
                if !endpoint.as_deref().is_some_and(is_loopback_url) {
                    return Err(ConfigError::Invalid {
                        var: LOCAL_IDENTITY_VAR,
                        reason: "local identity is only allowed with DynamoDB on loopback \
                                 (AWS_ENDPOINT_URL); it is never valid in a deployed function"
                            .into(),
                    });
                }
                // Production Plaid means real people's identity data: never with a switch
                // that lets a request name its own user.
                if plaid_env == PlaidEnvironment::Production {
                    return Err(ConfigError::Invalid {
                        var: LOCAL_IDENTITY_VAR,
                        reason: "local identity is refused with PLAID_ENV=production".into(),
                    });
                }
                LocalIdentity::Header
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: LOCAL_IDENTITY_VAR,
                    reason: format!("the only accepted value is {LOCAL_IDENTITY_VALUE}"),
                });
            }
        };

        Ok(Config {
            table_name,
            plaid_env,
            plaid_base_url,
            plaid_secret_id,
            default_template_id,
            allowed_template_ids,
            session_ttl: seconds(&get, "SESSION_TTL_SECONDS", 172_800)?,
            abandoned_retention: seconds(&get, "ABANDONED_RETENTION_SECONDS", 30 * 86_400)?,
            freshness_window: seconds(&get, "SESSION_FRESHNESS_SECONDS", 60)?,
            client_name,
            country_codes,
            language: get("PLAID_LANGUAGE").unwrap_or_else(|| "en".into()),
            redirect_uris: list(get("PLAID_REDIRECT_URIS")),
            android_package_names: list(get("PLAID_ANDROID_PACKAGE_NAMES")),
            webhook_source_ips: SourceAllowList::parse(&get(SOURCE_IPS_VAR).unwrap_or_default())
                .map_err(|reason| ConfigError::Invalid {
                    var: SOURCE_IPS_VAR,
                    reason,
                })?,
            reconcile_stale_after: seconds(&get, "RECONCILE_STALE_AFTER_SECONDS", 900)?,
            reconcile_max_calls: seconds(&get, "RECONCILE_MAX_PLAID_CALLS", 40)?.num_seconds()
                as u32,
            local_identity,
            reviewer_scope: reviewer_scope(&get)?,
            max_attempts_per_day: positive_count(&get, "MAX_ATTEMPTS_PER_DAY", 5)?,
            open_session_shards: OpenShards::new(positive_count(
                &get,
                OPEN_SHARDS_VAR,
                DEFAULT_OPEN_SHARDS,
            )?)
            .map_err(|reason| ConfigError::Invalid {
                var: OPEN_SHARDS_VAR,
                reason,
            })?,
            metrics_namespace: namespace(get("STACK_NAME").as_deref()),
        })
    }

    pub fn template_allowed(&self, t: &TemplateId) -> bool {
        self.allowed_template_ids.contains(t)
    }
}

#[cfg(test)]
mod tests;
