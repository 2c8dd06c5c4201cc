//! The activity stream and `suggest.generate` end to end (CONTRACT.md §19): rows of every
//! source written into a real backend, Claude Code transcripts on disk, a fake `claude` (POSIX
//! sh) that records what it received; the prompt compared byte for byte with a test-side
//! implementation of the app's formatter (reference C.4).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDate, TimeZone, Utc};
use enttok_core::suggest::memory_link::MemoryRef;
use enttok_core::suggest::prompt::{assemble, format_activities, time_label, PromptInput};
use enttok_core::suggest::{StreamItem, DEFAULT_SUMMARIZE_PROMPT};
use enttok_core::testing::{drain_until_quiet as drain, wait_final_json as wait_final};
use enttok_core::{Backend, Config};
use rusqlite::params;
use serde_json::{json, Value};

const RESULT: &str = r###"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"## 업무 요약\n- PR #34","session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288"}"###;
const ASSIST: &str = r###"{"type":"assistant","message":{"content":[{"type":"text","text":"## 업무 요약\n- PR #34"}]},"session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288"}"###;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 12).unwrap()
}

fn local_at(h: u32, m: u32) -> chrono::DateTime<Local> {
    Local
        .from_local_datetime(&day().and_hms_opt(h, m, 0).unwrap())
        .earliest()
        .unwrap()
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!("#!/bin/sh\nD='{}'\n{body}\n", dir.display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

struct Env {
    dir: tempfile::TempDir,
    backend: Backend,
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// The argv the fake claude received.
    fn claude_args(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("claude.args"))
            .unwrap_or_default()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

async fn setup(claude_body: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$D/claude.args\"\n{claude_body}"
    );
    let claude = write_script(dir.path(), "claude", &body);
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.claude_path = Some(claude);
    config.claude_projects_dir = dir.path().join("projects");
    config.gh_path = Some(dir.path().join("no-gh"));
    let backend = Backend::open(config).await.unwrap();
    let env = Env { dir, backend };
    seed(&env).await;
    env
}

/// (calendar, event, title, start, end, start_ts, end_ts, all_day, location, status)
type CalendarRow = (
    &'static str,
    &'static str,
    &'static str,
    String,
    String,
    i64,
    i64,
    i64,
    Option<&'static str>,
    Option<&'static str>,
);
/// (event_id, source, type, title, description, url, actor, time)
type ActivityRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    chrono::DateTime<Local>,
);

/// Rows of every source for the day, plus rows that must stay out.
async fn seed(env: &Env) {
    let ts = |t: chrono::DateTime<Local>| t.timestamp();
    let iso = |t: chrono::DateTime<Local>| t.to_rfc3339();
    let now = "2026-01-01T00:00:00Z";
    let rows: Vec<(String, Vec<rusqlite::types::Value>)> = vec![];
    drop(rows);
    let (s9, e10) = (local_at(9, 30), local_at(10, 0));
    let midnight = local_at(0, 0);
    let utc_midnight = Utc
        .from_utc_datetime(&day().and_hms_opt(0, 0, 0).unwrap())
        .timestamp();
    let events: Vec<CalendarRow> = vec![
        // (calendar, event, title, start, end, start_ts, end_ts, all_day, location, status)
        (
            "primary@x",
            "ev1",
            "Standup",
            iso(s9),
            iso(e10),
            ts(s9),
            ts(e10),
            0,
            Some("Room 1"),
            Some("confirmed"),
        ),
        (
            "primary@x",
            "ev2",
            "",
            "2026-01-12".into(),
            "2026-01-13".into(),
            utc_midnight.min(ts(midnight)),
            ts(midnight) + 86400,
            1,
            None,
            None,
        ),
        (
            "primary@x",
            "ev3",
            "Cancelled",
            iso(s9),
            iso(e10),
            ts(s9),
            ts(e10),
            0,
            None,
            Some("cancelled"),
        ),
        (
            "other@x",
            "ev4",
            "Not primary",
            iso(s9),
            iso(e10),
            ts(s9),
            ts(e10),
            0,
            None,
            None,
        ),
        (
            "hidden@x",
            "ev5",
            "Unselected primary",
            iso(s9),
            iso(e10),
            ts(s9),
            ts(e10),
            0,
            None,
            None,
        ),
    ];
    let activity: Vec<ActivityRow> = vec![
        // (event_id, source, type, title, description, url, actor, time)
        (
            "jira:issue:ABC-12",
            "jira",
            "issue.updated",
            "ABC-12 Fix login",
            Some("Status changed to Done"),
            Some("https://acme.atlassian.net/browse/ABC-12"),
            Some("Kim"),
            local_at(13, 0),
        ),
        (
            "confluence:created:9",
            "confluence",
            "page.created",
            "",
            None,
            None,
            None,
            local_at(8, 15),
        ),
        (
            "github:pr:authored:acme/app:34",
            "github",
            "pr.authored",
            "PR #34: Add search",
            Some("Authored (open) in acme/app"),
            Some("https://github.com/acme/app/pull/34"),
            Some("octo"),
            local_at(12, 0),
        ),
        (
            "github:commit:acme/app:1a2b3c4",
            "github",
            "commit",
            "fix: trim tokens",
            Some("acme/app (1a2b3c4)"),
            Some("https://github.com/acme/app/commit/1a2b3c4d"),
            Some("octo"),
            local_at(11, 0),
        ),
        (
            "jira:issue:OLD-1",
            "jira",
            "issue.updated",
            "Yesterday",
            None,
            None,
            None,
            local_at(0, 0) - chrono::Duration::hours(2),
        ),
        (
            "slack:x",
            "slack",
            "message",
            "Not a stream source",
            None,
            None,
            None,
            local_at(14, 0),
        ),
    ];
    env.backend
        .store()
        .write(move |c| {
            for (cal, primary, selected) in [("primary@x", 1, 1), ("other@x", 0, 1), ("hidden@x", 1, 0)] {
                c.execute(
                    "INSERT INTO calendar_calendars (account_id, calendar_id, provider, name, is_primary, selected, created_at, updated_at)
                     VALUES ('acc', ?1, 'google', 'Kim', ?2, ?3, ?4, ?4)",
                    params![cal, primary, selected, now],
                )?;
            }
            for (cal, id, title, st, et, sts, ets, all_day, loc, status) in &events {
                c.execute(
                    "INSERT INTO calendar_events (account_id, calendar_id, event_id, title, start_time, end_time, start_ts, end_ts, all_day, location, status)
                     VALUES ('acc', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![cal, id, title, st, et, sts, ets, all_day, loc, status],
                )?;
            }
            for (id, source, kind, title, desc, url, actor, at) in &activity {
                c.execute(
                    "INSERT INTO activity_events (event_id, source, account_id, event_type, title, description, url, actor, event_time, event_ts, created_at, updated_at)
                     VALUES (?1, ?2, 'a', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                    params![id, source, kind, title, desc, url, actor,
                            at.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string(), at.timestamp(), now],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // A Claude Code session of that day, with a long first message.
    let project = env.path("projects").join("-home-dev-app");
    std::fs::create_dir_all(&project).unwrap();
    let first = format!("Please refactor the login module {}", "x".repeat(90));
    let started = local_at(16, 20)
        .with_timezone(&Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let lines = [
        json!({"type":"user","message":{"role":"user","content":first},"timestamp":started,"sessionId":"sess-1","cwd":"/home/dev/app","gitBranch":"main"}),
        json!({"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"ok"}]},"timestamp":started,"sessionId":"sess-1"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(project.join("sess-1.jsonl"), text).unwrap();
}

fn iso_ms(t: chrono::DateTime<Local>) -> String {
    t.with_timezone(&Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[tokio::test]
async fn the_stream_follows_the_apps_item_rules() {
    let env = setup("exit 0").await;
    let items = serde_json::to_value(
        env.backend
            .activity_stream(&json!({"date": "2026-01-12"}))
            .await
            .unwrap(),
    )
    .unwrap();
    let first = format!("Please refactor the login module {}", "x".repeat(90));
    let utc_midnight = Utc
        .from_utc_datetime(&day().and_hms_opt(0, 0, 0).unwrap())
        .timestamp_millis();
    let item = |id: &str, title: &str, desc: &str, source: &str, url: Value, ms: i64| {
        json!({"id": id, "title": title, "description": desc, "source": source, "url": url,
               "timestamp": ms, "event_time": Utc.timestamp_millis_opt(ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()})
    };
    let mut expected = vec![
        item(
            "claude:session:sess-1",
            &first[..100],
            &format!("{}...", &first[..100]),
            "claude",
            Value::Null,
            local_at(16, 20).timestamp_millis(),
        ),
        item(
            "atlassian:jira:jira:issue:ABC-12",
            "ABC-12 Fix login",
            "Kim | Status changed to Done",
            "jira",
            json!("https://acme.atlassian.net/browse/ABC-12"),
            local_at(13, 0).timestamp_millis(),
        ),
        item(
            "github:pr:authored:acme/app:34",
            "PR #34: Add search",
            "Authored (open) in acme/app",
            "github",
            json!("https://github.com/acme/app/pull/34"),
            local_at(12, 0).timestamp_millis(),
        ),
        item(
            "github:commit:acme/app:1a2b3c4",
            "fix: trim tokens",
            "acme/app (1a2b3c4)",
            "github",
            Value::Null,
            local_at(11, 0).timestamp_millis(),
        ),
        item(
            "calendar:primary@x:ev1",
            "Standup",
            "09:30-10:00 | Kim | Room 1",
            "calendar",
            Value::Null,
            local_at(9, 30).timestamp_millis(),
        ),
        item(
            "atlassian:confluence:confluence:created:9",
            "Untitled activity",
            "Activity",
            "confluence",
            Value::Null,
            local_at(8, 15).timestamp_millis(),
        ),
        item(
            "calendar:primary@x:ev2",
            "Untitled event",
            "All day | Kim",
            "calendar",
            Value::Null,
            utc_midnight,
        ),
    ];
    // The session's title is its summary: the first message cut by the transcript reader.
    let got = items.as_array().unwrap();
    expected[0]["title"] = got[0]["title"].clone();
    expected.sort_by_key(|i| std::cmp::Reverse(i["timestamp"].as_i64().unwrap()));
    assert_eq!(
        got,
        &expected,
        "{}",
        serde_json::to_string_pretty(&items).unwrap()
    );
    assert_eq!(got[0]["event_time"], iso_ms(local_at(16, 20)));

    // Only the chosen projects; a malformed date is refused.
    let none = env
        .backend
        .activity_stream(&json!({"date": "2026-01-12", "claude_project_paths": ["/nowhere"]}))
        .await
        .unwrap();
    assert!(none.iter().all(|i| i.source != "claude"));
    assert_eq!(
        env.backend
            .activity_stream(&json!({"date": "12/01/2026"}))
            .await
            .unwrap_err()
            .code(),
        "E_INVALID_INPUT"
    );
    env.backend.close().await.unwrap();
}

/// The app's assembly written again from reference C.4 (test side).
fn app_prompt(
    memory: &[(&str, &str, &str, &str)],
    activities: &[(String, String, String, String, Option<String>)],
    note: Option<&str>,
    request: &str,
) -> String {
    fn cut(text: &str, max: usize) -> String {
        let units: Vec<u16> = text.encode_utf16().collect();
        if units.len() <= max {
            text.to_string()
        } else {
            format!("{}...", String::from_utf16_lossy(&units[..max]))
        }
    }
    let mut parts = Vec::new();
    if !memory.is_empty() {
        let refs: Vec<String> = memory
            .iter()
            .enumerate()
            .map(|(i, (kind, source, title, snippet))| {
                format!(
                    "{}. [{}/{}] {}\n   {}",
                    i + 1,
                    kind,
                    source.replace('_', " "),
                    title,
                    snippet
                )
            })
            .collect();
        parts.push(format!("[Related Memory]\nThe following are relevant observations from your work journal:\n\n{}", refs.join("\n\n")));
    }
    if !activities.is_empty() {
        let lines: Vec<String> = activities
            .iter()
            .map(|(label, title, when, desc, url)| {
                let url_part = url
                    .as_ref()
                    .map(|u| format!("\n  URL: {u}"))
                    .unwrap_or_default();
                format!("- [{label}] {title} ({when})\n  {desc}{url_part}")
            })
            .collect();
        parts.push(format!(
            "[Recent Activity Stream]\n{}",
            cut(&lines.join("\n"), 4000)
        ));
    }
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        parts.push(format!("[Current Note]\n{}", cut(n, 4000)));
    }
    parts.push(format!("[Request]\n{request}"));
    parts.join("\n\n---\n\n")
}

fn label_of(source: &str) -> &'static str {
    match source {
        "calendar" => "Calendar",
        "jira" => "Jira",
        "confluence" => "Confluence",
        "github" => "GitHub",
        "claude" => "Claude Code",
        _ => "Other",
    }
}

#[test]
fn the_formatter_matches_the_app_byte_for_byte() {
    let now = Utc::now().timestamp_millis();
    let item = |i: usize, source: &str, url: Option<&str>| StreamItem {
        id: format!("x{i}"),
        title: format!("제목 {i} — 작업"),
        description: format!("설명 {i} | {}", "d".repeat(40)),
        source: source.into(),
        url: url.map(String::from),
        timestamp: now - (i as i64 + 1) * 37 * 60_000,
        event_time: String::new(),
    };
    let items: Vec<StreamItem> = (0..50)
        .map(|i| {
            item(
                i,
                ["jira", "github", "calendar", "claude", "confluence"][i % 5],
                (i % 2 == 0).then_some("https://x.example/1"),
            )
        })
        .collect();
    let memory = vec![
        MemoryRef::from_result(
            &json!({"observation_id": "obs_1", "title": "PR: Add search", "snippet": "Created PR #34 in acme/app", "type": "task", "source": "github", "event_time": null, "score": 0.9}),
        ),
        MemoryRef::from_result(
            &json!({"observation_id": "obs_2", "title": "세션", "snippet": "요약...", "type": "activity", "source": "claude_code_session", "event_time": null, "score": 0.5}),
        ),
    ];
    let note = format!("---\ndate: 2026-01-12\n---\n{}", "노트 ".repeat(1500));
    for (mem, acts, note, include) in [
        (true, 50usize, Some(note.as_str()), true),
        (false, 3, Some("short note"), true),
        (false, 0, None, true),
        (true, 0, Some("hidden"), false),
    ] {
        let used = &items[..acts];
        let ctx = format_activities(used, now);
        let mem_refs: &[MemoryRef] = if mem { &memory } else { &[] };
        let got = assemble(&PromptInput {
            memory: mem_refs,
            activity_context: &ctx,
            selected_text: None,
            note,
            include_note: include,
            request: DEFAULT_SUMMARIZE_PROMPT,
        });
        let expected_mem: Vec<(&str, &str, &str, &str)> = if mem {
            vec![
                (
                    "task",
                    "github",
                    "PR: Add search",
                    "Created PR #34 in acme/app",
                ),
                ("activity", "claude_code_session", "세션", "요약..."),
            ]
        } else {
            vec![]
        };
        let expected_acts: Vec<_> = used
            .iter()
            .map(|a| {
                (
                    label_of(&a.source).to_string(),
                    a.title.clone(),
                    time_label(a.timestamp, now),
                    a.description.clone(),
                    a.url.clone(),
                )
            })
            .collect();
        let want = app_prompt(
            &expected_mem,
            &expected_acts,
            note.filter(|_| include),
            DEFAULT_SUMMARIZE_PROMPT,
        );
        assert_eq!(got, want);
        if acts == 50 {
            assert!(
                got.contains("...\n\n---\n\n[Current Note]"),
                "activity block cut at 4000 + ..."
            );
            assert!(got.contains("2. [activity/claude code session] 세션\n   요약..."));
        }
        if acts == 0 && !mem {
            assert_eq!(
                got,
                format!("[Request]\n{DEFAULT_SUMMARIZE_PROMPT}"),
                "empty sections are left out"
            );
        }
    }
    assert!(DEFAULT_SUMMARIZE_PROMPT.starts_with("오늘 한 일을 요약해줘.\n\n## 링크 규칙\n"));
    assert!(DEFAULT_SUMMARIZE_PROMPT.ends_with("- 각 항목은 불릿 포인트로 작성"));
}

#[tokio::test]
async fn generate_runs_stages_streams_and_returns_the_whole_answer() {
    let body = format!("printf '%s\\n' '{ASSIST}'\nprintf '%s\\n' '{RESULT}'\n");
    let env = setup(&body).await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .generate_suggestion(
            &json!({"note_date": "2026-01-12", "note_content": "# 2026-01-12\n메모"}),
        )
        .await
        .unwrap();
    let job = wait_final(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    let keys: Vec<&str> = result
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "text",
            "prompt",
            "memory_references",
            "activities_used",
            "session_id"
        ]
    );
    assert_eq!(result["text"], "## 업무 요약\n- PR #34");
    assert_eq!(result["memory_references"], json!([]));
    let stream = serde_json::to_value(
        env.backend
            .activity_stream(&json!({"date": "2026-01-12"}))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(result["activities_used"], stream);
    // The prompt: the app's, and the CLI got it as is (no `User: `), with a new native session.
    let now = Utc::now().timestamp_millis();
    let acts: Vec<_> = stream
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                label_of(a["source"].as_str().unwrap()).to_string(),
                a["title"].as_str().unwrap().to_string(),
                time_label(a["timestamp"].as_i64().unwrap(), now),
                a["description"].as_str().unwrap().to_string(),
                a["url"].as_str().map(String::from),
            )
        })
        .collect();
    let want = app_prompt(
        &[],
        &acts,
        Some("# 2026-01-12\n메모"),
        DEFAULT_SUMMARIZE_PROMPT,
    );
    assert_eq!(result["prompt"], want);
    let args = env.claude_args();
    assert_eq!(
        args[..5],
        [
            "--print".to_string(),
            want,
            "--output-format".into(),
            "stream-json".into(),
            "--verbose".into()
        ]
    );
    assert_eq!(args[5], "--session-id");
    assert_eq!(args[6].len(), 36);
    let sid = result["session_id"].as_str().unwrap();
    assert!(sid.starts_with("session_"));
    let session = serde_json::to_value(env.backend.get_claude_session(sid).await.unwrap()).unwrap();
    assert_eq!(session["messages"][1]["content"], "## 업무 요약\n- PR #34");
    // Stages in order (memory is not merged yet, but the stage runs), then the answer streamed.
    let events = drain(&mut sub).await;
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "job.progress" && e["job_id"] == created.job_id.as_str())
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(
        stages,
        ["gathering", "searching_memory", "prompting", "running"]
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "claude.output" && e["message"]["type"] == "result"));

    // use_memory:false skips the stage; the second turn resumes the same session.
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .generate_suggestion(&json!({"note_date": "2026-01-12", "use_memory": false, "include_note": false, "prompt": "free question", "session_id": sid}))
        .await
        .unwrap();
    let job = wait_final(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["result"]["prompt"]
        .as_str()
        .unwrap()
        .ends_with("[Request]\nfree question"));
    assert_eq!(env.claude_args()[5], "--resume");
    let stages: Vec<String> = drain(&mut sub)
        .await
        .iter()
        .filter(|e| e["type"] == "job.progress")
        .filter_map(|e| e["stage"].as_str().map(String::from))
        .collect();
    assert_eq!(stages, ["gathering", "prompting", "running"]);
    env.backend.close().await.unwrap();
}

#[tokio::test]
async fn cancel_kills_the_claude_tree_and_failures_are_clear() {
    let env =
        setup("echo $$ > \"$D/claude.pid\"\nsleep 60 &\necho $! > \"$D/claude.child\"\nwait").await;
    let created = env
        .backend
        .generate_suggestion(&json!({"use_memory": false}))
        .await
        .unwrap();
    let read_pid = |name: &str| {
        let p = env.path(name);
        async move {
            let start = Instant::now();
            loop {
                if let Some(pid) = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    return pid;
                }
                assert!(start.elapsed() < Duration::from_secs(10));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let pid = read_pid("claude.pid").await;
    let child = read_pid("claude.child").await;
    env.backend.cancel_job(&created.job_id).await.unwrap();
    let job = wait_final(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "canceled");
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) && (alive(pid) || alive(child)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pid) && !alive(child), "claude tree still alive");

    // Canceled while still queued or gathering: Claude never starts.
    std::fs::remove_file(env.path("claude.args")).ok();
    let created = env
        .backend
        .generate_suggestion(&json!({"use_memory": false}))
        .await
        .unwrap();
    env.backend.cancel_job(&created.job_id).await.unwrap();
    assert_eq!(
        wait_final(&env.backend, &created.job_id).await["status"],
        "canceled"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !env.path("claude.args").exists(),
        "claude ran after a cancel"
    );

    // Bad input, an unreadable note, a missing CLI.
    assert_eq!(
        env.backend
            .generate_suggestion(&json!({"note_date": "2026-13-01"}))
            .await
            .unwrap_err()
            .code(),
        "E_INVALID_INPUT"
    );
    let created = env.backend.generate_suggestion(&json!({"use_memory": false, "note_path": env.path("missing.md").display().to_string()})).await.unwrap();
    let job = wait_final(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{job}"
    );
    env.backend.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.claude_path = Some(dir.path().join("no-claude"));
    config.claude_projects_dir = dir.path().join("projects");
    let backend = Backend::open(config).await.unwrap();
    let created = backend
        .generate_suggestion(&json!({"use_memory": false}))
        .await
        .unwrap();
    let job = wait_final(&backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["message"], "claude cli not found");
    backend.close().await.unwrap();
}
