//! `Group`: one expression or transfer on many machines at once, each host with its own
//! result, live output prefixed with the host's name.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::backends::local::fs_error;
use crate::error::{Error, ErrorKind};
use crate::machine::Machine;
use crate::model::Expr;
use crate::output::Output;
use crate::Result;

mod connect;
mod rollout;
#[cfg(feature = "tokio")]
mod tasks;
pub(crate) use connect::sealed;
pub use connect::Connect;
use rollout::{Budget, OutFiles, Progress, ProgressTo};

/// Machines of any kind, run together: `run` streams every host's output with its name
/// in front of each line (`web1 | ...`, never two hosts within a line, coloured on a
/// terminal), `output` captures per host, `upload`/`download` copy to or from each. Hosts
/// run concurrently, at most [`max_parallel`](Group::max_parallel) at a time, or one after
/// another with [`serial`](Group::serial), or in rolling [`batches`](Group::batches); a
/// failing or unreachable host never stops the others, unless the group has a failure
/// budget ([`max_failures`](Group::max_failures), [`stop_on_failure`](Group::stop_on_failure)).
/// A [`progress`](Group::progress) line counts the hosts done, and each host's output can
/// go to files of its own ([`output_dir`](Group::output_dir)). Each host
/// runs inside a `tracing` span `plumb.group` with its name. A fleet of hundreds is
/// connected at once, paced per server, by [`connect_all`](Group::connect_all).
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::prelude::*;
/// let group = plumb::Group::new().machine(plumb::local()).machine(plumb::local().with_env("WHO", "b"));
/// let results = group.quiet().output(&sh!(echo hi));
/// assert!(results.all_ok());
/// assert_eq!(results.len(), 2);
/// ```
#[derive(Clone)]
pub struct Group {
    members: Vec<Member>,
    /// The members' names as directories (`dir_name`), to keep them unique at a glance:
    /// a scan of every member for every name made building a fleet of one host's
    /// logins cubic in its size.
    taken: HashSet<String>,
    /// For a name given more than once, the next `#k` to try.
    next_suffix: HashMap<String, usize>,
    max_parallel: usize,
    /// For `connect_all`: connections at once, in all and to one server.
    max_connecting: usize,
    handshakes_per_server: usize,
    /// Bounds each host's command in `run` and `output`.
    timeout_per_host: Option<Duration>,
    stop_on_failure: bool,
    /// Rolling batches of this many hosts; all in one when `None`.
    batch: Option<usize>,
    max_failures: Option<usize>,
    progress: ProgressTo,
    files: OutFiles,
    quiet: bool,
    /// Where `run` shows lines; this process's stdout when `None`.
    sink: Option<Arc<Mutex<dyn Write + Send>>>,
}

#[derive(Clone)]
struct Member {
    name: String,
    machine: std::result::Result<Arc<dyn Machine>, Arc<Error>>,
}

impl Default for Group {
    fn default() -> Group {
        Group::new()
    }
}

impl Group {
    /// An empty group that runs all its hosts at once (up to 32) and shows their output.
    pub fn new() -> Group {
        Group {
            members: Vec::new(),
            taken: HashSet::new(),
            next_suffix: HashMap::new(),
            max_parallel: 32,
            max_connecting: 64,
            handshakes_per_server: 8,
            timeout_per_host: None,
            stop_on_failure: false,
            batch: None,
            max_failures: None,
            progress: ProgressTo::Off,
            files: OutFiles::default(),
            quiet: false,
            sink: None,
        }
    }

    /// Adds a machine, under its [`name`](Machine::name). Names are unique in a group: a
    /// name already there gets `#2`, `#3`, ... (the same host twice, or an `SshMachine`
    /// and an `Ssh2Machine` to one host), so results, output prefixes and downloaded
    /// directories never mix.
    pub fn machine(self, machine: impl Machine + 'static) -> Group {
        let name = machine.name().to_string();
        self.machine_named(name, machine)
    }

    /// Adds a machine under a name of your choosing (made unique as in
    /// [`machine`](Group::machine)).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// let group = plumb::Group::new()
    ///     .machine_named("primary", plumb::local())
    ///     .machine_named("replica", plumb::local())
    ///     .machine(plumb::local())
    ///     .machine(plumb::local());
    /// assert_eq!(group.names(), ["primary", "replica", "local", "local#2"]);
    /// ```
    pub fn machine_named(self, name: impl Into<String>, machine: impl Machine + 'static) -> Group {
        self.push(name.into(), Ok(Arc::new(machine)))
    }

