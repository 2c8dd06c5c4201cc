//! Confluence sync against a local fake of the Confluence Cloud REST API (real wire format).

mod common;

use std::sync::Arc;

use common::*;
use enttok_core::testing::wait_final;
use serde_json::{json, Value};

const EMAIL: &str = "me@example.com";
const TOKEN: &str = "conf-SECRET-456";
const ME: &str = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077";
const OTHER: &str = "557058:0d2d4b8a-0000-0000-0000-000000000000";
const CONTENT_CQL: &str = r#"type in ("page","blogpost") AND (creator = currentUser() OR lastmodifiedby = currentUser()) AND lastmodified >= now("-7d") ORDER BY lastmodified DESC"#;
const COMMENT_CQL: &str =
    r#"type = comment AND creator = currentUser() AND created >= now("-7d") ORDER BY created DESC"#;

fn user(id: &str, name: &str) -> Value {
    json!({"type": "known", "accountId": id, "accountType": "atlassian", "email": "",
           "publicName": name, "displayName": name, "isExternalCollaborator": false,
           "profilePicture": {"path": "/wiki/aa-avatar/x", "width": 48, "height": 48, "isDefault": false},
           "_links": {"self": format!("https://acme.atlassian.net/wiki/rest/api/user?accountId={id}")}})
}

fn content(
    id: &str,
    ctype: &str,
    title: &str,
    created: (Value, i64),
    version: (Value, i64, Value),
    webui: &str,
) -> Value {
    json!({
        "content": {
            "id": id, "type": ctype, "status": "current", "title": title,
            "history": {"latest": true, "createdBy": created.0, "createdDate": atl_time(created.1).0},
            "version": {"by": version.0, "when": atl_time(version.1).0, "number": version.2, "minorEdit": false},
            "_links": {"webui": webui, "self": format!("https://acme.atlassian.net/wiki/rest/api/content/{id}"), "tinyui": "/x/AbC"},
            "_expandable": {"container": "", "space": "/rest/api/space/TEAM"}
        },
        "title": title, "excerpt": "…", "url": webui,
        "resultGlobalContainer": {"title": "Team Space", "displayUrl": "/spaces/TEAM"},
        "breadcrumbs": [], "entityType": "content", "iconCssClass": "aui-icon content-type-page",
        "lastModified": atl_time(version.1).0, "friendlyLastModified": "about an hour ago", "score": 0.0
    })
}

fn comment(id: &str, by: Value, ago: i64, container: Option<&str>, wrapped: bool) -> Value {
    let mut c = json!({
        "id": id, "type": "comment", "status": "current", "title": format!("Re: {}", container.unwrap_or("?")),
        "history": {"latest": true, "createdBy": by, "createdDate": atl_time(ago).0},
        "_links": {"webui": format!("/spaces/TEAM/pages/1?focusedCommentId={id}")}
    });
    if let Some(t) = container {
        c["container"] = json!({"id": "1", "type": "page", "title": t});
    }
    if wrapped {
        json!({"content": c, "title": c["title"].clone(), "entityType": "content"})
    } else {
        c
    }
}

fn page(results: Vec<Value>, start: usize, total: usize) -> Value {
    json!({"results": results.clone(), "start": start, "limit": 50, "size": results.len(), "totalSize": total,
           "cqlQuery": "…", "searchDuration": 42,
           "_links": {"base": "https://acme.atlassian.net/wiki", "context": "/wiki"}})
}

fn route() -> Route {
    let me = user(ME, "Me Myself");
    let other = user(OTHER, "Other Person");
    let content_pages = vec![
        page(
            vec![
                content(
                    "111",
                    "page",
                    "Roadmap",
                    (me.clone(), 7200),
                    (me.clone(), 3600, json!(3)),
                    "/spaces/TEAM/pages/111/Roadmap",
                ),
                content(
                    "222",
                    "blogpost",
                    "Release notes",
                    (me.clone(), 1800),
                    (me.clone(), 1800, json!(1)),
                    "/spaces/TEAM/blog/222",
                ),
            ],
            0,
            4,
        ),
        page(
            vec![
                content(
                    "333",
                    "page",
                    "Design",
                    (other.clone(), 10_800),
                    (me.clone(), 1200, json!(5)),
                    "https://acme.atlassian.net/wiki/spaces/TEAM/pages/333",
                ),
                content(
                    "444",
                    "page",
                    "",
                    (other.clone(), 10_800),
                    (me.clone(), 900, json!("7")),
                    "/spaces/TEAM/pages/444",
                ),
            ],
            2,
            4,
        ),
    ];
    let comment_pages = vec![page(
        vec![
            comment("555", me.clone(), 600, Some("Design doc"), true),
            comment("666", other.clone(), 500, Some("Design doc"), true),
            comment("777", me.clone(), 10 * 86400, None, true),
            comment("888", me.clone(), 400, None, false),
        ],
        0,
        4,
    )];
    let mut current = me.clone();
    current["_expandable"] = json!({"operations": "", "personalSpace": ""});
    Arc::new(move |req: &Recorded| {
        if req.header("authorization") != Some(basic(EMAIL, TOKEN).as_str()) {
            return Reply::json(401, &json!({"statusCode": 401, "message": "Unauthorized"}));
        }
        match req.path.as_str() {
            "/wiki/rest/api/user/current" => Reply::json(200, &current),
            "/wiki/rest/api/search" => {
                let start: usize = req.param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
                let pages = if req.param("cql") == Some(CONTENT_CQL) {
                    &content_pages
                } else {
                    &comment_pages
                };
                let i = if start == 0 { 0 } else { 1 };
                pages
                    .get(i)
                    .map(|p| Reply::json(200, p))
                    .unwrap_or_else(|| Reply::json(200, &page(vec![], start, 0)))
            }
            _ => Reply::json(404, &json!({"statusCode": 404})),
        }
    })
}

