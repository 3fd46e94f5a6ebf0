//! Child processes and their scratch directory: a unique temporary directory removed on drop,
//! children stopped with SIGTERM (via `kill`, as the crate has no unsafe code) and killed if
//! they linger or the benchmark fails half-way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A fresh directory under the system temporary directory, removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `switchyard-bench-<pid>-<nanos>`.
    pub fn create() -> std::io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("switchyard-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process that is killed when dropped unless it was stopped.
#[derive(Debug)]
pub struct Managed {
    child: Child,
    exit: Option<String>,
}

impl Managed {
    /// Wraps a spawned child.
    pub fn new(child: Child) -> Self {
        Self { child, exit: None }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if it has exited.
    pub fn exited(&mut self) -> Option<String> {
        if self.exit.is_none() {
            self.exit = self
                .child
                .try_wait()
                .ok()
                .flatten()
                .map(|status| status.to_string());
        }
        self.exit.clone()
    }

    /// SIGTERM, then up to `wait` for it to exit, then SIGKILL. Returns how it exited.
    pub async fn terminate(&mut self, wait: Duration) -> String {
        if let Some(exit) = self.exited() {
            return format!("{exit} (before it was asked to stop)");
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(exit) = self.exited() {
                return exit;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .map_or_else(|e| e.to_string(), |s| s.to_string());
        let exit = format!(
            "{status} (killed: still running {} after SIGTERM)",
            humantime::format_duration(wait)
        );
        self.exit = Some(exit.clone());
        exit
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A currently free loopback port (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// An executable named `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Waits until something accepts connections on `port`, or `timeout` passes.
pub async fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_dir_is_unique_and_removed() {
        let a = WorkDir::create().expect("dir");
        let b = WorkDir::create().expect("dir");
        assert_ne!(a.path(), b.path());
        let path = a.path().to_path_buf();
        std::fs::write(path.join("f"), "x").expect("write");
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn finds_sh_on_path() {
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("no-such-program-switchyard").is_none());
    }

    #[tokio::test]
    async fn terminate_stops_a_child_with_sigterm() {
        let child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let mut managed = Managed::new(child);
        let exit = managed.terminate(Duration::from_secs(5)).await;
        assert!(exit.contains("signal: 15"), "{exit}");
    }
}
