//! Crash test with real processes: 16 concurrent writers append through the daemon while it is
//! killed with SIGKILL at random moments, 20 times in a row. After every restart the chain must
//! verify and every append that had been acknowledged must be in the log, unchanged.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{Control, Home, stdout};
use rand::Rng;
use serde_json::json;

const ROUNDS: usize = 20;
const WRITERS: usize = 16;

#[test]
fn acknowledged_appends_survive_sigkill_and_the_chain_verifies() {
    let home = Home::new();
    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let mut rng = rand::rng();
    for round in 0..ROUNDS {
        // Start-up itself verifies the chain from the newest checkpoint and refuses a broken one.
        let daemon = home.start_daemon(&[]);
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let socket = home.socket();
                let acked = Arc::clone(&acked);
                std::thread::spawn(move || {
                    let Ok(mut control) = Control::connect(&socket) else {
                        return 0;
                    };
                    let mut n = 0;
                    // Each checkpoint request appends a `Checkpointed` event; its reply is the ack.
                    while let Ok(reply) = control.call(json!({"request": "checkpoint"})) {
                        let Some(seq) = reply["body"]["seq"].as_u64() else {
                            break;
                        };
                        let hash = reply["body"]["head_hash"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        acked.lock().unwrap().insert(seq, hash);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(30..300)));
        daemon.kill();
        let acks: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
        eprintln!("round {round}: {acks} acknowledged appends before SIGKILL");
    }

    let daemon = home.start_daemon(&[]);
    let verify = home.ctl(&["log", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    let export = home.ctl(&["log", "export"]);
    let stored: BTreeMap<u64, String> = stdout(&export)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["seq"].as_u64().unwrap(),
                v["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > ROUNDS,
        "too few acknowledged appends to mean anything: {}",
        acked.len()
    );
    for (seq, hash) in acked.iter() {
        assert_eq!(
            stored.get(seq),
            Some(hash),
            "acknowledged event {seq} lost or changed"
        );
    }
    let daemon_starts = stdout(&export).matches("\"DaemonStarted\"").count();
    assert_eq!(daemon_starts, ROUNDS + 1);
    eprintln!(
        "{} acknowledged appends over {ROUNDS} kills, {} events stored",
        acked.len(),
        stored.len()
    );
    daemon.stop();
}
