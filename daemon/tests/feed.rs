//! The morning feed over a fixed log: `tests/fixtures/night.jsonl` is the stored records (and
//! `night.checkpoint.json` the checkpoint) of a scripted night over the sandbox tenant: triage in
//! observe mode, the team working some of its tickets the next morning and the shadow-metrics
//! refresh that sees it, triage in enforce mode (changes executed, customer-visible notes queued
//! for a verdict), and pre-billing in observe mode.
//!
//! - Golden: every format's output for the fixture is byte-identical across renders and matches
//!   its reviewed snapshot (`tests/snapshots/`).
//! - The fixture stays what it says: the same scripted night, run now, has the same shape.
//!   `UPDATE_FIXTURES=1` writes a new fixture (then review the snapshots it changes).
//! - Anomalies: each one, made on purpose, heads every format.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::path::PathBuf;

use agent::model::ModelConfig;
use agent::scripted::{Script, ScriptedModel, ticket_of, turn};
use chrono::{DateTime, Utc};
use daemon::feed::{Feed, Filter, Format, fold, render, render_trust};
use daemon::log::Draft;
use daemon::log::chain::{self, Start, Verifier};
use schemas::config::{Config, SkillConfig};
use schemas::control::VerifyReport;
use schemas::event::{
    Checkpoint, Envelope, Event, Mode, Principal, RunOutcome, RunTrigger, TokenUsage,
    VerdictRejection,
};
use schemas::tool::ToolOutcome;
use serde_json::{Value, json};

mod support;

