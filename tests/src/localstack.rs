//! The local AWS stack that tests and `make run` share: a `moto_server` on loopback (or whatever
//! the SDK's standard `AWS_ENDPOINT_URL*` variables point at), the sessions table created from
//! the one definition in `infra/template.yaml`, and the Plaid credentials secret.
//!
//! - [`aws_config`]: an `SdkConfig` for local use. With `AWS_ENDPOINT_URL` or
//!   `AWS_ENDPOINT_URL_DYNAMODB` set, the SDK's standard loader routes to it by itself. Otherwise
//!   one `moto_server` per process is started on a free loopback port (found on `PATH`, then in
//!   `$VIRTUAL_ENV/bin`, then in `<workspace>/.venv/bin`) and dies with the process.
//! - [`create_sessions_table`] / [`create_sessions_table_from`]: the table, its GSIs and TTL,
//!   read from the template's `SessionsTable` resource.
//! - [`fresh_table`]: a uniquely named table per test, so tests run in parallel on one moto.
//! - [`create_plaid_secret`]: the `{"client_id", "secret"}` secret the functions read.
//!
//! Test credentials (`test`/`test`) and region (`us-east-1`) are put on the config loader when
//! the environment does not provide them; the process environment is never modified.

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod moto;

use moto::start_moto_owner;
pub use moto::{MOTO_LOG_VAR, find_moto_server};

/// The logical id of the table resource in the template.
pub const SESSIONS_TABLE_RESOURCE: &str = "SessionsTable";

const MOTO_BINARY: &str = "moto_server";
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, Clone, thiserror::Error)]
pub enum LocalStackError {
    #[error(
        "moto_server was not found on PATH, in $VIRTUAL_ENV/bin or in {0}; install it with \
         `pip install \"moto[server]\"` or set AWS_ENDPOINT_URL"
    )]
    MotoNotFound(String),
    #[error("moto_server did not start: {0}")]
    MotoStart(String),
    #[error("{path}: {reason}")]
    Template { path: String, reason: String },
    #[error("table {0} already exists")]
    TableExists(String),
    #[error("{op} failed: {detail}")]
    Aws { op: &'static str, detail: String },
}

fn aws_err(op: &'static str, e: impl std::error::Error) -> LocalStackError {
    LocalStackError::Aws {
        op,
        detail: DisplayErrorContext(e).to_string(),
    }
}

/// The workspace root, found from this crate's manifest (the test kit lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `infra/template.yaml` of this workspace.
pub fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// The region from the environment if any, else the local default.
fn with_local_region(loader: ConfigLoader) -> ConfigLoader {
    if env_set("AWS_REGION") || env_set("AWS_DEFAULT_REGION") {
        loader
    } else {
        loader.region(Region::new(DEFAULT_REGION))
    }
}

fn test_credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "testkit-localstack")
}

/// An `SdkConfig` for the local stack; see the module docs. Panics with an explanation when no
/// endpoint is configured and `moto_server` cannot be started (use [`try_aws_config`] to handle
/// that instead).
pub async fn aws_config() -> SdkConfig {
    match try_aws_config().await {
        Ok(config) => config,
        Err(e) => panic!("local AWS stack unavailable: {e}"),
    }
}

/// [`aws_config`] without the panic.
pub async fn try_aws_config() -> Result<SdkConfig, LocalStackError> {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(shared::aws::sdk_timeouts())
        .stalled_stream_protection(shared::aws::sdk_stalled_stream_protection());
    if env_set("AWS_ENDPOINT_URL") || env_set("AWS_ENDPOINT_URL_DYNAMODB") {
        // The SDK reads the endpoint variables itself, exactly as the deployed functions would.
        let loader = if env_set("AWS_ACCESS_KEY_ID") {
            loader
        } else {
            loader.credentials_provider(test_credentials())
        };
        return Ok(with_local_region(loader).load().await);
    }
    let endpoint = moto_endpoint()?;
    // Our own moto: never hand it a developer's real keys, even on loopback.
    Ok(with_local_region(loader)
        .endpoint_url(endpoint)
        .credentials_provider(test_credentials())
        .load()
        .await)
}

