//! The vault's job handlers (seed 003, CONTRACT.md §17): `vault.scan {vault_path, since?,
//! force_full?}`, `index.rebuild {vault_path, embedding_model?}`, `index.update {vault_path,
//! changed_paths, deleted_paths}`. Each registers its vault like any call naming it, reports
//! progress with counts (stages `walking`, `reading`, `indexing`), honours its abort signal
//! and answers the [`ScanReport`](super::scan::ScanReport) as its result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::registry::{rel_text, VaultState};
use super::scan::{self, ScanOptions};
use crate::error::Error;
use crate::jobs::{BoxFuture, Failure, Handler, JobCtx, JobSystem, Outcome, Success};
use crate::validate::parse_lax_bool;

/// `vault.scan`.
pub const VAULT_SCAN: &str = "vault.scan";
/// `index.rebuild`.
pub const INDEX_REBUILD: &str = "index.rebuild";
/// `index.update`.
pub const INDEX_UPDATE: &str = "index.update";

/// Registers the three handlers.
pub fn register(jobs: &JobSystem, state: &Arc<VaultState>) {
    for kind in [VAULT_SCAN, INDEX_REBUILD, INDEX_UPDATE] {
        let state = Arc::downgrade(state);
        let handler: Handler = Arc::new(move |ctx: JobCtx| -> BoxFuture<Outcome> {
            let state = state.clone();
            Box::pin(async move {
                let Some(state) = state.upgrade() else {
                    return Err(Failure::new("backend closed"));
                };
                run(kind, &state, ctx).await
            })
        });
        jobs.register_builtin(kind, handler);
    }
}

fn fail(e: Error) -> Failure {
    Failure::with_code(e.to_string(), e.code())
}

fn vault_path(payload: &Value) -> Option<PathBuf> {
    match payload.get("vault_path").and_then(Value::as_str) {
        Some(p) if Path::new(p).is_absolute() && !p.contains('\0') => Some(PathBuf::from(p)),
        _ => None,
    }
}

/// Paths of `index.update`: absolute ones under the vault, or relative to it.
fn paths(payload: &Value, key: &str, root: &Path, given: &Path) -> Vec<String> {
    let Some(list) = payload.get(key).and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(Value::as_str)
        .filter(|p| !p.contains('\0'))
        .filter_map(|p| {
            let path = Path::new(p);
            if path.is_absolute() {
                path.strip_prefix(root)
                    .or_else(|_| path.strip_prefix(given))
                    .ok()
                    .and_then(rel_text)
            } else {
                // `rel_text` refuses a `..` left after normalizing (a path out of the vault).
                rel_text(&super::files::normalize(path))
            }
        })
        .filter(|r| !r.is_empty())
        .collect()
}

async fn run(kind: &'static str, state: &Arc<VaultState>, ctx: JobCtx) -> Outcome {
    ctx.set_running(0.0, Some(kind)).await.map_err(fail)?;
    let payload = ctx.job.payload.clone();
    let Some(given) = vault_path(&payload) else {
        return Err(Failure::with_code(
            "payload.vault_path must be an absolute folder path",
            "E_INVALID_INPUT",
        ));
    };
    let located = state.locate(&given).await.map_err(fail)?;
    let Some(located) = located else {
        return Err(Failure::with_code(
            format!("vault folder not found: {}", given.display()),
            "E_NOT_FOUND",
        ));
    };
    let vault = located.vault;
    let report = match kind {
        INDEX_UPDATE => {
            let mut all = paths(&payload, "changed_paths", &vault.root, &given);
            all.extend(paths(&payload, "deleted_paths", &vault.root, &given));
            let prefix = located.prefix.clone();
            let all = all.into_iter().map(|p| format!("{prefix}{p}")).collect();
            ctx.progress(0.1, Some("updating".into()), true, Some("indexing"))
                .await
                .map_err(fail)?;
            scan::update(state, &vault, all).await
        }
        _ => {
            let options = ScanOptions {
                force_full: kind == INDEX_REBUILD
                    || payload
                        .get("force_full")
                        .and_then(parse_lax_bool)
                        .unwrap_or(false),
                rebuild: kind == INDEX_REBUILD,
                embedding_model: payload
                    .get("embedding_model")
                    .and_then(Value::as_str)
                    .map(String::from),
            };
            scan::scan(state, &vault, options, Some(&ctx)).await
        }
    }
    .map_err(fail)?;
    let mut result = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut result {
        map.insert("changed_count".into(), json!(report.changed.len()));
        map.insert("deleted_count".into(), json!(report.deleted.len()));
    }
    Ok(Success::with_result(Some(result)))
}
