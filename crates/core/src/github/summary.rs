//! Pull requests, local commits and the daily summary (reference B.3–B.5).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Local, NaiveDate, TimeZone};
use serde::Serialize;
use serde_json::Value;

use super::exec::{exec_gh, exec_git, git_program, GIT_LOG_TIMEOUT, GIT_TIMEOUT};
use super::status::auth_status;
use super::GithubState;
use crate::events::{Bus, Event, Level};
use crate::jobs::Abort;

/// The `--json` fields of `gh search prs`.
pub const PR_FIELDS: &str = "number,title,url,state,repository,createdAt,updatedAt";
/// Most PRs per list, and most commits per repository.
pub const PR_LIMIT: &str = "50";
pub const COMMIT_LIMIT: &str = "200";

/// A pull request (`GitHubPR`, snake_case).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pr {
    pub number: Value,
    pub title: Value,
    pub url: Value,
    pub state: Value,
    pub repository: String,
    pub created_at: Value,
    pub updated_at: Value,
}

impl Pr {
    /// `updatedAt ?? createdAt` as epoch milliseconds.
    pub fn time_ms(&self) -> Option<i64> {
        let pick = if self.updated_at.is_null() {
            &self.created_at
        } else {
            &self.updated_at
        };
        pick.as_str().and_then(parse_date_ms)
    }

    /// The URL as text ("" when missing).
    pub fn url_text(&self) -> String {
        self.url.as_str().unwrap_or_default().to_string()
    }
}

/// A local commit (`GitHubCommit`, snake_case).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub repository: String,
    pub url: String,
    pub created_at: String,
}

/// `prs` of the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Prs {
    pub authored: Vec<Pr>,
    pub reviewed: Vec<Pr>,
}

/// `stats` of the summary: plain lengths.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub total_prs_authored: usize,
    pub total_prs_reviewed: usize,
    pub total_commits: usize,
}

/// `githubDailySummary()`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub date: String,
    pub username: Option<String>,
    pub prs: Prs,
    pub commits: Vec<Commit>,
    pub stats: Stats,
}

/// JS `Date.parse` for the forms gh and git print (RFC 3339 with `Z` or an offset).
pub fn parse_date_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.timestamp_millis())
        .or_else(|| crate::time::parse_iso_ms(text))
}

/// Today as the local `YYYY-MM-DD`.
pub fn local_today() -> String {
    Local::now().format("%Y-%m-%d").to_string()
}

/// A strict `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `[startOfDay, endOfDay]` of a local day in epoch milliseconds (both inclusive, date-fns).
pub fn local_day_bounds(day: NaiveDate) -> (i64, i64) {
    let start = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| Local.from_local_datetime(&t).earliest())
        .map(|d| d.timestamp_millis())
        .unwrap_or(0);
    let next = day
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| Local.from_local_datetime(&t).earliest())
        .map(|d| d.timestamp_millis())
        .unwrap_or(start + 86_400_000);
    (start, next - 1)
}

