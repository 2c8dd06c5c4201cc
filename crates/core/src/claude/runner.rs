//! One run of the CLI: its own process group, both streams read line by line as they arrive,
//! per-stream caps, timeout and abort killing the whole tree (CONTRACT.md §11.1).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::jobs::{Abort, AbortReason};

/// Time between SIGTERM and SIGKILL when a tree is stopped.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long output may keep flowing after the CLI exited (from children still holding the
/// pipes) before the rest of its group is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// A longer line is cut: it bounds memory whatever the child writes.
const MAX_LINE: usize = 32 * 1024 * 1024;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `stdout` / `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Receives each line as it arrives (with its parsed stream-json object, if any).
pub type Sink = Arc<dyn Fn(Stream, &str, Option<Value>) + Send + Sync>;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<String>,
    pub timeout: Option<Duration>,
    /// Bytes kept per stream.
    pub cap: usize,
    /// Parse stdout lines as stream-json.
    pub stream_json: bool,
}

/// The kept lines of one stream, oldest dropped first past the cap.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub lines: VecDeque<String>,
    pub bytes: usize,
    pub truncated: bool,
}

impl Captured {
    fn push(&mut self, line: &str, cap: usize) {
        let kept = if line.len() > cap {
            // A single line longer than the whole cap keeps its beginning only.
            self.truncated = true;
            let mut end = cap;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            &line[..end]
        } else {
            line
        };
        self.bytes += kept.len();
        self.lines.push_back(kept.to_string());
        while self.bytes > cap {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.len();
                    self.truncated = true;
                }
                None => break,
            }
        }
    }

    /// The kept lines as a JSON array.
    pub fn tail(&self) -> Value {
        Value::Array(self.lines.iter().cloned().map(Value::String).collect())
    }
}

/// What the stream-json messages of stdout said.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    /// The last `{"type":"result"}` message.
    pub last_result: Option<Value>,
    /// Text parts of the assistant messages, in order.
    pub assistant_texts: Vec<String>,
    /// The CLI's `session_id` from `system`/`init` or `result`.
    pub cli_session_id: Option<String>,
}

impl Parsed {
    fn observe(&mut self, msg: &Value) {
        let kind = msg.get("type").and_then(Value::as_str);
        let session = msg.get("session_id").and_then(Value::as_str);
        match kind {
            Some("system") if msg.get("subtype").and_then(Value::as_str) == Some("init") => {
                if let Some(s) = session {
                    self.cli_session_id = Some(s.to_string());
                }
            }
            Some("result") => {
                if let Some(s) = session {
                    self.cli_session_id = Some(s.to_string());
                }
                self.last_result = Some(msg.clone());
            }
            Some("assistant") => {
                let parts = msg
                    .get("message")
                    .and_then(|m| m.get("content"))
                    .and_then(Value::as_array);
                for part in parts.into_iter().flatten() {
                    if part.get("type").and_then(Value::as_str) == Some("text") {
                        if let Some(t) = part.get("text").and_then(Value::as_str) {
                            self.assistant_texts.push(t.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// `text` of the result: the last result's `result` string, else the assistant texts
    /// joined, else null.
    pub fn text(&self) -> Value {
        if let Some(Value::String(s)) = self.last_result.as_ref().and_then(|r| r.get("result")) {
            return Value::String(s.clone());
        }
        if self.assistant_texts.is_empty() {
            Value::Null
        } else {
            Value::String(self.assistant_texts.join("\n"))
        }
    }

    /// True when the final result's `errors` mention `needle`.
    pub fn errors_contain(&self, needle: &str) -> bool {
        self.last_result
            .as_ref()
            .and_then(|r| r.get("errors"))
            .and_then(Value::as_array)
            .is_some_and(|errs| {
                errs.iter()
                    .any(|e| e.as_str().is_some_and(|s| s.contains(needle)))
            })
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The CLI exited; a signal death is the negative signal number.
    Exited(i32),
    /// The timeout passed; the tree was killed.
    TimedOut,
    /// The job's abort signal fired; the tree was killed.
    Aborted(AbortReason),
    /// The process could not be started (the OS error text).
    SpawnFailed(String),
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub end: RunEnd,
    pub duration_ms: i64,
    pub stdout: Captured,
    pub stderr: Captured,
    pub parsed: Parsed,
}

#[derive(Default)]
struct StreamResult {
    captured: Captured,
    parsed: Parsed,
}

/// Runs the CLI to its end, streaming every line to `sink`.
pub async fn run(spec: RunSpec, sink: Sink, abort: &Abort) -> RunOutput {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A backstop for paths that drop the child without the tree kill below.
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    // Its own process group, so the whole tree (grandchildren too) can be signalled at once.
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(windows)]
    {
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP);
    }
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            return RunOutput {
                end: RunEnd::SpawnFailed(err.to_string()),
                duration_ms: 0,
                stdout: Captured::default(),
                stderr: Captured::default(),
                parsed: Parsed::default(),
            }
        }
    };
    let tree = Tree::of(&child);
    let stdin_task = write_stdin(&mut child, spec.stdin.clone());
    let out_task = child.stdout.take().map(|r| {
        tokio::spawn(read_lines(
            r,
            Stream::Stdout,
            spec.cap,
            spec.stream_json,
            Arc::clone(&sink),
        ))
    });
    let err_task = child.stderr.take().map(|r| {
        tokio::spawn(read_lines(
            r,
            Stream::Stderr,
            spec.cap,
            false,
            Arc::clone(&sink),
        ))
    });

    let timeout = async {
        match spec.timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let end = tokio::select! {
        status = child.wait() => RunEnd::Exited(match status {
            Ok(s) => exit_code(s),
            Err(_) => -1,
        }),
        _ = timeout => RunEnd::TimedOut,
        reason = abort.fired() => RunEnd::Aborted(reason),
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    match end {
        RunEnd::Exited(_) => {
            if let Some(t) = &stdin_task {
                t.abort();
            }
        }
        _ => stop_tree(&mut child, &tree, stdin_task.as_ref()).await,
    }
    let (stdout, stderr) =
        collect(out_task, err_task, &tree, matches!(end, RunEnd::Exited(_))).await;
    RunOutput {
        end,
        duration_ms,
        stdout: stdout.captured,
        stderr: stderr.captured,
        parsed: stdout.parsed,
    }
}

/// Writes a non-empty `stdin` and closes the pipe, always (the CLI waits for stdin otherwise).
fn write_stdin(child: &mut Child, data: Option<String>) -> Option<JoinHandle<()>> {
    let mut pipe = child.stdin.take()?;
    let data = data.filter(|d| !d.is_empty());
    let Some(data) = data else {
        drop(pipe);
        return None;
    };
    // On its own task: a child that does not read stdin must not block the output readers.
    Some(tokio::spawn(async move {
        let _ = pipe.write_all(data.as_bytes()).await;
        let _ = pipe.shutdown().await;
    }))
}

/// Waits for both readers. After a normal exit, children that still hold the pipes get
/// [`DRAIN_GRACE`], then the rest of the group is killed so the run can finish.
async fn collect(
    out_task: Option<JoinHandle<StreamResult>>,
    err_task: Option<JoinHandle<StreamResult>>,
    tree: &Tree,
    exited: bool,
) -> (StreamResult, StreamResult) {
    let (mut out, mut err) = (out_task, err_task);
    let grace = if exited { DRAIN_GRACE } else { KILL_GRACE };
    let mut joined = join_within(&mut out, &mut err, grace).await;
    if !joined && exited {
        // The group is alive while something holds the pipes, so its id is not reused.
        tree.signal(Signal::Kill);
        joined = join_within(&mut out, &mut err, KILL_GRACE).await;
    }
    if !joined {
        for t in [&out, &err].into_iter().flatten() {
            t.abort();
        }
    }
    (take(out).await, take(err).await)
}

async fn join_within(
    out: &mut Option<JoinHandle<StreamResult>>,
    err: &mut Option<JoinHandle<StreamResult>>,
    limit: Duration,
) -> bool {
    let wait = async {
        loop {
            let done = out.as_ref().is_none_or(|t| t.is_finished())
                && err.as_ref().is_none_or(|t| t.is_finished());
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(limit, wait).await.is_ok()
}

async fn take(task: Option<JoinHandle<StreamResult>>) -> StreamResult {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => StreamResult::default(),
    }
}

/// Stops the tree: stdin closed, SIGTERM to the group, SIGKILL after [`KILL_GRACE`] (also to
/// grandchildren that outlived the leader), then the child is reaped.
async fn stop_tree(child: &mut Child, tree: &Tree, stdin_task: Option<&JoinHandle<()>>) {
    if let Some(t) = stdin_task {
        t.abort();
    }
    drop(child.stdin.take());
    tree.signal(Signal::Term);
    #[cfg(not(unix))]
    let _ = child.start_kill();
    let exited = tokio::time::timeout(KILL_GRACE, child.wait()).await.is_ok();
    tree.signal(Signal::Kill);
    if !exited {
        let _ = child.start_kill();
        let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    }
}

enum Signal {
    Term,
    Kill,
}

/// The process tree of one run: the CLI's own process group on Unix (`process_group(0)`), a
/// job object on Windows (see `job_object`). Dropping it on Windows kills what is left.
struct Tree {
    #[cfg(unix)]
    pid: Option<u32>,
    #[cfg(windows)]
    job: Option<super::job_object::Job>,
}

impl Tree {
    /// The tree of a child just spawned.
    #[cfg_attr(not(any(unix, windows)), allow(unused_variables))]
    fn of(child: &Child) -> Tree {
        Tree {
            #[cfg(unix)]
            pid: child.id(),
            #[cfg(windows)]
            job: child.raw_handle().and_then(super::job_object::Job::contain),
        }
    }

    /// Signals every process of the tree.
    #[cfg(unix)]
    fn signal(&self, signal: Signal) {
        let Some(pid) = self
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 1)
        else {
            return;
        };
        let sig = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: killpg only sends a signal; the group id is the child's pid (process_group(0)),
        // and a failure (ESRCH: the group is gone) is harmless.
        unsafe {
            libc::killpg(pid, sig);
        }
    }

    /// Windows has no polite signal for a tree: `Term` leaves the CLI to `start_kill`, `Kill`
    /// terminates the whole job.
    #[cfg(windows)]
    fn signal(&self, signal: Signal) {
        if let (Signal::Kill, Some(job)) = (signal, &self.job) {
            job.terminate();
        }
    }

    #[cfg(not(any(unix, windows)))]
    fn signal(&self, _signal: Signal) {}
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(-1)
}

#[cfg(not(unix))]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(-1)
}

/// Reads one pipe line by line (UTF-8 with replacement, trailing whitespace stripped), hands
/// each line to the sink at once and keeps it within the cap.
async fn read_lines<R: AsyncRead + Unpin>(
    pipe: R,
    stream: Stream,
    cap: usize,
    parse_json: bool,
    sink: Sink,
) -> StreamResult {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut result = StreamResult::default();
    let mut buf: Vec<u8> = Vec::new();
    while let Ok(chunk) = reader.fill_buf().await {
        if chunk.is_empty() {
            if !buf.is_empty() {
                emit(&buf, stream, cap, parse_json, &sink, &mut result);
            }
            break;
        }
        let (take, newline) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        reader.consume(take + usize::from(newline));
        if newline {
            emit(&buf, stream, cap, parse_json, &sink, &mut result);
            buf.clear();
        }
    }
    result
}

fn emit(
    raw: &[u8],
    stream: Stream,
    cap: usize,
    parse_json: bool,
    sink: &Sink,
    result: &mut StreamResult,
) {
    let text = String::from_utf8_lossy(raw);
    let line = text.trim_end();
    let parsed = if parse_json && line.starts_with('{') {
        serde_json::from_str::<Value>(line)
            .ok()
            .filter(Value::is_object)
    } else {
        None
    };
    if let Some(msg) = &parsed {
        result.parsed.observe(msg);
    }
    result.captured.push(line, cap);
    sink(stream, line, parsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_drops_oldest_whole_lines() {
        let mut c = Captured::default();
        for i in 0..10 {
            c.push(&format!("line{i}"), 12);
        }
        assert!(c.truncated);
        assert_eq!(c.lines, ["line8", "line9"]);
        let mut c = Captured::default();
        c.push("ééééé", 3);
        assert_eq!(c.lines, ["é"]);
        assert!(c.truncated);
    }

    #[test]
    fn parsed_text_prefers_result() {
        let mut p = Parsed::default();
        p.observe(&serde_json::json!({"type":"system","subtype":"init","session_id":"s1"}));
        p.observe(&serde_json::json!({"type":"assistant","message":{"content":[{"type":"text","text":"a"},{"type":"tool_use","name":"x"}]}}));
        p.observe(&serde_json::json!({"type":"assistant","message":{"content":[{"type":"text","text":"b"}]}}));
        assert_eq!(p.text(), "a\nb");
        assert_eq!(p.cli_session_id.as_deref(), Some("s1"));
        p.observe(&serde_json::json!({"type":"result","result":"done","session_id":"s2","errors":["No conversation found with x"]}));
        assert_eq!(p.text(), "done");
        assert_eq!(p.cli_session_id.as_deref(), Some("s2"));
        assert!(p.errors_contain("No conversation found"));
    }
}
