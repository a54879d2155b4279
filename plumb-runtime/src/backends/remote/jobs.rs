//! Remote jobs: how one ended, judged by its checks, and how a kill reaches every process
//! of it on the host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::transport::Child;
use super::Remote;
use crate::error::{Error, ErrorKind};
use crate::model::expr::{Expr, Node};
use crate::model::job::{Outcome, Process};
use crate::model::sudo::uses_sudo;
use crate::output::ExitStatus;
use crate::render::script::{self, ScriptFiles, SudoKill};
use crate::Result;

/// A connection's running jobs that can be killed, so that closing the connection ends
/// their processes on the remote host too: sshd does not signal the processes of a
/// session it closes. Each under its job's directory name, with what ends it.
#[derive(Default)]
pub(super) struct LiveJobs(Mutex<Vec<(String, LiveKill)>>);

/// How a live job is ended when its connection closes.
enum LiveKill {
    /// The job's kill command ([`kill_command`]).
    Script(Vec<u8>),
    /// Its process group, once its script has reported its pid.
    Pid(Arc<dyn Child>),
}

impl LiveJobs {
    fn add(&self, id: &str, kill: LiveKill) {
        self.lock().push((id.to_string(), kill));
    }

    fn remove(&self, id: &str) {
        self.lock().retain(|(p, _)| p != id);
    }

    /// One script that ends every live job, or `None` when there is none; forgets them.
    pub(super) fn kill_all_script(&self) -> Option<Vec<u8>> {
        let jobs = std::mem::take(&mut *self.lock());
        let parts: Vec<Vec<u8>> = (jobs.into_iter())
            .filter_map(|(_, kill)| match kill {
                LiveKill::Script(kill) => Some(kill),
                // Only a job still running: an ended one's pid may be another's by now.
                LiveKill::Pid(child) => (matches!(child.try_wait(), Ok(None)))
                    .then(|| child.job_pid(Duration::ZERO).map(kill_group))
                    .flatten(),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(&b"; "[..]))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(String, LiveKill)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LiveJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveJobs")
            .field("count", &self.lock().len())
            .finish()
    }
}

/// How a job's processes are ended (with `kill_tree`).
pub(super) enum Kill {
    /// Its kill command, which reads the pid file ([`kill_command`]).
    Script(Vec<u8>),
    /// Its process group, by the pid its script reported on stderr
    /// ([`Child::job_pid`]).
    ReportedPid,
}

/// The command that ends the process group led by `pid` (greater than 1: checked where it
/// is read).
fn kill_group(pid: u32) -> Vec<u8> {
    format!("kill -KILL -{pid} 2>/dev/null; true").into_bytes()
}

/// A job started on a remote machine.
pub(super) struct RemoteProcess {
    remote: Remote,
    child: Arc<dyn Child>,
    expr: Expr,
    files: ScriptFiles,
    /// With `kill_tree`: how its process group is ended.
    kill: Option<Kill>,
    /// The status file records every code (see [`script::Rendered::records_all`]).
    records_all: bool,
    killed: AtomicBool,
    /// The job's directory is gone, or was never made.
    cleaned: AtomicBool,
    /// The script `exec`s the job's one command ([`script::Rendered::execs`]).
    execs: bool,
    outcome: Mutex<Option<Verdict>>,
    /// A job on a terminal: the private directory of its values, which its script removes
    /// as it starts, and this side after the job in case it never did (killed first).
    values_dir: Mutex<Option<String>>,
}

/// How a job ended: it ran, or its directory could not be entered (an error, as on the
/// local machine, whatever the checks: nothing ran).
#[derive(Clone)]
enum Verdict {
    Ran(Outcome),
    NoDir(String),
}

impl RemoteProcess {
    pub(super) fn new(
        remote: Remote,
        child: Box<dyn Child>,
        expr: Expr,
        files: ScriptFiles,
        kill: Option<Kill>,
        records_all: bool,
    ) -> RemoteProcess {
        let child: Arc<dyn Child> = Arc::from(child);
        let live = match &kill {
            Some(Kill::Script(script)) => Some(LiveKill::Script(script.clone())),
            Some(Kill::ReportedPid) => Some(LiveKill::Pid(child.clone())),
            None => None,
        };
        if let Some(live) = live {
            remote.conn.jobs.add(&files.pid(), live);
        }
        RemoteProcess {
            remote,
            child,
            expr,
            files,
            kill,
            records_all,
            killed: AtomicBool::new(false),
            cleaned: AtomicBool::new(false),
            execs: false,
            outcome: Mutex::new(None),
            values_dir: Mutex::new(None),
        }
    }

    /// Marks a job whose script `exec`s its one command (see `execs`).
    pub(super) fn execing(mut self, execs: bool) -> RemoteProcess {
        self.execs = execs;
        self
    }

