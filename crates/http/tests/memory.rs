//! The `/memory/*` routes and `/mcp` over real HTTP on 127.0.0.1 (CONTRACT.md §15, §16).

mod common;

use common::Harness;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_routes_speak_the_original_json() {
    let h = Harness::start().await;
    let r = h
        .post("/memory/observations")
        .json(&json!({"title": "회의록", "narrative": "회의록을 정리했다", "type": "note", "source": "manual",
                      "event_time": "2026-01-01T00:00:00Z", "event_ts": enttok_core::time::now_ms() - 1000}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let id = r.json()["observation_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["created"], json!(true));
    let r = h.get(&format!("/memory/observations/{id}")).send().await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).starts_with("{\"title\":\"회의록\",\"narrative\""));
    let r = h.get("/memory/observations/obs_nope").send().await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"detail": "Observation not found"}))
    );
    let r = h
        .get("/memory/observations?limit=500&type=note")
        .send()
        .await;
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "a bare list");
    assert_eq!(list[0]["relevance_score"], Value::Null);
    let r = h.get("/memory/observations?days_back=x").send().await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["query", "days_back"]));
    let r = h
        .post("/memory/observations/batch")
        .json(&json!({"ids": [id, id]}))
        .send()
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let r = h
        .post("/memory/search")
        .json(&json!({"query": "회의 ? \"AND"}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["total"], 1);
    assert_eq!(body["mode"], "hybrid");
    assert_eq!(body["results"][0]["snippet"], "회의록을 정리했다");
    let keys: Vec<&str> = body["results"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "observation_id",
            "title",
            "snippet",
            "type",
            "source",
            "event_time",
            "score"
        ]
    );
    let r = h
        .post("/memory/search")
        .json(&json!({"query": "x", "search_mode": "bogus"}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "enum");
    let r = h.post("/memory/search").send().await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body"]));
    let r = h
        .post("/memory/timeline")
        .json(&json!({"anchor_id": id, "depth_before": 0, "depth_after": 0}))
        .send()
        .await;
    assert_eq!(r.json()["observations"].as_array().unwrap().len(), 1);
    let r = h.get("/memory/stats").send().await;
    assert_eq!(r.json()["total_observations"], 1);
    assert_eq!(r.json()["observations_by_type"], json!({"note": 1}));
    let r = h
        .post("/memory/sync/process?window_minutes=15")
        .json(&json!({"window_minutes": 60}))
        .send()
        .await;
    assert_eq!(
        r.json()["message"],
        "Processing events from last 15 minutes",
        "the query wins; the body is ignored"
    );
    let r = h
        .post("/memory/sync/process?window_minutes=-5")
        .send()
        .await;
    assert_eq!(r.status, 422);
    let r = h.post("/memory/sync/chroma").send().await;
    assert_eq!(r.json()["message"], "ChromaDB sync started");
    let r = h
        .post("/memory/sync/github")
        .json(&json!({"prs": {"authored": [{"number": 1, "title": "T", "repository": "o/r", "updatedAt": "2026-01-01T00:00:00Z"}], "reviewed": []}, "commits": []}))
        .send()
        .await;
    assert_eq!(
        r.json(),
        json!({"success": true, "processed": {"prs_authored": 1, "prs_reviewed": 0, "commits": 0}, "total": 1})
    );
    let r = h.post("/memory/sync/github").json(&json!([])).send().await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "dict_type");
    let r = h
        .post("/memory/sync/claude-sessions")
        .json(&json!({"sessions": [{"id": "a"}]}))
        .send()
        .await;
    assert_eq!(r.json(), json!({"success": true, "processed": 1}));
    let r = h.delete(&format!("/memory/observations/{id}")).send().await;
    assert_eq!(r.json(), json!({"deleted": true, "observation_id": id}));
    let r = h
        .get("/memory/stats")
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 401);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_streamable_http() {
    let h = Harness::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = h.post("/mcp").json(&init).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["serverInfo"]["name"], "enttok-memory");
    let bearer = format!("Bearer {}", h.token());
    let r = h
        .post("/mcp")
        .without("X-Backend-Token")
        .header("Authorization", &bearer)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await;
    assert_eq!(r.json()["result"]["tools"].as_array().unwrap().len(), 4);
    let r = h
        .post("/mcp")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());
    for wrong in [
        ("X-Backend-Token", "nope"),
        ("Authorization", "Bearer nope"),
    ] {
        let r = h
            .post("/mcp")
            .without("X-Backend-Token")
            .header(wrong.0, wrong.1)
            .json(&init)
            .send()
            .await;
        assert_eq!(r.status, 401, "{wrong:?}");
    }
    let r = h.post("/mcp").raw(b"{nope").send().await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!(-32700))
    );
    let r = h.get("/mcp").send().await;
    assert_eq!(r.status, 405);
    let r = h
        .post("/mcp")
        .header("Origin", "http://evil.example")
        .json(&init)
        .send()
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .post("/mcp")
        .header("Host", "evil.example")
        .json(&init)
        .send()
        .await;
    assert_eq!(r.status, 403);
    h.close().await;
}
