//! The machines: processes here ([`local`]), and one remote machine ([`remote`]) over two
//! transports, the OpenSSH client ([`openssh`]) and a libssh2 session ([`libssh2`], behind
//! the `ssh2` feature).

#[cfg(feature = "ssh2")]
pub(crate) mod libssh2;
pub(crate) mod local;
pub(crate) mod openssh;
pub(crate) mod remote;
