//! `exit [n]`: ends with code `n` (0 when none, modulo 256 as a shell's), and in a
//! sequence, what follows it does not run (the local machine stops there, as `sh` ends
//! the script).

use super::Call;
use crate::output::ExitStatus;

pub(super) fn main(call: &mut Call) -> ExitStatus {
    match call.args {
        [] => ExitStatus::from_code(0),
        [n] => match n.to_str().and_then(|n| n.parse::<i64>().ok()) {
            Some(n) => ExitStatus::from_code(n.rem_euclid(256) as i32),
            None => call.usage_with(format!("`{}`: a number is needed", n.to_string_lossy()), 2),
        },
        _ => call.usage_with("too many arguments", 2),
    }
}
