//! The terminal calls of an [`Expr`]: an `impl` block here, beside the code that launches,
//! so that the model never knows how it is run.

use super::{Handle, Lines};
use crate::model::expr::Expr;
use crate::output::Output;
use crate::Result;

impl Expr {
    /// Runs to completion with stdio inherited (unless redirected). A status the check does
    /// not accept is an error; stderr still reaches the terminal, and its tail is in the
    /// error.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// sh!(true).run().unwrap();
    /// assert!(sh!(false).run().is_err());
    /// ```
    pub fn run(&self) -> Result<()> {
        #[cfg(feature = "tokio")]
        if let Some(r) = super::tasks::twin(|| self.run_async()) {
            return r;
        }
        super::retried(self, super::run)
    }

    /// Runs and returns stdout as text with trailing newlines trimmed. Stdin is empty
    /// unless given.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert_eq!(sh!(echo hello).read().unwrap(), "hello");
    /// ```
    pub fn read(&self) -> Result<String> {
        #[cfg(feature = "tokio")]
        if let Some(r) = super::tasks::twin(|| self.read_async()) {
            return r;
        }
        super::retried(self, super::read)
    }

    /// Runs and returns stdout as bytes, untouched.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert_eq!(sh!(printf "a\\n").read_bytes().unwrap(), b"a\n");
    /// ```
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        #[cfg(feature = "tokio")]
        if let Some(r) = super::tasks::twin(|| self.read_bytes_async()) {
            return r;
        }
        Ok(super::retried(self, super::output)?.stdout)
    }

    /// Runs and returns the status, stdout and stderr.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let out = sh!(sh -c "echo out; echo err >&2").output().unwrap();
    /// assert_eq!((out.stdout, out.stderr), (b"out\n".to_vec(), b"err\n".to_vec()));
    /// ```
    pub fn output(&self) -> Result<Output> {
        #[cfg(feature = "tokio")]
        if let Some(r) = super::tasks::twin(|| self.output_async()) {
            return r;
        }
        super::retried(self, super::output)
    }

    /// Runs like [`run`](Expr::run) and returns the exit code; a non-zero code is not an
    /// error. A command killed by a signal reports 128 + the signal, like a shell.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert_eq!(sh!(sh -c "exit 7").code().unwrap(), 7);
    /// ```
    pub fn code(&self) -> Result<i32> {
        #[cfg(feature = "tokio")]
        if let Some(r) = super::tasks::twin(|| self.code_async()) {
            return r;
        }
        Ok(super::retried(self, super::status)?.shell_code())
    }

    /// Runs like [`run`](Expr::run) and tells whether it exited with code 0.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert!(sh!(test -d /).success().unwrap());
    /// assert!(!sh!(test -f /).success().unwrap());
    /// ```
    pub fn success(&self) -> Result<bool> {
        #[cfg(feature = "tokio")]
        if let Some(r) = super::tasks::twin(|| self.success_async()) {
            return r;
        }
        Ok(super::retried(self, super::status)?.success())
    }

    /// Streams stdout line by line as the command runs. A failure arrives as the last item.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let lines: Vec<String> = sh!(printf "a\nb\n").lines().unwrap().map(Result::unwrap).collect();
    /// assert_eq!(lines, ["a", "b"]);
    /// ```
    pub fn lines(&self) -> Result<Lines> {
        super::lines(self)
    }

    /// Starts the command and returns at once with a [`Handle`] to its stdin and stdout.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use std::io::Write;
    /// let mut child = sh!(tr a-z A-Z).spawn().unwrap();
    /// child.stdin().unwrap().write_all(b"shout").unwrap();
    /// assert_eq!(child.wait().unwrap().stdout, b"SHOUT");
    /// ```
    pub fn spawn(&self) -> Result<Handle> {
        super::spawn(self)
    }

    /// Starts the command detached and returns its pid at once: it keeps running after
    /// this program ends, and plumb never kills it (no timeout, no watchdog, not when the
    /// machine is closed): a daemon a deploy script starts, as `nohup cmd &` would. Its
    /// stdin, stdout and stderr are `/dev/null` unless the expression redirects them
    /// (`sh!(myd --serve > /var/log/myd.log 2>&1)`); it ignores SIGHUP. What can be
    /// checked before it runs is an error here (a directory that cannot be entered, a
    /// single command's program not found); what it does afterwards, only its log says.
    ///
    /// Works on every machine (on a session, it starts on the session's machine). It
    /// cannot take the machine's sudo password (which would have to stay on the host);
    /// a `NOPASSWD` sudo works.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let pid = sh!(sleep 1).spawn_detached().unwrap();
    /// assert!(pid > 1);
    /// ```
    pub fn spawn_detached(&self) -> Result<u32> {
        super::spawn_detached(self)
    }

    /// Runs like [`read_bytes`](Expr::read_bytes) and parses stdout as JSON into `T`
    /// (cargo feature `serde`); output that does not parse is an
    /// [`ErrorKind::Json`](crate::ErrorKind::Json) error naming the command and where the
    /// JSON went wrong.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// #[derive(serde::Deserialize)]
    /// struct Release { name: String, assets: Vec<String> }
    /// let r: Release = sh!(printf "%s" r#"{"name":"v1","assets":["a.tgz"]}"#).json().unwrap();
    /// assert_eq!((r.name.as_str(), r.assets.len()), ("v1", 1));
    /// ```
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let bytes = self.read_bytes()?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let machine = self.opts().machine.as_ref().map_or("local", |m| m.name());
            crate::Error::new(
                crate::ErrorKind::Json,
                machine,
                format!("the output is not the JSON expected: {e}"),
            )
            .with_command(crate::render::quote::render(self))
        })
    }
}
