//! The options of a builtin, read as GNU's tools read them: single letters that may be
//! grouped (`-rf`), a value in the same word or the next (`-n5`, `-n 5`), long names
//! (`--force`, `--lines=5`), options anywhere before `--`, and `-` as an operand.

use std::ffi::OsString;

/// What a builtin's arguments say.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// The option letters given, in order (a long option as its letter).
    pub(crate) flags: Vec<char>,
    /// Options with a value, in order.
    pub(crate) values: Vec<(char, OsString)>,
    pub(crate) operands: Vec<OsString>,
}

impl Parsed {
    pub(crate) fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }

    /// The last value given for `flag`.
    pub(crate) fn value(&self, flag: char) -> Option<&OsString> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v)
    }
}

/// What a builtin accepts: letters without a value, letters with one, and long names
/// for some of them.
pub(crate) struct Spec<'a> {
    pub(crate) flags: &'a str,
    pub(crate) with_value: &'a str,
    pub(crate) long: &'a [(&'a str, char)],
}

/// Reads `args` by `spec`; the error names the option that is not known or lacks its
/// value.
pub(crate) fn parse(args: &[OsString], spec: &Spec) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str().filter(|t| t.starts_with('-') && t.len() > 1) else {
            p.operands.push(arg.clone());
            continue;
        };
        if text == "--" {
            p.operands.extend(args.cloned());
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            long_option(long, spec, &mut args, &mut p)?;
            continue;
        }
        let letters: Vec<char> = text[1..].chars().collect();
        for (i, &c) in letters.iter().enumerate() {
            if spec.flags.contains(c) {
                p.flags.push(c);
            } else if spec.with_value.contains(c) {
                let rest: String = letters[i + 1..].iter().collect();
                let value = if rest.is_empty() {
                    args.next()
                        .cloned()
                        .ok_or_else(|| format!("option `-{c}` needs a value"))?
                } else {
                    rest.into()
                };
                p.values.push((c, value));
                break;
            } else {
                return Err(format!("unknown option `-{c}`"));
            }
        }
    }
    Ok(p)
}

fn long_option<'a>(
    long: &str,
    spec: &Spec,
    args: &mut impl Iterator<Item = &'a OsString>,
    p: &mut Parsed,
) -> Result<(), String> {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (long, None),
    };
    let Some(&(_, c)) = spec.long.iter().find(|(n, _)| *n == name) else {
        return Err(format!("unknown option `--{name}`"));
    };
    if spec.with_value.contains(c) {
        let value = match inline {
            Some(v) => v.into(),
            None => args
                .next()
                .cloned()
                .ok_or_else(|| format!("option `--{name}` needs a value"))?,
        };
        p.values.push((c, value));
    } else if inline.is_some() {
        return Err(format!("option `--{name}` takes no value"));
    } else {
        p.flags.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    const RM: Spec = Spec {
        flags: "rRf",
        with_value: "n",
        long: &[("force", 'f'), ("lines", 'n')],
    };

    #[test]
    fn grouped_values_and_operands() {
        let p = parse(&args(&["-rf", "a", "-n5", "--", "-x", "-"]), &RM).unwrap();
        assert_eq!(p.flags, vec!['r', 'f']);
        assert_eq!(p.value('n').unwrap(), "5");
        assert_eq!(p.operands, args(&["a", "-x", "-"]));
        let p = parse(&args(&["a", "--force", "--lines=3", "-n", "4", "-"]), &RM).unwrap();
        assert!(p.has('f'));
        assert_eq!(p.value('n').unwrap(), "4");
        assert_eq!(p.operands, args(&["a", "-"]));
    }

    #[test]
    fn unknown_options_are_named() {
        assert_eq!(
            parse(&args(&["-rx"]), &RM).unwrap_err(),
            "unknown option `-x`"
        );
        assert_eq!(
            parse(&args(&["--interactive"]), &RM).unwrap_err(),
            "unknown option `--interactive`"
        );
        assert_eq!(
            parse(&args(&["-n"]), &RM).unwrap_err(),
            "option `-n` needs a value"
        );
    }
}