    /// Adds the outcome of connecting to a host: one that could not be reached stays in
    /// the group, and every call reports its connection error for it.
    pub fn connected(self, machine: Result<impl Machine + 'static>) -> Group {
        let name = match &machine {
            Ok(m) => m.name().to_string(),
            Err(e) => e.machine().to_string(),
        };
        self.connected_named(name, machine)
    }

    /// [`connected`](Group::connected), under a name of your choosing.
    pub fn connected_named(
        self,
        name: impl Into<String>,
        machine: Result<impl Machine + 'static>,
    ) -> Group {
        let machine = match machine {
            Ok(m) => Ok(Arc::new(m) as Arc<dyn Machine>),
            Err(e) => Err(Arc::new(e)),
        };
        self.push(name.into(), machine)
    }

    fn push(
        mut self,
        name: String,
        machine: std::result::Result<Arc<dyn Machine>, Arc<Error>>,
    ) -> Group {
        let mut unique = name.clone();
        let mut k = self.next_suffix.get(&name).copied().unwrap_or(2);
        while self.taken.contains(&dir_name(&unique)) {
            unique = format!("{name}#{k}");
            k += 1;
        }
        if unique != name {
            self.next_suffix.insert(name, k);
        }
        self.taken.insert(dir_name(&unique));
        self.members.push(Member {
            name: unique,
            machine,
        });
        self
    }

    /// At most `n` hosts at a time.
    pub fn max_parallel(mut self, n: usize) -> Group {
        self.max_parallel = n.max(1);
        self
    }

    /// In [`run`](Group::run) and [`output`](Group::output), each host's command is ended
    /// (its whole process tree, as [`Expr::timeout`] does) once it has run for `timeout`,
    /// and that host's result is an [`ErrorKind::Timeout`] error; the other hosts go on.
    /// The clock of a host starts when its command does, not while it waits for a slot
    /// of [`max_parallel`](Group::max_parallel). A shorter timeout of the expression
    /// itself still holds. In [`upload`](Group::upload) and [`download`](Group::download)
    /// a host's copy stops once it has run for `timeout`, at its next chunk or reply,
    /// leaving what was copied so far in place, as an interrupted `cp` does. An SFTP
    /// server that does not answer within a second more (blocked opening a FIFO, say) is
    /// let go of, unless another thread's call without a deadline waits on it too, and
    /// until the server ends that session the machine's files go through its shell.
    /// Opening a local FIFO or device is not bounded.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use std::time::Duration;
    /// let group = plumb::Group::new()
    ///     .machine(plumb::local())
    ///     .timeout_per_host(Duration::from_millis(200))
    ///     .quiet();
    /// let results = group.output(&sh!(sleep 5));
    /// let (_, err) = results.failures().next().unwrap();
    /// assert_eq!(err.kind(), plumb::ErrorKind::Timeout);
    /// ```
    pub fn timeout_per_host(mut self, timeout: Duration) -> Group {
        self.timeout_per_host = Some(timeout);
        self
    }

    /// `expr` under the group's timeout per host, if any (the shorter of the two).
    fn bounded(&self, expr: &Expr) -> Expr {
        match (self.timeout_per_host, expr.opts().timeout) {
            (Some(t), Some(own)) => expr.timeout(t.min(own)),
            (Some(t), None) => expr.timeout(t),
            (None, _) => expr.clone(),
        }
    }

    /// One host after another, in the order they were added.
    pub fn serial(self) -> Group {
        self.max_parallel(1)
    }

    /// After a host fails, no further host starts (their results say so, with
    /// [`ErrorKind::Skipped`]); hosts already running finish. The same as
    /// [`max_failures(0)`](Group::max_failures), and with [`serial`](Group::serial) it
    /// stops at the first failure.
    pub fn stop_on_failure(mut self) -> Group {
        self.stop_on_failure = true;
        self
    }

    /// A failure budget: once more than `n` hosts have failed, no further host starts
    /// (their results are [`ErrorKind::Skipped`] errors that say why); hosts already
    /// running finish. With [`batches`](Group::batches) it is checked as each host
    /// starts, so a bad release stops within the batch that shows it.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let group = (0..6).fold(plumb::Group::new(), |g, _| g.machine(plumb::local()));
    /// let results = group.serial().max_failures(1).quiet().run(&sh!(false));
    /// let skipped = results.failures().filter(|(_, e)| e.kind() == plumb::ErrorKind::Skipped);
    /// assert_eq!(skipped.count(), 4); // two failed, then nothing else started
    /// ```
    pub fn max_failures(mut self, n: usize) -> Group {
        self.max_failures = Some(n);
        self
    }

