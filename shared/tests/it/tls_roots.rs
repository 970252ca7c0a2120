//! Both outbound HTTPS stacks, built the way a cold start builds them (`PlaidClient::new`,
//! `bootstrap::sdk_config`), verify servers against the roots named by `SSL_CERT_FILE`: a
//! server whose chain leads to that CA is reached, one signed by another CA or presenting
//! another name is refused during the handshake, before any request is sent.
//!
//! The check runs in a process of its own, this test binary started again with only that test:
//! the variable is process-wide and the roots are read once per process, so it is set before
//! anything reads them and no other test of the binary can race it.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use shared::bootstrap::sdk_config;
use shared::credentials::{Credentials, CredentialsProvider};
use shared::ids::IdvId;
use shared::plaid::{ClientOptions, PlaidClient, PlaidError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `names`, issued by `ca`.
fn leaf(ca: &Ca, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca.issuer)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}

/// Completes the TLS handshake before handing a connection to axum. A client that refuses the
/// certificate aborts the handshake; that connection is dropped and the next one awaited.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS server on 127.0.0.1 presenting `cert`; it answers every request with a Plaid error
/// body (a 400 both clients read as an answer, not a transport failure) and counts requests.
async fn serve(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                r#"{"error_type":"INVALID_REQUEST","error_code":"INVALID_FIELD","error_message":"tls test","display_message":null,"request_id":"tls-test"}"#,
            )
                .into_response()
        }
    });
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

fn plaid(base: &str) -> PlaidClient {
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        max_attempts: 1,
        ..ClientOptions::default()
    };
    PlaidClient::new(
        url::Url::parse(base).unwrap(),
        Arc::new(CredentialsProvider::fixed(Credentials::new(
            "client-id",
            "not-a-secret",
        ))),
        options,
    )
    .unwrap()
}

async fn plaid_get(base: &str) -> PlaidError {
    let id = IdvId::parse("idv_52xR9LKo77r1Np").unwrap();
    plaid(base).get(&id).await.unwrap_err()
}

async fn sdk_get_secret(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
) -> aws_sdk_secretsmanager::error::SdkError<
    aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
> {
    let conf = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
        .get_secret_value()
        .secret_id("plaid")
        .send()
        .await
        .unwrap_err()
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string()
}

/// Marks the child process that [`roots_of_ssl_cert_file_in_own_process`] runs in.
const OWN_PROCESS: &str = "TLS_ROOTS_OWN_PROCESS";

#[test]
fn clients_trust_exactly_the_roots_of_ssl_cert_file() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tls_roots::roots_of_ssl_cert_file_in_own_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(OWN_PROCESS, "1")
        .output()
        .expect("the test binary starts again");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    // A filter that matched nothing would pass too: the child must have run the one test.
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by clients_trust_exactly_the_roots_of_ssl_cert_file, in a process of its own"]
fn roots_of_ssl_cert_file_in_own_process() {
    assert!(
        std::env::var_os(OWN_PROCESS).is_some(),
        "sets process-wide variables: run it through clients_trust_exactly_the_roots_of_ssl_cert_file"
    );
    let trusted = ca("tls-roots test CA");
    let stranger = ca("a CA nobody trusts");
    let dir = std::env::temp_dir().join(format!("tls-roots-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &trusted.pem).unwrap();
    // SAFETY: the only test of this process (started for it alone, one test thread), and no
    // other thread has started: the runtime is built below.
    unsafe {
        // Only this CA: the system store is not read when SSL_CERT_FILE is set alone.
        std::env::set_var("SSL_CERT_FILE", &ca_file);
        std::env::remove_var("SSL_CERT_DIR");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_ENDPOINT_URL");
        std::env::remove_var("HTTPS_PROXY");
        std::env::remove_var("https_proxy");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (cert, key) = leaf(&trusted, &["localhost"]);
        let (good, good_hits) = serve(cert, key).await;
        let (cert, key) = leaf(&stranger, &["localhost"]);
        let (bad, bad_hits) = serve(cert, key).await;

        // Plaid (reqwest): the trusted server answers; its 400 comes back as Plaid's error.
        let err = plaid_get(&format!("https://localhost:{good}/")).await;
        assert!(
            matches!(err, PlaidError::Api { status: 400, .. }),
            "trusted CA: {err:?}"
        );
        assert_eq!(good_hits.load(Ordering::SeqCst), 1);

        // Another CA: refused in the handshake, nothing sent.
        let err = plaid_get(&format!("https://localhost:{bad}/")).await;
        match &err {
            PlaidError::Transport(detail) => {
                assert!(detail.contains("UnknownIssuer"), "untrusted CA: {detail}")
            }
            other => panic!("untrusted CA must fail the handshake: {other:?}"),
        }
        assert_eq!(bad_hits.load(Ordering::SeqCst), 0);

        // The trusted CA but a name the certificate does not carry: refused too.
        let err = plaid_get(&format!("https://127.0.0.1:{good}/")).await;
        match &err {
            PlaidError::Transport(detail) => {
                assert!(
                    detail.contains("not valid for name"),
                    "wrong name: {detail}"
                )
            }
            other => panic!("a certificate for another name must fail: {other:?}"),
        }
        assert_eq!(good_hits.load(Ordering::SeqCst), 1);

        // The AWS SDK (DynamoDB and Secrets Manager share this client), through the cold
        // start's own `sdk_config`.
        let sdk = sdk_config().await;
        let err = sdk_get_secret(&sdk, &format!("https://localhost:{good}")).await;
        assert!(
            matches!(
                err,
                aws_sdk_secretsmanager::error::SdkError::ServiceError(_)
            ),
            "trusted CA: the SDK must get the server's answer: {}",
            chain(&err)
        );
        assert_eq!(good_hits.load(Ordering::SeqCst), 2);

        let err = sdk_get_secret(&sdk, &format!("https://localhost:{bad}")).await;
        assert!(
            matches!(
                err,
                aws_sdk_secretsmanager::error::SdkError::DispatchFailure(_)
            ),
            "untrusted CA: {}",
            chain(&err)
        );
        assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
        assert_eq!(bad_hits.load(Ordering::SeqCst), 0);

        let err = sdk_get_secret(&sdk, &format!("https://127.0.0.1:{good}")).await;
        assert!(
            matches!(
                err,
                aws_sdk_secretsmanager::error::SdkError::DispatchFailure(_)
            ),
            "wrong name: {}",
            chain(&err)
        );
        assert!(
            chain(&err).contains("not valid for name"),
            "{}",
            chain(&err)
        );
        assert_eq!(good_hits.load(Ordering::SeqCst), 2);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
