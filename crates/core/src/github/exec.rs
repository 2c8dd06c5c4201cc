//! Running `gh` and `git` (reference B.1): no shell, a timeout, at most 1 MiB of output per
//! stream, and the whole process tree killed on timeout or abort. The process machinery is the
//! Claude runner's ([`crate::claude::runner`]); this module only adds discovery and the app's
//! error texts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::claude::runner::{self, RunEnd, RunSpec, Sink};
use crate::jobs::Abort;

/// Node's default `maxBuffer`: output past it fails the run (reference B.1, B.9).
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// `gh` calls (reference B.1).
pub const GH_TIMEOUT: Duration = Duration::from_secs(15);
/// `gh --version` (`execFileWithOutput`'s default).
pub const GH_VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// `git` calls.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(15);
/// `git log`.
pub const GIT_LOG_TIMEOUT: Duration = Duration::from_secs(20);

/// `execGh`'s error when no CLI is found.
pub const GH_NOT_FOUND: &str = "GitHub CLI (gh) not found. Install from https://cli.github.com";
/// Output mentioning `not logged in` becomes this.
pub const NOT_AUTHENTICATED: &str = "Not authenticated. Run 'gh auth login' in your terminal.";
/// Output mentioning `Bad credentials` becomes this.
pub const BAD_CREDENTIALS: &str = "Invalid credentials. Run 'gh auth login' to re-authenticate.";

/// What one run produced (`execFileWithOutput`'s `{stdout, stderr, error}`).
#[derive(Debug, Clone, Default)]
pub struct ToolOutput {
    pub stdout: String,
    pub stderr: String,
    /// Set when the run failed: Node's `error.message` equivalent.
    pub error: Option<String>,
    /// True when the run was stopped by its abort signal.
    pub aborted: bool,
}

impl ToolOutput {
    /// `stderr || stdout || error.message` (the app's error text of a failed run).
    pub fn error_output(&self) -> String {
        if !self.stderr.is_empty() {
            self.stderr.clone()
        } else if !self.stdout.is_empty() {
            self.stdout.clone()
        } else {
            self.error.clone().unwrap_or_default()
        }
    }
}

/// Runs `program args…` in `cwd` to its end (or its timeout, or `abort`).
pub async fn exec(program: &Path, args: &[String], timeout: Duration, abort: &Abort) -> ToolOutput {
    let spec = RunSpec {
        program: program.to_path_buf(),
        args: args.to_vec(),
        cwd: None,
        stdin: None,
        timeout: Some(timeout),
        cap: OUTPUT_CAP,
        stream_json: false,
    };
    let sink: Sink = Arc::new(|_, _, _| {});
    let out = runner::run(spec, sink, abort).await;
    let join = |c: &runner::Captured| {
        c.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let stdout = join(&out.stdout);
    let stderr = join(&out.stderr);
    let command = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let failed = || Some(format!("Command failed: {command}\n{stderr}"));
    let (error, aborted) = match &out.end {
        _ if out.stdout.truncated || out.stderr.truncated => {
            (Some("stdout maxBuffer length exceeded".to_string()), false)
        }
        RunEnd::Exited(0) => (None, false),
        RunEnd::Exited(_) | RunEnd::TimedOut => (failed(), false),
        RunEnd::Aborted(_) => (failed(), true),
        RunEnd::SpawnFailed(err) => (Some(format!("spawn {} {err}", program.display())), false),
    };
    ToolOutput {
        stdout: if error.is_some() && out.stdout.truncated {
            String::new()
        } else {
            stdout
        },
        stderr,
        error,
        aborted,
    }
}

/// The standard install folders searched before `PATH` (reference B.1).
fn standard_dirs() -> Vec<PathBuf> {
    if cfg!(windows) {
        let mut dirs = Vec::new();
        if let Some(pf) = std::env::var_os("ProgramFiles") {
            dirs.push(PathBuf::from(pf).join("GitHub CLI"));
        }
        if let Some(local) = std::env::var_os("LOCALAPPDATA") {
            dirs.push(PathBuf::from(local).join("Programs").join("GitHub CLI"));
        }
        dirs
    } else if cfg!(target_os = "macos") {
        ["/usr/local/bin", "/opt/homebrew/bin", "/usr/bin", "/bin"]
            .map(PathBuf::from)
            .to_vec()
    } else {
        ["/usr/local/bin", "/usr/bin", "/bin"]
            .map(PathBuf::from)
            .to_vec()
    }
}

/// Finds `gh`: `ghPath` when configured (only it: a configured path that does not exist means
/// "not found"), else the standard folders, then `PATH`; the first existing file wins.
/// Blocking (file system checks).
pub fn find_gh(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = configured {
        return p.is_file().then(|| p.to_path_buf());
    }
    let names: &[&str] = if cfg!(windows) {
        &["gh.exe", "gh.cmd", "gh"]
    } else {
        &["gh"]
    };
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    standard_dirs()
        .into_iter()
        .chain(path_dirs)
        .filter(|d| !d.as_os_str().is_empty())
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|candidate| candidate.is_file())
}

/// Finds `gh` off the async workers.
pub async fn locate_gh(configured: Option<PathBuf>) -> Option<PathBuf> {
    crate::store::run_blocking(move || Ok(find_gh(configured.as_deref())))
        .await
        .ok()
        .flatten()
}

/// The app's `execGh` (reference B.1): JSON on success, else its error text.
pub async fn exec_gh(
    gh: Option<&Path>,
    args: &[&str],
    abort: &Abort,
) -> std::result::Result<Value, String> {
    let Some(gh) = gh else {
        return Err(GH_NOT_FOUND.to_string());
    };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = exec(gh, &args, GH_TIMEOUT, abort).await;
    if out.error.is_some() {
        let text = out.error_output();
        return Err(if text.contains("not logged in") {
            NOT_AUTHENTICATED.to_string()
        } else if text.contains("Bad credentials") {
            BAD_CREDENTIALS.to_string()
        } else {
            text
        });
    }
    serde_json::from_str(&out.stdout).map_err(|_| {
        format!(
            "Failed to parse JSON response: {}",
            slice_utf16(&out.stdout, 200)
        )
    })
}

/// The first `max` UTF-16 units of `text` (JS `slice(0, max)`; a split pair keeps nothing of
/// the character).
pub fn slice_utf16(text: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &text[..i];
        }
    }
    text
}

/// The git program: `gitPath` when configured, else `git` on `PATH`.
pub fn git_program(configured: Option<&Path>) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("git"))
}

/// The app's `execGit`: `Ok(stdout)` or `Err(stderr || stdout || message)`.
pub async fn exec_git(
    git: &Path,
    args: &[String],
    timeout: Duration,
    abort: &Abort,
) -> std::result::Result<String, String> {
    let out = exec(git, args, timeout, abort).await;
    match out.error {
        None => Ok(out.stdout),
        Some(_) => Err(out.error_output()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_like_js() {
        assert_eq!(slice_utf16("abc", 2), "ab");
        assert_eq!(slice_utf16("한글", 1), "한");
        assert_eq!(slice_utf16("a😀b", 2), "a");
        assert_eq!(slice_utf16("a😀b", 3), "a😀");
    }
}