const TRIAGE: &str = "msp-night-triage";
const PREBILLING: &str = "msp-weekly-prebilling";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The scripted dispatcher: priority 2 and an internal note for each ticket (a customer-visible
/// note for every third one); "billable" for the first time entry a pre-billing item names.
fn respond(req: &Value) -> Script {
    if turn(req) > 0 {
        return Script::Text("Done.".into());
    }
    if let Some(id) = ticket_of(req) {
        return Script::Calls(vec![
            (
                "tickets_update".into(),
                json!({"id": id, "priority_id": 2}).to_string(),
            ),
            (
                "tickets_add_note".into(),
                json!({"id": id, "text": "Checked the device's last patch run; next step: reboot window tonight.",
                       "internal": id % 3 != 0, "discussion": id % 3 == 0})
                .to_string(),
            ),
        ]);
    }
    let user = req["messages"][1]["content"].as_str().unwrap_or_default();
    let entry = user.split("\"entry_ids\": [").skip(1).find_map(|after| {
        after
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse::<i64>()
            .ok()
    });
    match entry {
        Some(entry) => Script::Calls(vec![(
            "time_update".into(),
            json!({"id": entry, "billable": "Billable"}).to_string(),
        )]),
        None => Script::Text("Within its limits; nothing to change.".into()),
    }
}

fn executed(out: &ToolOutcome) {
    assert!(matches!(out, ToolOutcome::Executed { .. }), "{out:?}");
}

/// Runs the scripted night over a fresh sandbox and returns its stored records and checkpoint.
async fn scripted_night() -> (Vec<Vec<u8>>, Checkpoint) {
    let w = support::world().await;
    let model = ScriptedModel::start(Box::new(respond)).await;
    let mut config = Config::default();
    config.agent.max_items = 4;
    let mode = |m| SkillConfig {
        mode: Some(m),
        ..SkillConfig::default()
    };
    config.skills.insert(TRIAGE.into(), mode(Mode::Observe));
    config.skills.insert(PREBILLING.into(), mode(Mode::Observe));
    let model_config = ModelConfig {
        url: model.url().to_owned(),
        model: "scripted".into(),
        ..ModelConfig::default()
    };
    let night = support::night(&w.gate, config.clone(), Some(model_config.clone()));

    w.plant_billing_slip().await;

    night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    // The morning: the team triages three of the tickets, two as the agent proposed.
    let tickets: Vec<i64> = w
        .store
        .range(0, w.store.len())
        .filter_map(|e| match e.unwrap().event {
            Event::ItemStarted { item_id, .. } => item_id.strip_prefix("ticket:")?.parse().ok(),
            _ => None,
        })
        .collect();
    for (id, priority) in tickets.iter().zip([2, 2, 4]) {
        executed(
            &w.call(
                "cw_tickets",
                "update",
                json!({"id": id, "priority_id": priority}),
                true,
            )
            .await,
        );
    }
    night
        .run(PREBILLING, RunTrigger::Manual, None)
        .await
        .unwrap();
    // The next night, in enforce mode (the refresh before the run sees the morning's work).
    config.skills.insert(TRIAGE.into(), mode(Mode::Enforce));
    let night = support::night(&w.gate, config, Some(model_config));
    night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    let checkpoint = w.store.checkpoint().await.unwrap();

    let records = w
        .store
        .range(0, w.store.len())
        .map(|e| chain::encode(&e.unwrap()).unwrap())
        .collect();
    (records, checkpoint)
}

fn read_fixture() -> (Vec<Vec<u8>>, Checkpoint) {
    let dir = fixture_dir();
    let records = std::fs::read_to_string(dir.join("night.jsonl"))
        .unwrap()
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let checkpoint =
        serde_json::from_slice(&std::fs::read(dir.join("night.checkpoint.json")).unwrap()).unwrap();
    (records, checkpoint)
}

/// Verifies stored records as the daemon does and decodes them.
fn open(records: &[Vec<u8>], checkpoint: Option<Checkpoint>) -> (Vec<Envelope>, VerifyReport) {
    let mut verifier = Verifier::new(&Start::Genesis, checkpoint);
    let mut events = Vec::new();
    for (seq, bytes) in records.iter().enumerate() {
        verifier.feed(seq as u64, bytes);
        if let Ok(e) = chain::decode(bytes) {
            events.push(e);
        }
    }
    (events, verifier.finish())
}

/// What a night did, without its ids and times: the comparison that keeps the fixture honest.
fn shape(records: &[Vec<u8>]) -> Vec<String> {
    records
        .iter()
        .map(|b| {
            let e = chain::decode(b).unwrap();
            let principal = match &e.principal {
                Principal::System => "system".to_owned(),
                Principal::Interactive { name } => format!("interactive:{name}"),
                Principal::Skill { skill, .. } => format!("skill:{skill}"),
                Principal::Operator { .. } => "operator".to_owned(),
            };
            let what = match &e.event {
                Event::ActionProposed {
                    tool,
                    action,
                    disposition,
                    ..
                } => format!(" {tool}.{action} {disposition:?}"),
                Event::ActionRead { tool, action, .. } => format!(" {tool}.{action}"),
                Event::HumanOutcomeObserved { field, agrees, .. } => format!(" {field} {agrees}"),
                _ => String::new(),
            };
            format!("{} {principal}{what}", e.event.event_type())
        })
        .collect()
}

#[tokio::test]
async fn the_fixture_is_the_scripted_night_over_the_sandbox() {
    let (records, checkpoint) = scripted_night().await;
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        let dir = fixture_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mut lines = Vec::new();
        for r in &records {
            lines.extend_from_slice(r);
            lines.push(b'\n');
        }
        std::fs::write(dir.join("night.jsonl"), lines).unwrap();
        std::fs::write(
            dir.join("night.checkpoint.json"),
            serde_json::to_vec_pretty(&checkpoint).unwrap(),
        )
        .unwrap();
    }
    let (fixed, _) = read_fixture();
    assert_eq!(
        shape(&fixed),
        shape(&records),
        "the scripted night changed: UPDATE_FIXTURES=1 rewrites the fixture; review the snapshots"
    );
}

const FORMATS: [(&str, Format); 5] = [
    (
        "text",
        Format::Text {
            colour: false,
            width: 0,
        },
    ),
    (
        "text-tty",
        Format::Text {
            colour: true,
            width: 100,
        },
    ),
    ("md", Format::Markdown),
    ("html", Format::Html),
    ("json", Format::Json),
];

fn fixture_feed() -> Feed {
    let (records, checkpoint) = read_fixture();
    let (events, report) = open(&records, Some(checkpoint));
    assert!(report.problem.is_none(), "{:?}", report.problem);
    fold(&events, Some(&report), &Filter::default())
}

