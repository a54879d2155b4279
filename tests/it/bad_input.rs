//! Bad input at run time gets a clear error, never a panic or a hang, on every machine.

use crate::common::Ctx;
use plumb::sh;

/// More argument bytes than any system accepts (ARG_MAX is 2 MiB here).
fn argument_list_beyond_arg_max(t: &Ctx) {
    let args: Vec<String> = (0..40_000).map(|i| format!("{i:0>100}")).collect();
    let err = t.on(sh!(echo $[&args])).run().unwrap_err();
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
