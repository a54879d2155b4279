//! Bad input at run time gets a clear error, never a panic or a hang, on every machine.

use crate::common::Ctx;
use plumb::sh;

/// More argument bytes than any system accepts (ARG_MAX is 2 MiB here). A session's shell
/// runs `echo` as a builtin, with no exec and so no limit: there it simply works.
fn argument_list_beyond_arg_max(t: &Ctx) {
    let args: Vec<String> = (0..40_000).map(|i| format!("{i:0>100}")).collect();
    let err = match t.on(sh!(echo $[&args])).read() {
        Ok(out) => {
            assert_eq!(out.len(), 40_000 * 101 - 1);
            return;
        }
        Err(err) => err,
    };
    let text = err.to_string();
    assert!(text.contains("echo"), "{text}");
    assert!(
        text.len() < 10_000,
        "the error repeats the whole command: {} bytes",
        text.len()
    );
    // The machine still works afterwards.
    assert_eq!(t.on(sh!(echo fine)).read().unwrap(), "fine");
}

on_every_machine!(argument_list_beyond_arg_max);
