//! An internal-tools crate (the xtask pattern) that hands plumb's macro on.
pub use plumb::{sh, Error};
