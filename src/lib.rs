pub use plumb_macros::sh;
pub use plumb_runtime::*;
