//! The transcript library (CONTRACT.md §11.3) on generated Claude Code project directories.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use enttok_core::{Backend, Config};
use serde_json::{json, Value};

fn rec(v: Value) -> String {
    v.to_string()
}

fn user(uuid: &str, parent: Option<&str>, ts: &str, content: Value, extra: Value) -> String {
    let mut r = json!({
        "parentUuid": parent, "isSidechain": false, "userType": "external",
        "cwd": "/home/u/my.app", "sessionId": "1af7fc5e-8455-4414-9ccd-011d40f70b2a",
        "version": "2.1.38", "gitBranch": "main", "type": "user",
        "message": {"role": "user", "content": content}, "uuid": uuid, "timestamp": ts
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut r, extra) {
        m.extend(e);
    }
    rec(r)
}

fn assistant(uuid: &str, parent: &str, ts: &str, text: &str, extra: Value) -> String {
    let mut r = json!({
        "parentUuid": parent, "isSidechain": false, "cwd": "/home/u/my.app",
        "sessionId": "1af7fc5e-8455-4414-9ccd-011d40f70b2a", "gitBranch": "main",
        "type": "assistant", "uuid": uuid, "timestamp": ts,
        "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
                    "content": [{"type": "text", "text": text}, {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]}
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut r, extra) {
        m.extend(e);
    }
    rec(r)
}

fn write_lines(path: &Path, lines: &[String], mtime_secs_ago: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    set_age(path, mtime_secs_ago);
}

fn set_age(path: &Path, secs_ago: u64) {
    let f = File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
        .unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    backend: Backend,
}

/// The main session file: a summary, a slash command, the real question, an answer, a
/// sidechain with nested children, a meta record, a malformed and a blank line.
fn main_session() -> Vec<String> {
    vec![
        rec(json!({"type": "summary", "summary": "Fix the build", "leafUuid": "a1"})),
        user("c0", None, "2026-01-02T00:30:00.000Z",
             json!("<command-message>init is analyzing…</command-message>\n<command-name>/init</command-name>"), json!({})),
        user("m0", Some("c0"), "2026-01-02T00:30:01.000Z", json!("Caveat: meta"), json!({"isMeta": true})),
        user("u1", Some("m0"), "2026-01-02T00:30:02.000Z",
             json!([{"type": "text", "text": "why does the build fail?"}]), json!({})),
        "{not json at all".to_string(),
        "   ".to_string(),
        assistant("a1", "u1", "2026-01-02T00:30:05.000Z", "Let me check.", json!({})),
        user("s1", Some("a1"), "2026-01-02T00:30:06.000Z", json!("sub-agent prompt"), json!({"isSidechain": true})),
        assistant("s2", "s1", "2026-01-02T00:30:07.000Z", "sub-agent answer", json!({"isSidechain": null})),
        user("s3", Some("s2"), "2026-01-02T00:30:08.000Z",
             json!([{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]), json!({"isSidechain": null})),
        assistant("a2", "a1", "2026-01-02T00:31:00.000Z", "The lockfile is stale.", json!({})),
    ]
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude projects").join("projects");
    let app = root.join("-home-u-my-app");
    write_lines(&app.join("s1.jsonl"), &main_session(), 100);
    write_lines(
        &app.join("s2.jsonl"),
        &[user(
            "x1",
            None,
            "2026-01-05T10:00:00Z",
            json!("second session"),
            json!({"sessionId": "sess-2"}),
        )],
        10,
    );
    write_lines(
        &app.join("agent-1234.jsonl"),
        &[user(
            "g1",
            None,
            "2026-01-05T10:00:00Z",
            json!("agent file"),
            json!({}),
        )],
        1,
    );
    let odd = "/home/u/My Docs/projé.v2";
    write_lines(
        &root.join("-home-u-My-Docs-proj--v2").join("a b é.jsonl"),
        &[user(
            "o1",
            None,
            "2026-01-03T12:00:00Z",
            json!("odd path"),
            json!({"cwd": odd}),
        )],
        50,
    );
    let win = "C:\\Users\\me\\proj";
    write_lines(
        &root.join("C--Users-me-proj").join("w.jsonl"),
        &[user(
            "w1",
            None,
            "2026-01-04T12:00:00Z",
            json!("windows"),
            json!({"cwd": win, "gitBranch": "dev"}),
        )],
        50,
    );
    write_lines(
        &root.join("-opt-agent-only").join("agent-9.jsonl"),
        &[user(
            "g2",
            None,
            "2026-01-04T12:00:00Z",
            json!("agent"),
            json!({"cwd": "/opt/agent.only"}),
        )],
        50,
    );
    write_lines(
        &root.join("-srv-no-cwd").join("n.jsonl"),
        &[rec(
            json!({"type": "user", "message": {"role": "user", "content": "no cwd here"}, "timestamp": "2026-01-04T12:00:00Z"}),
        )],
        50,
    );
    let outside = dir.path().join("outside.jsonl");
    std::fs::write(
        &outside,
        user(
            "z",
            None,
            "2026-01-01T00:00:00Z",
            json!("secret"),
            json!({}),
        ) + "\n",
    )
    .unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.claude_projects_dir = root.clone();
    let backend = Backend::open(config).await.unwrap();
    Fixture {
        _dir: dir,
        root,
        outside,
        backend,
    }
}

#[tokio::test]
async fn projects_come_from_cwd_fields() {
    let f = fixture().await;
    let projects = f.backend.list_claude_projects().await.unwrap();
    assert_eq!(
        projects,
        // By directory name; `-srv-no-cwd` has no cwd anywhere, so its name is decoded (lossy).
        [
            "/home/u/My Docs/projé.v2",
            "/home/u/my.app",
            "/opt/agent.only",
            "/srv/no/cwd",
            "C:\\Users\\me\\proj"
        ]
    );
}

#[tokio::test]
async fn transcripts_list_with_head_metadata() {
    let f = fixture().await;
    let list = f
        .backend
        .list_claude_transcripts("/home/u/my.app")
        .await
        .unwrap();
    let list: Vec<Value> = list
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(list.len(), 2, "agent files are not sessions: {list:?}");
    assert_eq!(list[0]["id"], "sess-2");
    let s1 = &list[1];
    let keys: Vec<&str> = s1.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "summary",
            "firstMessage",
            "timestamp",
            "messageCount",
            "gitBranch",
            "projectPath",
            "filePath",
            "lastTimestamp"
        ]
    );
    assert_eq!(s1["id"], "1af7fc5e-8455-4414-9ccd-011d40f70b2a");
    assert_eq!(s1["summary"], "Fix the build");
    assert_eq!(s1["firstMessage"], "why does the build fail?");
    assert_eq!(s1["timestamp"], "2026-01-02T00:30:00.000Z");
    assert_eq!(s1["lastTimestamp"], "2026-01-02T00:31:00.000Z");
    // Non-meta user/assistant records: command, question, answer, 3 sidechain, answer.
    assert_eq!(s1["messageCount"], 7);
    assert_eq!(s1["gitBranch"], "main");
    assert_eq!(s1["projectPath"], "/home/u/my.app");
    assert_eq!(
        s1["filePath"],
        f.root
            .join("-home-u-my-app/s1.jsonl")
            .to_string_lossy()
            .as_ref()
    );

    // Summary falls back to the first message; odd characters in paths and names.
    let odd = f
        .backend
        .list_claude_transcripts("/home/u/My Docs/projé.v2")
        .await
        .unwrap();
    assert_eq!(odd.len(), 1);
    assert_eq!(odd[0].summary, "odd path");
    assert!(odd[0].file_path.ends_with("a b é.jsonl"));

    let win = f
        .backend
        .list_claude_transcripts("C:\\Users\\me\\proj")
        .await
        .unwrap();
    assert_eq!(win.len(), 1);
    assert_eq!(win[0].project_path, "C:\\Users\\me\\proj");
    assert_eq!(win[0].git_branch.as_deref(), Some("dev"));
    // Same project written with forward slashes: matched by the encoded directory name.
    let win2 = f
        .backend
        .list_claude_transcripts("C:/Users/me/proj")
        .await
        .unwrap();
    assert_eq!(win2.len(), 1);

    let nocwd = f
        .backend
        .list_claude_transcripts("/srv/no-cwd")
        .await
        .unwrap();
    assert_eq!(nocwd.len(), 1);
    assert_eq!(nocwd[0].project_path, "/srv/no-cwd");
    assert_eq!(nocwd[0].id, "n");
    assert!(f
        .backend
        .list_claude_transcripts("/opt/agent.only")
        .await
        .unwrap()
        .is_empty());
    assert!(f
        .backend
        .list_claude_transcripts("/nowhere")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn first_message_is_cut_and_commands_skipped() {
    let f = fixture().await;
    let long = "é".repeat(300);
    write_lines(
        &f.root.join("-long").join("l.jsonl"),
        &[
            user(
                "1",
                None,
                "2026-01-01T00:00:00Z",
                json!("<local-command-stdout>x</local-command-stdout>"),
                json!({"cwd": "/long"}),
            ),
            user(
                "2",
                Some("1"),
                "2026-01-01T00:00:01Z",
                json!(long),
                json!({"cwd": "/long"}),
            ),
        ],
        1,
    );
    let list = f.backend.list_claude_transcripts("/long").await.unwrap();
    assert_eq!(
        list[0].first_message.as_deref().unwrap().chars().count(),
        200
    );
}

#[tokio::test]
async fn whole_transcript_marks_sidechains_and_counts_bad_lines() {
    let f = fixture().await;
    let path = f.root.join("-home-u-my-app/s1.jsonl");
    let t = f
        .backend
        .get_claude_transcript(path.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(t["skippedLines"], 1);
    let messages = t["messages"].as_array().unwrap();
    // 11 lines minus the malformed and the blank one.
    assert_eq!(messages.len(), 9);
    assert_eq!(messages[0]["type"], "summary");
    let side: Vec<&str> = messages
        .iter()
        .filter(|m| m["isSidechain"] == true)
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(side, ["s1", "s2", "s3"]);
    assert_eq!(t["session"]["firstMessage"], "why does the build fail?");
    assert_eq!(t["session"]["summary"], "Fix the build");
    // Relative to the projects directory works as well.
    let rel = f
        .backend
        .get_claude_transcript("-home-u-my-app/s2.jsonl")
        .await
        .unwrap();
    assert_eq!(rel["session"]["id"], "sess-2");
}

#[cfg(unix)]
#[tokio::test]
async fn paths_outside_the_projects_dir_are_refused() {
    let f = fixture().await;
    let b = &f.backend;
    let err = b
        .get_claude_transcript(f.outside.to_str().unwrap())
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.status()), ("E_INVALID_INPUT", 400));
    let dotdot = f.root.join("-home-u-my-app/../../../outside.jsonl");
    assert_eq!(
        b.get_claude_transcript(dotdot.to_str().unwrap())
            .await
            .unwrap_err()
            .status(),
        400
    );
    let missing_outside = f.root.join("../nope/../../x.jsonl");
    assert_eq!(
        b.get_claude_transcript(missing_outside.to_str().unwrap())
            .await
            .unwrap_err()
            .status(),
        400
    );
    std::os::unix::fs::symlink(&f.outside, f.root.join("-home-u-my-app/link.jsonl")).unwrap();
    let link = f.root.join("-home-u-my-app/link.jsonl");
    assert_eq!(
        b.get_claude_transcript(link.to_str().unwrap())
            .await
            .unwrap_err()
            .status(),
        400
    );
    std::os::unix::fs::symlink(f.outside.parent().unwrap(), f.root.join("escape")).unwrap();
    let via_dir = f.root.join("escape/outside.jsonl");
    assert_eq!(
        b.get_claude_transcript(via_dir.to_str().unwrap())
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        b.import_claude_transcript(via_dir.to_str().unwrap())
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        b.get_claude_transcript("/etc/passwd")
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        b.get_claude_transcript(f.root.to_str().unwrap())
            .await
            .unwrap_err()
            .status(),
        400
    );
    let missing = f.root.join("-home-u-my-app/missing.jsonl");
    let err = b
        .get_claude_transcript(missing.to_str().unwrap())
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.status()), ("E_NOT_FOUND", 404));
    // `..` that stays inside is fine.
    let inside = f.root.join("-srv-no-cwd/../-home-u-my-app/s2.jsonl");
    assert!(b
        .get_claude_transcript(inside.to_str().unwrap())
        .await
        .is_ok());
}

