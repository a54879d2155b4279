//! The async twins of a group's calls (cargo feature `tokio`): the same hosts, batches,
//! failure budget, progress line, files and results as the blocking calls, each host a
//! task of the runtime instead of a thread. Dropping a call's future aborts its hosts'
//! tasks: the runtime drops each at its next turn, and with it kills its command's tree.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::rollout::{Budget, Progress};
use super::{dir_name, fs_error, panicked, Group, GroupResults, Member, Printer};
use crate::machine::Machine;
use crate::model::Expr;
use crate::output::Output;
use crate::Result;

/// What a call does on one host: its index and machine in, its result out.
type HostCall<T> = Arc<
    dyn Fn(usize, Arc<dyn Machine>) -> Pin<Box<dyn Future<Output = Result<T>> + Send>>
        + Send
        + Sync,
>;

/// Each call returns a `'static` future that owns a clone of the group (its machines are
/// shared, not copied): it can be spawned.
impl Group {
    /// [`run`](Group::run), awaited (cargo feature `tokio`): each host's lines shown as
    /// they come, each host a task, not a thread.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let group = plumb::Group::new().machine(plumb::local()).quiet();
    /// assert!(group.run_async(&sh!(echo hi)).await.all_ok());
    /// # });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn run_async(
        &self,
        expr: &Expr,
    ) -> impl Future<Output = GroupResults<()>> + Send + 'static {
        let group = Arc::new(self.clone());
        let expr = self.bounded(expr);
        async move {
            let printer = Arc::new(Printer::new(
                &group.members,
                group.quiet,
                group.sink.clone(),
            ));
            let prepared = Arc::new(group.files.prepare());
            let g = group.clone();
            let call: HostCall<()> = Arc::new(move |i, m| {
                let (expr, printer, prepared, g) =
                    (expr.clone(), printer.clone(), prepared.clone(), g.clone());
                Box::pin(async move {
                    let keep = prepared.is_ok() && g.files.stdout.is_some();
                    let (result, stdout, stderr) = run_shown(&expr, m, &printer, i, keep).await;
                    g.keep_files(i, &prepared, result, &stdout, &stderr)
                })
            });
            each(group, call).await
        }
    }

    /// [`output`](Group::output), awaited (cargo feature `tokio`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let group = plumb::Group::new().machine(plumb::local()).machine(plumb::local());
    /// let results = group.output_async(&sh!(echo hi)).await;
    /// assert_eq!(results.len(), 2);
    /// assert!(results.all_ok());
    /// # });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn output_async(
        &self,
        expr: &Expr,
    ) -> impl Future<Output = GroupResults<Output>> + Send + 'static {
        let group = Arc::new(self.clone());
        let expr = self.bounded(expr);
        async move {
            let prepared = Arc::new(group.files.prepare());
            let g = group.clone();
            let call: HostCall<Output> = Arc::new(move |i, m| {
                let (expr, prepared, g) = (expr.clone(), prepared.clone(), g.clone());
                Box::pin(async move {
                    let result = expr.on_dyn(m).output_async().await;
                    let (stdout, stderr) = super::streams_of(&result);
                    g.keep_files(i, &prepared, result, &stdout, &stderr)
                })
            });
            each(group, call).await
        }
    }

    /// [`upload`](Group::upload), awaited (cargo feature `tokio`). The copies themselves
    /// are blocking calls of their machines: each host's runs on the runtime's blocking
    /// pool, at most [`max_parallel`](Group::max_parallel) at a time.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn upload_async(
        &self,
        local: impl AsRef<Path>,
        remote: impl AsRef<Path>,
    ) -> impl Future<Output = GroupResults<()>> + Send + 'static {
        let group = Arc::new(self.clone());
        let paths = Arc::new((local.as_ref().to_path_buf(), remote.as_ref().to_path_buf()));
        let limit = self.timeout_per_host;
        let what: Arc<str> = format!("cannot upload `{}`", paths.0.display()).into();
        let call: HostCall<()> = Arc::new(move |_, m| {
            let (paths, what) = (paths.clone(), what.clone());
            Box::pin(crate::run::off_runtime(m.name().to_string(), move || {
                super::copy_within(limit, &m, &what, || m.upload(&paths.0, &paths.1))
            }))
        });
        each(group, call)
    }

    /// [`download`](Group::download), awaited (cargo feature `tokio`); the copies run on
    /// the runtime's blocking pool, as [`upload_async`](Group::upload_async)'s do.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn download_async(
        &self,
        remote: impl AsRef<Path>,
        local_dir: impl AsRef<Path>,
    ) -> impl Future<Output = GroupResults<()>> + Send + 'static {
        let group = Arc::new(self.clone());
        let (remote, dir) = (
            remote.as_ref().to_path_buf(),
            local_dir.as_ref().to_path_buf(),
        );
        let made = Arc::new(std::fs::create_dir_all(&dir).map_err(|e| fs_error("create", &dir, e)));
        let names: Arc<Vec<String>> =
            Arc::new(group.members.iter().map(|m| m.name.clone()).collect());
        let limit = group.timeout_per_host;
        let what: Arc<str> = format!("cannot download `{}`", remote.display()).into();
        let call: HostCall<()> = Arc::new(move |i, m| {
            let (made, remote, what) = (made.clone(), remote.clone(), what.clone());
            let to = dir.join(dir_name(&names[i]));
            Box::pin(async move {
                match &*made {
                    Ok(()) => {
                        let who = m.name().to_string();
                        let copy = move || {
                            super::copy_within(limit, &m, &what, || m.download(&remote, &to))
                        };
                        crate::run::off_runtime(who, copy).await
                    }
                    Err(e) => Err(e.duplicate()),
                }
            })
        });
        each(group, call)
    }
}