    /// Rolling batches of `n` hosts (Ansible's `serial`): a batch starts when the one
    /// before has ended, its hosts at most [`max_parallel`](Group::max_parallel) at a
    /// time. With [`max_failures`](Group::max_failures), a release that breaks the first
    /// batch never reaches the rest.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let group = (0..5).fold(plumb::Group::new(), |g, _| g.machine(plumb::local()));
    /// let results = group.batches(2).quiet().output(&sh!(echo deployed));
    /// assert!(results.all_ok());
    /// ```
    pub fn batches(mut self, n: usize) -> Group {
        self.batch = Some(n.max(1));
        self
    }

    /// Draws `done/total hosts done, N failed` on stderr as hosts end, when stderr is a
    /// terminal (nothing otherwise, so logs stay clean).
    pub fn progress(mut self) -> Group {
        self.progress = ProgressTo::Stderr;
        self
    }

    /// Like [`progress`](Group::progress), on `writer`, terminal or not: each update
    /// starts with `\r`, and the last ends with a newline.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use std::sync::{Arc, Mutex};
    /// #[derive(Clone, Default)]
    /// struct Shared(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Shared {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    /// let shown = Shared::default();
    /// let group = plumb::Group::new().machine(plumb::local()).machine(plumb::local());
    /// group.progress_on(shown.clone()).quiet().run(&sh!(true));
    /// let text = String::from_utf8(shown.0.lock().unwrap().clone()).unwrap();
    /// assert!(text.ends_with("\r2/2 hosts done, 0 failed\n"));
    /// ```
    pub fn progress_on(mut self, writer: impl Write + Send + 'static) -> Group {
        self.progress = ProgressTo::Writer(Arc::new(Mutex::new(writer)));
        self
    }

