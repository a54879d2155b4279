//! The OpenSSH known_hosts file as `ssh` reads and writes it: which lines name a host at a
//! port, what they say of the key a server offered, and how a new key is recorded.
//!
//! libssh2's own reader is not used: it reads a `@revoked` key as unknown (so `AcceptNew`
//! took it), lets a key recorded for `host` win over a different one recorded for
//! `[host]:port`, calls a host on port 2222 whose bare name holds another key "changed"
//! (where `ssh` records the port's own), and records a key by rewriting the whole file
//! (dropping comments, splitting `a,b` lines, and truncating it first, so that a
//! connection reading it meanwhile found it empty).
//!
//! A line is `[@marker] names keytype base64-key [comment]` (sshd(8), "SSH_KNOWN_HOSTS
//! FILE FORMAT"). `names` is a comma-separated list of patterns (`*`, `?`, a leading `!`
//! negates) or one hashed name, `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. A host's
//! name is `host` on port 22 and `[host]:port` on any other, lowercase, as `ssh` looks it
//! up. As in `ssh`, a host on another port whose `[host]:port` name holds no key of the
//! type offered is looked up under its bare name too, read-only: the same key there is
//! accepted (and not recorded again), another one makes it unknown, not changed. Unlike
//! `ssh`, a key revoked under the bare name is refused on every port too (`ssh` refuses
//! it there only when `StrictHostKeyChecking` is `yes`). Certificates are not supported:
//! `@cert-authority` lines are skipped, as are lines that do not parse, as `ssh` skips them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// What the file says of a host's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A line for the host holds this key.
    Known,
    /// A `@revoked` line for the host holds this key: refused whatever else says so.
    Revoked,
    /// Lines for the host hold other keys of this key's type, and none holds this one.
    Changed,
    /// No line for the host holds a key of this type.
    Unknown,
}

/// What a server's key is checked against: the host's names in the file and the key's
/// wire-format blob (what a line's base64 field decodes to).
pub(super) struct Lookup<'a> {
    /// `host`, or `[host]:port` for a port other than 22.
    name: String,
    /// The bare `host` when `name` has a port: `ssh`'s read-only second look.
    bare: Option<String>,
    key: &'a [u8],
}

impl<'a> Lookup<'a> {
    pub(super) fn new(host: &str, port: u16, key: &'a [u8]) -> Lookup<'a> {
        let host = host.to_ascii_lowercase();
        let (name, bare) = if port == 22 {
            (host, None)
        } else {
            (format!("[{host}]:{port}"), Some(host))
        };
        Lookup { name, bare, key }
    }

    /// What `text`, a whole file, says of the key. A revoked key is revoked wherever the
    /// line is; else one line holding it is enough.
    pub(super) fn check(&self, text: &str) -> Verdict {
        let lines: Vec<Line> = text.lines().filter_map(Line::parse).collect();
        let revoked = |name: &String| {
            lines
                .iter()
                .any(|l| l.marker == Marker::Revoked && l.key == self.key && l.names(name))
        };
        if std::iter::once(&self.name).chain(&self.bare).any(revoked) {
            return Verdict::Revoked;
        }
        match (self.verdict(&lines, &self.name), &self.bare) {
            (Verdict::Unknown, Some(bare)) if self.verdict(&lines, bare) == Verdict::Known => {
                Verdict::Known
            }
            (v, _) => v,
        }
    }

    /// What the plain lines for `name` say of the key (revocations aside).
    fn verdict(&self, lines: &[Line], name: &str) -> Verdict {
        let own_type = key_type(self.key);
        let mut verdict = Verdict::Unknown;
        for line in lines
            .iter()
            .filter(|l| l.marker == Marker::None && l.names(name))
        {
            if line.key == self.key {
                return Verdict::Known;
            }
            if own_type.is_some() && key_type(&line.key) == own_type {
                verdict = Verdict::Changed;
            }
        }
        verdict
    }

    /// The line that records the key, as `ssh` writes it (names not hashed); `None` for a
    /// blob that is no key.
    pub(super) fn entry(&self) -> Option<String> {
        let kind = key_type(self.key)?;
        Some(format!("{} {kind} {}\n", self.name, base64(self.key, true)))
    }
}

/// The text of the file at `path`, read under a shared lock so that a line that another
/// connection of this process, or another plumb, is appending is never seen half-written.
/// A missing file is empty.
pub(super) fn read(path: &Path) -> io::Result<String> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    crate::sys::lock_file(&file, false)?;
    read_all(&mut file)
}

