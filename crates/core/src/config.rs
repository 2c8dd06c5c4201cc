//! Options of `Backend.open` (CONTRACT.md §1.1, §2).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::validate::{Fields, Source};

/// Base URLs of the outside services; tests point them at local servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub google_auth_url: String,
    pub google_token_url: String,
    pub google_calendar_api: String,
    pub google_userinfo_url: String,
    /// `{org}` is replaced by the account's org slug.
    pub atlassian_base_url: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            google_auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            google_token_url: "https://oauth2.googleapis.com/token".into(),
            google_calendar_api: "https://www.googleapis.com/calendar/v3".into(),
            google_userinfo_url: "https://www.googleapis.com/oauth2/v2/userinfo".into(),
            atlassian_base_url: "https://{org}.atlassian.net".into(),
        }
    }
}

/// Validated options of one backend.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    pub workers: usize,
    pub google_client_id: String,
    pub google_client_secret: String,
    pub claude_path: Option<PathBuf>,
    pub claude_cwd: Option<PathBuf>,
    pub claude_projects_dir: PathBuf,
    /// `ghPath`: the GitHub CLI to run; when absent it is looked up at each run (CONTRACT.md §18).
    pub gh_path: Option<PathBuf>,
    /// `gitPath`: the git executable; when absent `git` on `PATH` (CONTRACT.md §18).
    pub git_path: Option<PathBuf>,
    /// 32 bytes enabling encryption at rest; never printed (see the `Debug` impl).
    pub secret_key: Option<[u8; 32]>,
    pub scheduler: bool,
    pub endpoints: Endpoints,
    /// Events a subscriber may fall behind before it gets `lagged` (`eventBuffer`, a tuning
    /// option beyond the contract: larger absorbs longer stalls of the JS thread, smaller
    /// bounds memory tighter).
    pub event_buffer: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("log_dir", &self.log_dir)
            .field("workers", &self.workers)
            .field("google_client_id", &self.google_client_id)
            .field("google_client_secret", &"<redacted>")
            .field("claude_path", &self.claude_path)
            .field("claude_cwd", &self.claude_cwd)
            .field("claude_projects_dir", &self.claude_projects_dir)
            .field("gh_path", &self.gh_path)
            .field("git_path", &self.git_path)
            .field("secret_key", &self.secret_key.map(|_| "<redacted>"))
            .field("scheduler", &self.scheduler)
            .field("endpoints", &self.endpoints)
            .field("event_buffer", &self.event_buffer)
            .finish()
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Config {
    /// A configuration with defaults for everything but the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            log_dir: data_dir.join("logs"),
            data_dir,
            workers: 2,
            google_client_id: String::new(),
            google_client_secret: String::new(),
            claude_path: None,
            claude_cwd: None,
            claude_projects_dir: home_dir().join(".claude").join("projects"),
            gh_path: None,
            git_path: None,
            secret_key: None,
            scheduler: true,
            endpoints: Endpoints::default(),
            event_buffer: crate::events::CAPACITY,
        }
    }

    /// Validates the options object of `Backend.open` (camelCase keys; unknown keys ignored).
    /// `secretKey` arrives as 64 hex characters (the JS layer converts a `Buffer`).
    pub fn from_options(options: &Value) -> Result<Config> {
        if !options.is_object() {
            return Err(Error::invalid(crate::validate::item(
                "model_attributes_type",
                &[json!("options")],
                "Input should be an object of options",
                options.clone(),
                None,
            )));
        }
        let mut f = Fields::new(Source::Options, options);
        let data_dir = f.required_str("dataDir", 1);
        let log_dir = f.optional_str("logDir", 1);
        let workers = f.optional_int("workers", Some(1), Some(64));
        let google_client_id = f.optional_str("googleClientId", 0);
        let google_client_secret = f.optional_str("googleClientSecret", 0);
        let claude_path = f.optional_str("claudePath", 1);
        let claude_cwd = f.optional_str("claudeCwd", 1);
        let claude_projects_dir = f.optional_str("claudeProjectsDir", 1);
        let gh_path = f.optional_str("ghPath", 1);
        let git_path = f.optional_str("gitPath", 1);
        let scheduler = f.optional_bool("scheduler");
        let event_buffer = f.optional_int("eventBuffer", Some(16), Some(1 << 20));
        let secret = f.optional_str("secretKey", 0);
        let secret_key = match secret.as_deref().map(decode_hex) {
            None => None,
            Some(Some(bytes)) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Some(key)
            }
            Some(_) => {
                f.error(
                    "value_error",
                    "secretKey",
                    "Value error, secretKey must be exactly 32 bytes",
                    Value::String("<redacted>".into()),
                    Some(json!({ "error": "secretKey must be exactly 32 bytes" })),
                );
                None
            }
        };
        let mut endpoints = Endpoints::default();
        if let Some(map) = f.optional_object("endpoints") {
            let e = Value::Object(map);
            let mut ef = Fields::new(Source::Options, &e);
            let slots: [(&str, &mut String); 5] = [
                ("googleAuthUrl", &mut endpoints.google_auth_url),
                ("googleTokenUrl", &mut endpoints.google_token_url),
                ("googleCalendarApi", &mut endpoints.google_calendar_api),
                ("googleUserinfoUrl", &mut endpoints.google_userinfo_url),
                ("atlassianBaseUrl", &mut endpoints.atlassian_base_url),
            ];
            for (key, slot) in slots {
                if let Some(v) = ef.optional_str(key, 1) {
                    *slot = v.trim_end_matches('/').to_string();
                }
            }
            ef.finish()?;
        }
        // A NUL byte cannot be part of a path on any platform; the OS would refuse it later
        // with a message that names no option.
        let paths = [
            ("dataDir", &data_dir),
            ("logDir", &log_dir),
            ("claudePath", &claude_path),
            ("claudeCwd", &claude_cwd),
            ("claudeProjectsDir", &claude_projects_dir),
        ];
        for (key, value) in paths {
            if let Some(v) = value.as_deref().filter(|v| v.contains('\0')) {
                f.error(
                    "value_error",
                    key,
                    "Value error, a path must not contain a NUL byte",
                    Value::String(v.into()),
                    None,
                );
            }
        }
        f.finish()?;
        let mut config = Config::new(data_dir.unwrap_or_default());
        if let Some(dir) = log_dir {
            config.log_dir = dir.into();
        }
        config.workers = workers.unwrap_or(2) as usize;
        config.google_client_id = google_client_id.unwrap_or_default();
        config.google_client_secret = google_client_secret.unwrap_or_default();
        config.claude_path = claude_path.map(PathBuf::from);
        config.claude_cwd = claude_cwd.map(PathBuf::from);
        if let Some(dir) = claude_projects_dir {
            config.claude_projects_dir = dir.into();
        }
        config.gh_path = gh_path.map(PathBuf::from);
        config.git_path = git_path.map(PathBuf::from);
        config.secret_key = secret_key;
        config.scheduler = scheduler.unwrap_or(true);
        config.endpoints = endpoints;
        if let Some(n) = event_buffer {
            config.event_buffer = n as usize;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        let c =
            Config::from_options(&json!({"dataDir": "/tmp/x", "workers": 4, "extra": 1})).unwrap();
        assert_eq!(c.workers, 4);
        assert_eq!(c.log_dir, PathBuf::from("/tmp/x/logs"));
        assert!(Config::from_options(&json!({})).is_err());
        assert!(Config::from_options(&json!({"dataDir": "/x", "workers": 0})).is_err());
        assert!(Config::from_options(&json!({"dataDir": "/x", "workers": 65})).is_err());
        assert!(Config::from_options(&json!({"dataDir": 5})).is_err());
        let err = Config::from_options(&json!({"dataDir": "/x", "secretKey": "abcd"})).unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT");
        assert!(!format!("{err:?}").contains("abcd"));
        let key = "00".repeat(32);
        let c = Config::from_options(&json!({"dataDir": "/x", "secretKey": key})).unwrap();
        assert_eq!(c.secret_key, Some([0u8; 32]));
        assert!(!format!("{c:?}").contains("[0,"));
    }
}
