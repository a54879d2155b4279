//! The runtime of [plumb-sh](https://docs.rs/plumb-sh): lazy shell expressions, machines,
//! errors.
//!
//! Users depend on `plumb-sh` (library `plumb`), which re-exports everything here together
//! with the `sh!` macro; the crate-level guide lives there.
//!
//! The modules are layers, each using only those above it in this list. One upward edge,
//! commented where it is: an `Expr` is bound to a `machine`. The terminal calls of an
//! `Expr` are an `impl` block in `run`; the default machine (the local one) is wired here,
//! at the crate root, so that `run` knows no backend.
//!
//! - leaves: `error`, `output`, `arg`, `sys` (what differs between operating systems:
//!   streams, OS strings, file modes), `tunnel` (byte streams and listeners, whatever
//!   carries them), `builtins` (plumb's own `cat`, `cp`, `rm`, `test`...);
//! - `model`: `Expr`, its checks, the plan `sh!` expands to, jobs and outcomes;
//! - `render`: quoting, an `Expr` as text, the remote `sh` script, the login-shell line;
//! - `machine`: the sealed `Machine` trait and the backends' seam;
//! - `run`: launching an `Expr` on any machine, its streams, timers, handles;
//! - `backends`: local processes; one remote machine over two transports;
//! - `path`: `MPath`, files on any machine, over the seam.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without `ssh2`, Windows has no transport to a remote host (`SshMachine` needs
// OpenSSH's ControlMaster): the remote layer is built, and unused.
#![cfg_attr(all(windows, not(feature = "ssh2")), allow(dead_code))]

mod arg;
mod backends;
mod builtins;
mod error;
mod expand;
mod group;
mod machine;
mod model;
mod output;
mod path;
pub mod progress;
mod render;
mod run;
mod sys;
mod tunnel;

pub use arg::{ToArg, ToStdin};
#[cfg(feature = "ssh2")]
#[cfg_attr(docsrs, doc(cfg(feature = "ssh2")))]
pub use backends::libssh2::{Ssh2Builder, Ssh2Machine};
pub use backends::local::{local, LocalMachine};
pub use backends::openssh::{SshBuilder, SshMachine};
pub use backends::remote::session::Session;
pub use builtins::Builtins;
pub use error::{Error, ErrorKind, Result};
pub use group::{Connect, Group, GroupResults};
pub use machine::{FileType, HostKeyPolicy, Machine, Metadata};
pub use model::{cmd, Expr};
pub use output::{ExitStatus, Output};
pub use path::{FileReader, FileWriter, MPath, MachineExt, TempDir, Walk};
pub use progress::Progress;
pub use render::quote::quote;
#[cfg(feature = "tokio")]
#[doc(hidden)]
pub use run::route_through_async;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use run::{AsyncChildStdin, AsyncChildStdout, AsyncHandle, AsyncLines};
pub use run::{ChildStdin, ChildStdout, Handle, Lines};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tunnel::AsyncTunnel;
pub use tunnel::{Forward, RemoteMachine, Tunnel, Tunnels};

/// The machine an `Expr` not bound with `.on` runs on: one `LocalMachine` for the process.
fn default_machine() -> std::sync::Arc<dyn Machine> {
    static LOCAL: std::sync::OnceLock<std::sync::Arc<dyn Machine>> = std::sync::OnceLock::new();
    LOCAL
        .get_or_init(|| std::sync::Arc::new(LocalMachine::new()))
        .clone()
}

/// Everything a script needs: `use plumb::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "ssh2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ssh2")))]
    pub use crate::Ssh2Machine;
    pub use crate::{
        local, Expr, HostKeyPolicy, LocalMachine, MPath, Machine, MachineExt, RemoteMachine,
        Session, SshMachine, Tunnels,
    };
}

/// What the `sh!` macro expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::ffi::OsString;

    pub use crate::model::plan::{build, Val};
    use crate::{ToArg, ToStdin};

    /// `$x` and `${expr}`: one argument.
    pub fn value<T: ToArg + ?Sized>(v: &T) -> Val {
        Val::One(v.to_arg())
    }

    /// `$[xs]`: zero or more arguments.
    pub fn splat<I>(values: I) -> Val
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        Val::Many(
            values
                .into_iter()
                .map(|v| v.to_arg())
                .collect::<Vec<OsString>>(),
        )
    }

    /// `<<< $x`: bytes for stdin.
    pub fn stdin_value<T: ToStdin + ?Sized>(v: &T) -> Val {
        Val::Bytes(v.to_stdin())
    }
}