/// Records the key by appending its line to the file (made, with its directory, if
/// missing), under an exclusive lock: the rest of the file is never rewritten, and of
/// many connections recording one host at once, one line is written. What the file said
/// of the key under the lock is returned: `Unknown` when the line was appended; anything
/// else (a connection recorded it meanwhile, or someone wrote another key) is not written.
pub(super) fn record(path: &Path, lookup: &Lookup) -> io::Result<Verdict> {
    let Some(entry) = lookup.entry() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server's host key is not a key",
        ));
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::sys::dir_builder(0o700).recursive(true).create(dir)?;
    }
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    let mut file = crate::sys::create_mode(&mut opts, 0o644).open(path)?;
    crate::sys::lock_file(&file, true)?;
    let text = read_all(&mut file)?;
    let verdict = lookup.check(&text);
    if verdict == Verdict::Unknown {
        // A last line without its newline must not swallow ours.
        let sep = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        file.write_all(format!("{sep}{entry}").as_bytes())?;
    }
    Ok(verdict)
}

fn read_all(file: &mut File) -> io::Result<String> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    /// A CA's key for host certificates, which plumb does not check: never the host's
    /// own key, so such a line neither accepts nor contradicts one.
    CertAuthority,
}

/// One line that parses.
#[derive(Debug)]
struct Line<'a> {
    marker: Marker,
    names: &'a str,
    key: Vec<u8>,
}

impl<'a> Line<'a> {
    /// `None` for blank lines, comments, unknown markers and malformed lines.
    fn parse(line: &'a str) -> Option<Line<'a>> {
        let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
        let mut first = fields.next()?;
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => return None,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next()?;
        }
        if first.starts_with('#') {
            return None;
        }
        let _declared_type = fields.next()?;
        let key = unbase64(fields.next()?)?;
        key_type(&key)?;
        Some(Line {
            marker,
            names: first,
            key,
        })
    }

    /// Whether the line is about the host called `name` (`host` or `[host]:port`).
    fn names(&self, name: &str) -> bool {
        match self.names.strip_prefix('|') {
            Some(hashed) => hashed_names(hashed, name),
            None => patterns_name(self.names, name),
        }
    }
}

/// `1|salt|hash` (the leading `|` gone): whether the hash is `name`'s under that salt.
fn hashed_names(hashed: &str, name: &str) -> bool {
    let mut parts = hashed.split('|');
    let (Some("1"), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(salt), Some(hash)) = (unbase64(salt), unbase64(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// As `ssh` matches a pattern list: a negated pattern that matches rules the host out,
/// whatever else matches; else any pattern that matches rules it in.
fn patterns_name(patterns: &str, name: &str) -> bool {
    let mut found = false;
    for pattern in patterns.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p.to_string()),
            None => (false, pattern),
        };
        if wildcard(pattern.as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            found = true;
        }
    }
    found
}

/// `*` for any run of bytes, `?` for one, everything else for itself.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was and how much of the name it has taken.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The type a key's blob names in its first field (`ssh-ed25519`, `ecdsa-sha2-nistp256`,
/// ...); `None` if it is no key blob.
fn key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    std::str::from_utf8(name).ok().filter(|n| !n.is_empty())
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64; `padded` as in key files, else as in `SHA256:` fingerprints.
pub(super) fn base64(bytes: &[u8], padded: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
        if padded {
            out.push_str(&"=="[..3 - chunk.len()]);
        }
    }
    out
}

