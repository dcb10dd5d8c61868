//! Signed approvals with the real binaries: an interactive MCP client's hard action waits, with
//! progress, until an operator runs `nightjarctl approve` in another process, then executes once
//! against the sandbox tenant, and the log tells the whole story in order (invariants 3 and 4).
//! And the operator key at rest: never silently replaced, refused when others can read it, and
//! usable encrypted only with the right passphrase.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, ChildStdin, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use e2e::{Home, Sandbox, stderr, stdout};
use serde_json::{Value, json};

/// A fixed anchor date, so the seeded tenant (and its untriaged tickets) is the same every run.
const TODAY: &str = "2026-03-02";

/// Closing a ticket made hard for everyone, and a wait long enough for a second process to
/// approve it.
const CONFIG: &str =
    "[gate.stricter]\n\"cw_tickets.close\" = \"hard\"\n\n[mcp]\napproval_wait_secs = 30\n";

/// Polls `probe` until it yields a value; panics with `what` after 30 s.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stdout of a command that must have succeeded.
fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Stderr of a command that must have failed with exit code 1.
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// The whole log as JSON envelopes.
fn events(home: &Home) -> Vec<Value> {
    ok(&home.ctl(&["log", "export"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The key id `nightjarctl keygen` printed.
fn key_id(keygen_stdout: &str) -> String {
    keygen_stdout
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .map(|id| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no key id in: {keygen_stdout}"))
}

/// `nightjarctl mcp` as a child, spoken to in raw JSON-RPC lines the way an MCP client does.
struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Every message read so far, in arrival order.
    seen: Vec<Value>,
}

impl Bridge {
    fn spawn(home: &Home) -> Bridge {
        let mut child = home
            .command("nightjarctl")
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let message = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("the bridge wrote a non-JSON line ({e}): {line}"));
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        Bridge {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Reads until a message satisfies `wanted` (30 s at most) and answers its index in `seen`.
    fn until(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> usize {
        if let Some(i) = self.seen.iter().position(&wanted) {
            return i;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(message) => {
                    self.seen.push(message);
                    if wanted(&self.seen[self.seen.len() - 1]) {
                        return self.seen.len() - 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} from the bridge within 30 s; got {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the bridge closed before {what}; got {:?}", self.seen)
                }
            }
        }
    }

    fn response(&mut self, id: u64) -> usize {
        self.until(&format!("response {id}"), |m| m["id"] == id)
    }

    /// Closes stdin and waits for the bridge to exit on its own.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("nightjarctl mcp did not exit within 30 s of its stdin closing");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn is_progress(m: &Value) -> bool {
    m["method"] == "notifications/progress" && m["params"]["progressToken"] == "t1"
}

#[test]
fn an_interactive_hard_action_waits_for_a_signed_approval_from_another_process_and_runs_once() {
    let sandbox = Sandbox::start(&["--today", TODAY]);
    let truth = sandbox.get_json("/__sandbox/truth");
    assert_eq!(truth["today"], TODAY, "--today anchors the data");
    let ticket = truth["untriaged"][0]["ticket_id"].as_i64().unwrap();
    let ticket_path = format!("/service/tickets/{ticket}");

    let home = Home::new();
    std::fs::create_dir_all(home.config_dir()).unwrap();
    std::fs::write(home.config_dir().join("config.toml"), CONFIG).unwrap();
    let daemon = home.start_daemon_with_env(&[], sandbox.env());

    let made = ok(&home.ctl(&["keygen", "--label", "e2e-operator"]));
    let key = key_id(&made);
    let enrolled = ok(&home.ctl(&["enroll"]));
    assert!(
        enrolled.contains(&format!("enrolled {key} (e2e-operator)")),
        "{enrolled}"
    );
    let listed = ok(&home.ctl(&["keys"]));
    let line = listed.lines().find(|l| l.starts_with(&key)).unwrap_or("");
    assert!(
        line.contains("e2e-operator") && line.contains("active") && line.contains("this machine"),
        "{listed}"
    );

    let mut mcp = Bridge::spawn(&home);
    mcp.send(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "e2e-claude", "version": "1.0.0"}
        }
    }));
    let init = mcp.response(1);
    assert_eq!(
        mcp.seen[init]["result"]["protocolVersion"], "2025-11-25",
        "{}",
        mcp.seen[init]
    );
    mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    mcp.send(&json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {
            "name": "cw_tickets",
            "arguments": {"action": "close", "params": {"id": ticket}, "confirm": true},
            "_meta": {"progressToken": "t1"}
        }
    }));

    let proposal = wait_for("the close to be pending", || {
        let out = ok(&home.ctl(&["approvals", "--json"]));
        let pending: Vec<Value> = serde_json::from_str(&out).unwrap();
        pending.into_iter().next()
    });
    let id = proposal["proposal_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &proposal["tool"],
            &proposal["action"],
            &proposal["principal"]["name"]
        ),
        (&json!("cw_tickets"), &json!("close"), &json!("e2e-claude")),
        "{proposal}"
    );
    assert_eq!(proposal["request"]["method"], "PATCH", "{proposal}");
    assert_eq!(
        proposal["request"]["path"],
        ticket_path.as_str(),
        "{proposal}"
    );

    // The human's view: grouped, with the effect and the exact request, not a JSON dump.
    let shown = ok(&home.ctl(&["approvals"]));
    for expected in [
        "interactive: 1 proposal pending".to_owned(),
        format!("{id}  cw_tickets.close  (hard, enforce mode)"),
        "proposed by   interactive client e2e-claude".to_owned(),
        format!("target        ticket {ticket}"),
        "change        status: ".to_owned(),
        format!("request       PATCH {ticket_path} (manage)"),
    ] {
        assert!(
            shown.contains(&expected),
            "{expected:?} missing from:\n{shown}"
        );
    }
    assert!(!shown.trim_start().starts_with('['), "{shown}");

    // The client hears that it waits before anyone approves.
    mcp.until("a progress notification", is_progress);
    let patches = |sandbox: &Sandbox| -> Vec<Value> {
        sandbox
            .journal()
            .into_iter()
            .filter(|e| {
                e["method"] == "PATCH" && e["path"].as_str().unwrap().ends_with(&ticket_path)
            })
            .collect()
    };
    assert!(patches(&sandbox).is_empty(), "sent before the approval");

    let approved = ok(&home.ctl(&["approve", &id, "--yes"]));
    assert!(
        approved.contains(&format!("{id}: verdict accepted, approved: executed"))
            && approved.contains("outcome: executed"),
        "{approved}"
    );

    let answer = mcp.response(2);
    let reply = &mcp.seen[answer];
    let text = reply["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("approved and executed"), "{reply}");
    assert!(
        text.contains(&key),
        "the answer names the approving key: {reply}"
    );
    assert_eq!(
        reply["result"]["structuredContent"]["status"], "executed",
        "{reply}"
    );
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    let progress_before = mcp.seen[..answer].iter().filter(|m| is_progress(m)).count();
    assert!(progress_before >= 1, "{:?}", mcp.seen);
    assert!(mcp.finish().success());

    let sent = patches(&sandbox);
    assert_eq!(sent.len(), 1, "exactly one PATCH: {sent:?}");
    assert_eq!(sent[0]["status"], 200, "{sent:?}");
    let body: Value = serde_json::from_str(sent[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body[0]["op"], "replace", "{body}");
    assert!(
        body[0]["path"].as_str().unwrap().contains("status"),
        "{body}"
    );
    let now = sandbox.manage_get_json(&ticket_path);
    assert_eq!(now["closedFlag"], true, "the ticket is closed: {now}");

    // A second verdict on a settled proposal finds nothing to approve.
    let again = fails(&home.ctl(&["approve", &id, "--yes"]));
    assert!(again.contains("is not waiting for a verdict"), "{again}");
    assert_eq!(patches(&sandbox).len(), 1);

    let log = events(&home);
    let story: Vec<&Value> = log
        .iter()
        .filter(|e| e["payload"]["proposal_id"] == id.as_str())
        .collect();
    let types: Vec<&str> = story
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ActionProposed",
            "ApprovalRequested",
            "VerdictAccepted",
            "ActionExecuting",
            "ActionExecuted"
        ],
        "{story:#?}"
    );
    assert_eq!(story[0]["payload"]["disposition"], "pending_approval");
    assert_eq!(story[2]["payload"]["decision"], "approve");
    assert_eq!(story[2]["payload"]["key_id"], key.as_str());
    assert_eq!(story[2]["principal"]["key_id"], key.as_str());

    let verify = home.ctl(&["log", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    assert!(daemon.stop().success());
}

#[test]
fn an_operator_key_is_never_silently_replaced_never_used_when_others_can_read_it_and_unlocks_only_with_its_passphrase()
 {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    let key_file = home.config_dir().join("operator-key.pem");

    let first = key_id(&ok(&home.ctl(&["keygen", "--label", "desk"])));
    let refused = fails(&home.ctl(&["keygen"]));
    assert!(
        refused.contains("already exists") && refused.contains("--force"),
        "{refused}"
    );
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let plain = key_id(&ok(&home.ctl(&["keygen", "--label", "desk", "--force"])));
    assert_ne!(plain, first, "--force made a new key");
    ok(&home.ctl(&["enroll"]));

    // Readable by others: refused before anything is signed or sent.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = fails(&home.ctl(&["approve", "p-00", "--yes"]));
    assert!(
        open.contains(&format!("chmod 600 {}", key_file.display())),
        "{open}"
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A second, encrypted key, enrolled with the approval of the first.
    let encrypted = home.config_dir().join("second.pem");
    let enc = encrypted.to_str().unwrap();
    let with = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = home.command("nightjarctl");
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let second = key_id(&ok(&with(
        &[
            "keygen",
            "--key",
            enc,
            "--label",
            "laptop",
            "--passphrase-env",
            "NJ_PASS",
        ],
        &[("NJ_PASS", "correct horse")],
    )));
    let text = std::fs::read_to_string(&encrypted).unwrap();
    assert!(text.contains("BEGIN ENCRYPTED PRIVATE KEY"), "{text}");
    let public = home.config_dir().join("second.pub.pem");
    let enrolled = ok(&home.ctl(&["enroll", "--public-key", public.to_str().unwrap()]));
    assert!(
        enrolled.contains(&format!("enrolled {second} (laptop), approved by {plain}")),
        "{enrolled}"
    );

    let mode_args = ["mode", "msp-night-triage", "enforce", "--key", enc];
    let wrong = fails(&with(
        &[&mode_args[..], &["--passphrase-env", "NJ_PASS"]].concat(),
        &[("NJ_PASS", "battery staple")],
    ));
    assert!(wrong.contains("wrong passphrase"), "{wrong}");
    let none = fails(&with(&mode_args, &[]));
    assert!(
        none.contains("is encrypted") && none.contains("NIGHTJAR_KEY_PASSPHRASE"),
        "{none}"
    );
    let changed = ok(&with(
        &[&mode_args[..], &["--passphrase-env", "NJ_PASS"]].concat(),
        &[("NJ_PASS", "correct horse")],
    ));
    assert!(
        changed.starts_with("msp-night-triage: ") && changed.trim_end().ends_with("-> enforce"),
        "{changed}"
    );

    // The default variable works too; the encrypted key revokes the plain one, which then
    // cannot sign anything.
    let revoked = ok(&with(
        &["revoke", &plain, "--reason", "desk retired", "--key", enc],
        &[("NIGHTJAR_KEY_PASSPHRASE", "correct horse")],
    ));
    assert!(
        revoked.contains(&format!("revoked {plain} (desk)")),
        "{revoked}"
    );
    let keys: Vec<Value> = serde_json::from_str(&ok(&home.ctl(&["keys", "--json"]))).unwrap();
    let state = |id: &str| {
        keys.iter()
            .find(|k| k["key_id"] == id)
            .map(|k| k["revoked"].clone())
    };
    assert_eq!(
        (state(&plain), state(&second)),
        (Some(json!(true)), Some(json!(false)))
    );
    let dead = fails(&home.ctl(&["mode", "msp-night-triage", "observe"]));
    assert!(dead.contains("revoked"), "{dead}");

    let log = events(&home);
    let changed: Vec<&Value> = log
        .iter()
        .filter(|e| e["event_type"] == "ModeChanged")
        .collect();
    assert_eq!(changed.len(), 1, "only the accepted change: {changed:?}");
    assert_eq!(changed[0]["payload"]["key_id"], second.as_str());
    assert_eq!(changed[0]["payload"]["to"], "enforce");
    let revocation = log
        .iter()
        .find(|e| e["event_type"] == "KeyRevoked")
        .unwrap();
    assert_eq!(revocation["payload"]["by"], second.as_str());

    let verify = home.ctl(&["log", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    assert!(daemon.stop().success());
}
