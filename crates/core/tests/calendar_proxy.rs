//! Google calls honour `HTTPS_PROXY` and `NO_PROXY` (CONTRACT.md §8.3 with §9.1's client):
//! the calendar syncs through a local CONNECT proxy.
//!
//! The Google endpoints are `https://calendar.enttok.test/…`, a name that resolves nowhere:
//! only the proxy can reach it. The proxy answers `CONNECT`, ends the TLS session with a
//! certificate for that name (signed by a test CA that the clients trust through the
//! `test-support` hook) and forwards the plain bytes to the fake Google on 127.0.0.1.
//!
//! This file holds one test: the proxy variables are process-wide and read when a client is
//! built, so no other test may run beside it in this binary.

mod calendar_fake;

use std::sync::{Arc, Mutex};

use calendar_fake as fake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const HOST: &str = "calendar.enttok.test";
const CA: &[u8] = include_bytes!("fixtures/proxy-ca.pem");
const LEAF: &[u8] = include_bytes!("fixtures/proxy-leaf.pem");
const LEAF_KEY: &[u8] = include_bytes!("fixtures/proxy-leaf.key");

/// A CONNECT proxy on 127.0.0.1 that terminates TLS and forwards to `upstream`; it records
/// the target of every CONNECT.
async fn start_proxy(upstream: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = vec![CertificateDer::from_pem_slice(LEAF).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (acceptor, log, upstream) = (acceptor.clone(), Arc::clone(&log), upstream.clone());
            tokio::spawn(async move {
                // The CONNECT head, byte by byte: nothing of the TLS stream may be read here.
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if client.read_exact(&mut byte).await.is_err() || head.len() > 8192 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or_default().to_string();
                log.lock().unwrap().push(line.clone());
                if !line.starts_with(&format!("CONNECT {HOST}:443 ")) {
                    let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
                    return;
                }
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_syncs_through_an_https_proxy_and_no_proxy_bypasses_it() {
    enttok_core::net::test_support::trust_root_pem(CA);
    let (sim, base) = fake::start().await;
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        s.calendars = vec![fake::calendar("a@example.com", "A", "UTC", true)];
        let day = (chrono::Utc::now() + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        s.cals.insert(
            "a@example.com".into(),
            fake::Cal {
                full: vec![fake::timed(
                    "e1",
                    "through the proxy",
                    &format!("{day}T09:00:00Z"),
                    &format!("{day}T10:00:00Z"),
                )],
                next_token: "tok".into(),
                ..Default::default()
            },
        );
    }
    let upstream = base.trim_start_matches("http://").to_string();
    let (proxy, seen) = start_proxy(upstream).await;
    // SAFETY of the test: the only test of this binary, before any client exists.
    std::env::set_var("HTTPS_PROXY", &proxy);
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");

    let remote = format!("https://{HOST}");
    let config = |dir: &std::path::Path| {
        let mut c = fake::config(dir, &base, None);
        c.endpoints.google_token_url = format!("{remote}/token");
        c.endpoints.google_userinfo_url = format!("{remote}/userinfo");
        c.endpoints.google_calendar_api = format!("{remote}/calendar/v3");
        c
    };

    let dir = tempfile::tempdir().unwrap();
    let b = enttok_core::Backend::open(config(dir.path()))
        .await
        .unwrap();
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(job.result["synced_events"], 1, "{:?}", job.result);
    let tunnels = seen.lock().unwrap().clone();
    assert!(
        tunnels.len() >= 2,
        "calendar list and events each through a tunnel: {tunnels:?}"
    );
    assert!(
        tunnels
            .iter()
            .all(|l| l == &format!("CONNECT {HOST}:443 HTTP/1.1")),
        "{tunnels:?}"
    );
    {
        let s = sim.lock().unwrap();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert!(s
            .requests
            .iter()
            .any(|r| r.raw_path.ends_with("/calendar/v3/users/me/calendarList")));
    }
    b.close().await.unwrap();

    // `NO_PROXY` naming the host: a client built now goes direct, and the name resolves
    // nowhere, so the sync fails without touching the proxy.
    std::env::set_var("NO_PROXY", HOST);
    let before = seen.lock().unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let b = enttok_core::Backend::open(config(dir.path()))
        .await
        .unwrap();
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "failed");
    let message = job.error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Google Calendar API request failed: "),
        "{message}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);
    b.close().await.unwrap();
}
