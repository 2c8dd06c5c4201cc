//! Windows: a Claude CLI run's process tree held in a job object.
//!
//! Windows has no process groups to signal: killing the CLI leaves whatever it started (MCP
//! servers, tools, shells) running. Each run's CLI process is assigned to a job object right
//! after it is spawned; processes it starts join the job automatically. Cancelling the run
//! terminates the whole job, and the job is created with `KILL_ON_JOB_CLOSE`, so closing its
//! handle — when the run ends, and also when the host process dies without any cleanup — kills
//! whatever is left.
//!
//! Limits, written down rather than hidden:
//! - a process the CLI starts in the instant between `spawn` and the assignment is not in the
//!   job (std offers no suspended spawn); the CLI does not start anything that early;
//! - a process started with `CREATE_BREAKAWAY_FROM_JOB` on a job that allows it can leave; this
//!   job does not allow breakaway.
//!
//! This module is compiled only for Windows. `tools/windows-check` compiles it (with clippy)
//! for `x86_64-pc-windows-msvc` from Linux; it has never *run*: the development and CI machines
//! are Linux, and no test here can exercise it.

use std::ffi::c_void;
use std::os::windows::io::RawHandle;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};

/// An owned job object handle; closing it kills every process still in the job.
pub(super) struct Job(HANDLE);

// SAFETY: a job object handle is a kernel handle, valid from any thread; the handle is only
// used through the Win32 calls below, which are thread-safe.
unsafe impl Send for Job {}
// SAFETY: as above; `&Job` only allows `terminate`, a thread-safe kernel call.
unsafe impl Sync for Job {}

impl Job {
    /// Creates a kill-on-close job and puts `process` (the CLI just spawned) in it. `None` when
    /// any step fails: the run then goes on without it, as before (only the CLI itself is
    /// killed on cancel).
    pub(super) fn contain(process: RawHandle) -> Option<Job> {
        // SAFETY: null attributes and name are allowed (default security, unnamed job). The
        // returned handle is owned by `Job` from here on and closed exactly once, in `drop`.
        let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if handle.is_null() {
            return None;
        }
        let job = Job(handle);
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        let size =
            u32::try_from(std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>()).ok()?;
        // SAFETY: `info` is a valid, initialized JOBOBJECT_EXTENDED_LIMIT_INFORMATION that
        // outlives the call, and `size` is its exact size, as the information class requires.
        let limited = unsafe {
            SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast::<c_void>(),
                size,
            )
        };
        if limited == 0 {
            return None;
        }
        // SAFETY: `process` is the handle of a child we spawned and still own (the caller
        // holds the `Child`), so it is open for the duration of the call.
        let assigned = unsafe { AssignProcessToJobObject(job.0, process as HANDLE) };
        (assigned != 0).then_some(job)
    }

    /// Kills every process in the job (the CLI and all it started). A failure (the job is
    /// already empty) is harmless.
    pub(super) fn terminate(&self) {
        // SAFETY: `self.0` is an open job handle owned by `self`.
        unsafe {
            TerminateJobObject(self.0, 1);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned by `self`; it is closed only here.
        unsafe {
            CloseHandle(self.0);
        }
    }
}