#[test]
fn every_format_of_the_fixed_night_is_byte_identical_and_matches_its_snapshot() {
    let feed = fixture_feed();
    assert!(feed.anomalies.is_empty(), "{:?}", feed.anomalies);
    assert_eq!(feed.runs.len(), 3);
    assert!(!feed.pending.is_empty(), "customer-visible notes wait");
    let triage = feed.trust.iter().find(|t| t.skill == TRIAGE).unwrap();
    assert_eq!((triage.observations, triage.agreed), (3, 2));
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, format) in FORMATS {
            let once = render(&fixture_feed(), format);
            let again = render(&fixture_feed(), format);
            assert_eq!(once, again, "{name}");
            insta::assert_snapshot!(format!("night-{name}"), once);
        }
        let trust = render_trust(
            &feed,
            Format::Text {
                colour: false,
                width: 0,
            },
            Some(TRIAGE),
        );
        insta::assert_snapshot!("night-trust-triage", trust);
    });
}

/// Seals `extra` events after the fixture's, as the log would have.
fn extend(records: &[Vec<u8>], extra: Vec<(Principal, Option<&str>, Event)>) -> Vec<Vec<u8>> {
    let mut out = records.to_vec();
    let last = chain::decode(records.last().unwrap()).unwrap();
    let (mut prev, mut ts): (String, DateTime<Utc>) = (last.hash, last.ts);
    for (principal, run, event) in extra {
        ts += chrono::Duration::seconds(1);
        let mut draft = Draft::new(principal, event);
        if let Some(r) = run {
            draft = draft.with_run(r);
        }
        let e = chain::seal(draft, out.len() as u64, &prev, ts).unwrap();
        prev.clone_from(&e.hash);
        out.push(chain::encode(&e).unwrap());
    }
    out
}

fn skill(run: &str) -> Principal {
    Principal::Skill {
        skill: TRIAGE.into(),
        run_id: run.into(),
    }
}

fn started(run: &str) -> Event {
    Event::RunStarted {
        run_id: run.into(),
        skill: TRIAGE.into(),
        mode: Mode::Observe,
        model: "m".into(),
        budgets: Default::default(),
        trigger: RunTrigger::Manual,
        scheduled_for: None,
        resumes: None,
    }
}

/// An anomaly made on purpose: its kind, the stored records, the checkpoint the verifier knows.
type Anomalous = (&'static str, Vec<Vec<u8>>, Option<Checkpoint>);

fn anomalous_logs() -> Vec<Anomalous> {
    let (records, checkpoint) = read_fixture();
    let mut tampered = records.clone();
    let victim = tampered.len() / 2;
    let text = String::from_utf8(tampered[victim].clone()).unwrap();
    tampered[victim] = text.replacen("\"ts\":\"2", "\"ts\":\"1", 1).into_bytes();
    let truncated = records[..records.len() - 3].to_vec();
    let first_checkpoint = records
        .iter()
        .position(|r| chain::decode(r).unwrap().event.event_type() == "Checkpointed")
        .unwrap();
    let no_checkpoint = records[..first_checkpoint].to_vec();
    let unknown = extend(
        &records,
        vec![(
            Principal::System,
            None,
            Event::ActionOutcomeUnknown {
                call_id: "c-lost".into(),
                proposal_id: None,
                executing_seq: 3,
                reason: "the daemon stopped after the request was sent".into(),
            },
        )],
    );
    let unfinished = extend(
        &records,
        vec![(skill("r-cut"), Some("r-cut"), started("r-cut"))],
    );
    let unchecked = extend(
        &records,
        vec![
            (skill("r-2"), Some("r-2"), started("r-2")),
            (
                skill("r-2"),
                Some("r-2"),
                Event::RunFinished {
                    run_id: "r-2".into(),
                    skill: TRIAGE.into(),
                    outcome: RunOutcome::Completed,
                    reason: None,
                    items_done: 0,
                    items_skipped: 0,
                    items_failed: 0,
                    tokens: TokenUsage::default(),
                    duration_ms: 5,
                },
            ),
        ],
    );
    let replayed = extend(
        &records,
        vec![(
            Principal::System,
            None,
            Event::VerdictRejected {
                proposal_id: Some("p-1".into()),
                key_id: Some("k-1".into()),
                nonce: Some("n-1".into()),
                reason: VerdictRejection::Replayed,
                detail: "this nonce was used before".into(),
            },
        )],
    );
    let cp = Some(checkpoint);
    vec![
        ("chain_break", tampered, cp.clone()),
        ("chain_break", truncated, cp.clone()),
        ("no_checkpoint", no_checkpoint, None),
        ("outcome_unknown", unknown, cp.clone()),
        ("run_unfinished", unfinished, cp.clone()),
        ("run_without_checkpoint", unchecked, cp.clone()),
        ("verdict_refused", replayed, cp),
    ]
}

#[test]
fn each_anomaly_made_on_purpose_heads_every_format() {
    for (kind, records, checkpoint) in anomalous_logs() {
        let (events, report) = open(&records, checkpoint);
        let feed = fold(&events, Some(&report), &Filter::default());
        assert!(
            feed.anomalies.iter().any(|a| a.kind == kind),
            "{kind}: {:?}",
            feed.anomalies
        );
        for (name, format) in FORMATS {
            let out = render(&feed, format);
            let at = out.find(kind).unwrap_or_else(|| panic!("{kind} in {name}"));
            let first_of = |marks: &[&str]| {
                marks
                    .iter()
                    .filter_map(|m| out.find(m))
                    .min()
                    .unwrap_or(usize::MAX)
            };
            let body = match name {
                "md" => first_of(&["## Waiting", "## Trust", "## msp-"]),
                "html" => first_of(&["id=\"pending\"", "id=\"trust\"", "id=\"timeline\""]),
                "json" => first_of(&["\"pending\""]),
                _ => first_of(&["WAITING FOR A HUMAN", "TRUST (", "RUN msp-"]),
            };
            assert!(at < body, "{kind} is not at the top of {name}:\n{out}");
        }
        let text = render(&feed, FORMATS[0].1);
        assert!(
            text.lines().nth(2).unwrap().starts_with("ANOMALIES ("),
            "{kind}: {text}"
        );
    }
}

/// Debian's Chromium (`.ci/run` installs it), or `NIGHTJAR_TEST_CHROMIUM`.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NIGHTJAR_TEST_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from("/usr/bin/chromium");
    default.exists().then_some(default)
}

