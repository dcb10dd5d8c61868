//! Helpers shared by the end-to-end tests: a private temp home for one daemon, spawning the real
//! `nightjard` / `nightjarctl` binaries against it, a standalone `nightjar-sandbox` tenant, and a
//! raw control-protocol client.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test executable; nothing
//! here touches the network or the real `$HOME`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary built by cargo (`target/<profile>/<name>`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the suite with `cargo test --workspace` so every binary is built",
        path.display()
    );
    path
}

/// One daemon's world: config, state and runtime directories under a fresh temp dir.
#[derive(Debug)]
pub struct Home {
    pub root: tempfile::TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    pub fn new() -> Home {
        // Short paths: a Unix socket path must fit in ~108 bytes.
        let root = tempfile::Builder::new()
            .prefix("nj")
            .tempdir_in("/tmp")
            .expect("temp dir");
        Home { root }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root.path().join("c")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("s")
    }
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.path().join("r")
    }
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("control.sock")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir().join("log")
    }

    /// A command for one of the binaries with this home's directories in its environment.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.path().join("home"))
            .env("NIGHTJAR_CONFIG_DIR", self.config_dir())
            .env("NIGHTJAR_STATE_DIR", self.state_dir())
            .env("NIGHTJAR_RUNTIME_DIR", self.runtime_dir())
            .env("NIGHTJAR_LOG", "info");
        cmd
    }

    /// Start `nightjard` and wait until its control socket answers.
    pub fn start_daemon(&self, extra: &[&str]) -> Daemon {
        self.start_daemon_with_env(extra, &[])
    }

    /// [`Home::start_daemon`] with extra environment variables, e.g. a sandbox's `CW_*` settings
    /// (the daemon reads ConnectWise settings from its environment, which `command` clears).
    pub fn start_daemon_with_env(&self, extra: &[&str], env: &[(String, String)]) -> Daemon {
        let log = self.root.path().join(format!("daemon-{}.log", unique()));
        let stderr = std::fs::File::create(&log).expect("daemon log file");
        let child = self
            .command("nightjard")
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn nightjard");
        let mut daemon = Daemon { child, log };
        daemon.wait_ready(&self.socket());
        daemon
    }

    /// Run `nightjarctl` with `args` to completion.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.command("nightjarctl")
            .args(args)
            .output()
            .expect("run nightjarctl")
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// A running `nightjard`.
#[derive(Debug)]
pub struct Daemon {
    pub child: Child,
    /// Its stderr (tracing output).
    pub log: PathBuf,
}