    /// Gives the job the private directory of its values (see `values_dir`).
    pub(super) fn with_values_dir(self, dir: Option<String>) -> RemoteProcess {
        *self
            .values_dir
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = dir;
        self
    }

    /// Removes the values' directory, if the job has one still.
    fn remove_values(&self) {
        let dir = self
            .values_dir
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(dir) = dir {
            let _ = self.remote.run_script(&script::remove_dir(&dir), &[]);
        }
    }

    fn known(&self) -> Option<Result<Outcome>> {
        let known = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        known.as_ref().map(|v| self.answer(v))
    }

    fn answer(&self, verdict: &Verdict) -> Result<Outcome> {
        match verdict {
            Verdict::Ran(outcome) => Ok(outcome.clone()),
            Verdict::NoDir(dir) => Err(Error::new(
                ErrorKind::NotFound,
                crate::machine::Machine::name(&self.remote),
                format!("directory `{dir}` not found"),
            )),
        }
    }

    /// Judges the status the job's script exited with, once.
    fn finish(&self, status: ExitStatus) -> Result<Outcome> {
        self.remote.conn.jobs.remove(&self.files.pid());
        // Killed by us: the remote group died of SIGKILL, whatever the transport reports.
        let status = match status.signal() {
            _ if self.killed.load(Ordering::SeqCst) => ExitStatus::from_signal(crate::sys::SIGKILL),
            // A command the shell exec'd (see `script::render`) reports what a shell in
            // between would have: 128 + N, as on every remote machine.
            Some(n) if self.execs && n > 0 => ExitStatus::from_code(128 + n),
            _ => status,
        };
        self.remove_values();
        let verdict = self.judge(status);
        let answer = self.answer(&verdict);
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(verdict);
        answer
    }

    /// Whether the script may have made the job's directory: for a compound job (status
    /// file), a directory to enter, a pid file or a sudo password file.
    fn may_have_dir(&self) -> bool {
        !script::is_single_command(&self.expr)
            || matches!(self.kill, Some(Kill::Script(_)))
            || self.files.askpass
            || self.remote.ctx.dir.is_some()
            || self.expr.opts().dir.is_some()
    }

    /// The status file's content, and the job's directory removed. The script removes it
    /// itself after a success (unless it records every code), a kill after a kill.
    fn take_record(&self, status: &ExitStatus) -> Vec<u8> {
        // A kill command removes the directory; a kill by pid leaves it to this.
        let by_script = matches!(self.kill, Some(Kill::Script(_)));
        let killed_by_us = self.killed.load(Ordering::SeqCst) && by_script;
        let left = !status.success() || self.records_all;
        if !self.may_have_dir() || killed_by_us || !left {
            self.cleaned.store(true, Ordering::SeqCst);
            return Vec::new();
        }
        let record = self
            .remote
            .run_script(&script::take_status_file(&self.files), &[])
            .map(|o| o.stdout);
        self.cleaned.store(record.is_ok(), Ordering::SeqCst);
        record.unwrap_or_default()
    }

    /// The outcome of a job whose script exited with `status`, judged by the job's checks.
    /// When a compound job exited non-zero, its script left a status file with the code of
    /// every command that exited non-zero: the tree is judged from those codes by the
    /// rules the local machine applies, and the failing stage named. A directory that
    /// could not be entered fails the job whatever its checks, as it does locally, and a
    /// failure the record does not explain (the script ended early, the record could not
    /// be written or read) is a failure, never a success.
    fn judge(&self, status: ExitStatus) -> Verdict {
        let record = self.take_record(&status);
        if let Some((which, _)) = script::dir_failure(&record) {
            return Verdict::NoDir(self.failed_dir(which));
        }
        let compound = !script::is_single_command(&self.expr);
        let (accepted, stage) = match status.code() {
            Some(code) if compound && (code != 0 || self.records_all) => {
                let replayed = replay(&self.expr, &script::leaf_codes(&record), &mut 0);
                let accepted = replayed.accepted && replayed.status.code() == Some(code);
                let stage = script::failed_stage(&self.expr, &record, code);
                (accepted, stage.filter(|_| !accepted))
            }
            _ => (self.expr.opts().judge(&status, status.success()), None),
        };
        Verdict::Ran(Outcome {
            status,
            stage,
            accepted,
            machine: None,
        })
    }

