//! The runtime of [plumb](https://docs.rs/plumb): lazy shell expressions, machines, errors.
//!
//! Users depend on `plumb`, which re-exports everything here together with the `sh!` macro;
//! the crate-level guide lives there.

mod arg;
mod error;
mod exec;
mod expr;
mod machine;
mod output;
mod path;
mod quote;
mod script;
mod tunnel;

pub use arg::{ToArg, ToStdin};
pub use error::{Error, ErrorKind, Result};
pub use exec::{ChildStdin, ChildStdout, Handle, Lines};
pub use expr::{cmd, Expr};
pub use machine::local::{local, LocalMachine};
pub use machine::ssh::{SshBuilder, SshMachine};
pub use machine::ssh2::{Ssh2Builder, Ssh2Machine};
pub use machine::{FileType, HostKeyPolicy, Machine, MachineExt, Metadata};
pub use output::{ExitStatus, Output};
pub use path::MPath;
pub use quote::quote;
pub use tunnel::{Forward, Tunnel, Tunnels};

/// Everything a script needs: `use plumb::prelude::*;`.
pub mod prelude {
    pub use crate::{
        local, Expr, HostKeyPolicy, LocalMachine, MPath, Machine, MachineExt, Ssh2Machine,
        SshMachine, Tunnels,
    };
}

/// What the `sh!` macro expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStrExt;

    use crate::expr::{Cmd, Expr, Node};
    pub use crate::expr::{Redirect, SeqOp};
    pub use crate::machine::{Fs, Job, Outcome, Process, Stdio};
    use crate::{ToArg, ToStdin};

    pub fn lit(s: &str) -> OsString {
        OsString::from(s)
    }

    pub fn lits(argv: &mut Vec<OsString>, words: &[&str]) {
        argv.extend(words.iter().map(OsString::from));
    }

    pub fn value<T: ToArg + ?Sized>(v: &T) -> OsString {
        v.to_arg()
    }

    pub fn splat<I>(values: I) -> impl Iterator<Item = OsString>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        values.into_iter().map(|v| v.to_arg())
    }

    pub fn concat(parts: &[OsString]) -> OsString {
        let mut s = OsString::new();
        for p in parts {
            s.push(p);
        }
        s
    }

    pub fn stdin_value<T: ToStdin + ?Sized>(v: &T) -> Vec<u8> {
        v.to_stdin()
    }

    pub fn word_bytes(w: OsString) -> Vec<u8> {
        w.as_bytes().to_vec()
    }

    pub fn command(
        argv: Vec<OsString>,
        env: Vec<(&str, OsString)>,
        redirects: Vec<Redirect>,
    ) -> Expr {
        let env = env
            .into_iter()
            .map(|(k, v)| (OsString::from(k), v))
            .collect();
        Expr::from_node(Node::Cmd(Cmd {
            argv,
            env,
            redirects,
        }))
    }

    pub fn pipe(stages: Vec<(Expr, bool)>) -> Expr {
        crate::expr::pipe(stages)
    }

    pub fn seq(items: Vec<(SeqOp, Expr)>) -> Expr {
        Expr::from_node(Node::Seq(items))
    }

    pub fn cd(dir: OsString) -> Expr {
        Expr::from_node(Node::Cd(dir))
    }
}