/// [`Group::each`], with a task per host: batch after batch, at most `max_parallel` at a
/// time (in order when one), none started once the failure budget is spent, in a
/// `tracing` span each.
async fn each<T: Send + 'static>(group: Arc<Group>, call: HostCall<T>) -> GroupResults<T> {
    let n = group.members.len();
    let budget = Arc::new(group.budget());
    let progress = Arc::new(Progress::new(&group.progress, n));
    let mut results: Vec<Option<(Result<T>, Duration)>> = (0..n).map(|_| None).collect();
    let size = group.batch.unwrap_or(n).max(1);
    for first in (0..n).step_by(size) {
        let hosts = first..(first + size).min(n);
        let turn = |i: usize| {
            host_turn(
                i,
                group.members[i].clone(),
                call.clone(),
                budget.clone(),
                progress.clone(),
            )
        };
        run_batch(hosts, group.max_parallel.max(1), turn, &mut results).await;
    }
    progress.finish();
    let results = (results.into_iter().zip(&group.members))
        .map(|(r, m)| r.unwrap_or_else(|| (Err(panicked(&m.name)), Duration::ZERO)))
        .collect();
    group.results(results)
}

/// One host's turn: skipped once the budget is spent; else the call, its result recorded.
async fn host_turn<T>(
    i: usize,
    member: Member,
    call: HostCall<T>,
    budget: Arc<Budget>,
    progress: Arc<Progress>,
) -> (Result<T>, Duration) {
    if budget.spent() {
        return (Err(budget.skipped(&member.name)), Duration::ZERO);
    }
    let span = tracing::info_span!("plumb.group", host = %member.name);
    let start = Instant::now();
    let result = match member.machine {
        Ok(m) => call(i, m).instrument(span).await,
        Err(e) => Err(e.duplicate()),
    };
    budget.record(result.is_ok());
    progress.host_done(result.is_ok());
    (result, start.elapsed())
}

/// The turns of `hosts`, at most `limit` at once, started in order; each result in its
/// host's place (a turn that panicked leaves its place empty).
async fn run_batch<T: Send + 'static, F>(
    mut hosts: std::ops::Range<usize>,
    limit: usize,
    turn: impl Fn(usize) -> F,
    results: &mut [Option<(Result<T>, Duration)>],
) where
    F: Future<Output = (Result<T>, Duration)> + Send + 'static,
{
    let mut set = JoinSet::new();
    let mut index = HashMap::new();
    loop {
        while set.len() < limit {
            let Some(i) = hosts.next() else { break };
            let id = set.spawn(turn(i)).id();
            index.insert(id, i);
        }
        match set.join_next_with_id().await {
            None => return,
            Some(Ok((id, r))) => results[index[&id]] = Some(r),
            Some(Err(_panicked)) => {}
        }
    }
}

/// [`super::run_shown`], awaited.
async fn run_shown(
    expr: &Expr,
    m: Arc<dyn Machine>,
    printer: &Printer,
    i: usize,
    keep: bool,
) -> (Result<()>, Vec<u8>, Vec<u8>) {
    let mut handle = match expr.on_dyn(m).spawn_async() {
        Ok(handle) => handle,
        Err(e) => return (Err(e), Vec::new(), Vec::new()),
    };
    drop(handle.take_stdin());
    let mut kept = Vec::new();
    if let Some(out) = handle.take_stdout() {
        let mut lines = tokio::io::BufReader::new(out).split(b'\n');
        while let Ok(Some(line)) = lines.next_segment().await {
            printer.line(i, &line);
            if keep {
                kept.extend_from_slice(&line);
                kept.push(b'\n');
            }
        }
    }
    let result = handle.wait().await;
    let (_, stderr) = super::streams_of(&result);
    for line in stderr.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        printer.line(i, line);
    }
    (result.map(drop), kept, stderr)
}
