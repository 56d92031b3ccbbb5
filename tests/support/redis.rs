//! A throwaway Redis server for the tests that need a real one (as
//! scripts/with-redis.sh runs it): on a free port of 127.0.0.1, in a
//! temporary directory, writing nothing to disk, so that a restart brings
//! it back empty. Stopped when dropped.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use tempfile::TempDir;

use super::{Output, free_port, run, workdir};

/// How long the server may take to answer after it is started, and to exit
/// after it is told to.
const DEADLINE: Duration = Duration::from_secs(30);

/// A `redis-server` of the test's own, and the directory it runs in.
pub struct Redis {
    dir: TempDir,
    port: u16,
    /// `None` while stopped.
    server: Option<Child>,
}

impl Redis {
    /// A running server, or `None` when `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        let installed = ["redis-server", "redis-cli"]
            .iter()
            .all(|program| on_path(program));
        if !installed {
            return None;
        }
        let mut redis = Self {
            dir: workdir(),
            port: free_port(),
            server: None,
        };
        redis.start_server();
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port: it comes back empty.
    pub fn start_server(&mut self) {
        assert!(self.server.is_none(), "redis-server is already running");
        let server = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--appendonly", "no"])
            .arg("--logfile")
            .arg(self.log())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server");
        let pid = server.id();
        self.server = Some(server);
        let deadline = Instant::now() + DEADLINE;
        // Ours answers with its own process id, not another server that
        // took the port in the meantime.
        while !self
            .cli(&["info", "server"])
            .stdout
            .contains(&format!("process_id:{pid}\r"))
        {
            let exited = self
                .server
                .as_mut()
                .and_then(|server| server.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "redis-server did not start on port {} ({exited:?}):\n{}",
                self.port,
                fs::read_to_string(self.log()).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once, without saving anything: clients are cut
    /// off and whatever it held is gone.
    pub fn stop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // SHUTDOWN closes the connection instead of answering.
        self.cli(&["shutdown", "nosave"]);
        let deadline = Instant::now() + DEADLINE;
        while server.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = server.kill();
                let _ = server.wait();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-cli` on the server, one command; what it printed.
    pub fn cli(&self, args: &[&str]) -> Output {
        run(Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()))
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Whether `program` is an executable file in one of `PATH`'s directories.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
    })
}

fn is_executable(file: &Path) -> bool {
    file.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
