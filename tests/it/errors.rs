//! Errors name the command, the machine, the code and the stderr tail.

use crate::common::Ctx;
use plumb::{sh, ErrorKind};

fn exit_error_reads_like_a_sentence(t: &Ctx) {
    let err = t.on(sh!(ls nope-not-here)).read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit);
    assert_eq!(err.code(), Some(2));
    assert_eq!(err.signal(), None);
    assert_eq!(err.command(), Some("ls nope-not-here"));
    assert_eq!(err.machine(), t.m.name());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "command `ls nope-not-here` on {} exited with code 2: ls: ",
            t.m.name()
        )),
        "{text}"
    );
    assert!(text.contains("nope-not-here"), "{text}");
    assert_eq!(format!("{err:?}"), text);
}

fn stderr_tail_is_bounded(t: &Ctx) {
    let err = t
        .on(sh!(sh -c "seq 1 5000 >&2; exit 1"))
        .read()
        .unwrap_err();
    assert_eq!(
        err.stderr().unwrap().len(),
        sh!(seq 1 5000).read_bytes().unwrap().len()
    );
    let text = err.to_string();
    assert!(text.len() < 3000, "{} bytes", text.len());
    assert!(text.ends_with("\n5000"), "{text}");
}

/// Locally the signal itself; through a remote shell, which cannot tell a signal from an
/// exit code above 128, the shell's code for it.
fn signal_is_reported(t: &Ctx) {
    let err = t.on(sh!(sh -c "kill -TERM $$$$")).run().unwrap_err();
    if t.m.name() == "local" {
        assert_eq!(err.signal(), Some(15));
        assert_eq!(err.code(), None);
        assert!(err.to_string().contains("was killed by signal 15"), "{err}");
    } else {
        assert_eq!(err.code(), Some(128 + 15), "{err}");
    }
    assert_eq!(t.on(sh!(sh -c "kill -TERM $$$$")).code().unwrap(), 128 + 15);
}

fn missing_program_is_not_found(t: &Ctx) {
    let err = t.on(sh!("no-such-program-here --flag")).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("no-such-program-here"), "{err}");
}

fn redirect_into_a_missing_directory_names_the_file(t: &Ctx) {
    let err = t.on(sh!(echo x > missing/dir/file.txt)).run().unwrap_err();
    assert!(err.to_string().contains("missing/dir/file.txt"), "{err}");
    let err = t.on(sh!(cat < missing.txt)).run().unwrap_err();
    assert!(err.to_string().contains("missing.txt"), "{err}");
}

fn empty_command_is_invalid_input(t: &Ctx) {
    let nothing: Vec<String> = vec![];
    let err = t.on(sh!($[nothing])).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

fn main_can_return_the_error(t: &Ctx) {
    fn script(t: &Ctx) -> Result<(), plumb::Error> {
        t.on(sh!(false)).run()?;
        Ok(())
    }
    assert_eq!(script(t).unwrap_err().kind(), ErrorKind::Exit);
}

on_every_machine!(
    // `#[cfg(unix)]`: the body runs Unix programs (`sh`, `printf`, `tr`...) that Windows lacks; `portable` tests the same there.
    #[cfg(unix)]
    exit_error_reads_like_a_sentence,
    #[cfg(unix)]
    stderr_tail_is_bounded,
    #[cfg(unix)]
    signal_is_reported,
    missing_program_is_not_found,
    redirect_into_a_missing_directory_names_the_file,
    empty_command_is_invalid_input,
    main_can_return_the_error,
);
