//! GitHub activity end to end (CONTRACT.md §18): a fake `gh` (POSIX sh) answering the real
//! `--json` field sets of reference B, and REAL git repositories made by the test (several
//! authors and dates, a non-ASCII message, a commit on another branch, a remote with
//! credentials).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDate, TimeZone};
use enttok_core::testing::{alive, drain_until_quiet as drain, wait_final_json as wait_final};
use enttok_core::{Backend, Config};
use serde_json::{json, Value};

/// The fake gh: `$D/auth.json` (or `$D/auth.mode`) answers `auth status`, `$D/authored.json`
/// and `$D/reviewed.json` the two searches; `$D/hang` makes searches hang (with a child).
const FAKE_GH: &str = r#"
# One append per call (gh runs concurrently: `--version` and `auth status` together).
{ printf '%s\0' "$@"; printf '\n'; } > "$D/gh.args.$$"
cat "$D/gh.args.$$" >> "$D/gh.args"; rm -f "$D/gh.args.$$"
case "$1" in
  --version)
    printf 'gh version 2.63.2 (2024-12-05)\nhttps://github.com/cli/cli/releases/tag/v2.63.2\n'
    exit 0 ;;
  auth)
    mode=$(cat "$D/auth.mode" 2>/dev/null)
    case "$mode" in
      notlogged) echo 'You are not logged into any GitHub hosts. To log in, run: gh auth login' >&2; exit 1 ;;
      badcreds) echo 'HTTP 401: Bad credentials (https://api.github.com/graphql)' >&2; exit 1 ;;
      garbage) echo 'this is not json at all'; exit 0 ;;
      huge) head -c 1200000 /dev/zero | tr '\0' a; exit 0 ;;
    esac
    cat "$D/auth.json"
    exit 0 ;;
  search)
    if [ -f "$D/hang" ]; then
      echo $$ > "$D/gh.pid"
      sleep 60 &
      echo $! > "$D/gh.child"
      wait
    fi
    case "$3" in
      --author=@me) cat "$D/authored.json" ;;
      --reviewed-by=@me) cat "$D/reviewed.json" ;;
    esac
    exit 0 ;;
esac
echo "unknown command $*" >&2
exit 1
"#;

const AUTH_OK: &str = r#"{"hosts":{"github.com":[{"state":"success","active":true,"host":"github.com","login":"octo-kim","tokenSource":"keyring","scopes":"gist, read:org, repo","gitProtocol":"https"}]}}"#;

struct Env {
    dir: tempfile::TempDir,
    backend: Backend,
    repo: PathBuf,
    day: NaiveDate,
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }
    /// Each gh call's argv.
    fn gh_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.path("gh.args"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split('\0')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    }
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!("#!/bin/sh\nD='{}'\n{body}\n", dir.display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Local time `h:m` of `day` as RFC 3339 with the local offset.
fn local_at(day: NaiveDate, h: u32, m: u32) -> chrono::DateTime<Local> {
    Local
        .from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
        .earliest()
        .unwrap()
}

fn utc_z(t: chrono::DateTime<Local>) -> String {
    t.with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn git(repo: &Path, args: &[&str], envs: &[(&str, String)]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(repo: &Path, author: &str, at: chrono::DateTime<Local>, message: &str) -> String {
    let date = at.to_rfc3339();
    let file = repo.join("f.txt");
    let old = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::write(&file, format!("{old}{message}\n")).unwrap();
    git(repo, &["add", "f.txt"], &[]);
    let envs = [
        ("GIT_AUTHOR_NAME", author.to_string()),
        ("GIT_AUTHOR_EMAIL", "a@example.com".to_string()),
        ("GIT_COMMITTER_NAME", author.to_string()),
        ("GIT_COMMITTER_EMAIL", "a@example.com".to_string()),
        ("GIT_AUTHOR_DATE", date.clone()),
        ("GIT_COMMITTER_DATE", date),
    ];
    git(repo, &["commit", "-q", "-m", message], &envs);
    git(repo, &["rev-parse", "HEAD"], &[])
}

/// A repository whose configured author is `Kim (Dev)` (regex operators in the name), with
/// commits by her and by someone else, on two branches.
fn make_repo(root: &Path, day: NaiveDate) -> (PathBuf, Vec<String>) {
    let repo = root.join("app repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"], &[]);
    git(&repo, &["config", "user.name", "Kim (Dev)"], &[]);
    git(&repo, &["config", "user.email", "kim@example.com"], &[]);
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://kim:ghp_secret123@github.com/acme/app.git",
        ],
        &[],
    );
    let prev = day.pred_opt().unwrap();
    let s1 = commit(
        &repo,
        "Kim (Dev)",
        local_at(prev, 18, 0),
        "feat: yesterday's work",
    );
    let _other = commit(&repo, "Lee Other", local_at(day, 9, 0), "chore: not mine");
    let s2 = commit(
        &repo,
        "Kim (Dev)",
        local_at(day, 10, 30),
        "수정: 한글 메시지 처리",
    );
    git(&repo, &["checkout", "-q", "-b", "feature/x"], &[]);
    let s3 = commit(
        &repo,
        "Kim (Dev)",
        local_at(day, 15, 45),
        "wip: on a branch",
    );
    git(&repo, &["checkout", "-q", "main"], &[]);
    (repo, vec![s3, s2, s1])
}

async fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let gh = write_script(dir.path(), "gh", FAKE_GH);
    let day = NaiveDate::from_ymd_opt(2026, 1, 12).unwrap();
    let (repo, _) = make_repo(dir.path(), day);
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.gh_path = Some(gh);
    config.claude_projects_dir = dir.path().join("projects");
    let backend = Backend::open(config).await.unwrap();
    let env = Env {
        dir,
        backend,
        repo,
        day,
    };
    env.write("auth.json", AUTH_OK);
    let pr = |n: i64, title: &str, state: &str, repo: &str, updated: String| {
        json!({"number": n, "title": title, "url": format!("https://github.com/{repo}/pull/{n}"),
               "state": state, "repository": {"name": repo.split('/').nth(1).unwrap(), "nameWithOwner": repo},
               "createdAt": "2026-01-02T01:00:00Z", "updatedAt": updated})
    };
    let authored = json!([
        pr(
            34,
            "Add search",
            "open",
            "acme/app",
            utc_z(local_at(day, 14, 0))
        ),
        pr(
            35,
            "Old thing",
            "merged",
            "acme/app",
            utc_z(local_at(day.succ_opt().unwrap(), 8, 0))
        ),
    ]);
    let reviewed = json!([
        pr(
            34,
            "Add search",
            "open",
            "acme/app",
            utc_z(local_at(day, 14, 0))
        ),
        pr(
            7,
            "Fix 버그",
            "closed",
            "acme/lib",
            utc_z(local_at(day, 11, 0))
        ),
    ]);
    env.write("authored.json", &authored.to_string());
    env.write("reviewed.json", &reviewed.to_string());
    env
}

async fn set_repos(env: &Env, repos: Value) {
    env.backend
        .update_settings(&json!({ "github_repo_paths": repos }))
        .await
        .unwrap();
}

