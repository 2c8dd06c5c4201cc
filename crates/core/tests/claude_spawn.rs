//! `claude.spawn` end to end: a real backend on a temp dir, fake `claude` executables written
//! by the tests (POSIX sh) speaking the CLI's stream-json format.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use enttok_core::testing::{alive, drain_until_quiet as drain, wait_final_json as final_json};
use enttok_core::{Backend, Config};
use serde_json::{json, Value};

const INIT: &str = r#"{"type":"system","subtype":"init","cwd":"/home/dev/project","session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288","tools":["Bash","Read"],"mcp_servers":[],"model":"claude-opus-4-5-20251101","permissionMode":"default","claude_code_version":"2.1.7","uuid":"99724e0b-d1e8-4b06-a504-11672c2be669"}"#;
const ASSIST1: &str = r#"{"type":"assistant","message":{"model":"claude-opus-4-5-20251101","id":"msg_01","type":"message","role":"assistant","content":[{"type":"text","text":"Let me look."}],"stop_reason":null},"parent_tool_use_id":null,"session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288","uuid":"u1"}"#;
const TOOL_USE: &str = r#"{"type":"assistant","message":{"id":"msg_01","type":"message","role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls"}}]},"parent_tool_use_id":null,"session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288","uuid":"u2"}"#;
const TOOL_RESULT: &str = r#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_01","type":"tool_result","content":"a.txt","is_error":false}]},"parent_tool_use_id":null,"session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288","uuid":"u3"}"#;
const ASSIST2: &str = r#"{"type":"assistant","message":{"id":"msg_02","type":"message","role":"assistant","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"There is a.txt"}]},"parent_tool_use_id":null,"session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288","uuid":"u4"}"#;
const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":2360,"duration_api_ms":2325,"num_turns":2,"result":"There is a.txt","session_id":"1d1e46f9-35c7-4834-b529-846d5bb82288","total_cost_usd":0.13,"usage":{"input_tokens":10,"output_tokens":25}}"#;
const NOT_LOGGED_IN: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":null,"duration_ms":304,"duration_api_ms":0,"num_turns":1,"result":"Not logged in · Please run /login","stop_reason":"stop_sequence","session_id":"0131e642-8430-4b99-941f-df1596f07130","total_cost_usd":0}"#;

struct Env {
    dir: tempfile::TempDir,
    backend: Backend,
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

/// Writes `body` as an executable `/bin/sh` script; `$D` is the test directory.
fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!("#!/bin/sh\nD='{}'\n{body}\n", dir.display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn env_with(body: &str, workers: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "fake-claude", body);
    let cwd = dir.path().join("work dir");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.workers = workers;
    config.claude_path = Some(script);
    config.claude_cwd = Some(cwd);
    config.claude_projects_dir = dir.path().join("projects");
    let backend = Backend::open(config).await.unwrap();
    Env { dir, backend }
}

async fn env(body: &str) -> Env {
    env_with(body, 2).await
}

fn printf_lines(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("printf '%s\\n' '{l}'\n"))
        .collect()
}

async fn job_events(backend: &Backend, job_id: &str) -> Vec<(String, String)> {
    backend
        .list_job_events(job_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.level, e.message))
        .collect()
}

