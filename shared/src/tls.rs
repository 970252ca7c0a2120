//! The roots of trust for outbound HTTPS, read once per process and shared by both HTTP stacks:
//! the AWS SDK's client (DynamoDB, Secrets Manager) and reqwest (Plaid).
//!
//! Left to themselves, both stacks read the system store while they are built (the SDK through
//! rustls-native-certs, reqwest through rustls-platform-verifier, which on Linux is the same
//! crate): the bundle file and every file of the certificate directory, twice per cold start.
//! Here they are read once, with the same crate and so with the same rules:
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` when set (how a custom CA, a TLS-inspecting proxy's say, is
//! trusted), else the platform's usual locations. Verification stays webpki against these roots,
//! as before; nothing is compiled in.
//!
//! The roots are read the first time either client is built and kept for the life of the process
//! (a Lambda execution environment), as the SDK already did with its own copy. That one load is
//! still most of what the store costs a cold start: the second read was the cheaper one, with the
//! code and the heap already warm (measured: init 0.9 ms shorter, 147 files opened instead of 294).

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use base64::Engine as _;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error(
        "no trusted root certificate was found (SSL_CERT_FILE, SSL_CERT_DIR or the system store)"
    )]
    NoRoots,
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The roots, in the two forms the clients take.
struct Roots {
    /// For reqwest's rustls config.
    store: Arc<RootCertStore>,
    /// The same certificates as PEM: all the SDK's http client accepts besides "native roots",
    /// which would read the system store a second time.
    pem: Vec<u8>,
}

fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        // As reqwest and the SDK did: an unreadable file is reported, the rest still trusted.
        for error in &loaded.errors {
            tracing::warn!(error = %error, "could not read a trusted root certificate");
        }
        let roots = from_certs(loaded.certs);
        tracing::debug!(
            roots = roots.store.len(),
            "trusted root certificates loaded"
        );
        roots
    })
}

fn from_certs(certs: Vec<CertificateDer<'static>>) -> Roots {
    let mut store = RootCertStore::empty();
    let mut pem = Vec::with_capacity(certs.len() * 2048);
    let mut ignored = 0usize;
    for cert in certs {
        let mark = pem.len();
        push_pem(&mut pem, &cert);
        // Only what parses as a trust anchor reaches the SDK: its http client panics on a
        // certificate it cannot parse, where reqwest skipped it.
        if store.add(cert).is_err() {
            pem.truncate(mark);
            ignored += 1;
        }
    }
    if ignored > 0 {
        tracing::warn!(ignored, "root certificates that do not parse were ignored");
    }
    Roots {
        store: Arc::new(store),
        pem,
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
pub fn sdk_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    let mut trust = TrustStore::empty().with_native_roots(false);
    let pem = &roots().pem;
    if !pem.is_empty() {
        trust = trust.with_pem_certificate(pem.as_slice());
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with only a trust store always builds");
    Builder::new().build_with_connector_fn(move |settings, components| {
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
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.pem)
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
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![good]);
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
