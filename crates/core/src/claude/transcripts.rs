//! Claude Code's own transcripts (CONTRACT.md §11.3): `<claudeProjectsDir>/<dir>/*.jsonl`,
//! read-only. Listing reads at most the first [`HEAD_LINES`] lines and the last [`TAIL_BYTES`]
//! of a file, so a multi-megabyte transcript lists as fast as a small one. Unparsable lines are
//! skipped and counted; records of sidechains (sub-agents), nested ones included, are marked.
//! Every function here is blocking: callers run them on the blocking pool.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::sessions::Import;
use crate::error::{Error, Result};

/// Lines read from the start of a file for its metadata.
pub const HEAD_LINES: usize = 100;
/// Bytes read from the end of a file for its newest timestamp.
pub const TAIL_BYTES: u64 = 64 * 1024;
/// `firstMessage` is cut to this many characters.
const FIRST_MESSAGE_CHARS: usize = 200;
/// Texts that are slash-command plumbing, not a message of the user.
const COMMAND_PREFIXES: [&str; 4] = [
    "<command-name>",
    "<command-message>",
    "<command-args>",
    "<local-command",
];

/// One transcript in a listing; camelCase keys as the renderer's type (plus `lastTimestamp`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptSession {
    pub id: String,
    pub summary: String,
    pub first_message: Option<String>,
    pub timestamp: String,
    pub message_count: usize,
    pub git_branch: Option<String>,
    pub project_path: String,
    pub file_path: String,
    /// The newest record timestamp found (tail of the file), new.
    pub last_timestamp: Option<String>,
}

/// Claude Code's directory name for a project path: every UTF-16 unit outside `A-Za-z0-9`
/// becomes `-` (it does `path.replace(/[^a-zA-Z0-9]/g, '-')` on a JS string).
pub fn encode_project_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                out.push('-');
            }
        }
    }
    out
}

/// The lossy reverse of [`encode_project_path`], used only when no file names the project.
fn decode_dir_name(name: &str) -> String {
    name.replace('-', "/")
}

/// Metadata gathered from the records of one file.
#[derive(Debug, Default, Clone)]
struct Meta {
    summary: Option<String>,
    first_user: Option<String>,
    first_assistant: Option<String>,
    timestamp: Option<String>,
    last_timestamp: Option<String>,
    git_branch: Option<String>,
    session_id: Option<String>,
    cwd: Option<String>,
    message_count: usize,
    skipped: usize,
    sidechains: HashSet<String>,
}

fn str_field<'a>(rec: &'a Value, key: &str) -> Option<&'a str> {
    rec.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn set_first(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        if let Some(v) = value {
            *slot = Some(v.to_string());
        }
    }
}

/// `message.content` as text: a string, or the `text` values of its parts joined with `\n`.
pub fn content_text(rec: &Value) -> String {
    match rec.get("message").and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn is_command_text(text: &str) -> bool {
    let t = text.trim_start();
    COMMAND_PREFIXES.iter().any(|p| t.starts_with(p))
}

fn is_meta(rec: &Value) -> bool {
    rec.get("isMeta").and_then(Value::as_bool) == Some(true)
}

impl Meta {
    /// Whether `rec` belongs to a sidechain: it says so, or its parent does (nested chains).
    fn sidechain(&mut self, rec: &Value) -> bool {
        let own = rec.get("isSidechain").and_then(Value::as_bool) == Some(true);
        let inherited = str_field(rec, "parentUuid").is_some_and(|p| self.sidechains.contains(p));
        let side = own || inherited;
        if side {
            if let Some(uuid) = str_field(rec, "uuid") {
                self.sidechains.insert(uuid.to_string());
            }
        }
        side
    }

    /// Takes one record into account; returns whether it is a sidechain record.
    fn observe(&mut self, rec: &Value) -> bool {
        let side = self.sidechain(rec);
        set_first(&mut self.timestamp, str_field(rec, "timestamp"));
        if let Some(ts) = str_field(rec, "timestamp") {
            self.last_timestamp = Some(ts.to_string());
        }
        set_first(&mut self.git_branch, str_field(rec, "gitBranch"));
        set_first(&mut self.session_id, str_field(rec, "sessionId"));
        set_first(&mut self.cwd, str_field(rec, "cwd"));
        let kind = rec.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "summary" => set_first(&mut self.summary, str_field(rec, "summary")),
            "user" | "assistant" if !is_meta(rec) => {
                self.message_count += 1;
                if side {
                    return side;
                }
                let slot = if kind == "user" {
                    &mut self.first_user
                } else {
                    &mut self.first_assistant
                };
                if slot.is_none() {
                    let text = content_text(rec);
                    if !text.trim().is_empty() && !is_command_text(&text) {
                        *slot = Some(text.chars().take(FIRST_MESSAGE_CHARS).collect());
                    }
                }
            }
            _ => {}
        }
        side
    }

    fn first_message(&self) -> Option<String> {
        self.first_user
            .clone()
            .or_else(|| self.first_assistant.clone())
    }

    fn session(&self, file: &Path, mtime: Option<SystemTime>, project: &str) -> TranscriptSession {
        let first_message = self.first_message();
        let id = self.session_id.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        TranscriptSession {
            id,
            summary: self
                .summary
                .clone()
                .or_else(|| first_message.clone())
                .unwrap_or_else(|| "Untitled Session".into()),
            first_message,
            timestamp: self
                .timestamp
                .clone()
                .unwrap_or_else(|| mtime.map(iso_millis).unwrap_or_default()),
            message_count: self.message_count,
            git_branch: self.git_branch.clone(),
            project_path: self.cwd.clone().unwrap_or_else(|| project.to_string()),
            file_path: file.to_string_lossy().into_owned(),
            last_timestamp: self.last_timestamp.clone(),
        }
    }
}