async fn wait_gone(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn wait_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(start.elapsed() < limit, "{} never written", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn echo_inputs() -> &'static str {
    "printf '%s\\n' \"$@\" > \"$D/args.txt\"\npwd > \"$D/cwd.txt\"\ncat > \"$D/stdin.txt\"\n"
}

#[tokio::test]
async fn stream_json_run_streams_every_line_and_succeeds() {
    let mut body = echo_inputs().to_string();
    body += &printf_lines(&[INIT, ASSIST1, TOOL_USE, TOOL_RESULT]);
    body += "echo 'progress: not json {' \necho 'warning: slow disk' >&2\n";
    body += &printf_lines(&[ASSIST2, RESULT]);
    let env = env(&body).await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "list files", "output_format": "stream-json", "stdin": "from stdin ü"}))
        .await
        .unwrap();
    assert_eq!(created.status, "queued");
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 1.0);
    assert_eq!(job["message"], "spawning");
    assert_eq!(
        job["payload"],
        json!({"args":[],"prompt":"list files","stdin":"from stdin ü","session_id":null,"timeout_ms":null,"output_format":"stream-json"})
    );
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
            "exit_code",
            "duration_ms",
            "stdout_tail",
            "stderr_tail",
            "stdout_truncated",
            "stderr_truncated",
            "text",
            "claude_session_id"
        ]
    );
    assert_eq!(result["exit_code"], 0);
    assert!(result["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(result["stdout_tail"].as_array().unwrap().len(), 7);
    assert_eq!(result["stdout_tail"][4], "progress: not json {");
    assert_eq!(result["stderr_tail"], json!(["warning: slow disk"]));
    assert_eq!(result["stdout_truncated"], false);
    assert_eq!(result["text"], "There is a.txt");
    assert_eq!(
        result["claude_session_id"],
        "1d1e46f9-35c7-4834-b529-846d5bb82288"
    );

    assert_eq!(
        env.read("args.txt"),
        "--print\nlist files\n--output-format\nstream-json\n--verbose\n"
    );
    assert_eq!(env.read("stdin.txt"), "from stdin ü");
    let cwd = PathBuf::from(env.read("cwd.txt").trim_end());
    assert_eq!(
        cwd.canonicalize().unwrap(),
        env.path("work dir").canonicalize().unwrap()
    );

    let events = drain(&mut sub).await;
    let id = created.job_id.as_str();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "job.created");
    assert_eq!(events[1]["message"], format!("claude job queued {id}"));
    assert_eq!(
        events[2],
        json!({"type":"job.status","job_id":id,"status":"running"})
    );
    let outputs: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "claude.output")
        .collect();
    assert_eq!(outputs.len(), 8);
    let stdout: Vec<&&Value> = outputs.iter().filter(|e| e["stream"] == "stdout").collect();
    assert_eq!(stdout[0]["message"]["subtype"], "init");
    assert!(stdout[0].get("line").is_none());
    assert_eq!(
        stdout[2]["message"]["message"]["content"][0]["type"],
        "tool_use"
    );
    assert_eq!(stdout[3]["message"]["type"], "user");
    assert_eq!(stdout[4]["line"], "progress: not json {");
    assert!(stdout[4].get("message").is_none());
    assert_eq!(stdout[6]["message"]["type"], "result");
    assert!(outputs
        .iter()
        .all(|e| e["job_id"] == id && e["session_id"].is_null()));
    let stderr = outputs.iter().find(|e| e["stream"] == "stderr").unwrap();
    assert_eq!(stderr["line"], "warning: slow disk");
    let err_log = events
        .iter()
        .find(|e| e["type"] == "log" && e["message"] == "claude: warning: slow disk")
        .unwrap();
    assert_eq!(err_log["level"], "error");
    let info_logs = events
        .iter()
        .filter(|e| {
            e["type"] == "log"
                && e["level"] == "info"
                && e["message"].as_str().unwrap().starts_with("claude: {")
        })
        .count();
    assert_eq!(info_logs, 6);
    assert_eq!(
        events.last().unwrap(),
        &json!({"type":"job.status","job_id":id,"status":"succeeded"})
    );
    assert_eq!(
        job_events(&env.backend, id).await,
        [("info".to_string(), "claude cli finished".to_string())]
    );
    env.backend.close().await.unwrap();
}

#[tokio::test]
async fn output_arrives_while_the_cli_still_runs() {
    let body = format!(
        "{}while [ ! -e \"$D/go\" ]; do sleep 0.02; done\n{}",
        printf_lines(&[INIT]),
        printf_lines(&[RESULT])
    );
    let env = env(&body).await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "x", "output_format": "stream-json"}))
        .await
        .unwrap();
    // The CLI cannot print its result (nor exit) before the test creates `$D/go`, which it
    // does only once the first line has arrived: output that waited for the exit would never
    // come (the timeout below only guards against that hang).
    let first = async {
        loop {
            let e: Value = serde_json::from_str(&sub.recv().await.unwrap()).unwrap();
            if e["type"] == "claude.output" {
                return e;
            }
        }
    };
    let e = tokio::time::timeout(Duration::from_secs(60), first)
        .await
        .expect("no output while the CLI runs");
    assert_eq!(e["message"]["subtype"], "init");
    let job = env.backend.get_job(&created.job_id).await.unwrap();
    assert_eq!(job.status, "running");
    std::fs::write(env.path("go"), "").unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded");
}

