//! Rust values as command arguments.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// A value that can stand in a command line as exactly one argument, via `$name` or
/// `${expr}` in `plumb::sh!`.
///
/// The argument arrives byte for byte: it is never re-split, globbed or interpreted by any
/// shell. Implemented for strings, paths, `OsStr`, numbers, `char`, `bool`,
/// [`MPath`](crate::MPath) and references to any of them. For another `Display` type write
/// `${value.to_string()}`.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use std::path::Path;
/// let name = "a b; $(rm -rf /)";
/// let n = 3;
/// let dir = Path::new("/tmp");
/// assert_eq!(sh!(echo $name $n $dir).read().unwrap(), "a b; $(rm -rf /) 3 /tmp");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a command argument",
    label = "not a string, path, `OsStr` or number",
    note = "interpolate `${{value.to_string()}}` for a `Display` type, or `$[values]` for a list"
)]
pub trait ToArg {
    /// The argument's bytes.
    fn to_arg(&self) -> OsString;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> OsString {
        (**self).to_arg()
    }
}

impl<T: ToArg + ?Sized> ToArg for &mut T {
    fn to_arg(&self) -> OsString {
        (**self).to_arg()
    }
}

impl<T: ToArg + ?Sized> ToArg for Box<T> {
    fn to_arg(&self) -> OsString {
        (**self).to_arg()
    }
}

macro_rules! via_as_ref_os_str {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> OsString {
                AsRef::<OsStr>::as_ref(self).to_owned()
            }
        }
    )*};
}
via_as_ref_os_str!(str, String, OsStr, OsString, Path, PathBuf);

impl ToArg for Cow<'_, str> {
    fn to_arg(&self) -> OsString {
        OsString::from(self.as_ref())
    }
}

impl ToArg for Cow<'_, OsStr> {
    fn to_arg(&self) -> OsString {
        AsRef::<OsStr>::as_ref(self).to_owned()
    }
}

impl ToArg for Cow<'_, Path> {
    fn to_arg(&self) -> OsString {
        self.as_os_str().to_owned()
    }
}

macro_rules! via_display {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> OsString {
                OsString::from(self.to_string())
            }
        }
    )*};
}
via_display!(
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64,
    char,
    bool,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr
);

/// Bytes that can be fed to a command's stdin with `<<< $value`: strings and byte buffers.
pub trait ToStdin {
    /// The bytes, exactly (no newline is added).
    fn to_stdin(&self) -> Vec<u8>;
}

impl<T: AsRef<[u8]> + ?Sized> ToStdin for T {
    fn to_stdin(&self) -> Vec<u8> {
        self.as_ref().to_vec()
    }
}