    /// In [`run`](Group::run) and [`output`](Group::output), writes each host's stdout to
    /// `dir/<host>` (its name in the group, `/` replaced by `_`), made if needed, as
    /// pssh's `-o`; also for a host whose command failed. A file that cannot be written
    /// is that host's error.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use plumb::prelude::*;
    /// let dir = plumb::local().temp_dir()?;
    /// let group = plumb::Group::new().machine_named("web1", plumb::local());
    /// group.output_dir(dir.path()).quiet().run(&sh!(echo hello)).into_result()?;
    /// assert_eq!(dir.join("web1").read_to_string()?, "hello\n");
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn output_dir(mut self, dir: impl AsRef<Path>) -> Group {
        self.files.stdout = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Like [`output_dir`](Group::output_dir), for stderr (pssh's `-e`).
    pub fn errors_dir(mut self, dir: impl AsRef<Path>) -> Group {
        self.files.stderr = Some(dir.as_ref().to_path_buf());
        self
    }

    /// `run` shows no output (it is still checked).
    pub fn quiet(mut self) -> Group {
        self.quiet = true;
        self
    }

    /// `run` shows its lines on `writer` instead of stdout (a log file, a buffer), never
    /// coloured.
    pub fn show_on(mut self, writer: impl Write + Send + 'static) -> Group {
        self.sink = Some(Arc::new(Mutex::new(writer)));
        self
    }

    /// The hosts' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name.as_str()).collect()
    }

    /// Runs `expr` on every host, showing each output line as `host | line` as it comes
    /// (stderr's lines when the command ends).
    pub fn run(&self, expr: &Expr) -> GroupResults<()> {
        let printer = Printer::new(&self.members, self.quiet, self.sink.clone());
        let expr = self.bounded(expr);
        let prepared = self.files.prepare();
        self.each(|i, m| {
            let keep = prepared.is_ok() && self.files.stdout.is_some();
            let (result, stdout, stderr) = run_shown(&expr, m, &printer, i, keep);
            self.keep_files(i, &prepared, result, &stdout, &stderr)
        })
    }

    /// Runs `expr` on every host and captures each one's output.
    pub fn output(&self, expr: &Expr) -> GroupResults<Output> {
        let expr = self.bounded(expr);
        let prepared = self.files.prepare();
        self.each(|i, m| {
            let result = expr.on_dyn(m.clone()).output();
            let (stdout, stderr) = streams_of(&result);
            self.keep_files(i, &prepared, result, &stdout, &stderr)
        })
    }

    /// `result`, after writing host `i`'s output to the group's files, if it has some: a
    /// file that cannot be written fails a host that had not failed.
    fn keep_files<T>(
        &self,
        i: usize,
        prepared: &Result<()>,
        result: Result<T>,
        stdout: &[u8],
        stderr: &[u8],
    ) -> Result<T> {
        if !self.files.any() {
            return result;
        }
        let kept = match prepared {
            Ok(()) => self.files.write(&self.members[i].name, stdout, stderr),
            Err(e) => Err(e.duplicate()),
        };
        match (result, kept) {
            (Ok(_), Err(e)) => Err(e),
            (result, _) => result,
        }
    }

    /// Copies `local` (a file or tree here) to `remote` on every host.
    pub fn upload(&self, local: impl AsRef<Path>, remote: impl AsRef<Path>) -> GroupResults<()> {
        let (local, remote) = (local.as_ref(), remote.as_ref());
        let what = format!("cannot upload `{}`", local.display());
        self.each(|_, m| copy_within(self.timeout_per_host, m, &what, || m.upload(local, remote)))
    }

    /// Copies `remote` from every host to `local_dir/<host>` here (the host's name in the
    /// group, with `/` replaced by `_`), making `local_dir` if needed.
    pub fn download(
        &self,
        remote: impl AsRef<Path>,
        local_dir: impl AsRef<Path>,
    ) -> GroupResults<()> {
        let (remote, dir) = (remote.as_ref(), local_dir.as_ref());
        let made = std::fs::create_dir_all(dir).map_err(|e| fs_error("create", dir, e));
        let what = format!("cannot download `{}`", remote.display());
        self.each(|i, m| match &made {
            Ok(()) => copy_within(self.timeout_per_host, m, &what, || {
                m.download(remote, dir.join(dir_name(&self.members[i].name)))
            }),
            Err(e) => Err(e.duplicate()),
        })
    }

    /// Runs `f` for every host: batch after batch, at most `max_parallel` at a time (in
    /// order when one), none started once the failure budget is spent, in a `tracing`
    /// span each.
    fn each<T: Send>(
        &self,
        f: impl Fn(usize, &Arc<dyn Machine>) -> Result<T> + Sync,
    ) -> GroupResults<T> {
        let budget = self.budget();
        let progress = Progress::new(&self.progress, self.members.len());
        let one = |i: usize, member: &Member| {
            if budget.spent() {
                return (Err(budget.skipped(&member.name)), Duration::ZERO);
            }
            let span = tracing::info_span!("plumb.group", host = %member.name);
            let _entered = span.enter();
            let start = Instant::now();
            let result = match &member.machine {
                Ok(m) => f(i, m),
                Err(e) => Err(e.duplicate()),
            };
            budget.record(result.is_ok());
            progress.host_done(result.is_ok());
            (result, start.elapsed())
        };
        let size = self.batch.unwrap_or(self.members.len()).max(1);
        let mut results = Vec::with_capacity(self.members.len());
        for (b, batch) in self.members.chunks(size).enumerate() {
            results.extend(self.run_batch(b * size, batch, &one));
        }
        progress.finish();
        self.results(results)
    }

    /// The group's results of every host's result and time, in the hosts' order.
    fn results<T>(&self, results: Vec<(Result<T>, Duration)>) -> GroupResults<T> {
        let (results, took): (Vec<_>, Vec<_>) = results.into_iter().unzip();
        GroupResults {
            hosts: self
                .members
                .iter()
                .map(|m| m.name.clone())
                .zip(results)
                .collect(),
            took,
        }
    }

    /// The failure budget of one call: `max_failures`, or none left with `stop_on_failure`.
    fn budget(&self) -> Budget {
        Budget::new(self.max_failures.or(self.stop_on_failure.then_some(0)))
    }

    /// Runs `one` for the hosts of `batch` (the first one is host `first`), at most
    /// `max_parallel` at a time, in order when one.
    fn run_batch<T: Send>(
        &self,
        first: usize,
        batch: &[Member],
        one: &(impl Fn(usize, &Member) -> (Result<T>, Duration) + Sync),
    ) -> Vec<(Result<T>, Duration)> {
        if self.max_parallel == 1 {
            let each = batch.iter().enumerate();
            return each.map(|(k, member)| one(first + k, member)).collect();
        }
        let slots = Slots::new(self.max_parallel);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (batch.iter().enumerate())
                .map(|(k, member)| {
                    let slots = &slots;
                    scope.spawn(move || {
                        let _slot = slots.take();
                        one(first + k, member)
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(batch)
                .map(|(h, m)| {
                    h.join()
                        .unwrap_or_else(|_| (Err(panicked(&m.name)), Duration::ZERO))
                })
                .collect()
        })
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("hosts", &self.names())
            .field("max_parallel", &self.max_parallel)
            .field("max_connecting", &self.max_connecting)
            .field("handshakes_per_server", &self.handshakes_per_server)
            .field("timeout_per_host", &self.timeout_per_host)
            .field("stop_on_failure", &self.stop_on_failure)
            .field("batch", &self.batch)
            .field("max_failures", &self.max_failures)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

/// Runs `expr` on `m`, printing its lines as they come; also what it wrote to stdout
/// (when `keep`) and to stderr, for the group's files.
fn run_shown(
    expr: &Expr,
    m: &Arc<dyn Machine>,
    printer: &Printer,
    i: usize,
    keep: bool,
) -> (Result<()>, Vec<u8>, Vec<u8>) {
    let mut handle = match expr.on_dyn(m.clone()).spawn() {
        Ok(handle) => handle,
        Err(e) => return (Err(e), Vec::new(), Vec::new()),
    };
    drop(handle.take_stdin());
    let mut kept = Vec::new();
    if let Some(out) = handle.take_stdout() {
        for line in BufReader::new(out).split(b'\n') {
            let Ok(line) = line else { break };
            printer.line(i, &line);
            if keep {
                kept.extend_from_slice(&line);
                kept.push(b'\n');
            }
        }
    }
    let result = handle.wait();
    let (_, stderr) = streams_of(&result);
    for line in stderr.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        printer.line(i, line);
    }
    (result.map(drop), kept, stderr)
}

/// One host's transfer, `copy`, within `limit` (the group's timeout per host) if there is
/// one: a failure once the time is up is that host's `Timeout`, whichever step of the
/// copy it stopped (a chunk, an SFTP reply, a `tar` ended), with that step's error as
/// its source.
fn copy_within(
    limit: Option<Duration>,
    m: &Arc<dyn Machine>,
    what: &str,
    copy: impl FnOnce() -> Result<()>,
) -> Result<()> {
    // Done on this host: what its file calls keep open goes (a fleet's SFTP sessions
    // would otherwise add up past the limit of open files).
    let _release = Release(m);
    // A limit too far to reach (`Duration::MAX`) is none.
    let bounds = limit.and_then(|l| Some((l, Instant::now().checked_add(l)?)));
    let Some((limit, deadline)) = bounds else {
        return copy();
    };
    // Definite answers stay what they are, whenever they came.
    let definite = |e: &Error| {
        use ErrorKind::{InvalidInput, NotFound, PermissionDenied};
        matches!(e.kind(), NotFound | PermissionDenied | InvalidInput)
    };
    match crate::progress::within(deadline, copy) {
        Err(e) if Instant::now() >= deadline && !definite(&e) => {
            Err(Error::timed_out(m.name(), limit)
                .in_context(what)
                .with_source(e))
        }
        result => result,
    }
}

/// Calls [`release_files`](crate::machine::seam::Backend::release_files) when dropped.
struct Release<'m>(&'m Arc<dyn Machine>);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        crate::machine::seam::Backend::release_files(self.0);
    }
}

/// What a host's command wrote to stdout and stderr, whether it failed or not: for the
/// group's files.
fn streams_of(result: &Result<Output>) -> (Vec<u8>, Vec<u8>) {
    match result {
        Ok(out) => (out.stdout.clone(), out.stderr.clone()),
        Err(e) => (
            e.stdout().unwrap_or_default().to_vec(),
            e.stderr().unwrap_or_default().to_vec(),
        ),
    }
}

/// Whole lines, each with its host's name, each written under its writer's lock.
struct Printer {
    names: Vec<String>,
    width: usize,
    colour: bool,
    quiet: bool,
    sink: Option<Arc<Mutex<dyn Write + Send>>>,
}

impl Printer {
    fn new(members: &[Member], quiet: bool, sink: Option<Arc<Mutex<dyn Write + Send>>>) -> Printer {
        let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
        Printer {
            width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0),
            names,
            colour: sink.is_none() && io::stdout().is_terminal(),
            quiet,
            sink,
        }
    }

