//! `sleep duration...`: waits for the sum of the durations, each a number (fractions
//! allowed) with an optional unit `s`, `m`, `h` or `d`, or `infinity`. A kill ends it.

use std::time::Duration;

use super::Call;
use crate::output::ExitStatus;

pub(super) fn main(call: &mut Call) -> ExitStatus {
    if call.args.is_empty() {
        return call.usage("missing operand");
    }
    let mut total = Duration::ZERO;
    for arg in call.args {
        match arg.to_str().and_then(duration) {
            Some(d) => total = total.saturating_add(d),
            None => {
                let arg = arg.to_string_lossy().into_owned();
                return call.usage(format!("invalid time interval '{arg}'"));
            }
        }
    }
    if call.cancel.sleep(total) {
        ExitStatus::from_code(0)
    } else {
        call.killed()
    }
}

fn duration(text: &str) -> Option<Duration> {
    if text == "infinity" || text == "inf" {
        return Some(Duration::MAX);
    }
    let (number, scale) = match text.char_indices().last()? {
        (i, 's') => (&text[..i], 1.0),
        (i, 'm') => (&text[..i], 60.0),
        (i, 'h') => (&text[..i], 3600.0),
        (i, 'd') => (&text[..i], 86400.0),
        _ => (text, 1.0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(secs * scale).ok()
}
