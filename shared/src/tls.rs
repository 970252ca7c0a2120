//! The roots of trust for outbound HTTPS, loaded once per process and shared by both HTTP stacks:
//! the AWS SDK's client (DynamoDB, Secrets Manager) and reqwest (Plaid).
//!
//! - `SSL_CERT_FILE` or `SSL_CERT_DIR` set (how a custom CA, a TLS-inspecting proxy's say, is
//!   trusted): exactly the roots they name, read with rustls-native-certs, the crate both stacks
//!   would use on their own.
//! - Otherwise the Mozilla root program's roots compiled into the binary, the list the system
//!   bundles on Debian and Amazon Linux are built from, not the system store. Reading the store
//!   was most of a cold start: on this host the bundle file and 147 certificate files,
//!   PEM-decoded and parsed, about 7 of the 12.5 ms of create-session's init; and parsing even
//!   the compiled-in certificates took 2-3 ms of a cold process (`tests/bench/README.md`). So
//!   reqwest gets them as trust anchors already parsed (`webpki-roots`), and the SDK, which takes
//!   only PEM, gets the same roots as certificates (`webpki-root-certs`, the same release), on its
//!   first request. A CA added only to the system store is not trusted unless `SSL_CERT_FILE`
//!   names it.
//!
//! Verification is webpki against these roots in both stacks.
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use base64::Engine as _;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use std::sync::{Arc, OnceLock};

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
    /// The certificates of `store`, for [`Roots::pem`] (the compiled-in ones are not copied).
    accepted: Vec<CertificateDer<'static>>,
}

/// The compiled-in roots, with nothing parsed: `webpki-roots` ships them as trust anchors, and
/// `webpki-root-certs` as the certificates they come from (a test keeps the two equal).
fn compiled_in() -> Roots {
    Roots {
        store: Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        accepted: webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec(),
    }
}

impl Roots {
    /// The accepted certificates as PEM: all the SDK's http client accepts besides "native
    /// roots", which would read the system store a second time.
    fn pem(&self) -> Vec<u8> {
        let mut pem = Vec::with_capacity(self.accepted.len() * 2048);
        for cert in &self.accepted {
            push_pem(&mut pem, cert);
        }
        pem
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
    Roots {
        store: Arc::new(store),
        accepted,
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
/// default, except that it trusts the shared roots instead of reading the system store again.
///
/// The trust store is handed over when the first connector is built, on the first AWS request,
/// not when the client is: the SDK decodes and parses the PEM again there, and that request (the
/// secret's, see `bootstrap::prefetch`) is no longer part of init.
pub fn sdk_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    static CONTEXT: OnceLock<TlsContext> = OnceLock::new();
    let context = || {
        CONTEXT.get_or_init(|| {
            let mut trust = TrustStore::empty().with_native_roots(false);
            let pem = roots().pem();
            if !pem.is_empty() {
                trust = trust.with_pem_certificate(pem);
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
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.pem())
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
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.pem())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![good]);
    }

    /// The SDK panics on a certificate it cannot parse, and both stacks must trust the same
    /// roots: the compiled-in certificates parse to exactly the compiled-in anchors.
    #[test]
    fn compiled_in_certificates_and_anchors_are_the_same_roots() {
        let certs = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(certs.len() > 100, "{} roots", certs.len());
        let parsed = from_certs(certs.to_vec());
        assert_eq!(
            parsed.accepted.len(),
            certs.len(),
            "every certificate parses"
        );
        let key = |a: &rustls::pki_types::TrustAnchor<'_>| {
            (a.subject.to_vec(), a.subject_public_key_info.to_vec())
        };
        let mut from_certs: Vec<_> = parsed.store.roots.iter().map(key).collect();
        let mut anchors: Vec<_> = compiled_in().store.roots.iter().map(key).collect();
        from_certs.sort();
        anchors.sort();
        assert_eq!(from_certs, anchors);
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