#[tokio::test]
async fn text_mode_passes_args_unchanged() {
    let body = format!("{}echo 'hello'\necho\necho 'world   '\n", echo_inputs());
    let env = env(&body).await;
    let created = env
        .backend
        .spawn_claude(&json!({"args": ["--model", "a b", "-p", "q"], "prompt": "ignored"}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(env.read("args.txt"), "--model\na b\n-p\nq\n");
    assert_eq!(env.read("stdin.txt"), "");
    assert_eq!(job["result"]["stdout_tail"], json!(["hello", "", "world"]));
    assert!(job["result"].get("text").is_none());
    assert!(job["result"].get("claude_session_id").is_none());
}

#[tokio::test]
async fn args_asking_stream_json_switch_parsing_on() {
    let body = printf_lines(&[INIT, ASSIST1]);
    let env = env(&body).await;
    let created = env
        .backend
        .spawn_claude(&json!({"args": ["-p", "x", "--output-format=stream-json", "--verbose"]}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["result"]["text"], "Let me look.");
}

#[tokio::test]
async fn exit_1_with_is_error_fails_with_tails() {
    let body = format!(
        "{}echo 'boom' >&2\nexit 1\n",
        printf_lines(&[NOT_LOGGED_IN])
    );
    let env = env(&body).await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "hi", "output_format": "stream-json"}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["progress"], 0.05);
    assert_eq!(
        job["error"],
        json!({"message":"claude cli failed","exit_code":1,"stdout_tail":[NOT_LOGGED_IN],"stderr_tail":["boom"]})
    );
    assert!(job["result"].is_null());
    assert_eq!(
        job_events(&env.backend, &created.job_id).await,
        [("error".to_string(), "claude cli failed".to_string())]
    );
    let events = drain(&mut sub).await;
    assert_eq!(
        events.last().unwrap(),
        &json!({"type":"job.status","job_id":created.job_id,"status":"failed"})
    );
}

#[tokio::test]
async fn no_args_and_no_prompt_fail_without_running() {
    let env = env("echo should-not-run > \"$D/ran\"").await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": ""}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(
        job["error"],
        json!({"message": "no args provided for claude cli"})
    );
    assert_eq!(
        job_events(&env.backend, &created.job_id).await,
        [("error".to_string(), "claude cli args missing".to_string())]
    );
    let events = drain(&mut sub).await;
    assert!(!events.iter().any(|e| e["status"] == "running"));
    assert!(!env.path("ran").exists());
}