/// Opens `page` headless: (the DOM after load, console messages, the screenshot's PNG bytes).
fn open_in_chromium(browser: &std::path::Path, page: &str) -> (String, Vec<String>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.html");
    std::fs::write(&file, page).unwrap();
    let url = format!("file://{}", file.display());
    let run = |extra: &[String]| {
        let out = std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1100,1400",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{browser:?}: {out:?}");
        out
    };
    let dom = run(&["--dump-dom".to_owned()]);
    let shot = dir.path().join("feed.png");
    let shot_run = run(&[format!("--screenshot={}", shot.display())]);
    let console = [dom.stderr, shot_run.stderr]
        .iter()
        .flat_map(|e| {
            String::from_utf8_lossy(e)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains(":CONSOLE"))
        .collect();
    (
        String::from_utf8(dom.stdout).unwrap(),
        console,
        std::fs::read(shot).unwrap(),
    )
}

/// (width, height, share of pixels that are not background white, distinct colours).
fn picture(png_bytes: &[u8]) -> (u32, u32, f64, usize) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::BTreeSet::new();
    let mut inked = 0usize;
    for px in pixels.chunks(channels) {
        let rgb = [px[0], px[1 % channels], px[2 % channels]];
        colours.insert(rgb);
        if rgb.iter().any(|c| *c < 240) {
            inked += 1;
        }
    }
    let total = (info.width * info.height) as f64;
    (info.width, info.height, inked as f64 / total, colours.len())
}

#[test]
fn the_html_feed_renders_in_headless_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs Debian's chromium (.ci/run); it is missing"
        );
        println!("skipped: no chromium (apt-get install chromium, or set NIGHTJAR_TEST_CHROMIUM)");
        return;
    };
    // The console check can fail: a planted error is seen.
    let (_, planted, _) = open_in_chromium(
        &browser,
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('planted');</script></body></html>",
    );
    assert!(planted.iter().any(|l| l.contains("planted")), "{planted:?}");

    let feed = fixture_feed();
    let (dom, console, shot) = open_in_chromium(&browser, &render(&feed, Format::Html));
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(
        dom.contains("id=\"timeline\""),
        "the timeline is in the DOM"
    );
    assert!(
        dom.contains("id=\"pending\""),
        "pending approvals are in the DOM"
    );
    let first_proposal = &feed.runs[0].proposals[0].proposal_id;
    assert!(
        dom.contains(&format!("data-proposal=\"{first_proposal}\"")),
        "a proposal is in the DOM"
    );
    assert!(
        dom.find("id=\"pending\"").unwrap() < dom.find("id=\"timeline\"").unwrap(),
        "pending approvals come first"
    );
    let (width, height, inked, colours) = picture(&shot);
    println!(
        "screenshot {width}x{height}: {:.1}% inked, {colours} colours",
        inked * 100.0
    );
    assert_eq!((width, height), (1100, 1400));
    assert!(inked > 0.03, "the screenshot is nearly blank ({inked})");
    assert!(colours > 16, "the screenshot has {colours} colours");
}