/// Where [`try_aws_config`]'s DynamoDB calls go: the endpoint variables when they are set (under
/// `make test`, the suite's shared moto), else this process's own moto. For code that talks to
/// the same server without the SDK (a forwarding proxy).
pub fn dynamodb_endpoint() -> Result<String, LocalStackError> {
    ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .map_or_else(moto_endpoint, Ok)
}

/// The URL of this process's `moto_server`, started on the first call. Every later call (from
/// any thread or test runtime) gets the same server.
pub fn moto_endpoint() -> Result<String, LocalStackError> {
    static MOTO: OnceLock<Result<String, LocalStackError>> = OnceLock::new();
    MOTO.get_or_init(start_moto_owner).clone()
}

// ---------------------------------------------------------------------------------------------
// The sessions table, from the template.

/// The part of `AWS::DynamoDB::Table` Properties a local table needs. Other properties
/// (PITR, SSE, tags) have no local meaning and are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProperties {
    #[serde(default)]
    billing_mode: Option<String>,
    attribute_definitions: Vec<AttributeDef>,
    key_schema: Vec<KeyElement>,
    #[serde(default)]
    global_secondary_indexes: Vec<Gsi>,
    #[serde(default)]
    provisioned_throughput: Option<Throughput>,
    #[serde(default)]
    time_to_live_specification: Option<TtlSpec>,
    /// The stream `publish-events` reads (moto keeps it; tests read it with the SDK).
    #[serde(default)]
    stream_specification: Option<StreamSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamSpec {
    stream_view_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDef {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyElement {
    attribute_name: String,
    key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Gsi {
    index_name: String,
    key_schema: Vec<KeyElement>,
    projection: ProjectionDef,
    #[serde(default)]
    provisioned_throughput: Option<Throughput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionDef {
    projection_type: String,
    #[serde(default)]
    non_key_attributes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Throughput {
    read_capacity_units: i64,
    write_capacity_units: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TtlSpec {
    attribute_name: String,
    enabled: bool,
}

/// Reads `Resources.SessionsTable.Properties` through the test kit's CloudFormation reader
/// ([`crate::cfn`]). Intrinsics (`!Ref`, `!GetAtt`, `!Sub`…) elsewhere in the template are
/// never looked at; inside the table's Properties they are an error, since nothing resolves
/// them locally.
fn table_properties(path: &Path) -> Result<TableProperties, LocalStackError> {
    let err = |reason: String| LocalStackError::Template {
        path: path.display().to_string(),
        reason,
    };
    let doc = crate::cfn::read(path).map_err(err)?;
    let props = doc
        .get("Resources")
        .and_then(|r| r.get(SESSIONS_TABLE_RESOURCE))
        .and_then(|t| t.get("Properties"))
        .ok_or_else(|| err(format!("no Resources.{SESSIONS_TABLE_RESOURCE}.Properties")))?;
    serde_json::from_value(props.clone())
        .map_err(|e| err(format!("{SESSIONS_TABLE_RESOURCE} Properties: {e}")))
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>, LocalStackError> {
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| aws_err("KeySchemaElement", e))
        })
        .collect()
}

fn throughput(t: &Throughput) -> Result<ProvisionedThroughput, LocalStackError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(t.read_capacity_units)
        .write_capacity_units(t.write_capacity_units)
        .build()
        .map_err(|e| aws_err("ProvisionedThroughput", e))
}

/// Creates table `name` as the template at [`template_path`] defines `SessionsTable`.
pub async fn create_sessions_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), LocalStackError> {
    create_sessions_table_from(client, name, &template_path()).await
}

/// Creates table `name` from the `SessionsTable` resource of the template at `template`: key
/// schema, attribute definitions, GSIs, billing mode, stream, then TTL (`UpdateTimeToLive`), and waits
/// until the table is usable. An existing table is [`LocalStackError::TableExists`].
pub async fn create_sessions_table_from(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    template: &Path,
) -> Result<(), LocalStackError> {
    let props = table_properties(template)?;
    let attributes = props
        .attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| aws_err("AttributeDefinition", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut indexes = Vec::new();
    for gsi in &props.global_secondary_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(
                gsi.projection.projection_type.as_str(),
            ))
            .set_non_key_attributes(gsi.projection.non_key_attributes.clone())
            .build();
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(&gsi.index_name)
                .set_key_schema(Some(key_schema(&gsi.key_schema)?))
                .projection(projection)
                .set_provisioned_throughput(
                    gsi.provisioned_throughput
                        .as_ref()
                        .map(throughput)
                        .transpose()?,
                )
                .build()
                .map_err(|e| aws_err("GlobalSecondaryIndex", e))?,
        );
    }
    let created = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&props.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .set_billing_mode(props.billing_mode.as_deref().map(BillingMode::from))
        .set_stream_specification(
            props
                .stream_specification
                .as_ref()
                .map(|s| {
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::from(s.stream_view_type.as_str()))
                        .build()
                        .map_err(|e| aws_err("StreamSpecification", e))
                })
                .transpose()?,
        )
        .set_provisioned_throughput(
            props
                .provisioned_throughput
                .as_ref()
                .map(throughput)
                .transpose()?,
        )
        .send()
        .await;
    if let Err(e) = created {
        if e.as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception())
        {
            return Err(LocalStackError::TableExists(name.to_string()));
        }
        return Err(aws_err("CreateTable", e));
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(60))
        .await
        .map_err(|e| aws_err("DescribeTable (waiting for ACTIVE)", e))?;
    if let Some(ttl) = props.time_to_live_specification.filter(|t| t.enabled) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl.attribute_name)
                    .enabled(true)
                    .build()
                    .map_err(|e| aws_err("TimeToLiveSpecification", e))?,
            )
            .send()
            .await
            .map_err(|e| aws_err("UpdateTimeToLive", e))?;
    }
    Ok(())
}

