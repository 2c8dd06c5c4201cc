//! Compiles `crates/core/src/claude/job_object.rs` for Windows, used the way `runner.rs` uses
//! it (see Cargo.toml for the command).
#![deny(warnings)]

#[cfg(windows)]
#[path = "../../../crates/core/src/claude/job_object.rs"]
mod job_object;

/// Puts a spawned child's tree in a job and terminates it, as a run's cancel does.
#[cfg(windows)]
pub fn contain_and_kill(child: &tokio::process::Child) -> bool {
    let job: Option<job_object::Job> = child.raw_handle().and_then(job_object::Job::contain);
    if let Some(job) = &job {
        job.terminate();
    }
    job.is_some()
}