/// Issue 12 defect 6: a symlinked project folder (`<projects>/-secret -> /secret`) is not a way
/// out of the projects directory for the listings either.
#[tokio::test]
async fn symlinked_project_folders_are_not_listed() {
    let f = fixture().await;
    let secret = f.outside.parent().unwrap().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::copy(&f.outside, secret.join("s.jsonl")).unwrap();
    std::os::unix::fs::symlink(&secret, f.root.join("-secret")).unwrap();
    let listed = f.backend.list_claude_transcripts("/secret").await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    let projects = f.backend.list_claude_projects().await.unwrap();
    assert!(!projects.iter().any(|p| p == "/secret"), "{projects:?}");
    let day = f
        .backend
        .list_claude_transcripts_for_date("2026-01-01", &json!(["/secret"]))
        .await
        .unwrap();
    assert!(day.is_empty(), "{day:?}");
    // A real folder of the same name is listed: the check is about resolution, not names.
    std::fs::remove_file(f.root.join("-secret")).unwrap();
    std::fs::create_dir_all(f.root.join("-secret")).unwrap();
    std::fs::copy(&f.outside, f.root.join("-secret/s.jsonl")).unwrap();
    let listed = f.backend.list_claude_transcripts("/secret").await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn fifty_megabyte_file_lists_fast() {
    let f = fixture().await;
    let path = f.root.join("-big").join("big.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let mut w = BufWriter::new(File::create(&path).unwrap());
        let filler = "x".repeat(900);
        let mut written = 0usize;
        let mut i = 0u64;
        while written < 50 * 1024 * 1024 {
            let line = user(
                &format!("b{i}"),
                None,
                "2026-02-01T00:00:00Z",
                json!(format!("{i} {filler}")),
                json!({"cwd": "/big"}),
            );
            written += line.len() + 1;
            writeln!(w, "{line}").unwrap();
            i += 1;
        }
        writeln!(
            w,
            "{}",
            user(
                "end",
                None,
                "2026-02-03T09:09:09Z",
                json!("last"),
                json!({"cwd": "/big"})
            )
        )
        .unwrap();
    }
    // Only the head (100 lines) and the tail are read, whatever the size: the count is the
    // head's, not the ≈ 55,000 lines of the file, and the newest timestamp is the last line's.
    let list = f.backend.list_claude_transcripts("/big").await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].message_count, 100);
    assert_eq!(
        list[0].last_timestamp.as_deref(),
        Some("2026-02-03T09:09:09Z")
    );
    assert_eq!(list[0].timestamp, "2026-02-01T00:00:00Z");
}

