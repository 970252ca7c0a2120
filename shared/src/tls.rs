//! The roots of trust for outbound HTTPS, set up once per process for both HTTP stacks: the AWS
//! SDK's client (DynamoDB, Secrets Manager, EventBridge, SQS) and reqwest (Plaid).
//!
//! - `SSL_CERT_FILE` or `SSL_CERT_DIR` set (how a custom CA, a TLS-inspecting proxy's say, is
//!   trusted): exactly the roots they name, for both stacks, read with rustls-native-certs, the
//!   crate both stacks would use on their own.
//! - Otherwise roots compiled into the binary, never the system store. Reading the store was most
//!   of a cold start: on this host the bundle file and 147 certificate files, PEM-decoded and
//!   parsed, about 7 of the 12.5 ms of create-session's init (`tests/bench/README.md`).
//!   - reqwest (Plaid, whose certificate authority is Plaid's choice): the Mozilla root
//!     program's roots as trust anchors already parsed (`webpki-roots`), so they cost nothing.
//!   - The SDK: the five roots of Amazon Trust Services (`tls/amazon-trust-services.pem`),
//!     which every AWS service endpoint chains to, and the set ATS itself recommends for custom
//!     trust stores (<https://www.amazontrust.com/repository/>: Amazon Root CA 1-4 and the
//!     older Starfield Services Root G2; the European Sovereign Cloud's roots are cross-signed
//!     by 1, 3 and 4). The SDK takes roots only as PEM, which it decodes and parses on its first
//!     request: with Mozilla's ~150 roots that was about 7 M instructions (callgrind) of every
//!     cold start's first request, and their certificates ~0.2 MB of every bootstrap; five
//!     roots cost neither, and an AWS call can no longer be answered by a certificate from any
//!     of the other ~145 authorities. A test keeps the file equal, byte for byte, to those five
//!     entries of Mozilla's list (`webpki-root-certs`, a dev-dependency).
//!
//!   A CA added only to the system store is not trusted unless `SSL_CERT_FILE` names it; an
//!   `AWS_ENDPOINT_URL` over HTTPS to something that is not AWS (a local emulator behind its own
//!   CA) needs `SSL_CERT_FILE` too.
//!
//! Verification is webpki against these roots in both stacks.
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use base64::Engine as _;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// The SDK's compiled-in roots: Amazon Trust Services' five (see the module doc).
const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("tls/amazon-trust-services.pem");

#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("no trusted root certificate was found in SSL_CERT_FILE or SSL_CERT_DIR")]
    NoRoots,
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The roots, in the forms the clients take.
struct Roots {
    /// For reqwest's rustls config.
    store: Arc<RootCertStore>,
    /// For the SDK's connector, which takes PEM only.
    sdk_pem: Cow<'static, [u8]>,
}

/// The compiled-in roots, with nothing parsed: `webpki-roots` ships Mozilla's as trust anchors,
/// and the SDK's are PEM text.
fn compiled_in() -> Roots {
    Roots {
        store: Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        sdk_pem: Cow::Borrowed(AMAZON_TRUST_SERVICES_PEM),
    }
}

fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let overridden = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|p| !p.is_empty()));
        let roots = if overridden {
            let loaded = rustls_native_certs::load_native_certs();
            // As reqwest and the SDK did: an unreadable file is reported, the rest still trusted.
            for error in &loaded.errors {
                tracing::warn!(error = %error, "could not read a trusted root certificate");
            }
            from_certs(loaded.certs)
        } else {
            compiled_in()
        };
        tracing::debug!(
            roots = roots.store.len(),
            overridden,
            "trusted root certificates loaded"
        );
        roots
    })
}

fn from_certs(certs: Vec<CertificateDer<'static>>) -> Roots {
    let mut store = RootCertStore::empty();
    let offered = certs.len();
    let mut accepted = Vec::with_capacity(offered);
    for cert in certs {
        // Only what parses as a trust anchor reaches the SDK: its http client panics on a
        // certificate it cannot parse, where reqwest skipped it.
        if store.add(cert.clone()).is_ok() {
            accepted.push(cert);
        }
    }
    let ignored = offered - accepted.len();
    if ignored > 0 {
        tracing::warn!(ignored, "root certificates that do not parse were ignored");
    }
    let mut pem = Vec::with_capacity(accepted.len() * 2048);
    for cert in &accepted {
        push_pem(&mut pem, cert);
    }
    Roots {
        store: Arc::new(store),
        sdk_pem: Cow::Owned(pem),
    }
}

/// RFC 7468 textual encoding, 64 columns.
fn push_pem(out: &mut Vec<u8>, der: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
}

