//! This crate's build script as a program of the target. A cross build runs build scripts
//! on the build machine, so scripts/test builds this for Windows and runs it under Wine
//! with the `OUT_DIR` a build gives: the build script's own code, run on Windows.
include!("../build.rs");