#[tokio::test]
async fn transcripts_for_a_utc_date() {
    let f = fixture().await;
    let b = &f.backend;
    let day = b
        .list_claude_transcripts_for_date("2026-01-02", &Value::Null)
        .await
        .unwrap();
    assert_eq!(
        day.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["1af7fc5e-8455-4414-9ccd-011d40f70b2a"]
    );
    let day = b
        .list_claude_transcripts_for_date("2026-01-04", &Value::Null)
        .await
        .unwrap();
    let mut ids: Vec<&str> = day.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    // The Windows file reuses the main session id (generated by the same helper).
    assert_eq!(ids, ["1af7fc5e-8455-4414-9ccd-011d40f70b2a", "n"]);
    let only = b
        .list_claude_transcripts_for_date("2026-01-04", &json!(["C:\\Users\\me\\proj"]))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].project_path, "C:\\Users\\me\\proj");
    assert!(b
        .list_claude_transcripts_for_date("2026-01-01", &json!(["/home/u/my.app"]))
        .await
        .unwrap()
        .is_empty());
    let err = b
        .list_claude_transcripts_for_date("2026-1-4", &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_INPUT");
    assert!(b
        .list_claude_transcripts_for_date("2026-01-04", &json!(5))
        .await
        .is_err());
}

#[tokio::test]
async fn import_is_idempotent() {
    let f = fixture().await;
    let path = f.root.join("-home-u-my-app/s1.jsonl");
    let first = f
        .backend
        .import_claude_transcript(path.to_str().unwrap())
        .await
        .unwrap();
    let v = serde_json::to_value(&first).unwrap();
    let msgs: Vec<(String, String)> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        msgs,
        [
            ("user".to_string(), "why does the build fail?".to_string()),
            (
                "assistant".into(),
                "Let me check.\n\nThe lockfile is stale.".into()
            ),
        ]
    );
    assert_eq!(v["messages"][0]["created_at"], "2026-01-02T00:30:02Z");
    let mut lines = main_session();
    lines.push(user(
        "u9",
        Some("a2"),
        "2026-01-02T00:40:00.000Z",
        json!("thanks"),
        json!({}),
    ));
    write_lines(&path, &lines, 0);
    let again = f
        .backend
        .import_claude_transcript(path.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(again.session_id, first.session_id);
    assert_eq!(again.messages.as_ref().unwrap().len(), 3);
    assert_eq!(
        f.backend
            .list_claude_sessions(&json!({}))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Benchmark (run with `--ignored --nocapture`): 1,000 transcripts of 1 MB in one project.
#[tokio::test]
#[ignore]
async fn bench_list_1000_transcripts_of_1mb() {
    let f = fixture().await;
    let dir = f.root.join("-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let filler = "y".repeat(2000);
    let line = user(
        "b",
        None,
        "2026-03-01T00:00:00Z",
        json!(filler),
        json!({"cwd": "/bench"}),
    );
    let mut one = String::new();
    while one.len() < 1024 * 1024 {
        one.push_str(&line);
        one.push('\n');
    }
    for i in 0..1000 {
        std::fs::write(dir.join(format!("s{i}.jsonl")), &one).unwrap();
    }
    for _ in 0..3 {
        let start = Instant::now();
        let list = f.backend.list_claude_transcripts("/bench").await.unwrap();
        assert_eq!(list.len(), 1000);
        println!("listed 1000 x 1 MB transcripts in {:?}", start.elapsed());
    }
}
