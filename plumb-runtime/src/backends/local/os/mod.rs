//! The one seam between the local machine and its operating system, the same small
//! interface on each:
//!
//! - [`Tree`]: the processes of one job, so that one kill ends them and what they
//!   started, also when this program ends without cleaning up: a process group per
//!   process, each guarded by a watchdog, on Unix; a Job Object on Windows (each process
//!   created suspended, assigned, then resumed, so that nothing it starts escapes).
//! - what a program is (`is_executable`, `program_files`: `PATHEXT` on Windows) and when
//!   a command names a path rather than a program to look up (`names_path`).
//!
//! Nothing else in the local backend names an OS; file modes and owners, which every
//! layer may need, are in [`crate::sys`].

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(super) use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(super) use windows::*;
