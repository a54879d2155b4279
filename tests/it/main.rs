//! plumb's integration tests: one binary (each extra one would link the whole crate again),
//! one module per capability, each test body instantiated for every machine it applies to.
//!
//! The binary also builds for Windows, where scripts/test runs it under Wine: there only
//! the local machine is tested (the remote machines need the tests' sshd), and the
//! modules marked `#[cfg(unix)]` are about remote hosts, Unix modes, non-UTF-8 bytes,
//! `sudo`, or need this host's toolchain (`crates`, `ui`); `portable` and `builtins`
//! hold the local tests written for every OS.

// On Windows, the bodies that need Unix programs are built but not instantiated.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

#[macro_use]
mod common;

#[cfg(all(unix, feature = "tokio"))]
mod async_api;
#[cfg(all(unix, feature = "tokio"))]
mod async_streams;
mod bad_input;
mod builtins;
mod calls;
#[cfg(unix)]
mod config;
#[cfg(unix)]
mod conveniences;
#[cfg(unix)]
mod crates;
mod errors;
#[cfg(unix)]
mod expansion;
#[cfg(unix)]
mod faults;
#[cfg(unix)]
mod fleets;
#[cfg(unix)]
mod grammar;
#[cfg(unix)]
mod grammar_expansion;
#[cfg(unix)]
mod groups;
#[cfg(unix)]
mod hardening;
#[cfg(unix)]
mod host_keys;
#[cfg(unix)]
mod hostile_sftp;
#[cfg(unix)]
mod injection;
#[cfg(unix)]
mod kill;
#[cfg(unix)]
mod lifeline;
#[cfg(unix)]
mod lifetimes;
#[cfg(unix)]
mod login_shells;
#[cfg(unix)]
mod openssh_hops;
mod paths;
mod pipes;
mod portable;
#[cfg(unix)]
mod pty;
#[cfg(unix)]
mod quoting;
#[cfg(unix)]
mod remote;
#[cfg(unix)]
mod removal;
#[cfg(unix)]
mod resources;
#[cfg(unix)]
mod security;
#[cfg(unix)]
mod sessions;
#[cfg(unix)]
mod sudo;
#[cfg(unix)]
mod transfer_modes;
#[cfg(unix)]
mod transfer_timeouts;
#[cfg(unix)]
mod ui;
#[cfg(windows)]
mod windows;
