//! A directory listing as it arrives, one READDIR round at a time, within bounds.
//!
//! A server decides when a listing ends (its EOF status), so one that never says EOF
//! would have us collect names until memory runs out. A listing therefore holds at most
//! [`MAX_LISTING`] bytes, each entry counted as its name plus [`ENTRY_COST`] for its
//! record: about two million entries of 30-byte names, far beyond a directory anyone
//! lists over SFTP, and little enough for any machine that runs plumb. Past that, the
//! listing is a `Protocol` error that names the bound; so are the marks of a broken
//! cursor, which would otherwise fill the bound with the same names or spin without end:
//!
//! - a round of names all listed in the round before: a cursor that does not move (a
//!   name listed twice alone is no proof of one: a file made again while it is listed
//!   may be);
//! - more than [`MAX_IDLE_ROUNDS`] rounds in a row without an entry;
//! - a name that is empty, or holds `/` or a NUL: no directory can hold it, and joined
//!   to its directory's path it would name a file elsewhere.

use std::collections::HashSet;

use super::wire::{Attrs, Bad, Fields};

/// The most a listing holds, in bytes.
pub(crate) const MAX_LISTING: usize = 256 << 20;
/// What an entry costs beyond its name: its record (name vector and attributes) and the
/// allocator's overhead.
pub(crate) const ENTRY_COST: usize = 96;
/// Rounds in a row that may bring no entry (a server may send `.` and `..` alone).
pub(crate) const MAX_IDLE_ROUNDS: u32 = 16;

/// The entries of a directory so far, with their attributes (`.` and `..` left out).
pub(crate) struct Listing {
    entries: Vec<(Vec<u8>, Attrs)>,
    /// What the entries hold, counted as above.
    bytes: usize,
    budget: usize,
    /// The names of the round before.
    previous: HashSet<Vec<u8>>,
    /// Rounds in a row that brought no entry.
    idle: u32,
}

impl Listing {
    pub(crate) fn new() -> Listing {
        Listing::with_budget(MAX_LISTING)
    }

    fn with_budget(budget: usize) -> Listing {
        Listing {
            entries: Vec::new(),
            bytes: 0,
            budget,
            previous: HashSet::new(),
            idle: 0,
        }
    }

    /// Takes the entries of one NAME reply.
    pub(crate) fn add(&mut self, body: &[u8]) -> Result<(), Bad> {
        let mut names = Fields(body).names()?;
        names.retain(|(name, _)| *name != b"." && *name != b"..");
        let round: HashSet<&[u8]> = names.iter().map(|(name, _)| *name).collect();
        self.check_progress(&round)?;
        for (name, attrs) in names {
            self.push(name, attrs)?;
        }
        self.previous = round.into_iter().map(<[u8]>::to_vec).collect();
        Ok(())
    }

    /// Whether the cursor moved: a round of new names, or not too many empty ones.
    fn check_progress(&mut self, round: &HashSet<&[u8]>) -> Result<(), Bad> {
        if !round.is_empty() && round.iter().all(|name| self.previous.contains(*name)) {
            return Err(format!(
                "the server lists the same {} names again",
                round.len()
            ));
        }
        self.idle = if round.is_empty() { self.idle + 1 } else { 0 };
        if self.idle > MAX_IDLE_ROUNDS {
            return Err(format!("{} rounds in a row with no entries", self.idle));
        }
        Ok(())
    }

    fn push(&mut self, name: &[u8], attrs: Attrs) -> Result<(), Bad> {
        check_name(name)?;
        self.bytes += name.len() + ENTRY_COST;
        if self.bytes > self.budget {
            return Err(format!(
                "a listing of more than {} MiB ({} entries so far)",
                self.budget >> 20,
                self.entries.len()
            ));
        }
        self.entries.push((name.to_vec(), attrs));
        Ok(())
    }

    pub(crate) fn into_entries(self) -> Vec<(Vec<u8>, Attrs)> {
        self.entries
    }
}

/// A name a directory can hold.
fn check_name(name: &[u8]) -> Result<(), Bad> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(format!("an entry named `{}`", show(name)));
    }
    Ok(())
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::remote::sftp::wire::{fxp, Packet};

    /// The body of a NAME reply of `names`.
    fn reply(names: &[&[u8]]) -> Vec<u8> {
        let mut p = Packet::new(fxp::NAME, 1).u32(names.len() as u32);
        for n in names {
            p = p.bytes(n).bytes(b"").attrs(&Attrs::default());
        }
        p.finish()[9..].to_vec()
    }

    #[test]
    fn rounds_add_up_without_dots() {
        let mut l = Listing::new();
        l.add(&reply(&[b".", b"..", b"a"])).unwrap();
        l.add(&reply(&[b"b"])).unwrap();
        let names: Vec<_> = l.into_entries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn a_round_repeating_the_last_is_refused() {
        let mut l = Listing::new();
        l.add(&reply(&[b"a", b"b"])).unwrap();
        // One name again, among new ones: a file made again meanwhile.
        l.add(&reply(&[b"c", b"b"])).unwrap();
        let e = l.add(&reply(&[b"b", b".", b"c"])).unwrap_err();
        assert_eq!(e, "the server lists the same 2 names again");
    }

    #[test]
    fn a_listing_past_its_budget_is_refused() {
        let mut l = Listing::with_budget(10 * (ENTRY_COST + 4));
        for i in 0..10 {
            l.add(&reply(&[format!("f{i:03}").as_bytes()])).unwrap();
        }
        let e = l.add(&reply(&[b"f999"])).unwrap_err();
        assert_eq!(e, "a listing of more than 0 MiB (10 entries so far)");
    }

    #[test]
    fn idle_rounds_are_bounded() {
        let mut l = Listing::new();
        for _ in 0..MAX_IDLE_ROUNDS {
            l.add(&reply(&[b".", b".."])).unwrap();
        }
        l.add(&reply(&[b"a"])).unwrap();
        for _ in 0..MAX_IDLE_ROUNDS {
            l.add(&reply(&[])).unwrap();
        }
        let e = l.add(&reply(&[])).unwrap_err();
        assert_eq!(e, "17 rounds in a row with no entries");
    }

    #[test]
    fn names_no_directory_holds_are_refused() {
        for bad in [&b"../../etc"[..], b"a/b", b"", b"a\0b"] {
            let e = Listing::new().add(&reply(&[bad])).unwrap_err();
            assert!(e.starts_with("an entry named `"), "{e}");
        }
    }
}