    /// The directory that could not be entered: the handle's (0) or the expression's (1).
    fn failed_dir(&self, which: usize) -> String {
        let dir = match which {
            0 => self.remote.ctx.dir.clone(),
            _ => self
                .expr
                .opts()
                .dir
                .as_ref()
                .map(|d| script::join(self.remote.ctx.dir.as_deref(), d)),
        };
        dir.unwrap_or_default().display().to_string()
    }
}

impl Drop for RemoteProcess {
    /// The job's directory may hold a sudo password file: it goes whatever happened (a
    /// wait that failed, a handle never waited for). The remote watchdog covers a
    /// connection that is gone.
    fn drop(&mut self) {
        self.remove_values();
        if !self.cleaned.load(Ordering::SeqCst) && self.may_have_dir() {
            let _ = self
                .remote
                .run_script(&script::take_status_file(&self.files), &[]);
        }
    }
}

/// The outcome of `expr` from the exit codes of its commands (`codes[i]` for the i-th
/// leaf; absent: 0), by the rules the local machine applies as it runs: each command
/// judged by its own checks, pipefail (`Outcome::pipeline`), a sequence by its last item
/// that ran. `next` numbers the leaves as the script does.
fn replay(expr: &Expr, codes: &HashMap<usize, i32>, next: &mut usize) -> Outcome {
    let judged = |status: ExitStatus, parts_ok: bool| Outcome {
        accepted: expr.opts().judge(&status, parts_ok),
        status,
        stage: None,
        machine: None,
    };
    match expr.node() {
        Node::Cmd(_) | Node::Cd(_) | Node::Block { .. } => {
            // Absent: 0 (only failures are recorded, unless every code is).
            let code = codes.get(next).copied().unwrap_or(0);
            *next += 1;
            // What is inside (a block's body, substitutions) is numbered after it; its own
            // code already says how that went.
            for child in expr.children() {
                replay(child, codes, next);
            }
            judged(ExitStatus::from_code(code), code == 0)
        }
        Node::Pipe(stages) => {
            let n = stages.len();
            let mut outcomes: Vec<Outcome> = stages
                .iter()
                .map(|(stage, _)| replay(stage, codes, next))
                .collect();
            // A shell reports a stage killed by SIGPIPE as 128 + 13.
            for o in outcomes.iter_mut().take(n.saturating_sub(1)) {
                o.accepted |= o.status.code() == Some(128 + crate::sys::SIGPIPE);
            }
            Outcome::pipeline(outcomes, expr.opts())
        }
        Node::Seq(items) => {
            let mut last: Option<Outcome> = None;
            for (op, item) in items {
                let runs = Outcome::runs_next(last.as_ref(), *op);
                // Numbered either way: the script numbers every leaf.
                let outcome = replay(item, codes, next);
                if runs {
                    last = Some(outcome);
                }
            }
            Outcome::sequence(last, expr.opts())
        }
    }
}

impl Process for RemoteProcess {
    fn wait(&self) -> Result<Outcome> {
        if let Some(known) = self.known() {
            return known;
        }
        let status = self.child.wait();
        if status.is_err() {
            self.remote.conn.jobs.remove(&self.files.pid());
        }
        self.finish(status?)
    }

    fn wake_on_exit(&self, waker: &std::task::Waker) -> bool {
        self.child.wake_on_exit(waker)
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        if let Some(known) = self.known() {
            return known.map(Some);
        }
        match self.child.try_wait()? {
            Some(status) => self.finish(status).map(Some),
            None => Ok(None),
        }
    }

    fn kill(&self) -> Result<()> {
        if self.known().is_some() || !matches!(self.child.try_wait(), Ok(None)) {
            return Ok(());
        }
        self.killed.store(true, Ordering::SeqCst);
        // The child first: a session's shell must know the kill is ours before it dies of
        // it.
        self.child.kill();
        // Ending the channel or the local client does not end the remote processes: end
        // their process group there, which also ends the channel.
        match &self.kill {
            Some(Kill::Script(kill)) => {
                let _ = self.remote.run_script(kill, &[]);
            }
            // (As with a pid file, a job that ends in between leaves a pid that could be
            // reused: the window is one round trip, and the group must have been ours.)
            Some(Kill::ReportedPid) => match self.child.job_pid(Duration::ZERO) {
                Some(pid) => {
                    let _ = self.remote.run_script(&kill_group(pid), &[]);
                }
                // The script has not started yet: the kill goes out as soon as it tells
                // its pid (its first act), from a thread of its own, not the I/O thread
                // that reads the line; nobody waits for it meanwhile.
                None => {
                    let remote = self.remote.clone();
                    self.child.on_job_pid(Box::new(move |pid| {
                        if let Some(pid) = pid {
                            let kill = move || drop(remote.run_script(&kill_group(pid), &[]));
                            let _ = std::thread::Builder::new()
                                .name("plumb-kill".into())
                                .spawn(kill);
                        }
                    }));
                }
            },
            None => {}
        }
        Ok(())
    }
}

/// The command that ends `expr`'s job (see [`script::kill_command`]).
pub(super) fn kill_command(expr: &Expr, files: &ScriptFiles) -> Vec<u8> {
    let sudo = uses_sudo(expr).then(|| SudoKill {
        askpass: files.askpass_file(),
    });
    script::kill_command(files, sudo.as_ref())
}
