//! `which [-a] name...`: the path of each program as the machine finds it on `PATH`
//! (with `PATHEXT` on Windows), all of them with `-a`. Exit code 1 when one is not found,
//! which prints nothing, as Debian's `which`. Builtins are not programs: `which cat` finds
//! only a real `cat`.

use std::io::Write;

use super::opts::{parse, Spec};
use super::Call;
use crate::output::ExitStatus;
use crate::sys::OsBytes;

const SPEC: Spec = Spec {
    flags: "as",
    with_value: "",
    long: &[("all", 'a')],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let mut missing = false;
    for name in &p.operands {
        let found = match name.to_str() {
            Some(name) => (call.which)(name, p.has('a')),
            None => Vec::new(),
        };
        missing |= found.is_empty();
        if p.has('s') {
            continue;
        }
        for path in found {
            let line = [path.as_os_str().as_bytes(), b"\n"].concat();
            if let Err(e) = call.stdout.write_all(&line) {
                return call.write_failed(e);
            }
        }
    }
    ExitStatus::from_code(i32::from(missing))
}