/// Standard base64, padded or not; `None` for anything else.
fn unbase64(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim_end_matches('=');
    if text.len() - digits.len() > 2 || digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in digits.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with ssh-keygen: two ed25519 keys and an ECDSA one.
    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJEi7i6mghWjLh8shAD/YC1BKjhXEnJu5EEHkzVUrHGI";
    const ED_OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJhFwsqmQ1m8k8kVtVJc3NS8BDR+5rSjm0ISmuLN5OhG";
    const ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKgGTE3CAIDExExqiBYZ\
                         ugBscbX8Tv6i0nztIDow8c8vAlZdmvwCJdaKkeHhvmnAt5ciePGcOpK3SOm41G7+s7o=";
    // `ssh-keygen -H` of `web1 ssh-ed25519 ED` and `[web1]:2222 ssh-ed25519 ED`.
    const HASHED_22: &str = "|1|zj3JXcufQAEFQ0BIRadr2O4tT7g=|qPxFirQtYmRavqvf7xua4qPxTuA=";
    const HASHED_2222: &str = "|1|MNT34MW3hkgT69l1mFkct7cBMXU=|HEaLposfoMkwT7pI8oK9CqZBlJg=";

    fn verdict(text: &str, host: &str, port: u16, key: &str) -> Verdict {
        let key = unbase64(key).unwrap();
        Lookup::new(host, port, &key).check(text)
    }

    fn ed(names: &str) -> String {
        format!("{names} ssh-ed25519 {ED}\n")
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..8 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 77 + 5) as u8).collect();
            assert_eq!(unbase64(&base64(&bytes, true)).unwrap(), bytes);
            assert_eq!(unbase64(&base64(&bytes, false)).unwrap(), bytes);
        }
        assert_eq!(base64(b"ab", true), "YWI=");
        assert_eq!(base64(b"ab", false), "YWI");
        assert_eq!(unbase64("not base64!"), None);
        assert_eq!(unbase64("A"), None);
    }

    #[test]
    fn key_blobs_name_their_type() {
        assert_eq!(key_type(&unbase64(ED).unwrap()), Some("ssh-ed25519"));
        assert_eq!(
            key_type(&unbase64(ECDSA).unwrap()),
            Some("ecdsa-sha2-nistp256")
        );
        assert_eq!(key_type(b"\0\0\0\x09short"), None);
        assert_eq!(key_type(b""), None);
    }

    #[test]
    fn lines_that_are_not_entries_are_skipped() {
        for line in [
            "",
            "   ",
            "# web1 ssh-ed25519 x",
            "@bogus web1 ssh-ed25519 AAAA",
            "web1 ssh-ed25519",
            "web1 ssh-ed25519 !!notbase64!!",
            "web1 1024 35 12345",
            "@revoked",
        ] {
            assert!(Line::parse(line).is_none(), "{line:?}");
        }
        let text = format!("\t@revoked  web1,web2\tssh-ed25519 {ED} a comment");
        let l = Line::parse(&text).unwrap();
        assert_eq!((l.marker, l.names), (Marker::Revoked, "web1,web2"));
    }

    #[test]
    fn a_plain_line_holds_the_key_for_its_hosts() {
        let text = ed("web1,web2");
        assert_eq!(verdict(&text, "web1", 22, ED), Verdict::Known);
        assert_eq!(verdict(&text, "WEB2", 22, ED), Verdict::Known);
        assert_eq!(verdict(&text, "web3", 22, ED), Verdict::Unknown);
        assert_eq!(verdict(&text, "web1", 22, ED_OTHER), Verdict::Changed);
        // A key of another type is not a change: the host may have several.
        assert_eq!(verdict(&text, "web1", 22, ECDSA), Verdict::Unknown);
    }

    #[test]
    fn a_port_is_a_host_of_its_own() {
        let ported = ed("[web1]:2222");
        assert_eq!(verdict(&ported, "web1", 2222, ED), Verdict::Known);
        assert_eq!(verdict(&ported, "web1", 22, ED), Verdict::Unknown);
        assert_eq!(verdict(&ported, "web1", 2223, ED), Verdict::Unknown);
        assert_eq!(verdict(&ported, "web1", 2222, ED_OTHER), Verdict::Changed);
        // Port 22 written out is not how ssh names it.
        assert_eq!(verdict(&ed("[web1]:22"), "web1", 22, ED), Verdict::Unknown);
    }

    #[test]
    fn the_bare_name_is_a_second_look_as_in_ssh() {
        let bare = ed("web1");
        assert_eq!(verdict(&bare, "web1", 2222, ED), Verdict::Known);
        // Another key under the bare name is not a change of the port's key.
        assert_eq!(verdict(&bare, "web1", 2222, ED_OTHER), Verdict::Unknown);
        // The port's own key wins over the bare name's.
        let both = format!("web1 ssh-ed25519 {ED_OTHER}\n{}", ed("[web1]:2222"));
        assert_eq!(verdict(&both, "web1", 2222, ED_OTHER), Verdict::Changed);
        assert_eq!(verdict(&both, "web1", 2222, ED), Verdict::Known);
        // A port's key of another type leaves the bare name to look at.
        let ecdsa = format!("[web1]:2222 ecdsa-sha2-nistp256 {ECDSA}\n{}", ed("web1"));
        assert_eq!(verdict(&ecdsa, "web1", 2222, ED), Verdict::Known);
    }

    #[test]
    fn hashed_names_are_over_the_name_with_its_port() {
        let h22 = ed(HASHED_22);
        let h2222 = ed(HASHED_2222);
        assert_eq!(verdict(&h22, "web1", 22, ED), Verdict::Known);
        assert_eq!(verdict(&h22, "web2", 22, ED), Verdict::Unknown);
        assert_eq!(verdict(&h22, "web1", 2222, ED), Verdict::Known);
        assert_eq!(verdict(&h22, "web1", 2222, ED_OTHER), Verdict::Unknown);
        assert_eq!(verdict(&h2222, "web1", 2222, ED), Verdict::Known);
        assert_eq!(verdict(&h2222, "web1", 2223, ED), Verdict::Unknown);
        assert_eq!(verdict(&h2222, "web1", 22, ED), Verdict::Unknown);
        assert_eq!(verdict(&h2222, "web1", 2222, ED_OTHER), Verdict::Changed);
        for broken in ["|1|zj3J|", "|2|a|b", "|1|!!|??", "|1|a|b|c"] {
            assert_eq!(verdict(&ed(broken), "web1", 22, ED), Verdict::Unknown);
        }
    }

    #[test]
    fn patterns_match_as_ssh_matches_them() {
        assert_eq!(
            verdict(&ed("*.example.com"), "a.example.com", 22, ED),
            Verdict::Known
        );
        assert_eq!(
            verdict(&ed("*.example.com"), "example.com", 22, ED),
            Verdict::Unknown
        );
        assert_eq!(verdict(&ed("web?"), "web7", 22, ED), Verdict::Known);
        assert_eq!(verdict(&ed("web?"), "web77", 22, ED), Verdict::Unknown);
        assert_eq!(verdict(&ed("[web1]:*"), "web1", 2222, ED), Verdict::Known);
        assert_eq!(verdict(&ed("*"), "anything", 22, ED), Verdict::Known);
        assert_eq!(verdict(&ed("a*b*c"), "axxbyybc", 22, ED), Verdict::Known);
        assert_eq!(verdict(&ed("a*b*c"), "axxbyyb", 22, ED), Verdict::Unknown);
        // A negated match rules the host out, wherever it stands in the list.
        let text = ed("*.example.com,!db.example.com");
        assert_eq!(verdict(&text, "db.example.com", 22, ED), Verdict::Unknown);
        assert_eq!(verdict(&text, "www.example.com", 22, ED), Verdict::Known);
        let text = ed("!db.example.com,*.example.com");
        assert_eq!(verdict(&text, "db.example.com", 22, ED), Verdict::Unknown);
        // A negation alone admits nothing.
        assert_eq!(verdict(&ed("!web1"), "web2", 22, ED), Verdict::Unknown);
    }

    #[test]
    fn a_revoked_key_is_revoked_whatever_else_says() {
        let revoked = format!("@revoked * ssh-ed25519 {ED}\n");
        assert_eq!(verdict(&revoked, "web1", 2222, ED), Verdict::Revoked);
        assert_eq!(verdict(&revoked, "web1", 22, ED_OTHER), Verdict::Unknown);
        let both = format!("{}{revoked}", ed("web1"));
        assert_eq!(verdict(&both, "web1", 22, ED), Verdict::Revoked);
        // A revocation for other hosts does not apply.
        let elsewhere = format!("@revoked web2 ssh-ed25519 {ED}\n{}", ed("web1"));
        assert_eq!(verdict(&elsewhere, "web1", 22, ED), Verdict::Known);
        let hashed = format!("@revoked {HASHED_2222} ssh-ed25519 {ED}\n");
        assert_eq!(verdict(&hashed, "web1", 2222, ED), Verdict::Revoked);
        // Revoked under the bare name is revoked on every port (stricter than ssh).
        let bare = format!("@revoked web1 ssh-ed25519 {ED}\n{}", ed("[web1]:2222"));
        assert_eq!(verdict(&bare, "web1", 2222, ED), Verdict::Revoked);
    }

    #[test]
    fn cert_authority_lines_say_nothing_of_a_host_key() {
        let ca = format!("@cert-authority *.example.com ssh-ed25519 {ED_OTHER}\n");
        assert_eq!(verdict(&ca, "a.example.com", 22, ED), Verdict::Unknown);
        assert_eq!(
            verdict(&ca, "a.example.com", 22, ED_OTHER),
            Verdict::Unknown
        );
        let with_key = format!("{ca}{}", ed("a.example.com"));
        assert_eq!(verdict(&with_key, "a.example.com", 22, ED), Verdict::Known);
    }

    #[test]
    fn a_known_line_wins_over_an_older_changed_one() {
        let text = format!("web1 ssh-ed25519 {ED_OTHER}\n{}", ed("web1"));
        assert_eq!(verdict(&text, "web1", 22, ED), Verdict::Known);
    }

    #[test]
    fn entries_are_written_as_ssh_writes_them() {
        let key = unbase64(ED).unwrap();
        assert_eq!(Lookup::new("Web1", 22, &key).entry().unwrap(), ed("web1"));
        assert_eq!(
            Lookup::new("web1", 2222, &key).entry().unwrap(),
            ed("[web1]:2222")
        );
        assert_eq!(Lookup::new("web1", 22, b"junk").entry(), None);
    }

    #[test]
    fn recording_appends_one_line_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        let key = unbase64(ED).unwrap();
        let lookup = Lookup::new("web1", 2222, &key);
        assert_eq!(record(&path, &lookup).unwrap(), Verdict::Unknown);
        assert_eq!(read(&path).unwrap(), ed("[web1]:2222"));
        let old = "# kept\na,b ssh-ed25519 AAAA\n\nno-newline ssh-ed25519 x";
        std::fs::write(&path, old).unwrap();
        assert_eq!(record(&path, &lookup).unwrap(), Verdict::Unknown);
        assert_eq!(record(&path, &lookup).unwrap(), Verdict::Known);
        let text = read(&path).unwrap();
        assert_eq!(text, format!("{old}\n{}", ed("[web1]:2222")));
        assert_eq!(read(&dir.path().join("missing")).unwrap(), "");
    }
}