fn map_pr(item: &Value) -> Pr {
    let get = |k: &str| item.get(k).cloned().unwrap_or(Value::Null);
    let repository = item
        .get("repository")
        .and_then(|r| r.get("nameWithOwner"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Pr {
        number: get("number"),
        title: get("title"),
        url: get("url"),
        state: get("state"),
        repository,
        created_at: get("createdAt"),
        updated_at: get("updatedAt"),
    }
}

/// Both PR searches for `date`, in parallel; a failed search is an empty list.
pub async fn fetch_prs(gh: Option<&Path>, date: &str, abort: &Abort) -> Prs {
    let updated = format!("--updated=>={date}");
    let search = |who: &'static str| {
        let updated = updated.clone();
        async move {
            let args = [
                "search", "prs", who, &updated, "--json", PR_FIELDS, "--limit", PR_LIMIT,
            ];
            match exec_gh(gh, &args, abort).await {
                Ok(Value::Array(items)) => items.iter().map(map_pr).collect(),
                _ => Vec::new(),
            }
        }
    };
    let (authored, reviewed): (Vec<Pr>, Vec<Pr>) =
        tokio::join!(search("--author=@me"), search("--reviewed-by=@me"));
    let reviewed = reviewed
        .into_iter()
        .filter(|r| !authored.iter().any(|a| a.url == r.url))
        .collect();
    Prs { authored, reviewed }
}

/// `{host, repoPath}` of a remote URL (reference B.4's four patterns, in order), with any
/// userinfo removed from the host (CONTRACT.md §19.1).
pub fn parse_remote(url: &str) -> Option<(String, String)> {
    fn split_host(rest: &str, sep: char) -> Option<(&str, &str)> {
        let at = rest.find(sep)?;
        let (host, path) = (&rest[..at], &rest[at + 1..]);
        (!host.is_empty() && !path.is_empty()).then_some((host, path))
    }
    let (host, path) = if let Some(rest) = url.strip_prefix("git@") {
        split_host(rest, ':')?
    } else if let Some(rest) = url.strip_prefix("ssh://git@") {
        split_host(rest, '/')?
    } else if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("git://"))
    {
        split_host(rest, '/')?
    } else {
        return None;
    };
    // `.` does not match a line break in the app's regular expressions.
    if url.contains('\n') || url.contains('\r') {
        return None;
    }
    let path = match path.strip_suffix(".git") {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let host = host.rsplit('@').next().unwrap_or(host);
    Some((host.to_string(), path.to_string()))
}

/// Splits `git log --pretty=format:%H%x1f%aI%x1f%s` output into commits.
pub fn parse_log(output: &str, repository: &str, url_base: Option<&str>) -> Vec<Commit> {
    output
        .trim()
        .split('\n')
        .filter_map(|line| {
            let mut parts = line.split('\u{1f}');
            let sha = parts.next().filter(|s| !s.is_empty())?;
            let created = parts.next().filter(|s| !s.is_empty())?;
            let message = parts.next().map(str::trim).unwrap_or_default();
            Some(Commit {
                sha: sha.chars().take(7).collect(),
                message: if message.is_empty() {
                    "No commit message".into()
                } else {
                    message.to_string()
                },
                repository: repository.to_string(),
                url: url_base
                    .map(|b| format!("{b}/commit/{sha}"))
                    .unwrap_or_default(),
                created_at: created.to_string(),
            })
        })
        .collect()
}

/// The author name git filters by: the repository's `user.name`, else the global one (read
/// once per backend).
async fn author_name(state: &GithubState, git: &Path, repo: &str, abort: &Abort) -> String {
    let args = ["-C", repo, "config", "--get", "user.name"].map(String::from);
    let local = exec_git(git, &args, GIT_TIMEOUT, abort)
        .await
        .unwrap_or_default();
    let local = local.trim();
    if !local.is_empty() {
        return local.to_string();
    }
    state
        .global_author
        .get_or_init(|| async {
            let args = ["config", "--global", "--get", "user.name"].map(String::from);
            exec_git(git, &args, GIT_TIMEOUT, abort)
                .await
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        })
        .await
        .clone()
}

/// The commits of one repository (reference B.4 steps 1–4); `None` when the path is not a
/// git work tree.
pub async fn repo_commits(state: &GithubState, repo: &str, abort: &Abort) -> Option<Vec<Commit>> {
    let git = git_program(state.config.git_path.as_deref());
    let path = PathBuf::from(repo);
    let exists = crate::store::run_blocking(move || Ok(path.exists()))
        .await
        .unwrap_or(false);
    if !exists {
        return None;
    }
    let args = ["-C", repo, "rev-parse", "--is-inside-work-tree"].map(String::from);
    match exec_git(&git, &args, GIT_TIMEOUT, abort).await {
        Ok(out) if out.trim() == "true" => {}
        _ => return None,
    }
    let remote_args = ["-C", repo, "remote", "get-url", "origin"].map(String::from);
    let (remote, author) = tokio::join!(
        exec_git(&git, &remote_args, GIT_TIMEOUT, abort),
        author_name(state, &git, repo, abort)
    );
    let parsed = remote.ok().and_then(|r| parse_remote(r.trim()));
    let repository = match &parsed {
        Some((_, p)) => p.clone(),
        None => Path::new(repo)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let url_base = parsed.map(|(h, p)| format!("https://{h}/{p}"));
    let mut args: Vec<String> = [
        "-C",
        repo,
        "log",
        "--all",
        "--pretty=format:%H%x1f%aI%x1f%s",
        "--max-count",
        COMMIT_LIMIT,
    ]
    .map(String::from)
    .to_vec();
    if !author.is_empty() {
        // A fix: the name is matched literally, not as a (mis-escaped) regular expression.
        args.push("--fixed-strings".into());
        args.push(format!("--author={author}"));
    }
    let log = exec_git(&git, &args, GIT_LOG_TIMEOUT, abort)
        .await
        .unwrap_or_default();
    Some(parse_log(&log, &repository, url_base.as_deref()))
}

/// Every configured repository's commits, newest first (stable: ties keep repository order).
/// Paths that are not git work trees are reported with a `log` warn event and skipped.
pub async fn local_commits(
    state: &Arc<GithubState>,
    repos: &[String],
    bus: &Bus,
    abort: &Abort,
) -> Vec<Commit> {
    let tasks: Vec<_> = repos
        .iter()
        .map(|repo| {
            let state = Arc::clone(state);
            let repo = repo.clone();
            let abort = abort.clone();
            tokio::spawn(async move {
                let commits = repo_commits(&state, &repo, &abort).await;
                (repo, commits)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        match task.await {
            Ok((_, Some(commits))) => all.extend(commits),
            Ok((repo, None)) => {
                if !abort.is_fired() {
                    bus.publish(Event::log(
                        Level::Warn,
                        format!("github: {repo} is not a git repository; skipped"),
                    ));
                }
            }
            Err(_) => {}
        }
    }
    all.sort_by_key(|c| std::cmp::Reverse(parse_date_ms(&c.created_at).unwrap_or(i64::MIN)));
    all
}

/// The daily summary of reference B.5 for `date` (`YYYY-MM-DD`); with `day_only` PRs and
/// commits are limited to that local day.
pub async fn daily_summary(
    state: &Arc<GithubState>,
    date: &str,
    day_only: bool,
    repos: &[String],
    bus: &Bus,
    abort: &Abort,
) -> Summary {
    let gh = super::exec::locate_gh(state.config.gh_path.clone()).await;
    let prs_part = async {
        let auth = auth_status(gh.as_deref(), abort).await;
        let prs = match (&auth.authenticated, &auth.username) {
            (true, Some(_)) => fetch_prs(gh.as_deref(), date, abort).await,
            _ => Prs::default(),
        };
        (auth, prs)
    };
    // The app runs these one after the other; the commits do not depend on the auth.
    let ((auth, mut prs), mut commits) =
        tokio::join!(prs_part, local_commits(state, repos, bus, abort));
    if day_only {
        if let Some(day) = parse_day(date) {
            let (start, end) = local_day_bounds(day);
            let inside = |t: Option<i64>| t.is_some_and(|t| t >= start && t <= end);
            prs.authored.retain(|p| inside(p.time_ms()));
            prs.reviewed.retain(|p| inside(p.time_ms()));
            commits.retain(|c| inside(parse_date_ms(&c.created_at)));
        }
    }
    Summary {
        date: date.to_string(),
        username: if auth.authenticated {
            auth.username
        } else {
            None
        },
        stats: Stats {
            total_prs_authored: prs.authored.len(),
            total_prs_reviewed: prs.reviewed.len(),
            total_commits: commits.len(),
        },
        prs,
        commits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes() {
        let p = |u: &str| parse_remote(u);
        assert_eq!(
            p("git@github.com:acme/app.git"),
            Some(("github.com".into(), "acme/app".into()))
        );
        assert_eq!(
            p("ssh://git@github.com/acme/app"),
            Some(("github.com".into(), "acme/app".into()))
        );
        assert_eq!(
            p("https://github.com/acme/app.git"),
            Some(("github.com".into(), "acme/app".into()))
        );
        assert_eq!(
            p("https://user:tok@github.com/acme/app.git"),
            Some(("github.com".into(), "acme/app".into()))
        );
        assert_eq!(
            p("git://example.org/x/y"),
            Some(("example.org".into(), "x/y".into()))
        );
        assert_eq!(
            p("ssh://git@host:22/a/b.git"),
            Some(("host:22".into(), "a/b".into()))
        );
        assert_eq!(p("ssh://other@host/a/b"), None);
        assert_eq!(p("/srv/repos/app.git"), None);
        assert_eq!(
            p("https://github.com/.git"),
            Some(("github.com".into(), ".git".into()))
        );
    }

    #[test]
    fn parses_log_lines() {
        let out = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\u{1f}2026-01-12T10:20:30+09:00\u{1f}  fix: 한글  \n\u{1f}x\u{1f}y\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\u{1f}2026-01-11T10:00:00Z\u{1f}\n";
        let c = parse_log(out, "acme/app", Some("https://github.com/acme/app"));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].sha, "aaaaaaa");
        assert_eq!(c[0].message, "fix: 한글");
        assert_eq!(
            c[0].url,
            "https://github.com/acme/app/commit/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
        assert_eq!(c[1].message, "No commit message");
        assert_eq!(parse_log("", "r", None), Vec::<Commit>::new());
    }
}