/// The rustls config for reqwest (`ClientBuilder::tls_backend_preconfigured`): aws-lc-rs, TLS
/// 1.2 and 1.3, webpki verification against the shared roots, HTTP/1.1 by ALPN (reqwest is built
/// without HTTP/2). With no root at all it fails, as reqwest's platform verifier did: every
/// HTTPS call would fail later with a less telling error.
pub fn reqwest_config() -> Result<rustls::ClientConfig, TlsError> {
    let roots = roots();
    if roots.store.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots.store.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The AWS SDK's default https client (hyper 1 + rustls on aws-lc-rs, proxy settings from the
/// environment, connector per timeout settings), built as `aws-smithy-runtime` builds its
/// default, except that it trusts the roots of [`roots`] instead of reading the system store.
///
/// The trust store is handed over when the first connector is built, on the first AWS request,
/// not when the client is: the SDK decodes and parses the PEM there.
pub fn sdk_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    static CONTEXT: OnceLock<TlsContext> = OnceLock::new();
    let context = || {
        CONTEXT.get_or_init(|| {
            let mut trust = TrustStore::empty().with_native_roots(false);
            let pem = &roots().sdk_pem;
            if !pem.is_empty() {
                trust = trust.with_pem_certificate(pem.to_vec());
            }
            trusting(trust)
        })
    };
    static UNTRUSTING: OnceLock<TlsContext> = OnceLock::new();
    Builder::new().build_with_connector_fn(move |settings, components| {
        // Every `Client::new` (DynamoDB, Secrets Manager, and the STS client aws-config makes
        // for web identity) builds a connector with neither settings nor components and drops
        // it (`HyperClient::validate_base_client_config`), only so that native roots load
        // early. With the roots, each such build decodes and parses all of them: about 7 M
        // instructions per client, three at init (callgrind). That throwaway trusts nothing;
        // every connector that makes requests is built with both and gets the roots
        // (`shared/tests/it/tls_roots.rs` reaches an HTTPS server through the SDK).
        let context = if settings.is_none() && components.is_none() {
            UNTRUSTING.get_or_init(|| trusting(TrustStore::empty().with_native_roots(false)))
        } else {
            context()
        };
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// A TLS context for the SDK's connectors that trusts exactly `trust`.
fn trusting(trust: TrustStore) -> TlsContext {
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with only a trust store always builds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    fn ca(name: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn pem_for_the_sdk_is_exactly_the_parsed_roots() {
        let certs = vec![ca("root one"), ca("root two")];
        let roots = from_certs(certs.clone());
        assert_eq!(roots.store.len(), 2);
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.sdk_pem)
            .collect::<Result<_, _>>()
            .expect("the PEM we write parses");
        assert_eq!(back, certs);
    }

    #[test]
    fn a_certificate_that_does_not_parse_is_left_out_of_both_forms() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let good = ca("root");
        let roots = from_certs(vec![garbage, good.clone()]);
        assert_eq!(roots.store.len(), 1);
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.sdk_pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![good]);
    }

    /// The SDK's compiled-in roots are Amazon Trust Services' five, exactly as Mozilla's root
    /// program ships them (so they parse, as the SDK requires, and are the roots reqwest trusts
    /// too), and nothing else.
    #[test]
    fn the_sdk_trusts_exactly_the_five_amazon_trust_services_roots_from_mozillas_list() {
        let ours: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM)
                .collect::<Result<_, _>>()
                .expect("the compiled-in PEM parses");
        assert_eq!(ours.len(), 5);
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        let contains =
            |der: &[u8], name: &str| der.windows(name.len()).any(|w| w == name.as_bytes());
        for (cert, name) in ours.iter().zip(names) {
            assert!(contains(cert, name), "{name} is not where expected");
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.contains(cert),
                "{name} differs from Mozilla's list"
            );
        }
        let parsed = from_certs(ours.clone());
        assert_eq!(parsed.store.len(), 5, "every one parses as a trust anchor");
        let key = |a: &rustls::pki_types::TrustAnchor<'_>| {
            (a.subject.to_vec(), a.subject_public_key_info.to_vec())
        };
        let anchors: Vec<_> = compiled_in().store.roots.iter().map(key).collect();
        for a in parsed.store.roots.iter() {
            assert!(anchors.contains(&key(a)), "reqwest's anchors include it");
        }
        // The Amazon roots Mozilla ships are these five: a new one there fails this test, so
        // the file is reviewed rather than silently stale.
        let amazon_in_mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|c| contains(c, "Amazon Root CA") || contains(c, "Starfield Services Root"))
            .count();
        assert_eq!(amazon_in_mozilla, 5);
    }

    #[test]
    fn pem_lines_are_64_columns() {
        let mut out = Vec::new();
        push_pem(&mut out, &[0xAB; 100]);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[lines.len() - 1], "-----END CERTIFICATE-----");
        // 100 bytes = 136 base64 characters: 64 + 64 + 8.
        assert_eq!(
            lines[1..lines.len() - 1]
                .iter()
                .map(|l| l.len())
                .collect::<Vec<_>>(),
            [64, 64, 8]
        );
    }
}
