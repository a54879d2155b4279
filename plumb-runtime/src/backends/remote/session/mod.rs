//! Sessions: remote commands in persistent shells over the machine's connection, about a
//! round trip each instead of a new channel and a login shell per command.
//!
//! A [`Pool`] keeps up to `max` shells ([`shell::Shell`]), opened on demand, one command at
//! a time each, so threads run in parallel instead of queueing behind one shell. A shell
//! that breaks (it ended, was killed with a timed-out command, lost its connection) is
//! dropped and its command fails with an error that says so; the next command opens a new
//! one. What a shell cannot do as the machine would (streamed stdin or output: `spawn`,
//! `lines`, pipes to other machines) goes through a channel of its own, as on the machine.

mod machine;
mod pool;
mod shell;

use std::sync::Arc;

pub use self::machine::Session;
pub(crate) use self::pool::Lane;
use self::pool::{in_place, Pool};
use super::Remote;
use crate::machine::Machine;
use crate::model::job::Job;
use crate::Result;

impl Remote {
    /// Starts `job` in a shell of `pool` when it can run there as on the machine, else
    /// on a channel of its own.
    pub(super) fn start_in_session(
        &self,
        job: Job,
        pool: &Arc<Pool>,
    ) -> Result<Box<dyn crate::model::job::Process>> {
        if Pool::takes(&job) {
            // No shell to be had (the server refuses more channels): a channel then. An
            // awaited job never waits for a busy shell: it would block the runtime's
            // thread, and with it whatever would free the shell.
            let shell = match job.awaited {
                true => pool.try_acquire(),
                false => pool.acquire().ok(),
            };
            if let Some(shell) = shell {
                let lane = Lane {
                    in_place: in_place(&job.expr, &self.ctx),
                    pool: pool.clone(),
                    shell: Some(shell),
                    machine: self.name().to_string(),
                };
                return self.start_job(job, Some(lane));
            }
        }
        self.start_job(job, None)
    }
}
