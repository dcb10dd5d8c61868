//! The MCP socket under hostile input: random bytes, malformed and oversized frames and abrupt
//! disconnects never take the daemon down, and every well-formed but bad call gets a structured
//! answer (a JSON-RPC error, or a tool result flagged `isError` with an error kind).
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};

const MAX_MESSAGE: usize = 64 * 1024;

struct Daemon {
    socket: PathBuf,
    _root: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<Result<(), daemon::DaemonError>>,
}

/// One daemon for every case (no ConnectWise configured: tools answer `not_configured`).
fn daemon() -> &'static Daemon {
    static DAEMON: OnceLock<Daemon> = OnceLock::new();
    DAEMON.get_or_init(|| {
        // Under the target directory: this daemon lives as long as the test process and a static
        // is never dropped, so its directory outlives the run.
        let root = tempfile::Builder::new()
            .prefix("njf")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let paths = daemon::paths::Paths {
            config_dir: root.path().join("c"),
            state_dir: root.path().join("s"),
            runtime_dir: root.path().join("r"),
        };
        let mut config = schemas::config::Config::default();
        config.mcp.max_message_bytes = MAX_MESSAGE;
        config.mcp.max_sessions = 64;
        let settings = daemon::Settings {
            paths: paths.clone(),
            config,
            config_sources: vec!["test".into()],
            sandbox: None,
            allow_broken_log: false,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let task = runtime.spawn(daemon::run(
            settings,
            tokio_util::sync::CancellationToken::new(),
        ));
        let socket = paths.mcp_socket();
        for _ in 0..1000 {
            if UnixStream::connect(&socket).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Daemon {
            socket,
            _root: root,
            _runtime: runtime,
            task,
        }
    })
}

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn open() -> Conn {
        let stream = UnixStream::connect(&daemon().socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// The answer with this id, skipping notifications.
    fn answer(&mut self, id: i64) -> Value {
        loop {
            let v = self.read();
            if v["id"] == id {
                return v;
            }
            assert!(v.get("method").is_some(), "an answer to another id: {v}");
        }
    }

    fn initialized() -> Conn {
        let mut c = Conn::open();
        c.send(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "fuzz", "version": "0"}}})
            .to_string(),
        );
        let init = c.answer(0);
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        c.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        c
    }
}

fn alive() {
    assert!(!daemon().task.is_finished(), "the daemon stopped");
    let mut c = Conn::initialized();
    c.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let list = c.answer(1);
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 14);
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random bytes, then an abrupt disconnect (sometimes mid-line).
    #[test]
    fn random_bytes_and_abrupt_disconnects_never_stop_the_daemon(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        newline in any::<bool>(),
    ) {
        let mut c = Conn::open();
        let _ = c.writer.write_all(&bytes);
        if newline {
            let _ = c.writer.write_all(b"\n");
        }
        c.writer.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut sink = [0u8; 4096];
        let _ = c.reader.get_mut().read(&mut sink);
        drop(c);
        prop_assert!(!daemon().task.is_finished());
    }

    /// A JSON line that is not a JSON-RPC message gets an error naming what is wrong.
    #[test]
    fn json_that_is_not_json_rpc_gets_an_error(value in json_value()) {
        let is_message = value.get("jsonrpc") == Some(&json!("2.0"))
            && (value.get("method").is_some_and(Value::is_string) || value.get("result").is_some() || value.get("error").is_some());
        prop_assume!(!is_message);
        let mut c = Conn::open();
        c.send(&value.to_string());
        let answer = c.read();
        prop_assert_eq!(answer["error"]["code"].as_i64(), Some(-32600), "{}", answer);
    }

    /// Well-formed calls that are wrong get structured answers with their id.
    #[test]
    fn well_formed_bad_calls_get_structured_errors(
        method in "[a-z]{1,10}(/[a-z]{1,10})?",
        tool in prop::sample::select(daemon::catalog::TOOL_NAMES.to_vec()),
        junk_key in "[a-z]{1,8}",
        junk in json_value(),
        action in "[a-z_]{1,12}",
    ) {
        let mut c = Conn::initialized();
        // An unknown method.
        prop_assume!(!["ping", "initialize", "tools/list", "tools/call"].contains(&method.as_str()));
        c.send(&json!({"jsonrpc": "2.0", "id": 10, "method": method, "params": {}}).to_string());
        let a = c.answer(10);
        prop_assert!(a["error"]["code"].is_i64(), "{}", a);

        // A tool call with an argument that is not {action, params, confirm}.
        prop_assume!(!["action", "params", "confirm"].contains(&junk_key.as_str()));
        let mut arguments = serde_json::Map::new();
        arguments.insert(junk_key, junk);
        c.send(&json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}).to_string());
        let a = c.answer(11);
        prop_assert_eq!(&a["result"]["isError"], &json!(true), "{}", a);
        prop_assert_eq!(&a["result"]["structuredContent"]["error"]["kind"], &json!("invalid_params"));

        // An action the tool does not have.
        let known = daemon::catalog::catalog().tool(tool).unwrap().action(&action).is_some();
        prop_assume!(!known && action != "help");
        c.send(&json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call",
            "params": {"name": tool, "arguments": {"action": action}}}).to_string());
        let a = c.answer(12);
        prop_assert_eq!(&a["result"]["isError"], &json!(true), "{}", a);
        prop_assert_eq!(&a["result"]["structuredContent"]["error"]["kind"], &json!("unknown_action"));
    }
}

#[test]
fn oversized_messages_are_refused_and_the_session_goes_on() {
    let mut c = Conn::initialized();
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"cw_calc","arguments":{{"params":{{"x":"{}"}}}}}}}}"#,
        "9".repeat(MAX_MESSAGE * 2)
    );
    c.send(&huge);
    let refused = c.read();
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too large")
    );
    // The same session still answers.
    c.send(r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#);
    assert_eq!(c.answer(6)["result"]["tools"].as_array().unwrap().len(), 14);
    alive();
}

#[test]
fn not_configured_connectors_answer_structured_errors_and_the_daemon_survives_everything() {
    let mut c = Conn::initialized();
    c.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"cw_tickets","arguments":{"action":"get","params":{"id":1}}}}"#);
    let a = c.answer(7);
    assert_eq!(a["result"]["isError"], true, "{a}");
    assert_eq!(
        a["result"]["structuredContent"]["error"]["kind"],
        "not_configured"
    );
    alive();
}