#[tokio::test]
async fn pages_blogposts_updates_and_comments() {
    let server = FakeServer::start(route()).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account = backend
        .add_confluence_account(&json!({"org": "acme", "email": EMAIL, "api_token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(account.service, "confluence");
    let account_id = account.account_id;
    let created = backend.sync_confluence_account(&account_id).await.unwrap();
    let job = wait_final(&backend, &created.job_id).await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.payload, json!({"account_id": account_id}));
    assert_eq!(job.message.as_deref(), Some("Synced 7 Confluence events"));
    assert_eq!(
        job.result,
        json!({"account_id": account_id, "synced_events": 7})
    );

    let searches = server.requests_to("/wiki/rest/api/search");
    let summary: Vec<(String, String, String, String)> = searches
        .iter()
        .map(|r| {
            (
                r.param("cql").unwrap().into(),
                r.param("start").unwrap().into(),
                r.param("limit").unwrap().into(),
                r.param("expand").unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                CONTENT_CQL.into(),
                "0".into(),
                "50".into(),
                "content.history,content.version,content._links".into()
            ),
            (
                CONTENT_CQL.into(),
                "2".into(),
                "50".into(),
                "content.history,content.version,content._links".into()
            ),
            (
                COMMENT_CQL.into(),
                "0".into(),
                "50".into(),
                "content.history,content.container,content._links".into()
            ),
        ]
    );
    assert!(searches
        .iter()
        .all(|r| r.header("content-type") == Some("application/json")
            && r.header("accept") == Some("application/json")));

    let rows = activity_rows(dir.path());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "confluence:comment:555",
            "confluence:comment:888",
            "confluence:created:111",
            "confluence:created:222",
            "confluence:updated:111:3",
            "confluence:updated:333:5",
            "confluence:updated:444",
        ]
    );
    let by_id = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    let base = server.base();
    let r = by_id("confluence:created:111");
    assert_eq!(
        (
            r[1].as_str(),
            r[2].as_str(),
            r[3].as_str(),
            r[4].as_str(),
            r[6].as_str()
        ),
        (
            Some("confluence"),
            Some("page.created"),
            Some("Roadmap"),
            Some("Content created"),
            Some("Me Myself")
        )
    );
    assert_eq!(r[5], json!(format!("{base}/spaces/TEAM/pages/111/Roadmap")));
    assert_eq!(
        serde_json::from_str::<Value>(r[10].as_str().unwrap()).unwrap(),
        json!({"content_id": "111", "type": "page"})
    );
    let r = by_id("confluence:created:222");
    assert_eq!(r[2], "blogpost.created");
    let r = by_id("confluence:updated:111:3");
    assert_eq!(
        (r[2].as_str(), r[4].as_str()),
        (Some("page.updated"), Some("Content updated"))
    );
    assert_eq!(r[8], json!(atl_time(3600).1));
    let r = by_id("confluence:updated:333:5");
    assert_eq!(
        r[5],
        "https://acme.atlassian.net/wiki/spaces/TEAM/pages/333"
    );
    assert_eq!(by_id("confluence:updated:444")[3], "Untitled page");
    let r = by_id("confluence:comment:555");
    assert_eq!(
        (r[2].as_str(), r[3].as_str(), r[4].as_str()),
        (
            Some("comment.created"),
            Some("Re: Design doc"),
            Some("Commented on Design doc")
        )
    );
    assert_eq!(
        serde_json::from_str::<Value>(r[10].as_str().unwrap()).unwrap(),
        json!({"content_id": "555", "container": "Design doc"})
    );
    assert_eq!(by_id("confluence:comment:888")[4], "Comment added");

    let listed = backend.list_confluence_accounts().await.unwrap();
    assert!(listed[0].last_sync_at.is_some());

    // Manual syncs are incremental too: nothing newer than last_sync_at.
    let again = backend.sync_confluence_account(&account_id).await.unwrap();
    let again = wait_final(&backend, &again.job_id).await;
    assert_eq!(again.result["synced_events"], 0);
    assert_eq!(activity_rows(dir.path()), rows);
    backend.close().await.unwrap();
}

#[tokio::test]
async fn confluence_credential_errors() {
    let server = FakeServer::start(route()).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let err = backend
        .add_confluence_account(&json!({"org": "acme", "email": EMAIL, "api_token": "wrong"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.code(), "E_UPSTREAM");
    assert_eq!(
        err.to_string(),
        r#"Confluence connection failed: Atlassian API error 401: {"statusCode":401,"message":"Unauthorized"}"#
    );
    assert!(backend.list_confluence_accounts().await.unwrap().is_empty());
    // A Confluence id is not a Jira account.
    let account = backend
        .add_confluence_account(&json!({"org": "acme", "email": EMAIL, "api_token": TOKEN}))
        .await
        .unwrap();
    let err = backend
        .sync_jira_account(&account.account_id, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string()),
        (404, "jira account not found".to_string())
    );
    let err = backend
        .delete_jira_account(&account.account_id)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "jira account not found");
    let err = backend
        .sync_confluence_account("atl_missing")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "confluence account not found");
    assert_eq!(
        backend
            .delete_confluence_account(&account.account_id)
            .await
            .unwrap(),
        json!({"ok": true})
    );
    backend.close().await.unwrap();
}