async fn wait_pid_file(path: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_gone(pid: i32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn status_reports_version_account_and_the_apps_errors() {
    let env = setup().await;
    let s = serde_json::to_value(env.backend.github_status().await.unwrap()).unwrap();
    assert_eq!(
        s,
        json!({"cli": {"found": true, "path": env.path("gh").display().to_string(), "version": "2.63.2", "error": null},
               "auth": {"authenticated": true, "username": "octo-kim", "hostname": "github.com", "error": null}})
    );
    assert!(env.gh_calls().contains(&vec![
        "auth".into(),
        "status".into(),
        "--json".into(),
        "hosts".into()
    ]));

    async fn auth(env: &Env, mode: &str) -> Value {
        env.write("auth.mode", mode);
        serde_json::to_value(env.backend.github_status().await.unwrap()).unwrap()["auth"].clone()
    }
    assert_eq!(
        auth(&env, "notlogged").await,
        json!({"authenticated": false, "username": null, "hostname": "github.com",
               "error": "Not authenticated. Run 'gh auth login' in your terminal."})
    );
    assert_eq!(
        auth(&env, "badcreds").await["error"],
        "Invalid credentials. Run 'gh auth login' to re-authenticate."
    );
    assert_eq!(
        auth(&env, "garbage").await["error"],
        "Failed to parse JSON response: this is not json at all"
    );
    // More than 1 MiB of output fails the run, as Node's maxBuffer does.
    assert_eq!(
        auth(&env, "huge").await["error"],
        "stdout maxBuffer length exceeded"
    );
    env.write("auth.mode", "");
    env.write("auth.json", r#"{"hosts":{}}"#);
    assert_eq!(
        auth(&env, "").await["error"],
        "No active GitHub account found"
    );
    env.backend.close().await.unwrap();

    // gh missing: the configured path does not exist.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.gh_path = Some(dir.path().join("no-such-gh"));
    let backend = Backend::open(config).await.unwrap();
    let s = serde_json::to_value(backend.github_status().await.unwrap()).unwrap();
    assert_eq!(
        s,
        json!({"cli": {"found": false, "path": null, "version": null, "error": "gh CLI not found"},
               "auth": {"authenticated": false, "username": null, "hostname": "github.com",
                        "error": "GitHub CLI (gh) not found. Install from https://cli.github.com"}})
    );
    backend.close().await.unwrap();
}

#[tokio::test]
async fn summary_matches_reference_b5_with_real_git() {
    let env = setup().await;
    let not_repo = env.path("plain folder");
    std::fs::create_dir_all(&not_repo).unwrap();
    let missing = env.path("gone");
    set_repos(
        &env,
        json!([
            env.repo.display().to_string(),
            format!("{}/", env.repo.display()),
            not_repo.display().to_string(),
            missing.display().to_string()
        ]),
    )
    .await;
    let settings = serde_json::to_value(env.backend.get_settings().await.unwrap()).unwrap();
    assert_eq!(
        settings["github_repo_paths"].as_array().unwrap().len(),
        3,
        "normalised and de-duplicated"
    );
    let mut sub = env.backend.subscribe().unwrap();
    let s = serde_json::to_value(
        env.backend
            .github_daily_summary(&json!({"date": "2026-01-12"}))
            .await
            .unwrap(),
    )
    .unwrap();
    // The exact gh invocations of reference B.3.
    let calls = env.gh_calls();
    for who in ["--author=@me", "--reviewed-by=@me"] {
        let expected: Vec<String> = [
            "search",
            "prs",
            who,
            "--updated=>=2026-01-12",
            "--json",
            "number,title,url,state,repository,createdAt,updatedAt",
            "--limit",
            "50",
        ]
        .map(String::from)
        .to_vec();
        assert!(calls.contains(&expected), "{calls:?}");
    }
    assert_eq!(s["date"], "2026-01-12");
    assert_eq!(s["username"], "octo-kim");
    let keys: Vec<&str> = s["prs"]["authored"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "number",
            "title",
            "url",
            "state",
            "repository",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(s["prs"]["authored"].as_array().unwrap().len(), 2);
    assert_eq!(s["prs"]["authored"][0]["repository"], "acme/app");
    // #34 is authored too: removed from reviewed.
    let reviewed: Vec<i64> = s["prs"]["reviewed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(reviewed, [7]);
    // Commits: hers only, every branch, newest first, 7-char sha, no credentials in URLs.
    let commits = s["commits"].as_array().unwrap();
    let messages: Vec<&str> = commits
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "wip: on a branch",
            "수정: 한글 메시지 처리",
            "feat: yesterday's work"
        ]
    );
    let full = git(&env.repo, &["rev-parse", "feature/x"], &[]);
    assert_eq!(
        commits[0],
        json!({"sha": &full[..7], "message": "wip: on a branch", "repository": "acme/app",
               "url": format!("https://github.com/acme/app/commit/{full}"),
               "created_at": local_at(env.day, 15, 45).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
    );
    assert!(!s.to_string().contains("ghp_secret123"));
    assert_eq!(
        s["stats"],
        json!({"total_prs_authored": 2, "total_prs_reviewed": 1, "total_commits": 3})
    );
    // The folder that is not a repository is reported (the missing one too).
    let warns: Vec<String> = drain(&mut sub)
        .await
        .into_iter()
        .filter(|e| e["type"] == "log" && e["level"] == "warn")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        warns
            .iter()
            .any(|m| m.contains("plain folder") && m.contains("not a git repository")),
        "{warns:?}"
    );

    // day_only: that local day only, stats follow.
    let s = serde_json::to_value(
        env.backend
            .github_daily_summary(&json!({"date": "2026-01-12", "day_only": true}))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        s["stats"],
        json!({"total_prs_authored": 1, "total_prs_reviewed": 1, "total_commits": 2})
    );

    // Not authenticated: no PRs, no username, commits still read.
    env.write("auth.mode", "notlogged");
    let s = serde_json::to_value(
        env.backend
            .github_daily_summary(&json!({"date": "2026-01-12"}))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(s["username"], Value::Null);
    assert_eq!(s["prs"], json!({"authored": [], "reviewed": []}));
    assert_eq!(s["stats"]["total_commits"], 3);

    // A malformed date.
    let err = env
        .backend
        .github_daily_summary(&json!({"date": "2026-1-12"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_INPUT");
    env.backend.close().await.unwrap();
}

#[tokio::test]
async fn sync_writes_activity_rows_once_and_the_stream_shows_the_day() {
    let env = setup().await;
    set_repos(&env, json!([env.repo.display().to_string()])).await;
    let created = env
        .backend
        .sync_github(&json!({"since": "2026-01-12"}))
        .await
        .unwrap();
    let job = wait_final(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // Since the day's start: #34, #35 authored, #7 reviewed, two of her commits.
    assert_eq!(
        job["result"],
        json!({"processed": {"prs_authored": 2, "prs_reviewed": 1, "commits": 2}, "total": 5})
    );
    let start = utc_z(local_at(env.day, 0, 0));
    let end = utc_z(local_at(env.day.succ_opt().unwrap(), 23, 59));
    let rows = serde_json::to_value(
        env.backend
            .list_activity_events(&json!({"start": start, "end": end, "sources": "github"}))
            .await
            .unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let sha2 = git(
        &env.repo,
        &["log", "--all", "--format=%h", "--abbrev=7", "--grep=한글"],
        &[],
    );
    assert!(ids.contains(&"github:pr:authored:acme/app:34"), "{ids:?}");
    assert!(ids.contains(&"github:pr:reviewed:acme/lib:7"));
    assert!(ids.contains(&format!("github:commit:acme/app:{sha2}").as_str()));
    let pr = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "github:pr:authored:acme/app:34")
        .unwrap();
    assert_eq!(pr["title"], "PR #34: Add search");
    assert_eq!(pr["description"], "Authored (open) in acme/app");
    assert_eq!(pr["url"], "https://github.com/acme/app/pull/34");

    // A second run writes nothing new.
    let again = env
        .backend
        .sync_github(&json!({"since": "2026-01-12"}))
        .await
        .unwrap();
    let job = wait_final(&env.backend, &again.job_id).await;
    assert_eq!(job["result"]["total"], 0, "{job}");

    // The stream of that day: the day's GitHub items with the app's URL rules.
    let items = serde_json::to_value(
        env.backend
            .activity_stream(&json!({"date": "2026-01-12"}))
            .await
            .unwrap(),
    )
    .unwrap();
    let items = items.as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            format!(
                "github:commit:acme/app:{}",
                &git(&env.repo, &["rev-parse", "feature/x"], &[])[..7]
            )
            .as_str(),
            "github:pr:authored:acme/app:34",
            "github:pr:reviewed:acme/lib:7",
            format!("github:commit:acme/app:{sha2}").as_str(),
        ]
    );
    assert_eq!(items[1]["url"], "https://github.com/acme/app/pull/34");
    assert_eq!(items[2]["url"], Value::Null, "reviewed PRs carry no URL");
    assert_eq!(items[2]["description"], "Reviewed (closed) in acme/lib");
    assert_eq!(items[3]["url"], Value::Null, "commits carry no URL");
    assert_eq!(items[3]["title"], "수정: 한글 메시지 처리");
    assert_eq!(items[3]["description"], format!("acme/app ({sha2})"));
    assert_eq!(
        items[3]["timestamp"],
        local_at(env.day, 10, 30).timestamp_millis()
    );
    assert_eq!(
        items[3]["event_time"],
        local_at(env.day, 10, 30)
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    );
    env.backend.close().await.unwrap();
}

#[tokio::test]
async fn cancel_and_close_kill_the_gh_tree() {
    let env = setup().await;
    env.write("hang", "");
    let created = env.backend.sync_github(&json!({})).await.unwrap();
    // Unique: a second request answers the pending job.
    let dup = env.backend.sync_github(&json!({})).await.unwrap();
    assert_eq!(dup.job_id, created.job_id);
    let pid = wait_pid_file(&env.path("gh.pid")).await;
    let child = wait_pid_file(&env.path("gh.child")).await;
    let t = Instant::now();
    env.backend.cancel_job(&created.job_id).await.unwrap();
    assert!(
        wait_gone(pid).await && wait_gone(child).await,
        "gh tree still alive"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    let job = wait_final(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "canceled");
    assert_eq!(job["result"], Value::Null);

    // close() during a facade call: the call ends, the tree dies.
    std::fs::remove_file(env.path("gh.pid")).unwrap();
    std::fs::remove_file(env.path("gh.child")).unwrap();
    let backend = env.backend.clone();
    let call = tokio::spawn(async move { backend.github_daily_summary(&json!({})).await });
    let pid = wait_pid_file(&env.path("gh.pid")).await;
    let child = wait_pid_file(&env.path("gh.child")).await;
    let t = Instant::now();
    env.backend.close().await.unwrap();
    let answer = call.await.unwrap();
    assert_eq!(answer.unwrap_err().code(), "E_CLOSED");
    assert!(
        wait_gone(pid).await && wait_gone(child).await,
        "gh tree still alive after close"
    );
    assert!(t.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn a_hanging_git_log_is_bounded_and_an_invalid_since_is_rejected() {
    let env = setup().await;
    // A git that hangs on `log` (the other commands go to the real git).
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fake_git = write_script(
        env.dir.path(),
        "git",
        &format!(
            "for a in \"$@\"; do [ \"$a\" = log ] && {{ echo $$ > \"$D/git.pid\"; exec sleep 60; }}; done\nexec {} \"$@\"",
            real.trim()
        ),
    );
    env.backend.close().await.unwrap();
    let mut config = Config::new(env.path("data2"));
    config.scheduler = false;
    config.gh_path = Some(env.path("gh"));
    config.git_path = Some(fake_git);
    let backend = Backend::open(config).await.unwrap();
    backend
        .update_settings(&json!({ "github_repo_paths": [env.repo.display().to_string()] }))
        .await
        .unwrap();
    let err = backend
        .sync_github(&json!({"since": "yesterday"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_INPUT");
    let created = backend.sync_github(&json!({})).await.unwrap();
    let pid = wait_pid_file(&env.path("git.pid")).await;
    backend.cancel_job(&created.job_id).await.unwrap();
    assert!(wait_gone(pid).await, "git log still alive");
    assert_eq!(
        wait_final(&backend, &created.job_id).await["status"],
        "canceled"
    );
    backend.close().await.unwrap();
}

#[tokio::test]
async fn the_scheduler_pass_queues_a_sync_only_when_due_and_authenticated() {
    use enttok_core::github::{sync::scheduled_pass, GithubState};
    let env = setup().await;
    let mut config = Config::new(env.path("unused"));
    config.gh_path = Some(env.path("gh"));
    let state = GithubState::new(&config);
    let (store, jobs) = (env.backend.store(), env.backend.jobs());
    env.write("auth.mode", "notlogged");
    assert!(
        !scheduled_pass(&state, store, jobs, 900).await.unwrap(),
        "not authenticated"
    );
    env.write("auth.mode", "");
    assert!(
        scheduled_pass(&state, store, jobs, 900).await.unwrap(),
        "due: never ran"
    );
    let second = scheduled_pass(&state, store, jobs, 900).await.unwrap();
    let all = env
        .backend
        .list_jobs(&json!({"type": "connector.github.sync"}))
        .await
        .unwrap();
    assert!(!second, "one is pending or just ran: {all:?}");
    let queued = env
        .backend
        .list_jobs(&json!({"type": "connector.github.sync"}))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        wait_final(&env.backend, &queued[0].job_id).await["status"],
        "succeeded"
    );
    assert!(
        !scheduled_pass(&state, store, jobs, 900).await.unwrap(),
        "ran just now"
    );
    // One second later a 1 s interval is due again: only with a gh that exists.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut missing = Config::new(env.path("unused"));
    missing.gh_path = Some(env.path("no-gh"));
    let none = GithubState::new(&missing);
    assert!(
        !scheduled_pass(&none, store, jobs, 1).await.unwrap(),
        "gh not found"
    );
    assert!(
        scheduled_pass(&state, store, jobs, 1).await.unwrap(),
        "due again"
    );
    env.backend.close().await.unwrap();
}