#[tokio::test]
async fn missing_cli_fails_with_not_found() {
    if enttok_core::claude::cli::find_cli(None).is_some() {
        eprintln!("a real claude is on PATH; skipping");
        return;
    }
    let env = env("").await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.claude_path = Some(env.path("does-not-exist"));
    let backend = Backend::open(config).await.unwrap();
    let created = backend
        .spawn_claude(&json!({"prompt": "hi"}))
        .await
        .unwrap();
    let job = final_json(&backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"], json!({"message": "claude cli not found"}));
    assert_eq!(
        job_events(&backend, &created.job_id).await,
        [("error".to_string(), "claude cli not found".to_string())]
    );
}

#[tokio::test]
async fn unstartable_cli_fails_to_start() {
    let env = env("").await;
    std::fs::set_permissions(
        env.path("fake-claude"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "hi"}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("claude cli failed to start: "), "{msg}");
    assert_eq!(
        job_events(&env.backend, &created.job_id).await,
        [(
            "error".to_string(),
            "claude cli failed to start".to_string()
        )]
    );
}

/// Leader and a grandchild that ignores SIGTERM, both hanging; pids written to files.
const HANG: &str = "echo $$ > \"$D/pid\"\n(trap '' TERM; exec sleep 1000) &\necho $! > \"$D/gpid\"\necho started\nwait\n";

#[tokio::test]
async fn timeout_kills_the_whole_tree() {
    let env = env(HANG).await;
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "hi", "timeout_ms": 200}))
        .await
        .unwrap();
    let pid: i32 = wait_file(&env.path("pid"), Duration::from_secs(10))
        .await
        .trim()
        .parse()
        .unwrap();
    let gpid: i32 = wait_file(&env.path("gpid"), Duration::from_secs(10))
        .await
        .trim()
        .parse()
        .unwrap();
    // The CLI never ends by itself: only the 200 ms timeout can finish the job.
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"], json!({"message": "claude cli timeout"}));
    assert_eq!(
        job_events(&env.backend, &created.job_id).await,
        [("error".to_string(), "claude cli timeout".to_string())]
    );
    assert!(wait_gone(pid, Duration::from_secs(3)).await, "cli survived");
    assert!(
        wait_gone(gpid, Duration::from_secs(3)).await,
        "grandchild survived"
    );
    // The direct child is reaped, not left as a zombie.
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn cancel_kills_the_tree_and_writes_nothing_more() {
    let env = env(HANG).await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "hi", "session_id": "session_x"}))
        .await
        .unwrap();
    let pid: i32 = wait_file(&env.path("pid"), Duration::from_secs(10))
        .await
        .trim()
        .parse()
        .unwrap();
    let gpid: i32 = wait_file(&env.path("gpid"), Duration::from_secs(10))
        .await
        .trim()
        .parse()
        .unwrap();
    let answer = env.backend.cancel_job(&created.job_id).await.unwrap();
    assert_eq!(answer.status, "canceled");
    assert!(
        wait_gone(pid, Duration::from_secs(4)).await,
        "cli survived cancel"
    );
    assert!(
        wait_gone(gpid, Duration::from_secs(4)).await,
        "grandchild survived cancel"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = serde_json::to_value(env.backend.get_job(&created.job_id).await.unwrap()).unwrap();
    assert_eq!(job["status"], "canceled");
    assert!(job["result"].is_null() && job["error"].is_null());
    assert_eq!(
        job_events(&env.backend, &created.job_id).await,
        [("info".to_string(), "job canceled".to_string())]
    );
    let events = drain(&mut sub).await;
    let cancel_at = events
        .iter()
        .position(|e| e["status"] == "canceled")
        .unwrap();
    assert!(events[cancel_at + 1..]
        .iter()
        .all(|e| e["type"] != "claude.output" && e["type"] != "job.status"));
    assert!(env.backend.get_claude_session("session_x").await.is_err());
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn close_kills_running_trees() {
    let env = env(HANG).await;
    env.backend
        .spawn_claude(&json!({"prompt": "hi"}))
        .await
        .unwrap();
    let pid: i32 = wait_file(&env.path("pid"), Duration::from_secs(10))
        .await
        .trim()
        .parse()
        .unwrap();
    let gpid: i32 = wait_file(&env.path("gpid"), Duration::from_secs(10))
        .await
        .trim()
        .parse()
        .unwrap();
    env.backend.close().await.unwrap();
    assert!(wait_gone(pid, Duration::from_secs(3)).await);
    assert!(wait_gone(gpid, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn grandchild_holding_the_pipes_is_killed_after_exit() {
    let env = env("sleep 1000 &\necho $! > \"$D/gpid\"\necho done\nexit 0\n").await;
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "hi"}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["result"]["stdout_tail"], json!(["done"]));
    let gpid: i32 = env.read("gpid").trim().parse().unwrap();
    assert!(wait_gone(gpid, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn five_mib_of_output_is_capped_oldest_first() {
    let line = "x".repeat(99);
    let body = format!("yes '{line}' | head -n 52429\necho LAST\necho err-line >&2\n");
    let env = env(&body).await;
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "big"}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded");
    let tail = job["result"]["stdout_tail"].as_array().unwrap();
    let bytes: usize = tail.iter().map(|l| l.as_str().unwrap().len()).sum();
    assert!(bytes <= 1_048_576 && bytes > 1_048_576 - 200, "{bytes}");
    assert_eq!(tail.last().unwrap(), "LAST");
    assert_eq!(tail[0].as_str().unwrap(), line);
    assert_eq!(job["result"]["stdout_truncated"], true);
    assert_eq!(job["result"]["stderr_truncated"], false);
    assert_eq!(job["result"]["stderr_tail"], json!(["err-line"]));

    env.backend
        .update_settings(&json!({"claude_output_cap_bytes": 1024}))
        .await
        .unwrap();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "big"}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    let tail = job["result"]["stdout_tail"].as_array().unwrap();
    // 10 lines of 99 bytes plus "LAST" fit in 1024 bytes.
    assert_eq!(tail.len(), 11);
    assert_eq!(tail[0].as_str().unwrap(), line);
}

/// A fake CLI with native sessions kept in `$D/sessions`; `--resume` of an unknown id fails
/// like the real one (stderr in text mode, the `error_during_execution` result in stream-json).
const SESSIONS: &str = r#"
mkdir -p "$D/sessions"
prompt=""; sid=""; resume=""; json=""
for a in "$@"; do printf '%s\n' "$a" >> "$D/calls.txt"; done
echo "--" >> "$D/calls.txt"
while [ $# -gt 0 ]; do
  case "$1" in
    --print) prompt="$2"; shift 2;;
    --session-id) sid="$2"; shift 2;;
    --resume) resume="$2"; shift 2;;
    --output-format) json=1; shift 2;;
    *) shift;;
  esac
