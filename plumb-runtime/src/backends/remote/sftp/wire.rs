//! SFTP version 3 on the wire (draft-ietf-secsh-filexfer-02, as OpenSSH speaks it):
//! building request packets and reading replies. No I/O here.
//!
//! A reply is the server's word, and a broken or hostile server's word is no reason to
//! allocate: every length and count a reply declares is checked against what its packet
//! holds before anything is taken, and a reply that breaks a bound is a `Protocol` error
//! that says which. The bounds, generous for every real server:
//!
//! - a packet: [`MAX_PACKET`], 256 KiB, OpenSSH's own limit, which its `sftp` client
//!   enforces too, so any server that works with `sftp` fits;
//! - a string: what is left of its packet; a handle: 256 bytes, the draft's limit
//!   (OpenSSH's handles are 4);
//! - a count (names in a NAME reply, extensions of attributes): no more items than the
//!   rest of the packet could hold at their smallest;
//! - a status message: shown up to 1 KiB;
//! - a directory listing across READDIR rounds: see [`super::listing`]; a READ reply: no
//!   longer than asked (see `files.rs`).

/// Packet types.
pub(crate) mod fxp {
    pub(crate) const INIT: u8 = 1;
    pub(crate) const VERSION: u8 = 2;
    pub(crate) const OPEN: u8 = 3;
    pub(crate) const CLOSE: u8 = 4;
    pub(crate) const READ: u8 = 5;
    pub(crate) const WRITE: u8 = 6;
    pub(crate) const LSTAT: u8 = 7;
    pub(crate) const SETSTAT: u8 = 9;
    pub(crate) const OPENDIR: u8 = 11;
    pub(crate) const READDIR: u8 = 12;
    pub(crate) const REMOVE: u8 = 13;
    pub(crate) const MKDIR: u8 = 14;
    pub(crate) const RMDIR: u8 = 15;
    pub(crate) const STAT: u8 = 17;
    pub(crate) const RENAME: u8 = 18;
    pub(crate) const READLINK: u8 = 19;
    pub(crate) const SYMLINK: u8 = 20;
    pub(crate) const STATUS: u8 = 101;
    pub(crate) const HANDLE: u8 = 102;
    pub(crate) const DATA: u8 = 103;
    pub(crate) const NAME: u8 = 104;
    pub(crate) const ATTRS: u8 = 105;
    pub(crate) const EXTENDED: u8 = 200;

    /// A reply of type `kind`, in words for errors: `a NAME reply`.
    pub(crate) fn reply(kind: u8) -> String {
        match kind {
            VERSION => "a VERSION reply".into(),
            STATUS => "a STATUS reply".into(),
            HANDLE => "a HANDLE reply".into(),
            DATA => "a DATA reply".into(),
            NAME => "a NAME reply".into(),
            ATTRS => "an ATTRS reply".into(),
            other => format!("a reply of type {other}"),
        }
    }
}

/// Status codes.
pub(crate) mod fx {
    pub(crate) const OK: u32 = 0;
    pub(crate) const EOF: u32 = 1;
    pub(crate) const NO_SUCH_FILE: u32 = 2;
    pub(crate) const PERMISSION_DENIED: u32 = 3;
    pub(crate) const OP_UNSUPPORTED: u32 = 8;
}

/// Open flags.
pub(crate) mod open {
    pub(crate) const READ: u32 = 0x01;
    pub(crate) const WRITE: u32 = 0x02;
    pub(crate) const APPEND: u32 = 0x04;
    pub(crate) const CREAT: u32 = 0x08;
    pub(crate) const TRUNC: u32 = 0x10;
}

const ATTR_SIZE: u32 = 0x01;
const ATTR_UIDGID: u32 = 0x02;
const ATTR_PERMISSIONS: u32 = 0x04;
const ATTR_ACMODTIME: u32 = 0x08;
const ATTR_EXTENDED: u32 = 0x8000_0000;

/// A file's attributes; each field only when the server sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attrs {
    pub(crate) size: Option<u64>,
    pub(crate) uid_gid: Option<(u32, u32)>,
    pub(crate) mode: Option<u32>,
    /// Access and modification time, seconds since the epoch.
    pub(crate) times: Option<(u32, u32)>,
}