/// `toISOString()` of a file time.
fn iso_millis(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn parse_line(line: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(line)
        .ok()
        .filter(Value::is_object)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Reads the head (and tail) metadata of one file.
fn read_meta(path: &Path) -> std::io::Result<Meta> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut meta = Meta::default();
    let mut head_end: u64 = 0;
    {
        let mut reader = BufReader::with_capacity(64 * 1024, &mut file);
        let mut line = Vec::new();
        for _ in 0..HEAD_LINES {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            head_end += n as u64;
            if is_blank(&line) {
                continue;
            }
            match parse_line(&line) {
                Some(rec) => {
                    meta.observe(&rec);
                }
                None => meta.skipped += 1,
            }
        }
    }
    if head_end < len {
        read_tail(&mut file, len, head_end, &mut meta)?;
    }
    Ok(meta)
}

/// The newest timestamp among the last [`TAIL_BYTES`] (lines after the head only).
fn read_tail(file: &mut File, len: u64, head_end: u64, meta: &mut Meta) -> std::io::Result<()> {
    let start = len.saturating_sub(TAIL_BYTES).max(head_end);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    file.take(len - start).read_to_end(&mut buf)?;
    let mut lines: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
    if start > head_end && !lines.is_empty() {
        // The first piece is the end of a line that started before the window.
        lines.remove(0);
    }
    for line in lines.iter().rev() {
        if is_blank(line) {
            continue;
        }
        match parse_line(line) {
            Some(rec) => {
                if let Some(ts) = str_field(&rec, "timestamp") {
                    meta.last_timestamp = Some(ts.to_string());
                    return Ok(());
                }
            }
            None => meta.skipped += 1,
        }
    }
    Ok(())
}

/// A `.jsonl` file with its mtime.
struct Entry {
    path: PathBuf,
    mtime: Option<SystemTime>,
    agent: bool,
}

/// The transcript files of a directory, newest first.
fn transcript_files(dir: &Path) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Entry> = read
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            if !name.ends_with(".jsonl") {
                return None;
            }
            let md = e.metadata().ok()?;
            if !md.is_file() {
                return None;
            }
            Some(Entry {
                agent: name.starts_with("agent-"),
                mtime: md.modified().ok(),
                path,
            })
        })
        .collect();
    out.sort_by(|a, b| b.mtime.cmp(&a.mtime).then_with(|| a.path.cmp(&b.path)));
    out
}