/// A new, uniquely named sessions table on the local stack and a client for it. Named
/// `<prefix>-<pid>-<n>-<random>` so parallel tests (and repeated runs against one long-lived
/// endpoint) never share a table. Panics when the stack is unavailable: it is a test fixture.
pub async fn fresh_table(prefix: &str) -> (aws_sdk_dynamodb::Client, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let config = aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let clean: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(100)
        .collect();
    let name = format!(
        "{}-{}-{}-{:08x}",
        if clean.is_empty() { "sessions" } else { &clean },
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    if let Err(e) = create_sessions_table(&client, &name).await {
        panic!("could not create table {name}: {e}");
    }
    (client, name)
}

/// Puts open session `id`'s entry of the `open_sessions` index in the partition `shard`, as an
/// earlier version (`open`) or another `OPEN_SESSION_SHARDS` would have written it. Panics when
/// the session is not in the open index: it is a test fixture.
pub async fn move_to_open_shard(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
    shard: &str,
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    client
        .update_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.into()))
        .update_expression("SET open_shard = :shard")
        .condition_expression("attribute_exists(open_shard)")
        .expression_attribute_values(":shard", AttributeValue::S(shard.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("could not move {id} to shard {shard}: {e}"));
}

/// Stores the Plaid credentials secret in the shape the functions read
/// (`{"client_id": "...", "secret": "..."}`) and returns its ARN.
pub async fn create_plaid_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    client_id: &str,
    secret: &str,
) -> Result<String, LocalStackError> {
    let body = serde_json::json!({ "client_id": client_id, "secret": secret }).to_string();
    let out = client
        .create_secret()
        .name(name)
        .secret_string(body)
        .send()
        .await
        .map_err(|e| aws_err("CreateSecret", e))?;
    out.arn.ok_or_else(|| LocalStackError::Aws {
        op: "CreateSecret",
        detail: "the response has no ARN".into(),
    })
}

#[cfg(test)]
mod tests;
