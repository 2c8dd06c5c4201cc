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