impl Daemon {
    fn wait_ready(&mut self, socket: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nightjard exited early with {status}:\n{}", self.stderr());
            }
            if Control::connect(socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "nightjard did not answer on {} within 30 s:\n{}",
            socket.display(),
            self.stderr()
        );
    }

    /// Waits until the background refresh of the ticket history at start has ended (its reads
    /// would otherwise land in a sandbox journal a test is about to read).
    pub fn wait_for_history(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let log = self.stderr();
            if log.contains("ticket history refreshed") || log.contains("history was not refreshed")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the ticket history refresh did not end within 60 s:\n{}",
            self.stderr()
        );
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        self.child.wait().expect("wait for nightjard")
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(mut self) {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running standalone `nightjar-sandbox` tenant on loopback, killed when dropped.
#[derive(Debug)]
pub struct Sandbox {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    env: Vec<(String, String)>,
}

/// The `CW_*` names the Manage (PSA) connector needs; the sandbox prints them first.
const PSA_VARS: [&str; 5] = [
    "CW_API_URL",
    "CW_COMPANY_ID",
    "CW_PUBLIC_KEY",
    "CW_PRIVATE_KEY",
    "CW_CLIENT_ID",
];

impl Sandbox {
    /// Start `nightjar-sandbox --port 0 ARGS` and read the `CW_*` lines it prints.
    pub fn start(args: &[&str]) -> Sandbox {
        let mut child = Command::new(bin("nightjar-sandbox"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nightjar-sandbox");
        let stdout = child.stdout.take().expect("sandbox stdout");
        // The sandbox keeps stdout open while it serves, so the lines are read on a thread and
        // collected with deadlines instead of reading to EOF.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sandbox = Sandbox {
            child,
            addr: String::new(),
            env: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !PSA_VARS
            .iter()
            .all(|name| sandbox.env.iter().any(|(k, _)| k == name))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => sandbox.env.extend(parse_env_line(&line)),
                Err(e) => panic!(
                    "nightjar-sandbox printed no complete CW_* settings within 30 s ({e}); got {:?}",
                    sandbox.env
                ),
            }
        }
        // The optional products' lines follow at once; nothing here depends on them.
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            sandbox.env.extend(parse_env_line(&line));
        }
        let url = sandbox.var("CW_API_URL").expect("CW_API_URL").to_owned();
        sandbox.addr = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("CW_API_URL is not a loopback http URL: {url}"))
            .to_owned();
        sandbox
    }

    /// The `CW_*` settings it printed, for [`Home::start_daemon_with_env`].
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// One HTTP/1.0 exchange (the server closes the connection after the answer, so the whole
    /// answer is read to EOF): the status and the body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.request_with_headers(method, path, &[], body)
    }

    /// [`Sandbox::request`] with extra header lines (`Name: value`).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[String],
        body: &str,
    ) -> (u16, String) {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("connect to the sandbox");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: text/plain\r\n\
             {extra}Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("send to the sandbox");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read the sandbox's answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        (status, body.to_owned())
    }

    /// `GET path` answered 200 with JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.request("GET", path, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `GET` a Manage record as the daemon would (Basic `company+public:private` and the
    /// `clientId` header from the printed `CW_*` settings), answered 200 with JSON. `path` is
    /// relative to the Manage API base, e.g. `/service/tickets/1042`. It is journaled like any
    /// ConnectWise request.
    pub fn manage_get_json(&self, path: &str) -> serde_json::Value {
        use base64::Engine as _;
        let var = |name: &str| {
            self.var(name)
                .unwrap_or_else(|| panic!("{name} not printed"))
        };
        let credentials = format!(
            "{}+{}:{}",
            var("CW_COMPANY_ID"),
            var("CW_PUBLIC_KEY"),
            var("CW_PRIVATE_KEY")
        );
        let auth = base64::engine::general_purpose::STANDARD.encode(credentials);
        let base = var("CW_API_URL");
        let prefix = base
            .strip_prefix("http://")
            .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("");
        let full = format!("{}{path}", prefix.trim_end_matches('/'));
        let headers = [
            format!("Authorization: Basic {auth}"),
            format!("clientId: {}", var("CW_CLIENT_ID")),
            "Accept: application/json".to_owned(),
        ];
        let (status, body) = self.request_with_headers("GET", &full, &headers, "");
        assert_eq!(status, 200, "GET {full}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {full}: {e}: {body}"))
    }

    /// Every ConnectWise request the sandbox received since the last clear.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        match self.get_json("/__sandbox/journal")["entries"].take() {
            serde_json::Value::Array(entries) => entries,
            other => panic!("journal without entries: {other}"),
        }
    }

    pub fn clear_journal(&self) {
        let (status, body) = self.request("DELETE", "/__sandbox/journal", "");
        assert_eq!(status, 204, "clearing the journal: {body}");
    }

    /// Adds fault rules in the SPEC grammar of the sandbox's `faults` module.
    pub fn add_faults(&self, spec: &str) {
        let (status, body) = self.request("POST", "/__sandbox/faults", spec);
        assert_eq!(status, 200, "adding faults {spec:?}: {body}");
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `NAME=VALUE` from one line of `CW_*` output, also in `export NAME="VALUE"` form.
fn parse_env_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (name, value) = line.split_once('=')?;
    if !name.starts_with("CW_") {
        return None;
    }
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    Some((name.to_owned(), value.to_owned()))
}

/// A raw, blocking control-protocol client (speaks whatever hello it is told to).
#[derive(Debug)]
pub struct Control {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Control {
    /// Connect and complete the handshake with the current protocol version.
    pub fn connect(socket: &Path) -> std::io::Result<Control> {
        let mut c = Control::raw(socket)?;
        let reply = c.hello(schemas::control::PROTOCOL_VERSION)?;
        if reply.get("welcome").is_none() {
            return Err(std::io::Error::other(format!("not welcomed: {reply}")));
        }
        Ok(c)
    }

    /// Connect without saying anything.
    pub fn raw(socket: &Path) -> std::io::Result<Control> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Control {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    pub fn hello(&mut self, version: u32) -> std::io::Result<serde_json::Value> {
        self.send_line(
            &serde_json::json!({"protocol_version": version, "client": "e2e"}).to_string(),
        )?;
        self.read_json()
    }

    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\n")
    }

    /// The next line as JSON; an error at EOF.
    pub fn read_json(&mut self) -> std::io::Result<serde_json::Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }

    /// Send a request and read one response.
    pub fn call(&mut self, request: serde_json::Value) -> std::io::Result<serde_json::Value> {
        self.send_line(&request.to_string())?;
        self.read_json()
    }
}

/// Stdout of a finished command, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a finished command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
