//! plumb's integration tests: one binary (each extra one would link the whole crate again),
//! one module per capability, each test body instantiated for every machine it applies to.

#[macro_use]
mod common;

mod bad_input;
mod calls;
mod config;
mod conveniences;
mod crates;
mod errors;
mod expansion;
mod faults;
mod grammar;
mod grammar_expansion;
mod groups;
mod hardening;
mod host_keys;
mod hostile_sftp;
mod injection;
mod kill;
mod lifeline;
mod lifetimes;
mod login_shells;
mod openssh_hops;
mod paths;
mod pipes;
mod quoting;
mod remote;
mod removal;
mod resources;
mod security;
mod sessions;
mod sudo;
mod transfer_modes;
mod ui;
