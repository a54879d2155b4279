//! The async twins of a path's common calls (cargo feature `tokio`). A machine's file
//! calls block (a local file, an SFTP round trip on the connection's I/O thread), as
//! `tokio::fs`'s own do: each twin runs its call on the runtime's blocking pool, so the
//! runtime's threads never wait for a disk or a server.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::MPath;
use crate::machine::Metadata;
use crate::Result;

/// Each twin returns a `'static` future that owns a clone of the path (and so shares its
/// machine): it can be spawned.
impl MPath {
    /// `call` on a clone of this path, on the runtime's blocking pool.
    fn off_runtime<T: Send + 'static>(
        &self,
        call: impl FnOnce(&MPath) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let path = self.clone();
        crate::run::off_runtime(self.machine.name().to_string(), move || call(&path))
    }

    /// [`read`](MPath::read), awaited (cargo feature `tokio`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = plumb::local().temp_dir()?;
    /// let f = dir.join("a.txt");
    /// f.write_async("hello").await?;
    /// assert_eq!(f.read_to_string_async().await?, "hello");
    /// assert!(f.exists_async().await?);
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn read_async(&self) -> impl Future<Output = Result<Vec<u8>>> + Send + 'static {
        self.off_runtime(MPath::read)
    }

    /// [`read_to_string`](MPath::read_to_string), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn read_to_string_async(&self) -> impl Future<Output = Result<String>> + Send + 'static {
        self.off_runtime(MPath::read_to_string)
    }

    /// [`write`](MPath::write), awaited (cargo feature `tokio`); `data` is copied into the
    /// future.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn write_async(
        &self,
        data: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let data = data.as_ref().to_vec();
        self.off_runtime(move |p| p.write(data))
    }

    /// [`append`](MPath::append), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn append_async(
        &self,
        data: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let data = data.as_ref().to_vec();
        self.off_runtime(move |p| p.append(data))
    }

    /// [`metadata`](MPath::metadata), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn metadata_async(&self) -> impl Future<Output = Result<Metadata>> + Send + 'static {
        self.off_runtime(MPath::metadata)
    }

    /// [`exists`](MPath::exists), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn exists_async(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.off_runtime(MPath::exists)
    }

    /// [`is_dir`](MPath::is_dir), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn is_dir_async(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.off_runtime(MPath::is_dir)
    }

    /// [`is_file`](MPath::is_file), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn is_file_async(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.off_runtime(MPath::is_file)
    }

    /// [`read_dir`](MPath::read_dir), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn read_dir_async(&self) -> impl Future<Output = Result<Vec<MPath>>> + Send + 'static {
        self.off_runtime(MPath::read_dir)
    }

    /// [`create_dir_all`](MPath::create_dir_all), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn create_dir_all_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.off_runtime(MPath::create_dir_all)
    }

    /// [`remove`](MPath::remove), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn remove_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.off_runtime(MPath::remove)
    }

    /// [`rename`](MPath::rename), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn rename_async(
        &self,
        to: impl AsRef<Path>,
    ) -> impl Future<Output = Result<MPath>> + Send + 'static {
        let to: PathBuf = to.as_ref().to_path_buf();
        self.off_runtime(move |p| p.rename(to))
    }

    /// [`copy_to`](MPath::copy_to), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn copy_to_async(
        &self,
        to: impl AsRef<Path>,
    ) -> impl Future<Output = Result<MPath>> + Send + 'static {
        let to: PathBuf = to.as_ref().to_path_buf();
        self.off_runtime(move |p| p.copy_to(to))
    }
}
