//! What the tests of the `tollgate` binary share: the binary started in a
//! fresh working directory, configured through the environment only and
//! killed when dropped, plain HTTP/1.1 to it on 127.0.0.1, and throwaway
//! PostgreSQL and Redis servers ([`postgres`], [`redis`]).

#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;

pub mod postgres;
pub mod redis;

/// How long one-shot commands (`migrate`, `admin ...`) may take.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);
/// How long `serve` may take to answer its health check.
pub const SERVE_DEADLINE: Duration = Duration::from_secs(90);
/// What `serve` logs once it accepts connections.
pub const LISTENING: &str = "Tollgate listening on";
pub const FIRST_ADMIN: &str = "Created the first admin";
pub const LEDGER_VERIFIED: &str = "ledger verified: every balance equals the sum of its ledger";

/// The first admin, created from the environment on the first start.
pub const ADMIN_ENV: [(&str, &str); 2] = [
    ("TOLLGATE_ADMIN_EMAIL", "boss@example.com"),
    ("TOLLGATE_ADMIN_PASSWORD", "boss password from env"),
];

pub fn workdir() -> TempDir {
    tempfile::tempdir().expect("cannot create a temporary working directory")
}

pub fn data_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("data")
}

/// The binary, in `dir`, with an environment that holds nothing but the data
/// directory: the tests' own environment must not leak into its config.
pub fn tollgate(dir: &TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("TOLLGATE__DATA_DIR", data_dir(dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

// ---------------------------------------------------------------------------
// processes

/// What a run printed, and how it ended (`None`: it had to be killed).
pub struct Output {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl Output {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    pub fn assert_success(&self) {
        assert!(self.succeeded(), "the command failed:{self}");
    }

    /// Exited non-zero, and stderr names what was wrong. Case does not
    /// matter: figment names keys from the environment in upper case
    /// (`AUTH.SESSION_TTL_HOURS`).
    pub fn assert_refused_naming(&self, what: &str) {
        assert!(!self.succeeded(), "the command was not refused:{self}");
        assert!(
            self.stderr.to_lowercase().contains(&what.to_lowercase()),
            "the refusal does not mention {what:?}:{self}"
        );
    }

    pub fn assert_never_shows(&self, secret: &str) {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "the output shows {secret:?}:{self}"
        );
    }
}

/// Runs a one-shot command to its end, killing it after [`COMMAND_DEADLINE`].
pub fn run(command: &mut Command) -> Output {
    let mut child = command.spawn().expect("cannot start tollgate");
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let deadline = Instant::now() + COMMAND_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for tollgate") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: finish(stdout),
        stderr: finish(stderr),
    };
    assert!(
        output.status.is_some(),
        "{:?} {:?} did not finish within {COMMAND_DEADLINE:?}:{output}",
        command.get_program(),
        command.get_args().collect::<Vec<_>>()
    );
    output
}

/// A pipe read to its end on a thread, into a buffer others can look at.
pub struct Collected {
    text: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Collected {
    /// Everything read so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }
}

pub fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> Collected {
    let text = Arc::new(Mutex::new(String::new()));
    let reader = pipe.map(|pipe| {
        let text = Arc::clone(&text);
        thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = Vec::new();
            while pipe.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        })
    });
    Collected { text, reader }
}

/// Waits for the pipe's end (the process must be gone) and returns the text.
pub fn finish(mut collected: Collected) -> String {
    if let Some(reader) = collected.reader.take() {
        reader.join().expect("a pipe reader panicked");
    }
    collected.text()
}

/// A running `serve` (or `mock-upstream`), killed when dropped.
pub struct Server {
    pub child: Child,
    stdout: Option<Collected>,
    stderr: Option<Collected>,
}

impl Server {
    pub fn start(command: &mut Command) -> Self {
        let mut child = command.spawn().expect("cannot start tollgate");
        let stdout = Some(collect(child.stdout.take()));
        let stderr = Some(collect(child.stderr.take()));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .as_ref()
            .map(Collected::text)
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .as_ref()
            .map(Collected::text)
            .unwrap_or_default()
    }

    /// Polls `GET /api/health` until it answers `200 {"ok":true}` and the
    /// listening line (a log line, on stderr) has been read.
    pub fn wait_until_ready(&mut self, port: u16) {
        let deadline = Instant::now() + SERVE_DEADLINE;
        let mut healthy = false;
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot wait for tollgate") {
                panic!(
                    "tollgate exited early with {status}:\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            if !healthy
                && let Some((status, body)) = try_http(port, "GET", "/api/health", None, None)
            {
                assert_eq!(
                    (status, body.clone()),
                    (200, json!({ "ok": true })),
                    "{body}"
                );
                healthy = true;
            }
            if healthy && self.stderr().contains(LISTENING) {
                return;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "tollgate was not ready within {SERVE_DEADLINE:?}:\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself; `None` if it did not in time.
    pub fn wait_for_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().expect("cannot wait for tollgate") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the server and returns everything it printed.
    pub fn stop(mut self) -> Output {
        let _ = self.child.kill();
        self.output()
    }

    /// Sends SIGTERM and waits up to `deadline` for a graceful exit (killed
    /// after it: the status is then `None`); returns everything printed.
    pub fn terminate(mut self, deadline: Duration) -> Output {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(signalled.success(), "kill -TERM failed");
        let exited = self.wait_for_exit(deadline);
        let mut output = self.stop();
        output.status = exited;
        output
    }

    fn output(&mut self) -> Output {
        let status = self.child.wait().ok();
        let stdout = self.stdout.take().map(finish).unwrap_or_default();
        let stderr = self.stderr.take().map(finish).unwrap_or_default();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// HTTP

/// A port nobody listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("cannot find a free port")
        .port()
}

pub fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Waits until something listens on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + SERVE_DEADLINE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request; panics when the server does not answer.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    try_http(port, method, path, bearer, body)
        .unwrap_or_else(|| panic!("no answer to {method} {path} on port {port}"))
}

/// [`http`] for a request that must succeed with `expected` (200, 201):
/// returns the JSON body; a failure names the request.
pub fn http_ok(
    port: u16,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<&Value>,
    expected: u16,
) -> Value {
    let (status, answer) = http(port, method, path, Some(bearer), body);
    assert_eq!(status, expected, "{method} {path}: {answer}");
    answer
}

/// POST /api/admin/providers as `admin`, asserting 201; returns the
/// provider's id.
pub fn create_provider(port: u16, admin: &str, provider: &Value) -> String {
    let created = http_ok(
        port,
        "POST",
        "/api/admin/providers",
        admin,
        Some(provider),
        201,
    );
    created["provider"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no provider id in {created}"))
        .to_owned()
}

/// One HTTP/1.1 request over a plain TCP connection: the status and the JSON
/// body (`Null` when empty), or `None` when nobody answers (yet).
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body)
            .unwrap_or_else(|err| panic!("the body is not JSON ({err}):\n{head}\n\n{body}"))
    };
    Some((status, body))
}

pub fn login_answer(port: u16, email: &str, password: &str) -> (u16, Value) {
    let body = json!({ "email": email, "password": password });
    http(port, "POST", "/api/auth/login", None, Some(&body))
}

/// Signs in and returns the token.
pub fn login(port: u16, email: &str, password: &str) -> String {
    let (status, body) = login_answer(port, email, password);
    assert_eq!(status, 200, "cannot sign in as {email}: {body}");
    token_of(&body)
}

/// Signs in with an API key (the user has no password) and returns the token.
pub fn login_with_key(port: u16, secret: &str) -> String {
    let body = json!({ "api_key": secret });
    let (status, body) = http(port, "POST", "/api/auth/login", None, Some(&body));
    assert_eq!(status, 200, "cannot sign in with a key: {body}");
    token_of(&body)
}

fn token_of(signed_in: &Value) -> String {
    signed_in["token"]
        .as_str()
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| panic!("no token in {signed_in}"))
        .to_owned()
}

/// Signs in as the admin of [`ADMIN_ENV`].
pub fn admin_token(port: u16) -> String {
    login(port, ADMIN_ENV[0].1, ADMIN_ENV[1].1)
}

/// How long a [`Client`] waits to connect, and for each read.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP/1.1 client on one kept-alive connection, as SDKs use the proxy:
/// it reads `Content-Length` and chunked bodies, and keeps what arrived of
/// a body that was cut off.
pub struct Client {
    port: u16,
    connection: Option<BufReader<TcpStream>>,
}

/// One answer, possibly cut off.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    pub body: String,
    /// The whole body arrived (its length, or its last chunk).
    pub complete: bool,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The id the proxy gives each request (`x-request-id`).
    pub fn request_id(&self) -> Option<String> {
        self.header("x-request-id").map(str::to_owned)
    }

    fn keeps_alive(&self) -> bool {
        self.complete
            && !self
                .header("connection")
                .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// Why an exchange failed: before any byte of the answer, or after.
enum Failure {
    Unanswered(io::Error),
    CutHead(io::Error),
}

impl Client {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            connection: None,
        }
    }

    /// POSTs a JSON body. An error means no answer (not even its status).
    pub fn post(&mut self, path: &str, headers: &[(&str, &str)], body: &str) -> io::Result<Answer> {
        let reused = self.connection.is_some();
        match self.exchange(path, headers, body) {
            // A kept-alive connection the server had closed in the meantime,
            // as any client would, is tried once more on a new one.
            Err(Failure::Unanswered(_)) if reused => self.exchange(path, headers, body),
            result => result,
        }
        .map_err(|(Failure::Unanswered(err) | Failure::CutHead(err))| err)
    }

    fn exchange(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Answer, Failure> {
        let port = self.port;
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => {
                let stream =
                    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), CONNECT_TIMEOUT)
                        .map_err(Failure::Unanswered)?;
                stream.set_nodelay(true).map_err(Failure::Unanswered)?;
                stream
                    .set_read_timeout(Some(READ_TIMEOUT))
                    .map_err(Failure::Unanswered)?;
                stream
                    .set_write_timeout(Some(READ_TIMEOUT))
                    .map_err(Failure::Unanswered)?;
                BufReader::new(stream)
            }
        };
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        connection
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(Failure::Unanswered)?;
        let answer = read_answer(&mut connection)?;
        if answer.keeps_alive() {
            self.connection = Some(connection);
        }
        Ok(answer)
    }
}

