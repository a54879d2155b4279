//! `cd [dir]` run as a command (a program named by a value, `$prog`): a directory change
//! that ends with the command, as `/usr/bin/cd` does; it says whether `dir` can be
//! entered. The `cd` that changes the directory of what follows is the grammar's.

use super::opts::{parse, Spec};
use super::{shown, Call};
use crate::output::ExitStatus;

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
    match p.operands.as_slice() {
        [] => ExitStatus::from_code(0),
        [dir] if call.resolve(dir).is_dir() => ExitStatus::from_code(0),
        [dir] => call.fail(format!("{}: No such file or directory", shown(dir))),
        _ => call.usage("too many arguments"),
    }
}
