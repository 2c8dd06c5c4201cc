//! Where the Claude Code CLI is, and what a run asks of it (CONTRACT.md §11.1).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::validate::parse_lax_int;

/// `text` (default) or `stream-json`.
pub const STREAM_JSON: &str = "stream-json";

/// Finds the CLI: `claude_path` when it names an existing file, else `claude` on `PATH`
/// (Windows: with the `PATHEXT` extensions). Blocking (file system checks).
pub fn find_cli(claude_path: Option<&Path>) -> Option<PathBuf> {
    find_cli_in(
        claude_path,
        std::env::var_os("PATH"),
        std::env::var_os("PATHEXT"),
    )
}

/// [`find_cli`] with explicit `PATH` / `PATHEXT` values (testable without touching the
/// process environment).
pub fn find_cli_in(
    claude_path: Option<&Path>,
    path_var: Option<OsString>,
    pathext: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(p) = claude_path {
        if p.is_file() {
            return Some(p.to_path_buf());
        }
    }
    let path_var = path_var?;
    let exts: Vec<String> = if cfg!(windows) {
        let raw = pathext
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".COM;.EXE;.BAT;.CMD".into());
        raw.split(';')
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect()
    } else {
        let _ = pathext;
        vec![String::new()]
    };
    for dir in std::env::split_paths(&path_var) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        for ext in &exts {
            let candidate = dir.join(format!("claude{ext}"));
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// The payload of a `claude.spawn` job, read leniently: jobs created through `createJob`
/// carry unvalidated payloads, and a wrong type must fail softly, never crash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpawnRequest {
    pub args: Vec<String>,
    pub prompt: Option<String>,
    pub stdin: Option<String>,
    pub session_id: Option<String>,
    pub timeout_ms: Option<i64>,
    pub stream_json: bool,
}

fn opt_string(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

impl SpawnRequest {
    /// Reads a job payload.
    pub fn from_payload(payload: &Value) -> SpawnRequest {
        let args: Vec<String> = payload
            .get("args")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let format_stream =
            payload.get("output_format").and_then(Value::as_str) == Some(STREAM_JSON);
        let timeout_ms = payload.get("timeout_ms").and_then(|v| {
            parse_lax_int(v).or_else(|| v.as_f64().filter(|x| x.is_finite()).map(|x| x as i64))
        });
        SpawnRequest {
            stream_json: format_stream || args_ask_stream_json(&args),
            args,
            prompt: opt_string(payload.get("prompt")),
            stdin: opt_string(payload.get("stdin")),
            session_id: opt_string(payload.get("session_id")).filter(|s| !s.is_empty()),
            timeout_ms,
        }
    }

    /// The prompt when it is non-empty.
    pub fn prompt(&self) -> Option<&str> {
        self.prompt.as_deref().filter(|p| !p.is_empty())
    }

    /// Whether the run continues a native CLI session: a session, a prompt and no args.
    pub fn native_session(&self) -> bool {
        self.session_id.is_some() && self.prompt().is_some() && self.args.is_empty()
    }

    /// The timeout: none for null, else max(timeout_ms / 1000, 1) seconds.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout_ms.map(|ms| {
            let secs = (ms as f64 / 1000.0).max(1.0);
            std::time::Duration::from_secs_f64(secs)
        })
    }
}

/// True when user-supplied args switch the CLI to stream-json output.
pub fn args_ask_stream_json(args: &[String]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        a == "--output-format=stream-json"
            || (a == "--output-format" && args.get(i + 1).map(String::as_str) == Some(STREAM_JSON))
    })
}

/// How a native session is continued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFlag {
    /// `--session-id <uuid>`: the first run of a session.
    New(String),
    /// `--resume <uuid>`: later runs.
    Resume(String),
}

/// The argument vector of a run: `args` unchanged when given, else `--print <prompt>`, the
/// output flags, then the session flag. `None` when there is nothing to run.
pub fn build_args(
    req: &SpawnRequest,
    prompt_override: Option<&str>,
    session: Option<&SessionFlag>,
) -> Option<Vec<String>> {
    if !req.args.is_empty() {
        return Some(req.args.clone());
    }
    let prompt = prompt_override.or(req.prompt())?;
    let mut out = vec!["--print".to_string(), prompt.to_string()];
    if req.stream_json {
        out.extend(["--output-format", STREAM_JSON, "--verbose"].map(String::from));
    }
    match session {
        Some(SessionFlag::New(id)) => out.extend(["--session-id".to_string(), id.clone()]),
        Some(SessionFlag::Resume(id)) => out.extend(["--resume".to_string(), id.clone()]),
        None => {}
    }
    Some(out)
}

/// The fallback prompt: stored messages as `User:` / `Assistant:` blocks joined by a blank
/// line, ending with the new prompt.
pub fn flatten_history(messages: &[(String, String)], prompt: &str) -> String {
    let mut blocks: Vec<String> = messages
        .iter()
        .map(|(role, content)| {
            let who = if role == "assistant" {
                "Assistant"
            } else {
                "User"
            };
            format!("{who}: {content}")
        })
        .collect();
    blocks.push(format!("User: {prompt}"));
    blocks.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_arguments_in_contract_order() {
        let req =
            SpawnRequest::from_payload(&json!({"prompt": "hi", "output_format": "stream-json"}));
        assert!(req.stream_json);
        assert_eq!(
            build_args(&req, None, Some(&SessionFlag::Resume("u".into()))).unwrap(),
            [
                "--print",
                "hi",
                "--output-format",
                "stream-json",
                "--verbose",
                "--resume",
                "u"
            ]
        );
        let req = SpawnRequest::from_payload(&json!({"prompt": "hi", "args": ["-p", "x"]}));
        assert_eq!(build_args(&req, None, None).unwrap(), ["-p", "x"]);
        assert!(!req.native_session());
        let req = SpawnRequest::from_payload(&json!({"prompt": ""}));
        assert_eq!(build_args(&req, None, None), None);
        let req = SpawnRequest::from_payload(&json!({"args": ["--output-format", "stream-json"]}));
        assert!(req.stream_json);
        let req = SpawnRequest::from_payload(&json!({"args": ["--output-format=stream-json"]}));
        assert!(req.stream_json);
        let req = SpawnRequest::from_payload(&json!({"args": 5, "timeout_ms": 200}));
        assert!(req.args.is_empty());
        assert_eq!(req.timeout(), Some(std::time::Duration::from_secs(1)));
        let req = SpawnRequest::from_payload(&json!({"timeout_ms": 2500}));
        assert_eq!(req.timeout(), Some(std::time::Duration::from_millis(2500)));
    }

    #[test]
    fn flattens_history() {
        let msgs = vec![
            ("user".into(), "a".into()),
            ("assistant".into(), "b".into()),
        ];
        assert_eq!(
            flatten_history(&msgs, "c"),
            "User: a\n\nAssistant: b\n\nUser: c"
        );
    }

    #[cfg(unix)]
    #[test]
    fn finds_cli_on_path_or_config() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_cli_in(None, Some(dir.path().into()), None), None);
        let exe = dir.path().join("claude");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        assert_eq!(find_cli_in(None, Some(dir.path().into()), None), None);
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            find_cli_in(None, Some(dir.path().into()), None),
            Some(exe.clone())
        );
        let other = dir.path().join("other");
        std::fs::write(&other, "x").unwrap();
        assert_eq!(find_cli_in(Some(&other), None, None), Some(other));
        let missing = dir.path().join("missing");
        assert_eq!(
            find_cli_in(Some(&missing), Some(dir.path().into()), None),
            Some(exe)
        );
    }
}
