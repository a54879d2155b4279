//! The model: what to run ([`Expr`]), how it is checked before it runs, and the jobs and
//! outcomes that machines deal in. Knows nothing of any machine's transport.

pub(crate) mod expr;
pub(crate) mod job;
pub(crate) mod plan;
pub(crate) mod sudo;
pub(crate) mod validate;
pub(crate) mod word;

pub use expr::{cmd, Expr};
