//! Every route's happy path and errors over real HTTP on 127.0.0.1.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn health_and_status() {
    let h = Harness::start().await;
    let r = h.get("/health").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.assert_security_headers();
    let body = r.json();
    assert_eq!(body["status"], "ok");
    let time = body["time"].as_str().unwrap();
    assert_eq!(time.len(), 20, "{time}");
    assert!(time.ends_with('Z'));
    // Compact JSON, keys in contract order.
    assert!(
        r.text().starts_with(r#"{"status":"ok","time":""#),
        "{}",
        r.text()
    );

    let r = h.get("/status").send().await;
    assert_eq!(r.status, 200);
    let s = r.json();
    assert_eq!(s["queue_depth"], 0);
    assert_eq!(s["workers"], json!({"active":0,"idle":2}));
    assert_eq!(s["scheduler"], json!({"running":false,"jobs":0}));
    assert_eq!(s["waiting_for_handler"], json!({}));
    assert!(r.text().starts_with(r#"{"uptime_sec":"#));
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_get_update_and_validation() {
    let h = Harness::start().await;
    let r = h.get("/settings").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["atlassian_sync_interval_sec"], 600);

    let r = h
        .post("/settings")
        .json(&json!({"claude_max_concurrent": 4, "calendar_sync_interval_sec": "0"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["claude_max_concurrent"], 4);
    assert_eq!(r.json()["calendar_sync_interval_sec"], 0);
    let again = h.get("/settings").send().await.json();
    assert_eq!(again["claude_max_concurrent"], 4);
    // The same object the facade answers.
    assert_eq!(
        again,
        serde_json::to_value(h.backend.get_settings().await.unwrap()).unwrap()
    );

    let r = h
        .post("/settings")
        .json(&json!({"claude_max_concurrent": 99}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    let items = r.json()["detail"].as_array().unwrap().clone();
    assert_eq!(items[0]["loc"], json!(["body", "claude_max_concurrent"]));
    assert!(items[0].get("url").is_none());

    // Missing body.
    let r = h.post("/settings").send().await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]})
    );
    h.close().await;
}

async fn wait_status(h: &Harness, id: &str, want: &str) -> Value {
    for _ in 0..200 {
        let job = h.get(&format!("/jobs/{id}")).send().await.json();
        if job["status"] == want {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never reached {want}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_lifecycle() {
    let h = Harness::start().await;
    let r = h
        .post("/jobs")
        .json(&json!({"type":"demo","payload":{"simulate_ms":100}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let created = r.json();
    assert_eq!(created["status"], "queued");
    let id = created["job_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("job_") && id.len() == 36);
    assert_eq!(
        r.text(),
        format!(r#"{{"job_id":"{id}","status":"queued"}}"#)
    );

    let job = wait_status(&h, &id, "succeeded").await;
    let keys: Vec<&str> = job
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "job_id",
            "type",
            "status",
            "created_at",
            "updated_at",
            "progress",
            "message",
            "payload",
            "result",
            "error"
        ]
    );
    assert_eq!(job["payload"], json!({"simulate_ms":100}));
    assert_eq!(job["progress"], json!(1.0));

    let list = h.get("/jobs").send().await;
    assert_eq!(list.status, 200);
    let jobs = list.json()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["job_id"], id.as_str());
    let filtered = h.get("/jobs?status=queued&limit=5").send().await.json();
    assert_eq!(filtered, json!({"jobs": []}));
    let by_type = h
        .get("/jobs?type=demo&status=succeeded")
        .send()
        .await
        .json();
    assert_eq!(by_type["jobs"].as_array().unwrap().len(), 1);

    let events = h.get(&format!("/jobs/{id}/events")).send().await;
    assert_eq!(events.status, 200);
    let events = events.json()["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    assert_eq!(events[0]["job_id"], id.as_str());
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Cancel of a final job is a no-op answering the status.
    let r = h.post(&format!("/jobs/{id}/cancel")).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"job_id": id, "status": "succeeded"}));

    // Cancel of a running job ends it canceled.
    let r = h
        .post("/jobs")
        .json(&json!({"type":"demo","payload":{"simulate_ms":20000}}))
        .send()
        .await;
    let long = r.json()["job_id"].as_str().unwrap().to_string();
    wait_status(&h, &long, "running").await;
    let r = h.post(&format!("/jobs/{long}/cancel")).send().await;
    assert_eq!(r.status, 200);
    wait_status(&h, &long, "canceled").await;
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn job_errors() {
    let h = Harness::start().await;
    let missing = "job_00000000000000000000000000000000";
    h.get(&format!("/jobs/{missing}"))
        .send()
        .await
        .assert_detail(404, "job not found");
    h.post(&format!("/jobs/{missing}/cancel"))
        .send()
        .await
        .assert_detail(404, "job not found");
    h.get(&format!("/jobs/{missing}/events"))
        .send()
        .await
        .assert_detail(404, "job not found");
    // Percent-decoded path parameter.
    h.get("/jobs/job%5Fnope")
        .send()
        .await
        .assert_detail(404, "job not found");

    let r = h.post("/jobs").json(&json!({"type":"foo"})).send().await;
    assert_eq!(r.status, 422);
    let item = &r.json()["detail"][0];
    assert_eq!(item["type"], "value_error");
    assert_eq!(item["loc"], json!(["body", "type"]));
    assert_eq!(item["ctx"], json!({"error": "unknown job type"}));
    assert!(item["msg"].as_str().unwrap().contains("known types: "));

    let r = h.post("/jobs").json(&json!({"payload": {}})).send().await;
    assert_eq!(
        r.json(),
        json!({"detail":[{"type":"missing","loc":["body","type"],"msg":"Field required","input":{"payload":{}}}]})
    );
    let r = h.post("/jobs").json(&json!({"type": ""})).send().await;
    assert_eq!(r.json()["detail"][0]["type"], "string_too_short");
    let r = h
        .post("/jobs")
        .json(&json!({"type": 5, "payload": 3}))
        .send()
        .await;
    let detail = r.json()["detail"].clone();
    let types: Vec<&str> = detail
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["string_type", "dict_type"]);

    // A JSON body that is not an object → exactly one item, as Pydantic answers.
    for body in [json!([1]), json!("demo"), json!(5)] {
        let r = h.post("/jobs").json(&body).send().await;
        assert_eq!(r.status, 422);
        assert_eq!(
            r.json(),
            json!({"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":body}]}),
            "{body}"
        );
    }
    // An out-of-range `run_at` answers the original parser's text.
    h.post("/jobs")
        .json(&json!({"type":"demo","run_at":"2024-02-30T00:00:00Z"}))
        .send()
        .await
        .assert_detail(400, "day is out of range for month");
    // Empty body → missing body.
    let r = h.post("/jobs").send().await;
    assert_eq!(
        r.json(),
        json!({"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]})
    );
    // Broken JSON → json_invalid with the character offset.
    let r = h.post("/jobs").raw(b"{\"type\": }").send().await;
    assert_eq!(r.status, 422);
    let item = &r.json()["detail"][0];
    assert_eq!(item["type"], "json_invalid");
    assert_eq!(item["loc"], json!(["body", 9]));
    assert_eq!(item["input"], json!({}));
    assert!(item["ctx"]["error"].is_string());
    // A non-JSON content type leaves a raw string.
    let r = h
        .post("/jobs")
        .header("Content-Type", "text/plain")
        .raw(br#"{"type":"demo"}"#)
        .send()
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "model_attributes_type");
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body"]));
    // `application/*+json` is JSON.
    let r = h
        .post("/jobs")
        .header(
            "Content-Type",
            "application/merge-patch+json; charset=utf-8",
        )
        .raw(br#"{"type":"demo"}"#)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Query validation of GET /jobs.
    let r = h.get("/jobs?limit=0&status=nope").send().await;
    assert_eq!(r.status, 422);
    let detail = r.json()["detail"].clone();
    let locs: Vec<Value> = detail
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["loc"].clone())
        .collect();
    assert!(locs.contains(&json!(["query", "status"])));
    assert!(locs.contains(&json!(["query", "limit"])));
    let r = h.get("/jobs?limit=abc").send().await;
    assert_eq!(r.json()["detail"][0]["type"], "int_parsing");
    assert_eq!(r.json()["detail"][0]["input"], "abc");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_lists_every_route_and_is_public() {
    let h = Harness::start().await;
    let r = h
        .get("/openapi.json")
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 200);
    r.assert_security_headers();
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    let table = enttok_http::routes::all();
    assert!(table.len() >= 11);
    for route in &table {
        let op = &paths[route.path][route.method.as_str().to_ascii_lowercase()];
        assert!(op.is_object(), "{} {} missing", route.method, route.path);
        assert!(op["responses"].is_object());
        assert!(op["operationId"].is_string());
        for name in route.path_params() {
            assert!(op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == name && p["in"] == "path"));
        }
    }
    // Nothing documented that the router does not serve: every documented operation answers
    // something other than 404/405 (with the token).
    let mut count = 0;
    for (path, ops) in paths {
        for (method, _) in ops.as_object().unwrap() {
            count += 1;
            // Every `{param}` segment becomes an id that exists nowhere.
            let concrete: Vec<String> = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "x_00000000000000000000000000000000".to_string()
                    } else {
                        seg.to_string()
                    }
                })
                .collect();
            let concrete = concrete.join("/");
            let r = h.req(&method.to_ascii_uppercase(), &concrete).send().await;
            assert!(
                r.status != 405 && !(r.status == 404 && r.text().contains("Not Found")),
                "{method} {path}: {}",
                r.status
            );
        }
    }
    assert_eq!(count, table.len());
    // operationIds are unique.
    let mut ids: Vec<String> = paths
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap().to_string())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
    // Every $ref resolves inside the document.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{r}");
    }
    // Only the two routes the contract names may skip the token (§3.2 step 5).
    for route in &table {
        if route.access == enttok_http::router::Access::Public {
            assert!(
                ["/openapi.json", "/calendar/oauth/google/callback"].contains(&route.path),
                "{} must not be public",
                route.path
            );
        }
    }
    // The public ones say so.
    assert_eq!(paths["/openapi.json"]["get"]["security"], json!([]));
    assert!(paths["/jobs"]["get"].get("security").is_none());
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_routes_are_404() {
    // (The memory routes exist since issue 14: tests/memory.rs.)
    let h = Harness::start().await;
    for (method, path) in [
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("GET", "/"),
    ] {
        let r = h.req(method, path).send().await;
        r.assert_detail(404, "Not Found");
        r.assert_security_headers();
    }
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_backend_answers_503() {
    let h = Harness::start().await;
    h.backend.close().await.unwrap();
    h.get("/health")
        .send()
        .await
        .assert_detail(503, "backend closed");
    h.get("/jobs")
        .send()
        .await
        .assert_detail(503, "backend closed");
    h.server.stop().await;
}
