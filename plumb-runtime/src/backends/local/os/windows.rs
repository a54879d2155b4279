//! Windows: a Job Object per job; programs found with `PATHEXT`.
//!
//! A process joins its job before it runs a single instruction: it is created suspended,
//! assigned to the job, then its main thread resumed; so whatever it starts is in the
//! job too, and `TerminateJobObject` ends the whole tree at once. With `kill_tree` the
//! job also kills what is left when its handle closes, which happens when this program
//! ends however it ends: the watchdog of Unix, for free.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::os::windows::process::CommandExt;
use std::process::{self, Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shared_child::SharedChild;
use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    OpenThread, ResumeThread, CREATE_SUSPENDED, THREAD_SUSPEND_RESUME,
};

use crate::output::ExitStatus;

/// The exit code of a process that a kill ended: a shell's code for SIGKILL, and
/// reported as that signal (see [`status`]).
const KILLED: u32 = 128 + crate::sys::SIGKILL as u32;

/// The processes of one job, in one Job Object.
pub(in crate::backends::local) struct Tree {
    kill_tree: bool,
    job: OwnedHandle,
    killed: AtomicBool,
}

impl Tree {
    /// `guarded` changes nothing here: a job object ends its processes with this program
    /// whatever happens.
    pub(in crate::backends::local) fn new(kill_tree: bool, _guarded: bool) -> io::Result<Tree> {
        // SAFETY: no security attributes, no name: a new anonymous job; the handle is
        // checked before it is owned.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a handle we just created and nobody else owns.
        let job = unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) };
        if kill_tree {
            set_limits(&job, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE)?;
        }
        Ok(Tree {
            kill_tree,
            job,
            killed: AtomicBool::new(false),
        })
    }

    /// Starts `command` in the job. With `kill_tree` it is created suspended and resumed
    /// once in the job, so that nothing it starts can escape; else it joins right after
    /// it starts, which saves a walk over the system's threads.
    pub(in crate::backends::local) fn spawn(
        &self,
        command: &mut Command,
    ) -> io::Result<SharedChild> {
        if self.kill_tree {
            command.creation_flags(CREATE_SUSPENDED);
        }
        let mut child = command.spawn()?;
        let joined = self.assign(&child).and_then(|()| {
            if self.kill_tree {
                resume(child.id())
            } else {
                Ok(())
            }
        });
        if let Err(e) = joined {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        SharedChild::new(child)
    }

    fn assign(&self, child: &Child) -> io::Result<()> {
        // SAFETY: both handles are open and ours for the length of the call.
        let ok = unsafe {
            AssignProcessToJobObject(
                self.job.as_raw_handle() as HANDLE,
                child.as_raw_handle() as HANDLE,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Nothing to do: the job holds no per-process state.
    pub(in crate::backends::local) fn reaped(&self, _child: &SharedChild) {}

    /// Ends `child` alone: its job's other processes go on (what `child` started stays,
    /// and ends with the job's kill or when the job closes).
    pub(in crate::backends::local) fn kill_one(&self, child: &Arc<SharedChild>) {
        let _ = child.kill();
    }

    /// Ends every process of the job, those the job's processes started included.
    pub(in crate::backends::local) fn kill(&self, live: &[Arc<SharedChild>]) {
        self.killed.store(true, Ordering::SeqCst);
        // SAFETY: the job handle is open and ours.
        unsafe { TerminateJobObject(self.job.as_raw_handle() as HANDLE, KILLED) };
        for child in live {
            let _ = child.kill();
        }
    }
}

impl Drop for Tree {
    /// A job that was not killed lets what it started outlive it, as a process group
    /// does on Unix once its leader is reaped: the kill-on-close limit goes first.
    fn drop(&mut self) {
        if self.kill_tree && !self.killed.load(Ordering::SeqCst) {
            let _ = set_limits(&self.job, 0);
        }
    }
}

fn set_limits(job: &OwnedHandle, flags: u32) -> io::Result<()> {
    // SAFETY: a zeroed JOBOBJECT_EXTENDED_LIMIT_INFORMATION is a valid value (no limits).
    let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
    info.BasicLimitInformation.LimitFlags = flags;
    // SAFETY: `info` is valid for its size for the length of the call.
    let ok = unsafe {
        SetInformationJobObject(
            job.as_raw_handle() as HANDLE,
            JobObjectExtendedLimitInformation,
            (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resumes the threads of process `pid`, created suspended: its main thread, the only
/// one it has. std does not hand out the thread's handle, so it is found in a snapshot.
fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: a snapshot of the system's threads; the handle is checked before it is owned.
    let raw = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if raw == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a handle we just created.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) };
    // SAFETY: THREADENTRY32 is plain data; dwSize is set as the API requires.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
    let mut resumed = 0;
    // SAFETY: the snapshot handle is open and `entry` valid for each call.
    let mut more = unsafe { Thread32First(snapshot.as_raw_handle() as HANDLE, &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            resume_thread(entry.th32ThreadID)?;
            resumed += 1;
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snapshot.as_raw_handle() as HANDLE, &mut entry) } != 0;
    }
    if resumed == 0 {
        return Err(io::Error::other(format!(
            "no thread of process {pid} to resume"
        )));
    }
    Ok(())
}

fn resume_thread(tid: u32) -> io::Result<()> {
    // SAFETY: opening a thread by id; the handle is checked before it is owned.
    let raw = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, tid) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a handle we just opened.
    let thread = unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) };
    // SAFETY: the handle is open and has THREAD_SUSPEND_RESUME.
    if unsafe { ResumeThread(thread.as_raw_handle() as HANDLE) } == u32::MAX {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How a process ended, as plumb reports it: one that a kill of plumb's ended reports
/// SIGKILL, as on Unix, so that code reading `signal()` works on both.
pub(in crate::backends::local) fn status(status: process::ExitStatus, killed: bool) -> ExitStatus {
    match status.code() {
        Some(code) if killed && code as u32 == KILLED => {
            ExitStatus::from_signal(crate::sys::SIGKILL)
        }
        _ => ExitStatus::from_std(status),
    }
}

/// Whether a file with this metadata can be run: any file (its name decides how).
pub(in crate::backends::local) fn is_executable(m: &fs::Metadata) -> bool {
    m.is_file()
}

/// Whether `program` names a file by its path rather than a name to look up on `PATH`.
pub(in crate::backends::local) fn names_path(program: &str) -> bool {
    program.contains(['/', '\\', ':'])
}

/// The file names `program` may have in a directory of `PATH`: itself when it ends with
/// one of `PATHEXT`'s extensions, else itself with each of them, in order.
pub(in crate::backends::local) fn program_files(
    program: &str,
    pathext: Option<&OsStr>,
) -> Vec<String> {
    let pathext = pathext
        .and_then(OsStr::to_str)
        .unwrap_or(".COM;.EXE;.BAT;.CMD");
    let exts: Vec<&str> = pathext.split(';').filter(|e| e.starts_with('.')).collect();
    let lower = program.to_ascii_lowercase();
    if exts
        .iter()
        .any(|e| lower.ends_with(&e.to_ascii_lowercase()))
    {
        return vec![program.to_string()];
    }
    exts.iter()
        .map(|e| format!("{program}{}", e.to_ascii_lowercase()))
        .collect()
}

/// std finds only `.exe` files on `PATH`: programs are looked up here, with `PATHEXT`,
/// so that `.cmd` and `.bat` programs run by their names as in `cmd`.
pub(in crate::backends::local) const LOOKS_UP_PROGRAMS: bool = true;

/// Why sudo cannot run here.
pub(in crate::backends::local) const NO_SUDO: Option<&str> =
    Some("sudo does not exist on Windows: run the program from an elevated process instead");

/// Starts `command` detached: no console, its own process group (Ctrl-C here does not
/// reach it), and out of any Job Object this process is in when the job allows it (else
/// it would die when that job closes).
pub(in crate::backends::local) fn detach(command: &mut Command) -> io::Result<Child> {
    use windows_sys::Win32::System::Threading::{
        CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
    };
    let flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    match command
        .creation_flags(flags | CREATE_BREAKAWAY_FROM_JOB)
        .spawn()
    {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            command.creation_flags(flags).spawn()
        }
        other => other,
    }
}