done
if [ -n "$resume" ] && [ ! -e "$D/sessions/$resume" ]; then
  if [ -n "$json" ]; then
    printf '%s\n' "{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"duration_ms\":0,\"is_error\":true,\"num_turns\":0,\"session_id\":\"$resume\",\"errors\":[\"No conversation found with session ID: $resume\"]}"
  else
    echo "No conversation found with session ID: $resume" >&2
  fi
  exit 1
fi
if [ -n "$sid" ]; then touch "$D/sessions/$sid"; fi
n=$(cat "$D/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$D/n"
if [ -n "$json" ]; then
  printf '%s\n' "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"$sid$resume\"}"
  printf '%s\n' "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"answer $n\",\"session_id\":\"$sid$resume\"}"
else
  echo "answer $n"
fi
"#;

fn calls(env: &Env) -> Vec<Vec<String>> {
    env.read("calls.txt")
        .split("--\n")
        .filter(|c| !c.is_empty())
        .map(|c| c.lines().map(String::from).collect())
        .collect()
}

async fn run_ok(env: &Env, input: Value) -> Value {
    let created = env.backend.spawn_claude(&input).await.unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job
}

fn contents(session: &Value) -> Vec<(String, String)> {
    session["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn native_sessions_resume_and_fall_back_once() {
    let env = env(SESSIONS).await;
    let mut sub = env.backend.subscribe().unwrap();
    let created = env.backend.create_claude_session().await.unwrap();
    let sid = created["session_id"].as_str().unwrap().to_string();
    assert!(sid.starts_with("session_"));
    let events = drain(&mut sub).await;
    assert!(events
        .iter()
        .any(|e| e["message"] == format!("claude session created {sid}")));

    let job = run_ok(&env, json!({"prompt": "first", "session_id": sid})).await;
    assert_eq!(job["result"]["stdout_tail"], json!(["answer 1"]));
    let c = calls(&env);
    assert_eq!(c[0][..3], ["--print", "first", "--session-id"]);
    let uuid = c[0][3].clone();
    assert_eq!(uuid.len(), 36);

    run_ok(&env, json!({"prompt": "second", "session_id": sid})).await;
    assert_eq!(
        calls(&env)[1],
        ["--print", "second", "--resume", uuid.as_str()]
    );

    // The CLI lost its transcript: one retry with the flattened history under a fresh UUID.
    std::fs::remove_file(env.path("sessions").join(&uuid)).unwrap();
    let job = run_ok(&env, json!({"prompt": "third", "session_id": sid})).await;
    assert_eq!(job["result"]["stdout_tail"], json!(["answer 3"]));
    let c = calls(&env);
    assert_eq!(c.len(), 4);
    assert_eq!(c[2], ["--print", "third", "--resume", uuid.as_str()]);
    let flat =
        "User: first\n\nAssistant: answer 1\n\nUser: second\n\nAssistant: answer 2\n\nUser: third";
    assert_eq!(
        c[3][..2],
        [
            "--print".to_string(),
            flat.lines().next().unwrap().to_string()
        ]
    );
    let joined = c[3].join("\n");
    assert!(
        joined.starts_with(&format!("--print\n{flat}\n--session-id\n")),
        "{joined}"
    );
    let new_uuid = c[3].last().unwrap().clone();
    assert_ne!(new_uuid, uuid);

    run_ok(&env, json!({"prompt": "fourth", "session_id": sid})).await;
    assert_eq!(
        calls(&env)[4],
        ["--print", "fourth", "--resume", new_uuid.as_str()]
    );

    let session =
        serde_json::to_value(env.backend.get_claude_session(&sid).await.unwrap()).unwrap();
    let keys: Vec<&str> = session
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["session_id", "created_at", "updated_at", "messages"]);
    assert_eq!(
        contents(&session),
        [
            ("user", "first"),
            ("assistant", "answer 1"),
            ("user", "second"),
            ("assistant", "answer 2"),
            ("user", "third"),
            ("assistant", "answer 3"),
            ("user", "fourth"),
            ("assistant", "answer 4")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test]
async fn stream_json_lost_session_is_read_from_result_errors() {
    let env = env(SESSIONS).await;
    let sid = env.backend.create_claude_session().await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let input = json!({"prompt": "one", "session_id": sid, "output_format": "stream-json"});
    let job = run_ok(&env, input.clone()).await;
    assert_eq!(job["result"]["text"], "answer 1");
    let uuid = calls(&env)[0].last().unwrap().clone();
    assert_eq!(job["result"]["claude_session_id"], uuid.as_str());
    std::fs::remove_dir_all(env.path("sessions")).unwrap();
    let job = run_ok(
        &env,
        json!({"prompt": "two", "session_id": sid, "output_format": "stream-json"}),
    )
    .await;
    assert_eq!(job["result"]["text"], "answer 2");
    let c = calls(&env);
    assert_eq!(c.len(), 3);
    assert_eq!(c[2][0..2], ["--print".to_string(), "User: one".to_string()]);
    assert_eq!(
        c[2][c[2].len() - 5..c[2].len() - 1],
        [
            "--output-format",
            "stream-json",
            "--verbose",
            "--session-id"
        ]
    );
    let session =
        serde_json::to_value(env.backend.get_claude_session(&sid).await.unwrap()).unwrap();
    assert_eq!(contents(&session).len(), 4);
    assert_eq!(contents(&session)[3].1, "answer 2");
}

#[tokio::test]
async fn sessions_are_trimmed_and_unknown_ids_get_rows_after_success() {
    let env = env(SESSIONS).await;
    env.backend
        .update_settings(&json!({"claude_session_max_messages": 3, "claude_session_max_chars": 20}))
        .await
        .unwrap();
    let sid = "my-own-session";
    run_ok(&env, json!({"prompt": "aaaaaaaaaa", "session_id": sid})).await;
    let s = serde_json::to_value(env.backend.get_claude_session(sid).await.unwrap()).unwrap();
    assert_eq!(
        contents(&s),
        [
            ("user".to_string(), "aaaaaaaaaa".to_string()),
            ("assistant".into(), "answer 1".into())
        ]
    );
    run_ok(&env, json!({"prompt": "bbbbbbbbbbbb", "session_id": sid})).await;
    let s = serde_json::to_value(env.backend.get_claude_session(sid).await.unwrap()).unwrap();
    // max 3 messages leaves [answer 1, bbbb…, answer 2] = 8+12+8 = 28 > 20 → oldest dropped.
    assert_eq!(
        contents(&s),
        [
            ("user".to_string(), "bbbbbbbbbbbb".to_string()),
            ("assistant".into(), "answer 2".into())
        ]
    );

    let list = env.backend.list_claude_sessions(&json!({})).await.unwrap();
    assert_eq!(list.len(), 1);
    let listed = serde_json::to_value(&list[0]).unwrap();
    assert!(listed.get("messages").is_none());
    assert_eq!(
        env.backend.delete_claude_session(sid).await.unwrap(),
        json!({"ok": true})
    );
    let err = env.backend.get_claude_session(sid).await.unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND");
    assert_eq!(err.to_string(), "session not found");
    assert_eq!(
        env.backend
            .delete_claude_session(sid)
            .await
            .unwrap_err()
            .code(),
        "E_NOT_FOUND"
    );
}

#[tokio::test]
async fn failed_runs_store_no_messages() {
    let env = env("echo nope\nexit 3\n").await;
    let sid = env.backend.create_claude_session().await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "x", "session_id": sid}))
        .await
        .unwrap();
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["error"]["exit_code"], 3);
    let s = serde_json::to_value(env.backend.get_claude_session(&sid).await.unwrap()).unwrap();
    assert_eq!(s["messages"], json!([]));
}