    fn line(&self, host: usize, line: &[u8]) {
        if self.quiet {
            return;
        }
        let name = format!("{:<width$}", self.names[host], width = self.width);
        let prefix = if self.colour {
            // Six colours, one per host in turn.
            format!("\x1b[{}m{name}\x1b[0m | ", 31 + host % 6)
        } else {
            format!("{name} | ")
        };
        let whole = [prefix.as_bytes(), line, b"\n"].concat();
        match &self.sink {
            Some(sink) => {
                let mut w = sink.lock().unwrap_or_else(|e| e.into_inner());
                let _ = w.write_all(&whole);
            }
            // The lock keeps the line whole against other threads' output.
            None => drop(io::stdout().lock().write_all(&whole)),
        }
    }
}

/// A counting semaphore: at most `n` holders of a slot.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The directory a host's download goes to.
fn dir_name(host: &str) -> String {
    host.replace('/', "_")
}

fn panicked(host: &str) -> Error {
    Error::new(ErrorKind::Io, host, "the thread running this host panicked")
}

/// What a [`Group`] call gave on each host, in the order the hosts were added.
#[derive(Debug)]
pub struct GroupResults<T> {
    hosts: Vec<(String, Result<T>)>,
    /// How long each host took, in the same order.
    took: Vec<Duration>,
}