/// Project directories under the root, by name.
fn project_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = read
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// The project path of a directory: the `cwd` of its newest session file that has one
/// (`agent-*` files only when nothing else has it), else the lossy decoded name.
fn dir_project(dir: &Path) -> String {
    let files = transcript_files(dir);
    let ordered = files
        .iter()
        .filter(|e| !e.agent)
        .chain(files.iter().filter(|e| e.agent));
    for entry in ordered {
        if let Ok(meta) = read_meta(&entry.path) {
            if let Some(cwd) = meta.cwd {
                return cwd;
            }
        }
    }
    decode_dir_name(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

/// `listClaudeProjects()`: one path per directory, duplicates dropped.
pub fn list_projects(root: &Path) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for dir in project_dirs(root) {
        let project = dir_project(&dir);
        if seen.insert(project.clone()) {
            out.push(project);
        }
    }
    Ok(out)
}

/// The directories of a project: exact `cwd` match first, then the encoded name.
fn resolve_project(root: &Path, project: &str) -> Vec<PathBuf> {
    let dirs = project_dirs(root);
    let by_cwd: Vec<PathBuf> = dirs
        .iter()
        .filter(|d| dir_project(d) == project)
        .cloned()
        .collect();
    if !by_cwd.is_empty() {
        return by_cwd;
    }
    let encoded = encode_project_path(project);
    let by_name = root.join(&encoded);
    // A symlinked folder (`<root>/-secret -> /secret`) must not widen what can be read: like
    // `confine`, the folder counts only if it lies inside the root after resolution.
    if by_name.is_dir() && inside(&resolve(root), &by_name) {
        vec![by_name]
    } else {
        Vec::new()
    }
}

/// Sessions of some directories, newest file first. Files are read on a few threads: listing
/// a large library is bound by parsing the heads, and the caller is already off the runtime.
fn sessions_of(
    dirs: &[PathBuf],
    project: Option<&str>,
) -> Vec<(Option<SystemTime>, TranscriptSession)> {
    let mut work: Vec<(Entry, String)> = Vec::new();
    for dir in dirs {
        let fallback = match project {
            Some(p) => p.to_string(),
            None => dir_project(dir),
        };
        for entry in transcript_files(dir).into_iter().filter(|e| !e.agent) {
            work.push((entry, fallback.clone()));
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = work.len().div_ceil(threads).max(64);
    let read = |items: &[(Entry, String)]| -> Vec<(Option<SystemTime>, TranscriptSession)> {
        items
            .iter()
            .filter_map(|(entry, fallback)| {
                let meta = read_meta(&entry.path).ok()?;
                Some((
                    entry.mtime,
                    meta.session(&entry.path, entry.mtime, fallback),
                ))
            })
            .collect()
    };
    let mut out: Vec<(Option<SystemTime>, TranscriptSession)> = if work.len() <= chunk {
        read(&work)
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(chunk)
                .map(|part| scope.spawn(move || read(part)))
                .collect();
            handles
                .into_iter()
                // A panicking reader loses its files, never the listing.
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out
}

/// `listClaudeTranscripts(projectPath)`: the project's sessions, newest first.
pub fn list_transcripts(root: &Path, project: &str) -> Result<Vec<TranscriptSession>> {
    let dirs = resolve_project(root, project);
    Ok(sessions_of(&dirs, Some(project))
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// `listClaudeTranscriptsForDate(date, projectPaths?)`: sessions whose `timestamp` is on the
/// UTC date `date` (`YYYY-MM-DD`).
pub fn list_for_date(
    root: &Path,
    date: &str,
    projects: Option<&[String]>,
) -> Result<Vec<TranscriptSession>> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .filter(|_| date.len() == 10)
        .ok_or_else(|| Error::BadRequest(format!("invalid date '{date}': expected YYYY-MM-DD")))?;
    let found = match projects {
        None => sessions_of(&project_dirs(root), None),
        Some(list) => {
            let mut all = Vec::new();
            for p in list {
                all.extend(sessions_of(&resolve_project(root, p), Some(p)));
            }
            all.sort_by_key(|e| std::cmp::Reverse(e.0));
            all
        }
    };
    let mut seen = HashSet::new();
    Ok(found
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| utc_date(&s.timestamp) == Some(day))
        .filter(|s| seen.insert(s.file_path.clone()))
        .collect())
}

fn utc_date(ts: &str) -> Option<NaiveDate> {
    let ms = crate::time::parse_iso_ms(ts)?;
    DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.date_naive())
}

fn outside() -> Error {
    Error::BadRequest("file path is outside the Claude projects directory".into())
}

/// Resolves `..` and the symlinks of the parts that exist; the rest is normalized lexically.
fn resolve(path: &Path) -> PathBuf {
    let comps: Vec<Component<'_>> = path.components().collect();
    for n in (1..=comps.len()).rev() {
        let prefix: PathBuf = comps[..n].iter().collect();
        if let Ok(mut base) = prefix.canonicalize() {
            for c in &comps[n..] {
                match c {
                    Component::ParentDir => {
                        base.pop();
                    }
                    Component::Normal(part) => base.push(part),
                    _ => {}
                }
            }
            return base;
        }
    }
    // Nothing exists, not even the root of the path: lexical normalization only.
    let mut base = PathBuf::new();
    for c in comps {
        match c {
            Component::ParentDir => {
                base.pop();
            }
            Component::CurDir => {}
            other => base.push(other.as_os_str()),
        }
    }
    base
}

/// Whether `path`, its symlinks resolved, lies strictly inside `root_resolved`.
fn inside(root_resolved: &Path, path: &Path) -> bool {
    path.canonicalize()
        .map(|p| p != root_resolved && p.starts_with(root_resolved))
        .unwrap_or(false)
}

/// A transcript path confined to the projects directory: outside (after resolution) is
/// `E_INVALID_INPUT` whether or not it exists; a missing file inside is `E_NOT_FOUND`.
pub fn confine(root: &Path, file: &str) -> Result<PathBuf> {
    if file.is_empty() {
        return Err(Error::BadRequest(
            "file path must be a non-empty string".into(),
        ));
    }
    let given = Path::new(file);
    let absolute = if given.is_absolute() {
        given.to_path_buf()
    } else {
        root.join(given)
    };
    let root_resolved = resolve(root);
    let resolved = resolve(&absolute);
    if resolved == root_resolved || !resolved.starts_with(&root_resolved) {
        return Err(outside());
    }
    match std::fs::metadata(&resolved) {
        Ok(md) if md.is_file() => Ok(resolved),
        _ => Err(Error::NotFound("transcript not found".into())),
    }
}

/// Every record of a file, sidechains marked, with the metadata over all of them.
fn read_all(path: &Path) -> Result<(Vec<Value>, Meta)> {
    let file = File::open(path)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut meta = Meta::default();
    let mut records = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if is_blank(&line) {
            continue;
        }
        let Some(mut rec) = parse_line(&line) else {
            meta.skipped += 1;
            continue;
        };
        if meta.observe(&rec) {
            if let Value::Object(map) = &mut rec {
                map.insert("isSidechain".into(), Value::Bool(true));
            }
        }
        records.push(rec);
    }
    Ok((records, meta))
}

fn project_of_file(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(|n| decode_dir_name(&n.to_string_lossy()))
        .unwrap_or_default()
}

/// `getClaudeTranscript(filePath)`: `{session, messages, skippedLines}`.
pub fn get_transcript(root: &Path, file: &str) -> Result<Value> {
    let path = confine(root, file)?;
    let mtime = std::fs::metadata(&path)
        .ok()
        .and_then(|m| m.modified().ok());
    let (records, meta) = read_all(&path)?;
    let session = meta.session(&path, mtime, &project_of_file(&path));
    Ok(json!({
        "session": session,
        "messages": records,
        "skippedLines": meta.skipped,
    }))
}

/// What `importClaudeTranscript` stores: the main-chain user/assistant texts, consecutive
/// records of one role merged (Claude Code writes one record per content block).
pub fn import_data(
    root: &Path,
    file: &str,
    max_messages: usize,
    max_chars: usize,
) -> Result<Import> {
    let path = confine(root, file)?;
    let (records, meta) = read_all(&path)?;
    let mut messages: Vec<(String, String, String)> = Vec::new();
    for rec in &records {
        let role = rec.get("type").and_then(Value::as_str).unwrap_or_default();
        if !matches!(role, "user" | "assistant")
            || is_meta(rec)
            || rec.get("isSidechain").and_then(Value::as_bool) == Some(true)
        {
            continue;
        }
        let text = content_text(rec);
        let text = text.trim();
        if text.is_empty() || is_command_text(text) {
            continue;
        }
        let created = str_field(rec, "timestamp")
            .and_then(crate::time::parse_iso)
            .map(crate::time::format_epoch)
            .unwrap_or_else(crate::time::now_iso);
        match messages.last_mut() {
            Some((last_role, content, _)) if last_role == role => {
                content.push_str("\n\n");
                content.push_str(text);
            }
            _ => messages.push((role.to_string(), text.to_string(), created)),
        }
    }
    Ok(Import {
        source_path: path.to_string_lossy().into_owned(),
        cli_session_id: meta.session_id.clone(),
        title: meta.summary.clone().or_else(|| meta.first_message()),
        cwd: meta.cwd.clone(),
        messages,
        max_messages,
        max_chars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_claude_code() {
        assert_eq!(
            encode_project_path("/Users/foo/my.app"),
            "-Users-foo-my-app"
        );
        assert_eq!(
            encode_project_path("C:\\Users\\me\\proj"),
            "C--Users-me-proj"
        );
        assert_eq!(encode_project_path("/a b/é"), "-a-b--");
        assert_eq!(encode_project_path("/x/😀"), "-x---");
    }

    #[test]
    fn resolves_dotdot_lexically_past_missing_parts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(
            resolve(&root.join("a/../../x")),
            root.parent().unwrap().join("x")
        );
        assert_eq!(resolve(&root.join("a/./b")), root.join("a/b"));
    }
}