#[tokio::test]
async fn spawn_input_is_validated_like_http() {
    let env = env("").await;
    let err = env.backend.spawn_claude(&Value::Null).await.unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(err.detail()[0]["loc"], json!(["body"]));
    let err = env
        .backend
        .spawn_claude(
            &json!({"args": "x", "output_format": "xml", "timeout_ms": "soon", "prompt": 5}),
        )
        .await
        .unwrap_err();
    let kinds: Vec<(String, Value)> = err
        .detail()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["type"].as_str().unwrap().to_string(), i["loc"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("list_type".to_string(), json!(["body", "args"])),
            ("string_type".to_string(), json!(["body", "prompt"])),
            ("int_parsing".to_string(), json!(["body", "timeout_ms"])),
            (
                "literal_error".to_string(),
                json!(["body", "output_format"])
            ),
        ]
    );
    let created = env.backend.spawn_claude(&json!({})).await.unwrap();
    let job = env.backend.get_job(&created.job_id).await.unwrap();
    assert_eq!(
        job.payload,
        json!({"args":[],"prompt":null,"stdin":null,"session_id":null,"timeout_ms":null,"output_format":"text"})
    );
    let err = env
        .backend
        .list_claude_sessions(&json!({"limit": 0}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
}

#[tokio::test]
async fn at_most_claude_max_concurrent_runs_and_waiters_can_be_canceled() {
    // Each run holds its slot until the test creates `$D/go`.
    let body = "echo \"start $(date +%s%N)\" >> \"$D/times\"\nwhile [ ! -e \"$D/go\" ]; do sleep 0.02; done\necho \"end $(date +%s%N)\" >> \"$D/times\"\n";
    let env = env_with(body, 3).await;
    env.backend
        .update_settings(&json!({"claude_max_concurrent": 1}))
        .await
        .unwrap();
    let a = env
        .backend
        .spawn_claude(&json!({"prompt": "a"}))
        .await
        .unwrap();
    let b = env
        .backend
        .spawn_claude(&json!({"prompt": "b"}))
        .await
        .unwrap();
    let c = env
        .backend
        .spawn_claude(&json!({"prompt": "c"}))
        .await
        .unwrap();
    wait_file(&env.path("times"), Duration::from_secs(30)).await;
    // Exactly one run holds the slot and shows `running`; the others wait, still `queued`.
    let mut running = Vec::new();
    let mut waiting = Vec::new();
    for id in [&a.job_id, &b.job_id, &c.job_id] {
        match env.backend.get_job(id).await.unwrap().status.as_str() {
            "running" => running.push(id.clone()),
            _ => waiting.push(id.clone()),
        }
    }
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(env.read("times").lines().count(), 1);
    // A run waiting for a slot reacts to cancel at once: it is final while the slot's holder
    // still runs (it cannot end before `go` exists), and its CLI never started.
    env.backend.cancel_job(&waiting[0]).await.unwrap();
    let canceled = final_json(&env.backend, &waiting[0]).await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(
        env.backend.get_job(&running[0]).await.unwrap().status,
        "running"
    );
    assert_eq!(env.read("times").lines().count(), 1);
    std::fs::write(env.path("go"), "").unwrap();
    for id in [&running[0], &waiting[1]] {
        let job = final_json(&env.backend, id).await;
        assert_eq!(job["status"], "succeeded");
    }
    let times = env.read("times");
    let mut spans: Vec<(u128, u128)> = Vec::new();
    let mut open = None;
    for line in times.lines() {
        let (kind, t) = line.split_once(' ').unwrap();
        let t: u128 = t.parse().unwrap();
        if kind == "start" {
            assert!(open.is_none(), "two runs overlapped: {times}");
            open = Some(t);
        } else {
            spans.push((open.take().unwrap(), t));
        }
    }
    assert_eq!(spans.len(), 2, "{times}");
}

/// Benchmark (run with `--ignored --nocapture`): stream-json lines/s through the runner, the
/// parser and the bus, and the time from `spawnClaude` to the first `claude.output`.
#[tokio::test]
#[ignore]
async fn bench_stream_json_throughput_and_first_output() {
    let n = 200_000;
    let body = format!("yes '{ASSIST1}' | head -n {n}\n");
    let env = env(&body).await;
    let mut sub = env.backend.subscribe().unwrap();
    let start = Instant::now();
    let created = env
        .backend
        .spawn_claude(&json!({"prompt": "x", "output_format": "stream-json"}))
        .await
        .unwrap();
    loop {
        let e = sub.recv().await.unwrap();
        if e.contains("\"type\":\"claude.output\"") {
            break;
        }
    }
    println!("spawn to first claude.output: {:?}", start.elapsed());
    drop(sub);
    let job = final_json(&env.backend, &created.job_id).await;
    assert_eq!(job["status"], "succeeded");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} stream-json lines in {secs:.2}s = {:.0} lines/s",
        n as f64 / secs
    );
}
