//! Which TLS certificates the connector trusts: the simulated API behind a TLS front on
//! 127.0.0.1 whose certificate comes from a CA this test makes. The binary trusts that CA when
//! `advanced.ca_certificate` holds it, or when it is in the system's store (SSL_CERT_FILE, which
//! the system store honours); without either, the check fails at once (one connection, no
//! retries) with a message that says the certificate could not be verified and how to fix it.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{sim_config, temp_json, BINARY};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, SimConfig};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// A CA made for one test, and the simulated API behind a TLS front whose certificate (for
/// 127.0.0.1) that CA signed.
struct TlsFront {
    ca_pem: String,
    base_url: String,
    /// TLS connections the front accepted.
    connections: Arc<AtomicUsize>,
    _sim: simulator::SimHandle,
}

async fn tls_front() -> TlsFront {
    let sim = simulator::spawn(SimConfig {
        data: DataShape {
            advertisers: 2,
            ..DataShape::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let upstream: SocketAddr = sim
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "source-tiktok-marketing test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    TlsFront {
        ca_pem: ca.pem(),
        base_url: format!("https://{address}"),
        connections,
        _sim: sim,
    }
}

/// Runs `check` with this config and extra environment; no SSL_CERT_FILE or SSL_CERT_DIR
/// from the test's own environment reaches it. Returns the connection status and stderr.
fn check(config: &Value, env: &[(&str, &str)]) -> (Value, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_json(&dir, "config.json", config);
    let started = Instant::now();
    let output = Command::new(BINARY)
        .args(["check", "--config", &path])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "check exits 0:\n{stderr}");
    let status = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|m| m["type"] == "CONNECTION_STATUS")
        .unwrap_or_else(|| panic!("no CONNECTION_STATUS in:\n{stdout}\n{stderr}"));
    (status["connectionStatus"].clone(), stderr, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_in_advanced_ca_certificate_is_trusted() {
    let front = tls_front().await;
    let config = sim_config(
        &front.base_url,
        "2024-01-01",
        json!({"advanced": {"ca_certificate": front.ca_pem}}),
    );
    let (status, stderr, _) = tokio::task::spawn_blocking(move || check(&config, &[]))
        .await
        .unwrap();
    assert_eq!(status["status"], "SUCCEEDED", "{status}\n{stderr}");
    assert!(front.connections.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_in_the_system_store_is_trusted() {
    let front = tls_front().await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca-certificates.crt");
    std::fs::write(&bundle, &front.ca_pem).unwrap();
    let config = sim_config(&front.base_url, "2024-01-01", json!({}));
    let (status, stderr, _) = tokio::task::spawn_blocking(move || {
        check(&config, &[("SSL_CERT_FILE", bundle.to_str().unwrap())])
    })
    .await
    .unwrap();
    assert_eq!(status["status"], "SUCCEEDED", "{status}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_nobody_vouches_for_fails_at_once_and_says_how_to_fix_it() {
    let front = tls_front().await;
    let config = sim_config(&front.base_url, "2024-01-01", json!({}));
    let (status, stderr, took) = tokio::task::spawn_blocking(move || check(&config, &[]))
        .await
        .unwrap();
    assert_eq!(status["status"], "FAILED", "{status}");
    let message = status["message"].as_str().unwrap();
    for needle in [
        "could not be verified",
        "UnknownIssuer",
        "advanced.ca_certificate",
        "SSL_CERT_FILE",
        "Not retried",
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert!(
        !message.contains("unavailable"),
        "not reported as an outage: {message}"
    );
    // One connection, one refused handshake: a retry would have made more.
    assert_eq!(front.connections.load(Ordering::SeqCst), 1, "{stderr}");
    assert!(took < Duration::from_secs(10), "failed in {took:?}");
}

#[test]
fn ca_certificate_must_be_pem_certificates() {
    let mut config = sim_config("https://127.0.0.1:9", "2024-01-01", json!({}));
    for (value, why) in [
        ("not a certificate", "no -----BEGIN CERTIFICATE-----"),
        (
            "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
            "not valid PEM",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n",
            "cannot be read",
        ),
    ] {
        config["advanced"]["ca_certificate"] = json!(value);
        let err = source_tiktok_marketing::config::parse(&config)
            .err()
            .unwrap_or_else(|| panic!("{value:?} accepted"))
            .to_string();
        assert!(err.contains("advanced.ca_certificate"), "{err}");
        assert!(err.contains(why), "{why:?} in {err}");
    }
    config["advanced"]["ca_certificate"] = json!("  ");
    let parsed = source_tiktok_marketing::config::parse(&config).unwrap();
    assert!(parsed.ca_certificates.is_empty(), "blank means none");
}
