//! `pwd [-L|-P]`: the directory the command runs in (`-P`: with links resolved).

use std::io::Write;

use super::opts::{parse, Spec};
use super::{reason, Call};
use crate::output::ExitStatus;
use crate::sys::OsBytes;

const SPEC: Spec = Spec {
    flags: "LP",
    with_value: "",
    long: &[],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    if !p.operands.is_empty() {
        return call.usage("too many arguments");
    }
    let here = match call.dir {
        Some(d) if d.is_absolute() => Ok(d.to_path_buf()),
        Some(d) => std::env::current_dir().map(|c| c.join(d)),
        None => std::env::current_dir(),
    };
    let physical = p.flags.iter().rev().find(|f| "LP".contains(**f)) == Some(&'P');
    let here = if physical {
        here.and_then(std::fs::canonicalize)
    } else {
        here
    };
    let here = match here {
        Ok(h) => h,
        Err(e) => return call.fail(reason(&e)),
    };
    let line = [here.as_os_str().as_bytes(), b"\n"].concat();
    match call.stdout.write_all(&line) {
        Ok(()) => ExitStatus::from_code(0),
        Err(e) => call.write_failed(e),
    }
}
