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
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// The first `moto_server` that is a Python script (see [`moto_command`]): on PATH, then in
/// `$VIRTUAL_ENV/bin`, then in `<workspace>/.venv/bin`. Others are passed over (a pyenv shim
/// on PATH is a bash script: run as is it would be plain, threaded moto); when only such
/// ones exist, that is the error.
pub fn find_moto_server() -> Result<PathBuf, LocalStackError> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        candidates.push(PathBuf::from(venv).join("bin"));
    }
    let local_venv = workspace_root().join(".venv").join("bin");
    candidates.push(local_venv.clone());
    let found: Vec<PathBuf> = candidates
        .into_iter()
        .map(|dir| dir.join(MOTO_BINARY))
        .filter(|p| is_executable(p))
        .collect();
    if let Some(python) = found.iter().find(|p| moto_command(p).is_ok()) {
        return Ok(python.clone());
    }
    match found.first() {
        Some(other) => Err(moto_command(other)
            .err()
            .unwrap_or_else(|| LocalStackError::MotoNotFound(local_venv.display().to_string()))),
        None => Err(LocalStackError::MotoNotFound(
            local_venv.display().to_string(),
        )),
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Starts moto from a dedicated thread that then waits on it for the rest of the process.
/// The thread matters: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// and test threads end long before the process does.
fn start_moto_owner() -> Result<String, LocalStackError> {
    let binary = find_moto_server()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("moto-server".into())
        .spawn(move || match start_moto(&binary) {
            Ok((mut child, endpoint)) => {
                let _ = tx.send(Ok(endpoint));
                // Keeps this thread (the child's "parent" for PDEATHSIG) alive; returns only
                // if moto dies on its own.
                if let Ok(status) = child.wait() {
                    eprintln!("testkit: moto_server exited early ({status})");
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| LocalStackError::MotoStart(format!("could not start a thread: {e}")))?;
    rx.recv().unwrap_or_else(|_| {
        Err(LocalStackError::MotoStart(
            "the starter thread ended without an answer".into(),
        ))
    })
}

/// Set to a file path to keep moto's request log there; otherwise the log lives only while
/// moto starts (to explain a failed start) and is unlinked once it answers.
pub const MOTO_LOG_VAR: &str = "TESTKIT_MOTO_LOG";

fn start_moto(binary: &Path) -> Result<(Child, String), LocalStackError> {
    let kept_log = std::env::var_os(MOTO_LOG_VAR).map(PathBuf::from);
    let log_path = kept_log.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("testkit-moto-{}.log", std::process::id()))
    });
    let log = std::fs::File::create(&log_path).map_err(|e| {
        LocalStackError::MotoStart(format!("cannot write {}: {e}", log_path.display()))
    })?;
    let mut cmd = moto_command(binary)?;
    // Port 0: moto binds a free port itself and names it (no probe-then-bind race).
    cmd.args(["-H", "127.0.0.1", "-p", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| LocalStackError::MotoStart(format!("cannot run {}: {e}", binary.display())))?;
    let started = child
        .stdout
        .take()
        .ok_or_else(|| LocalStackError::MotoStart("no pipe to moto's stdout".into()))
        .and_then(|out| wait_for_listening_line(out, &mut child))
        .and_then(|addr| {
            wait_until_answering(&mut child, addr)
                .map(|()| addr)
                .map_err(LocalStackError::MotoStart)
        });
    match started {
        Ok(addr) => {
            if kept_log.is_none() {
                // moto keeps writing to its open descriptor; nothing is left behind.
                let _ = std::fs::remove_file(&log_path);
            }
            Ok((child, format!("http://{addr}")))
        }
        Err(LocalStackError::MotoStart(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(LocalStackError::MotoStart(format!(
                "{e}; moto said: {}",
                tail.join(" | ")
            )))
        }
        Err(e) => Err(e),
    }
}

/// What [`SERIALIZED_MOTO`] prints once it listens, and only once its requests are serialized.
const LISTENING_LINE: &str = "serialized moto listening on http://";

/// Reads moto's stdout until [`LISTENING_LINE`] (its address), then keeps draining it on a
/// thread of its own so that moto never blocks on a full pipe.
fn wait_for_listening_line(
    out: std::process::ChildStdout,
    child: &mut Child,
) -> Result<SocketAddr, LocalStackError> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("moto-stdout".into())
        .spawn(move || {
            let mut lines = std::io::BufReader::new(out).lines();
            let first = lines
                .by_ref()
                .map_while(Result::ok)
                .find(|l| l.starts_with(LISTENING_LINE));
            let _ = tx.send(first);
            for _ in lines {}
        })
        .map_err(|e| LocalStackError::MotoStart(format!("could not start a thread: {e}")))?;
    let line = match rx.recv_timeout(MOTO_START_TIMEOUT) {
        Ok(Some(line)) => line,
        Ok(None) => {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(LocalStackError::MotoStart(format!(
                "moto exited ({status}) before listening with serialized requests"
            )));
        }
        Err(_) => {
            return Err(LocalStackError::MotoStart(format!(
                "moto did not say it listens within {MOTO_START_TIMEOUT:?}"
            )));
        }
    };
    line[LISTENING_LINE.len()..]
        .trim()
        .parse()
        .map_err(|e| LocalStackError::MotoStart(format!("moto named no address ({line}): {e}")))
}

/// Runs moto's own `main` with one change: requests are handled one at a time. Real DynamoDB
/// applies each conditional write atomically; moto's threaded server does not (two concurrent
/// `attribute_not_exists` puts can both succeed), which would make every "exactly one of N
/// concurrent writers wins" test pass by luck. If moto's internals move, the script refuses to
/// run (exit 3, saying why) rather than fall back to plain moto, and so does [`moto_command`]
/// for a `moto_server` it cannot run the script under. The same script serves `make test` and
/// `make run` (tests/scripts/lib.sh).
const SERIALIZED_MOTO: &str = include_str!("../scripts/moto_serialized.py");

/// The interpreter named by `moto_server`'s shebang running [`SERIALIZED_MOTO`]. A
/// `moto_server` that is not a Python script with a plain interpreter line is refused: run as
/// is, it would be the threaded moto the concurrency tests must not pass on by luck.
fn moto_command(binary: &Path) -> Result<Command, LocalStackError> {
    let first_line = std::fs::File::open(binary)
        .ok()
        .and_then(|f| {
            use std::io::BufRead;
            let mut line = String::new();
            std::io::BufReader::new(f).read_line(&mut line).ok()?;
            Some(line)
        })
        .unwrap_or_default();
    let interpreter: Vec<&str> = match first_line.strip_prefix("#!") {
        Some(rest) => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.split_first() {
                Some((env, args)) if env.ends_with("/env") => args.to_vec(),
                _ => words,
            }
        }
        None => Vec::new(),
    };
    match interpreter.split_first() {
        Some((python, args)) if python.contains("python") => {
            let mut cmd = Command::new(python);
            cmd.args(args).arg("-c").arg(SERIALIZED_MOTO);
            Ok(cmd)
        }
        _ => Err(LocalStackError::MotoStart(format!(
            "{} has no python shebang, so its requests cannot be serialized \
             (tests/scripts/moto_serialized.py); refusing to run a threaded moto",
            binary.display()
        ))),
    }
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Polls until moto answers an HTTP request (any status), or it exits, or time runs out.
fn wait_until_answering(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + MOTO_START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("moto_server exited at start ({status})"));
        }
        if answers_http(addr) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "moto_server did not answer on {addr} within {MOTO_START_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
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
