//! Remote jobs: how one ended, judged by its checks, and how a kill reaches every process
//! of it on the host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::transport::Child;
use super::Remote;
use crate::model::expr::{Expr, Node};
use crate::model::job::{Outcome, Process};
use crate::model::sudo::uses_sudo;
use crate::output::ExitStatus;
use crate::render::script::{self, ScriptFiles, SudoKill};
use crate::Result;

/// The pid files of a connection's running jobs that can be killed, so that closing the
/// connection ends their processes on the remote host too: sshd does not signal the
/// processes of a session it closes. Each with the command that ends it
/// ([`kill_command`]).
#[derive(Default, Debug)]
pub(super) struct LiveJobs(Mutex<Vec<(String, Vec<u8>)>>);

impl LiveJobs {
    pub(super) fn add(&self, pid_file: &str, kill: Vec<u8>) {
        self.lock().push((pid_file.to_string(), kill));
    }

    fn remove(&self, pid_file: &str) {
        self.lock().retain(|(p, _)| p != pid_file);
    }

    /// One script that ends every live job, or `None` when there is none; forgets them.
    pub(super) fn kill_all_script(&self) -> Option<Vec<u8>> {
        let files = std::mem::take(&mut *self.lock());
        if files.is_empty() {
            return None;
        }
        let parts: Vec<Vec<u8>> = files.into_iter().map(|(_, kill)| kill).collect();
        Some(parts.join(&b"; "[..]))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(String, Vec<u8>)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A job started on a remote machine.
pub(super) struct RemoteProcess {
    remote: Remote,
    child: Box<dyn Child>,
    expr: Expr,
    files: ScriptFiles,
    /// With `kill_tree`: the command that ends its process group ([`kill_command`]).
    kill: Option<Vec<u8>>,
    killed: AtomicBool,
    outcome: Mutex<Option<Outcome>>,
}

impl RemoteProcess {
    pub(super) fn new(
        remote: Remote,
        child: Box<dyn Child>,
        expr: Expr,
        files: ScriptFiles,
        kill: Option<Vec<u8>>,
    ) -> RemoteProcess {
        RemoteProcess {
            remote,
            child,
            expr,
            files,
            kill,
            killed: AtomicBool::new(false),
            outcome: Mutex::new(None),
        }
    }

    fn known(&self) -> Option<Outcome> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Judges the status the job's script exited with, once.
    fn finish(&self, status: ExitStatus) -> Outcome {
        self.remote.conn.jobs.remove(&self.files.pid);
        // Killed by us: the remote group died of SIGKILL, whatever the transport reports.
        let status = if self.killed.load(Ordering::SeqCst) {
            ExitStatus::from_signal(libc::SIGKILL)
        } else {
            status
        };
        let outcome = self.judge(status);
        self.remote.remove_askpass(&self.files);
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome.clone());
        outcome
    }

    /// The outcome of a job whose script exited with `status`, judged by the job's checks.
    /// When a compound job exited non-zero, its script left a status file with the code of
    /// every command that exited non-zero (reading removes it): the tree is judged from
    /// those codes by the rules the local machine applies, and the failing stage named.
    fn judge(&self, status: ExitStatus) -> Outcome {
        let compound = !matches!(self.expr.node(), Node::Cmd(_));
        let (accepted, stage) = match (compound, status.code()) {
            (true, Some(code)) if code != 0 => {
                let record = self
                    .remote
                    .run_script(&script::take_status_file(&self.files), &[])
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                let codes = script::leaf_codes(&record);
                let accepted = replay(&self.expr, &codes, &mut 0).accepted;
                let stage = script::failed_stage(&self.expr, &record, code);
                (accepted, stage.filter(|_| !accepted))
            }
            _ => (self.expr.opts().judge(&status, status.success()), None),
        };
        Outcome {
            status,
            stage,
            accepted,
            machine: None,
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
        Node::Cmd(_) | Node::Cd(_) => {
            let code = codes.get(next).copied().unwrap_or(0);
            *next += 1;
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
                o.accepted |= o.status.code() == Some(128 + libc::SIGPIPE);
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
        if let Some(o) = self.known() {
            return Ok(o);
        }
        let status = self.child.wait();
        if status.is_err() {
            self.remote.conn.jobs.remove(&self.files.pid);
        }
        Ok(self.finish(status?))
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        if let Some(o) = self.known() {
            return Ok(Some(o));
        }
        match self.child.try_wait()? {
            Some(status) => Ok(Some(self.finish(status))),
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
        if let Some(kill) = &self.kill {
            // Ending the channel or the local client does not end the remote processes:
            // end their process group there, which also ends the channel.
            let _ = self.remote.run_script(kill, &[]);
        }
        Ok(())
    }
}

/// The command that ends `expr`'s job (see [`script::kill_command`]).
pub(super) fn kill_command(expr: &Expr, files: &ScriptFiles) -> Vec<u8> {
    let sudo = uses_sudo(expr).then(|| SudoKill {
        askpass: files.askpass.clone(),
    });
    script::kill_command(&files.pid, sudo.as_ref())
}
