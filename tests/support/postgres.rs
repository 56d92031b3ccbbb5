//! A throwaway PostgreSQL server for the tests that need a real one: its
//! own data directory in a temporary directory, on a free port of
//! 127.0.0.1, stopped and deleted when dropped.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::PathBuf,
    process::{Command, Stdio},
};

use tempfile::TempDir;

use super::{free_port, run, workdir};

/// A throwaway PostgreSQL server on 127.0.0.1 (as scripts/with-postgres.sh
/// runs it), stopped and deleted when dropped.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    /// `None` when PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("pg_ctl").is_file())
            .max_by_key(|bin| {
                bin.parent()
                    .and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok())
                    .unwrap_or(0)
            })?;
        let postgres = Self {
            dir: workdir(),
            bin,
            port: free_port(),
        };
        if is_root() {
            // PostgreSQL refuses to run as root: its own user owns the files.
            run(Command::new("chown")
                .args(["postgres"])
                .arg(postgres.dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()))
            .assert_success();
        }
        run(postgres
            .command("initdb")
            .arg("-D")
            .arg(postgres.data())
            .args(["-A", "trust", "-U", "tollgate", "--no-sync"]))
        .assert_success();
        postgres.start_server();
        Some(postgres)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of PostgreSQL's programs, as its system user when we are root.
    pub fn command(&self, program: &str) -> Command {
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(program));
            command
        } else {
            Command::new(self.bin.join(program))
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    pub fn start_server(&self) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30", "-o", &options, "start"]))
        .assert_success();
    }

    /// As a crash would: no checkpoint, clients cut off.
    pub fn stop_immediately(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"]))
        .assert_success();
    }

    pub fn url(&self) -> String {
        format!("postgres://tollgate@127.0.0.1:{}/postgres", self.port)
    }

    /// `psql` on the database, printing bare rows with `|` between cells.
    pub fn psql(&self) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args(["-X", "-q", "-A", "-t", "-F", "|"])
            .args(["-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url());
        command
    }

    pub fn query(&self, sql: &str) -> String {
        let output = run(self
            .psql()
            .args(["-c", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()));
        assert!(output.succeeded(), "the query failed: {sql}{output}");
        output.stdout
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|proc| proc.uid() == 0)
}