#[tokio::test]
async fn a_windowed_load_from_the_state_directory_folds_to_the_same_feed() {
    use daemon::feed::{Window, fold_window, load};
    use daemon::log::{Options, Reader, Store};
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, cp) = (dir.path().join("log"), dir.path().join("cp.json"));
    let (store, _) = Store::open(&log_dir, &cp, Options::default()).unwrap();
    let (records, _) = read_fixture();
    let fixture: Vec<Envelope> = records.iter().map(|r| chain::decode(r).unwrap()).collect();
    // The fixture's night with a checkpoint (and its projection snapshot) half way, then a pause:
    // windows start before the snapshot, after it, and at a run the snapshot does not know yet.
    let half = fixture.len() / 2;
    for (i, e) in fixture.iter().enumerate() {
        if i == half {
            store.checkpoint().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
        store
            .append(Draft {
                principal: e.principal.clone(),
                run_id: e.run_id.clone(),
                event: e.event.clone(),
            })
            .await
            .unwrap();
    }
    store.close().await;
    drop(store);
    let reader = Reader::open(&log_dir, &cp, 16 << 20).unwrap();
    let all: Vec<Envelope> = reader.range(0, u64::MAX).collect::<Result<_, _>>().unwrap();
    let snapshot = reader.snapshot().expect("the half-way snapshot is used");
    assert_eq!(snapshot.seq, half as u64);
    let runs: Vec<(String, u64)> = all
        .iter()
        .filter_map(|e| match &e.event {
            Event::RunStarted { run_id, .. } => Some((run_id.clone(), e.seq)),
            _ => None,
        })
        .collect();
    assert!(runs.iter().any(|(_, seq)| *seq < snapshot.seq));
    assert!(runs.iter().any(|(_, seq)| *seq > snapshot.seq));
    let mut windows = vec![
        Window::default(),
        Window {
            all: true,
            ..Window::default()
        },
        Window {
            since: Some(all[half + 1].ts),
            ..Window::default()
        },
        Window {
            since: Some(all[1].ts),
            ..Window::default()
        },
    ];
    windows.extend(runs.iter().map(|(run, _)| Window {
        run: Some(run.clone()),
        ..Window::default()
    }));
    for with_snapshot in [true, false] {
        if !with_snapshot {
            std::fs::remove_file(reader.snapshot_path()).unwrap();
            assert!(reader.snapshot().is_none());
        }
        for window in &windows {
            let (loaded, basis) = load(&reader, window).unwrap();
            assert!(basis.report.problem.is_none());
            let filter = Filter {
                since: basis.since,
                run: basis.run.clone(),
            };
            if window.since.is_some_and(|t| t > all[half].ts)
                || (with_snapshot && window.run.as_ref().is_some_and(|r| r != &runs[0].0))
            {
                assert!(loaded.len() < all.len(), "only part of the log decoded");
            }
            let windowed = fold_window(&loaded, &basis);
            let full = fold(&all, Some(&basis.report), &filter);
            assert_eq!(windowed, full, "{window:?}, snapshot {with_snapshot}");
            assert!(!windowed.trust.is_empty());
            assert!(windowed.trust.iter().any(|t| t.observations > 0));
        }
    }
    // The default window is the 24 hours up to the newest event: here, the whole log.
    let (loaded, basis) = load(&reader, &Window::default()).unwrap();
    assert_eq!(loaded.len(), all.len());
    assert_eq!(
        basis.since,
        Some(all.last().unwrap().ts - chrono::Duration::hours(24))
    );
}
