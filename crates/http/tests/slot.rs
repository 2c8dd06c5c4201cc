//! The binding's `startHttp`/`stopHttp` rules, held by `enttok_http::Slot`.

use enttok_core::{Backend, Config, Error};
use enttok_http::Slot;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_validates_refuses_a_second_start_and_wires_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.scheduler = false;
    let backend = Backend::open(config).await.unwrap();
    let slot = Slot::new();

    let Err(Error::Validation(items)) = slot
        .start(&backend, &json!({"port": 70000, "token": ""}))
        .await
    else {
        panic!("bad options must be invalid input")
    };
    let locs: Vec<_> = items.iter().map(|i| i["loc"].clone()).collect();
    assert_eq!(
        locs,
        vec![json!(["options", "port"]), json!(["options", "token"])]
    );

    let info = slot.start(&backend, &json!(null)).await.unwrap();
    let port = info["port"].as_u64().unwrap();
    assert_eq!(info["url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(
        info.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["port", "token", "url"]
    );
    let config = backend.mcp_config().unwrap();
    assert!(
        config.to_string().contains(&format!("127.0.0.1:{port}")),
        "{config}"
    );
    assert!(matches!(
        slot.start(&backend, &json!({})).await,
        Err(Error::Conflict(m)) if m == "the HTTP adapter is already running"
    ));

    slot.stop(&backend).await.unwrap();
    assert!(matches!(backend.mcp_config(), Err(Error::Conflict(_))));
    // Stopped: a new start works, and a stop after close is E_CLOSED.
    slot.start(&backend, &json!({})).await.unwrap();
    slot.shutdown(&backend).await;
    backend.close().await.unwrap();
    assert!(matches!(slot.stop(&backend).await, Err(Error::Closed)));
    assert!(matches!(
        slot.start(&backend, &json!({})).await,
        Err(Error::Closed)
    ));
}
