//! Rendering: an `Expr` as text. Quoting lives here and nowhere else ([`quote`]); so do
//! the display form of an expression, the POSIX `sh` script a remote machine runs
//! ([`script`]), and the line that makes any login shell run that script ([`login`]).

pub(crate) mod login;
pub(crate) mod quote;
pub(crate) mod script;
