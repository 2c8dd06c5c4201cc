//! Helpers shared by the Rust tests of every crate of the workspace (`#[cfg(test)]` inside the
//! core, the `test-support` feature for integration tests); never in a shipped build.

use std::time::Duration;

use crate::jobs::JobRecord;
use crate::Backend;

/// Longest a test waits for a job: a guard against a hang, not a timing check.
pub const JOB_LIMIT: Duration = Duration::from_secs(120);

/// Polls `job_id` until it is final (`succeeded`, `failed` or `canceled`) and returns it.
/// Panics when the job cannot be read or is still not final after [`JOB_LIMIT`].
pub async fn wait_final(backend: &Backend, job_id: &str) -> JobRecord {
    let deadline = tokio::time::Instant::now() + JOB_LIMIT;
    loop {
        match backend.get_job(job_id).await {
            Ok(job) if job.is_final() => return job,
            Ok(job) if tokio::time::Instant::now() >= deadline => {
                panic!("job {job_id} not final after {JOB_LIMIT:?}: {job:?}")
            }
            Ok(_) => {}
            Err(e) => panic!("job {job_id} cannot be read: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`wait_final`], as the job's contract JSON.
pub async fn wait_final_json(backend: &Backend, job_id: &str) -> serde_json::Value {
    match serde_json::to_value(wait_final(backend, job_id).await) {
        Ok(v) => v,
        Err(e) => panic!("job {job_id} does not serialize: {e}"),
    }
}

/// The events `sub` receives until it has been quiet for 150 ms, as JSON.
pub async fn drain_until_quiet(sub: &mut crate::Subscription) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(150), sub.recv()).await {
        match serde_json::from_str(&e) {
            Ok(v) => out.push(v),
            Err(err) => panic!("event is not JSON ({err}): {e}"),
        }
    }
    out
}

/// Whether process `pid` is alive (Linux `/proc`; a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}