impl<T> GroupResults<T> {
    /// Whether every host succeeded.
    pub fn all_ok(&self) -> bool {
        self.hosts.iter().all(|(_, r)| r.is_ok())
    }

    /// How many hosts there are.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// True for a group without hosts.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The result of the host named `host`.
    pub fn get(&self, host: &str) -> Option<&Result<T>> {
        self.hosts.iter().find(|(h, _)| h == host).map(|(_, r)| r)
    }

    /// Every host's name and result.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Result<T>)> {
        self.hosts.iter().map(|(h, r)| (h.as_str(), r))
    }

    /// How long the host named `host` took (from when it started, not while it waited for
    /// a slot).
    pub fn elapsed(&self, host: &str) -> Option<Duration> {
        let i = self.hosts.iter().position(|(h, _)| h == host)?;
        self.took.get(i).copied()
    }

    /// One line for a log or a terminal: how many hosts succeeded and failed (the first
    /// ten failed ones named), and the slowest host, as in
    /// `498 ok, 2 failed (h1, h2), slowest h7 1.2 s`.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let group = plumb::Group::new().machine(plumb::local()).quiet();
    /// let summary = group.output(&sh!(true)).summary();
    /// assert!(summary.starts_with("1 ok, 0 failed, slowest local "), "{summary}");
    /// ```
    pub fn summary(&self) -> String {
        const NAMED: usize = 10;
        let failed: Vec<&str> = self.failures().map(|(h, _)| h).collect();
        let mut line = format!("{} ok, {} failed", self.len() - failed.len(), failed.len());
        if !failed.is_empty() {
            let mut names = failed[..failed.len().min(NAMED)].join(", ");
            if failed.len() > NAMED {
                names.push_str(&format!(" and {} more", failed.len() - NAMED));
            }
            line.push_str(&format!(" ({names})"));
        }
        let slowest = (self.hosts.iter().zip(&self.took)).max_by_key(|(_, took)| **took);
        if let Some(((host, _), took)) = slowest {
            line.push_str(&format!(", slowest {host} {:.1} s", took.as_secs_f64()));
        }
        line
    }

    /// The hosts that failed, with their errors. Each error names its machine already
    /// (`on deploy@web1: ...`): print it as it is, not after the host's name.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Error)> {
        self.hosts
            .iter()
            .filter_map(|(h, r)| r.as_ref().err().map(|e| (h.as_str(), e)))
    }

    /// Every host's value, or the first host's error (in the order of the hosts).
    pub fn into_result(self) -> Result<Vec<(String, T)>> {
        self.hosts
            .into_iter()
            .map(|(h, r)| r.map(|v| (h, v)))
            .collect()
    }
}

impl<T> IntoIterator for GroupResults<T> {
    type Item = (String, Result<T>);
    type IntoIter = std::vec::IntoIter<(String, Result<T>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.hosts.into_iter()
    }
}