fn read_answer(connection: &mut BufReader<TcpStream>) -> Result<Answer, Failure> {
    let mut line = String::new();
    match connection.read_line(&mut line) {
        Ok(0) => {
            return Err(Failure::Unanswered(io::Error::from(
                io::ErrorKind::UnexpectedEof,
            )));
        }
        Ok(_) => {}
        Err(err) => return Err(Failure::Unanswered(err)),
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| Failure::CutHead(io::Error::other(format!("no status in {line:?}"))))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        match connection.read_line(&mut line) {
            Ok(0) => {
                return Err(Failure::CutHead(io::Error::from(
                    io::ErrorKind::UnexpectedEof,
                )));
            }
            Ok(_) => {}
            Err(err) => return Err(Failure::CutHead(err)),
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
        complete: false,
    };
    let mut body = Vec::new();
    answer.complete = if answer
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
    {
        read_chunks(connection, &mut body).is_ok()
    } else if let Some(length) = answer.header("content-length") {
        let length: u64 = length.parse().unwrap_or(0);
        let read = connection.take(length).read_to_end(&mut body);
        read.is_ok() && body.len() as u64 == length
    } else {
        connection.read_to_end(&mut body).is_ok()
    };
    answer.body = String::from_utf8_lossy(&body).into_owned();
    Ok(answer)
}

/// Reads a chunked body to its last chunk, keeping whatever arrived.
fn read_chunks(connection: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if connection.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = line.trim_end().split(';').next().unwrap_or_default();
        let size = u64::from_str_radix(size, 16).map_err(io::Error::other)?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                line.clear();
                if connection.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        let before = body.len();
        connection.take(size).read_to_end(body)?;
        if (body.len() - before) as u64 != size {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut crlf = [0_u8; 2];
        connection.read_exact(&mut crlf)?;
    }
}