impl Attrs {
    pub(crate) fn mode(mode: u32) -> Attrs {
        Attrs {
            mode: Some(mode),
            ..Attrs::default()
        }
    }
}

/// A request being built: length, type and id first, the length filled in by `finish`.
pub(crate) struct Packet(Vec<u8>);

impl Packet {
    pub(crate) fn new(kind: u8, id: u32) -> Packet {
        let mut p = Packet(Vec::with_capacity(64));
        p.0.extend_from_slice(&[0; 4]);
        p.0.push(kind);
        p.u32(id)
    }

    /// The INIT packet, the only one without a request id.
    pub(crate) fn init() -> Vec<u8> {
        let mut p = Packet(vec![0; 4]);
        p.0.push(fxp::INIT);
        p.u32(3).finish()
    }

    pub(crate) fn u32(mut self, v: u32) -> Packet {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u64(mut self, v: u64) -> Packet {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A length-prefixed string.
    pub(crate) fn bytes(self, v: &[u8]) -> Packet {
        let mut p = self.u32(v.len() as u32);
        p.0.extend_from_slice(v);
        p
    }

    pub(crate) fn attrs(self, a: &Attrs) -> Packet {
        let flags = a.size.map_or(0, |_| ATTR_SIZE)
            | a.uid_gid.map_or(0, |_| ATTR_UIDGID)
            | a.mode.map_or(0, |_| ATTR_PERMISSIONS)
            | a.times.map_or(0, |_| ATTR_ACMODTIME);
        let mut p = self.u32(flags);
        if let Some(size) = a.size {
            p = p.u64(size);
        }
        if let Some((uid, gid)) = a.uid_gid {
            p = p.u32(uid).u32(gid);
        }
        if let Some(mode) = a.mode {
            p = p.u32(mode);
        }
        if let Some((atime, mtime)) = a.times {
            p = p.u32(atime).u32(mtime);
        }
        p
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0
    }
}

/// OpenSSH's limit on a packet (`SFTP_MAX_MSG_LENGTH`): its length field excluded.
pub(crate) const MAX_PACKET: usize = 256 * 1024;
/// The draft's limit on a handle.
const MAX_HANDLE: usize = 256;
/// How much of a status message an error shows.
const MAX_MESSAGE: usize = 1024;
/// The smallest entry of a NAME reply: two empty strings and attributes without fields.
const MIN_NAME_ENTRY: usize = 12;
/// The smallest extension of attributes: two empty strings.
const MIN_EXTENSION: usize = 8;

/// What is wrong with a reply, for a `Protocol` error.
pub(crate) type Bad = String;

/// Reads the fields of a reply, each checked against what the packet holds.
pub(crate) struct Fields<'a>(pub(crate) &'a [u8]);

impl<'a> Fields<'a> {
    fn short(&self, what: &str) -> Bad {
        format!("{what} past the end of the packet")
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Bad> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| self.short("a number"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Bad> {
        let (head, rest) = self
            .0
            .split_first_chunk::<8>()
            .ok_or_else(|| self.short("a number"))?;
        self.0 = rest;
        Ok(u64::from_be_bytes(*head))
    }

    /// A length-prefixed string, borrowed from the packet.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Bad> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(format!(
                "a string of {len} bytes where {} are left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    /// The handle of a HANDLE reply.
    pub(crate) fn handle(&mut self) -> Result<Vec<u8>, Bad> {
        let h = self.bytes()?;
        if h.len() > MAX_HANDLE {
            return Err(format!(
                "a handle of {} bytes (at most {MAX_HANDLE})",
                h.len()
            ));
        }
        Ok(h.to_vec())
    }

    /// A status message, cut to what an error shows.
    pub(crate) fn message(&mut self) -> String {
        let m = self.bytes().unwrap_or_default();
        String::from_utf8_lossy(&m[..m.len().min(MAX_MESSAGE)]).into_owned()
    }

    /// A count of `what`, each at least `min` bytes: no more than the rest could hold.
    fn count(&mut self, min: usize, what: &str) -> Result<u32, Bad> {
        let n = self.u32()?;
        if n as usize > self.0.len() / min {
            return Err(format!("{n} {what} in {} bytes", self.0.len()));
        }
        Ok(n)
    }

    pub(crate) fn attrs(&mut self) -> Result<Attrs, Bad> {
        let flags = self.u32()?;
        let mut a = Attrs::default();
        if flags & ATTR_SIZE != 0 {
            a.size = Some(self.u64()?);
        }
        if flags & ATTR_UIDGID != 0 {
            a.uid_gid = Some((self.u32()?, self.u32()?));
        }
        if flags & ATTR_PERMISSIONS != 0 {
            a.mode = Some(self.u32()?);
        }
        if flags & ATTR_ACMODTIME != 0 {
            a.times = Some((self.u32()?, self.u32()?));
        }
        if flags & ATTR_EXTENDED != 0 {
            for _ in 0..self.count(MIN_EXTENSION, "extensions of attributes")? {
                self.bytes()?;
                self.bytes()?;
            }
        }
        Ok(a)
    }

    /// The entries of a NAME reply, `.` and `..` included, borrowed from the packet.
    pub(crate) fn names(&mut self) -> Result<Vec<(&'a [u8], Attrs)>, Bad> {
        let n = self.count(MIN_NAME_ENTRY, "names")?;
        let mut names = Vec::new();
        for _ in 0..n {
            let name = self.bytes()?;
            self.bytes()?; // the `ls -l` line, for humans
            names.push((name, self.attrs()?));
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let a = Attrs {
            size: Some(1 << 40),
            uid_gid: Some((1000, 100)),
            mode: Some(0o100644),
            times: Some((1, 2)),
        };
        let p = Packet::new(fxp::SETSTAT, 7).attrs(&a).finish();
        assert_eq!(
            u32::from_be_bytes(p[..4].try_into().unwrap()) as usize,
            p.len() - 4
        );
        let mut f = Fields(&p[9..]);
        assert_eq!(f.attrs(), Ok(a));
        assert!(f.0.is_empty());
    }

    #[test]
    fn short_packets_are_refused() {
        let p = Packet::new(fxp::NAME, 1).bytes(b"name").finish();
        let e = Fields(&p[9..p.len() - 1]).bytes().unwrap_err();
        assert_eq!(e, "a string of 4 bytes where 3 are left");
        // Says a size follows, and none does.
        assert!(Fields(&[0, 0, 0, 1]).attrs().is_err());
    }

    #[test]
    fn counts_are_checked_against_the_packet_before_anything_is_taken() {
        let p = Packet::new(fxp::NAME, 1).u32(1 << 31).bytes(b"a").finish();
        let e = Fields(&p[9..]).names().unwrap_err();
        assert_eq!(e, "2147483648 names in 5 bytes");
        let p = Packet::new(fxp::ATTRS, 1)
            .u32(ATTR_EXTENDED)
            .u32(u32::MAX)
            .finish();
        let e = Fields(&p[9..]).attrs().unwrap_err();
        assert_eq!(e, "4294967295 extensions of attributes in 0 bytes");
    }

    #[test]
    fn handles_are_bounded() {
        let p = Packet::new(fxp::HANDLE, 1).bytes(&[7; 256]).finish();
        assert_eq!(Fields(&p[9..]).handle().unwrap().len(), 256);
        let p = Packet::new(fxp::HANDLE, 1).bytes(&[7; 257]).finish();
        let e = Fields(&p[9..]).handle().unwrap_err();
        assert_eq!(e, "a handle of 257 bytes (at most 256)");
    }

    #[test]
    fn names_round_trip() {
        let p = Packet::new(fxp::NAME, 1)
            .u32(2)
            .bytes(b"a")
            .bytes(b"-rw a")
            .attrs(&Attrs::mode(0o100644))
            .bytes(b"..")
            .bytes(b"")
            .attrs(&Attrs::default())
            .finish();
        let names = Fields(&p[9..]).names().unwrap();
        assert_eq!(
            names,
            [
                (&b"a"[..], Attrs::mode(0o100644)),
                (&b".."[..], Attrs::default())
            ]
        );
    }
}
