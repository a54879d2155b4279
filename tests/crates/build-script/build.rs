// A build step with plumb: the output of a command becomes a constant of the crate, and a
// command that fails fails the build with plumb's error, which cargo shows. The same lines
// on every OS (`echo` and `cat` are plumb's builtins where the programs are missing); the
// example `as_program` runs them on Windows. (Plain comments: that example includes this
// file.)
use plumb::prelude::*;

fn main() -> Result<(), plumb::Error> {
    println!("cargo:rerun-if-env-changed=PLUMB_BUILD_FAIL");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let stamp = std::path::Path::new(&out).join("stamp.txt");
    sh!(echo built by plumb > $stamp).run()?;
    if std::env::var_os("PLUMB_BUILD_FAIL").is_some() {
        sh!(cat /plumb-no-such-dir).run()?;
    }
    Ok(())
}
