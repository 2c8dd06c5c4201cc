//! The shared outbound client (`enttok_core::net`): timeouts, retries, cancellation.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use enttok_core::jobs::{Abort, AbortReason};
use enttok_core::net::{ClientOptions, HttpClient, Method, NetError, Request, RetryPolicy};
use serde_json::json;

fn fast_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            max_retries: 2,
            server_error_delays: vec![Duration::from_millis(10)],
            default_retry_after: Some(Duration::from_millis(10)),
            min_retry_after: Duration::from_millis(10),
            max_retry_after: Duration::from_millis(50),
            retry_after_on_server_errors: false,
        },
        max_body_bytes: 1024,
        use_env_proxy: false,
    }
}

#[tokio::test]
async fn timeout_retries_cancel_and_limits() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let route: Route = Arc::new(move |req: &Recorded| match req.path.as_str() {
        "/slow" => Reply::json(200, &json!({})).delayed(Duration::from_secs(5)),
        "/flaky" => {
            if c.fetch_add(1, Ordering::SeqCst) < 2 {
                Reply::raw(502, "text/plain", "bad gateway")
            } else {
                Reply::json(200, &json!({"ok": true}))
            }
        }
        "/always429" => {
            Reply::raw(429, "text/plain", "slow down").with_header("retry-after", "3600")
        }
        "/big" => Reply::raw(200, "application/json", &"x".repeat(4096)),
        "/empty" => Reply::raw(200, "application/json", ""),
        _ => Reply::json(404, &json!({})),
    });
    let server = FakeServer::start(route).await;
    let client = HttpClient::new(fast_options()).unwrap();
    let req = |path: &str| Request::new(Method::Get, &server.base(), path).unwrap();

    // The answer would come after 5 s: the 300 ms request timeout ends it first.
    assert_eq!(
        client.send(&req("/slow"), None).await.unwrap_err(),
        NetError::Timeout
    );

    let ok = client.send(&req("/flaky"), None).await.unwrap();
    assert_eq!((ok.status, ok.json().unwrap()), (200, json!({"ok": true})));
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Retry-After (an hour) is bounded by the policy (50 ms); after the retries the 429 is the
    // answer. The timeout only guards against waiting the hour.
    let limited = tokio::time::timeout(
        Duration::from_secs(60),
        client.send(&req("/always429"), None),
    )
    .await
    .expect("Retry-After was not bounded")
    .unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(server.requests_to("/always429").len(), 3);
    let err = limited.error_for_status(5).unwrap_err();
    assert_eq!(err.to_string(), "HTTP 429: slow …");

    assert_eq!(
        client.send(&req("/big"), None).await.unwrap_err(),
        NetError::TooLarge
    );
    assert_eq!(
        client
            .send(&req("/empty"), None)
            .await
            .unwrap()
            .json()
            .unwrap(),
        serde_json::Value::Null
    );

    let abort = Abort::default();
    let fire = abort.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fire.fire(AbortReason::Canceled);
    });
    // With the default 20 s timeout, only the abort can end the 5 s wait with `Canceled`.
    let slow = HttpClient::with_defaults().unwrap();
    assert_eq!(
        slow.send(&req("/slow"), Some(&abort)).await.unwrap_err(),
        NetError::Canceled
    );

    assert_eq!(
        Request::new(Method::Get, "http://example.com", "/").unwrap_err(),
        NetError::Insecure
    );
    let err = Request::new(Method::Get, &server.base(), "/")
        .unwrap()
        .secret_header("authorization", "Basic a\nb")
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid value for header authorization");
    let debug = format!(
        "{:?}",
        req("/x")
            .secret_header("authorization", "Basic c2VjcmV0")
            .unwrap()
    );
    assert!(!debug.contains("c2VjcmV0"), "{debug}");
}
