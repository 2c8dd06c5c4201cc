//! `githubStatus()` (reference B.2): the CLI's presence and version, and the account that
//! `gh auth status --json hosts` reports.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::exec::{exec, exec_gh, GH_VERSION_TIMEOUT};
use crate::jobs::Abort;

/// `cli` of the status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CliStatus {
    pub found: bool,
    pub path: Option<String>,
    pub version: Option<String>,
    pub error: Option<String>,
}

/// `auth` of the status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuthStatus {
    pub authenticated: bool,
    pub username: Option<String>,
    pub hostname: String,
    pub error: Option<String>,
}

/// `{cli, auth}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GithubStatus {
    pub cli: CliStatus,
    pub auth: AuthStatus,
}

/// The host the app prefers.
const GITHUB_COM: &str = "github.com";

/// `gh --version`, parsed with `/gh version ([\d.]+)/`.
pub async fn cli_status(gh: Option<&Path>, abort: &Abort) -> CliStatus {
    let Some(gh) = gh else {
        return CliStatus {
            found: false,
            path: None,
            version: None,
            error: Some("gh CLI not found".into()),
        };
    };
    let out = exec(gh, &["--version".to_string()], GH_VERSION_TIMEOUT, abort).await;
    CliStatus {
        found: true,
        path: Some(gh.display().to_string()),
        version: parse_version(&out.stdout),
        error: out.error,
    }
}

/// The first `gh version <digits and dots>` of the text.
pub fn parse_version(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find("gh version ") {
        let after = &rest[at + "gh version ".len()..];
        let version: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if !version.is_empty() {
            return Some(version);
        }
        rest = after;
    }
    None
}

fn failed_auth(error: String) -> AuthStatus {
    AuthStatus {
        authenticated: false,
        username: None,
        hostname: GITHUB_COM.into(),
        error: Some(error),
    }
}

/// `gh auth status --json hosts`, resolved as the app does.
pub async fn auth_status(gh: Option<&Path>, abort: &Abort) -> AuthStatus {
    match exec_gh(gh, &["auth", "status", "--json", "hosts"], abort).await {
        Err(e) => failed_auth(e),
        Ok(json) => resolve_auth(&json),
    }
}

/// The resolution order of reference B.2 over the `hosts` object (key order kept).
pub fn resolve_auth(json: &Value) -> AuthStatus {
    let empty = serde_json::Map::new();
    let hosts = json
        .get("hosts")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let entries = |host: &str| -> Vec<&Value> {
        hosts
            .get(host)
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    };
    let active = |e: &Value| e.get("active").and_then(Value::as_bool) == Some(true);
    let state = |e: &Value| e.get("state").and_then(Value::as_str).map(String::from);
    let login = |e: &Value| e.get("login").and_then(Value::as_str).map(String::from);
    let usable = |e: &&Value| active(e) && state(e).as_deref() != Some("error");
    if let Some(e) = entries(GITHUB_COM).into_iter().find(usable) {
        return AuthStatus {
            authenticated: true,
            username: login(e),
            hostname: GITHUB_COM.into(),
            error: None,
        };
    }
    for host in hosts.keys() {
        if let Some(e) = entries(host).into_iter().find(usable) {
            return AuthStatus {
                authenticated: true,
                username: login(e),
                hostname: host.clone(),
                error: None,
            };
        }
    }
    if let Some(e) = entries(GITHUB_COM)
        .into_iter()
        .find(|e| active(e) && state(e).as_deref() == Some("error"))
    {
        let error = e
            .get("error")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("Authentication error");
        return AuthStatus {
            authenticated: false,
            username: login(e),
            hostname: GITHUB_COM.into(),
            error: Some(error.into()),
        };
    }
    failed_auth("No active GitHub account found".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_and_auth_resolution() {
        assert_eq!(
            parse_version(
                "gh version 2.63.2 (2024-12-05)\nhttps://github.com/cli/cli/releases/tag/v2.63.2\n"
            ),
            Some("2.63.2".into())
        );
        assert_eq!(parse_version("gh version x"), None);
        let entry = |host: &str, login: &str, state: &str, active: bool| {
            json!({"state": state, "active": active, "host": host, "login": login,
                   "tokenSource": "keyring", "gitProtocol": "https"})
        };
        // 1. github.com first, even when another host comes first in key order.
        let j = json!({"hosts": {"ghe.acme.io": [entry("ghe.acme.io", "corp", "success", true)],
                                  "github.com": [entry("github.com", "octo", "success", true)]}});
        let a = resolve_auth(&j);
        assert_eq!(
            (a.authenticated, a.username.as_deref(), a.hostname.as_str()),
            (true, Some("octo"), "github.com")
        );
        // 2. else the first usable entry in key order; "timeout" counts as authenticated.
        let j = json!({"hosts": {"github.com": [entry("github.com", "octo", "error", true)],
                                  "ghe.acme.io": [entry("ghe.acme.io", "corp", "timeout", true)]}});
        let a = resolve_auth(&j);
        assert_eq!(
            (a.authenticated, a.username.as_deref(), a.hostname.as_str()),
            (true, Some("corp"), "ghe.acme.io")
        );
        // 3. an active github.com entry in error.
        let mut e = entry("github.com", "octo", "error", true);
        e["error"] = json!("The token in keyring is invalid.");
        let a = resolve_auth(&json!({"hosts": {"github.com": [e]}}));
        assert_eq!(
            a,
            AuthStatus {
                authenticated: false,
                username: Some("octo".into()),
                hostname: "github.com".into(),
                error: Some("The token in keyring is invalid.".into())
            }
        );
        let a = resolve_auth(
            &json!({"hosts": {"github.com": [entry("github.com", "octo", "error", true)]}}),
        );
        assert_eq!(a.error.as_deref(), Some("Authentication error"));
        // 4. nothing active.
        let a = resolve_auth(
            &json!({"hosts": {"github.com": [entry("github.com", "octo", "success", false)]}}),
        );
        assert_eq!(a, failed_auth("No active GitHub account found".into()));
        assert_eq!(
            resolve_auth(&json!({"hosts": {}})),
            failed_auth("No active GitHub account found".into())
        );
    }
}
