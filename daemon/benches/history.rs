//! History index benchmark (not a test): build time and on-disk size for 10,000 and 100,000
//! closed tickets, the time to open a saved index, and `similar` latency (p50 / p99 of 1,000
//! queries, k = 5).
//!
//! `cargo bench -p daemon --bench history` (release). The tickets are synthetic, from issue
//! families like the sandbox's (several wordings each, device, company and contact names, a
//! little noise), with a planted email and phone in one description in fifty so the redactor
//! does real work.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use daemon::history::{Doc, FILE_NAME, HistoryIndex, Label};
use daemon::redact::Redactor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (summaries, description, resolution, board, priority)
const FAMILIES: &[(&[&str], &str, &str, &str, &str)] = &[
    (
        &[
            "Printer offline on the {n} floor",
            "Can't print - printer shows offline",
        ],
        "The printer near {c}'s desk shows offline on every PC.",
        "Reserved the printer's address and re-added the port.",
        "Field Services",
        "Priority 3",
    ),
    (
        &[
            "Outlook keeps prompting for password",
            "Password pop-up in Outlook",
        ],
        "Outlook asks {c} for the password every few minutes.",
        "Cleared stale credentials and rebuilt the profile.",
        "Help Desk",
        "Priority 3",
    ),
    (
        &[
            "VPN drops every few minutes",
            "VPN keeps disconnecting for {c}",
        ],
        "Working from home, {c}'s VPN tunnel drops again and again.",
        "Raised the idle timeout and updated the client.",
        "Network & Security",
        "Priority 2",
    ),
    (
        &[
            "New starter laptop setup",
            "Onboarding: new employee next week",
        ],
        "A new person joins {co} on Monday and needs a laptop and accounts.",
        "Account, mailbox and laptop ready on day one.",
        "Projects & Procurement",
        "Priority 3",
    ),
    (
        &["Backup job failed on {m}", "Nightly backup error on {m}"],
        "RMM alert: last night's backup of {m} failed.",
        "Pruned old restore points and re-ran the job.",
        "Alerts",
        "Priority 2",
    ),
    (
        &["Low disk space on {m}", "C: drive almost full on {m}"],
        "RMM alert: free space on C: of {m} below 10%.",
        "Cleared temp files and old updates.",
        "Alerts",
        "Priority 4",
    ),
    (
        &[
            "Firewall firmware update",
            "Schedule firmware upgrade on the firewall",
        ],
        "The vendor released security firmware for {co}'s firewall.",
        "Upgraded in the maintenance window.",
        "Projects & Procurement",
        "Priority 4",
    ),
    (
        &[
            "Phishing email reported by {c}",
            "Suspicious email - nothing clicked",
        ],
        "{c} forwarded an email pretending to be a delivery notice.",
        "Purged the message and blocked the sender.",
        "Network & Security",
        "Priority 3",
    ),
    (
        &["Internet down at the {co} office", "Whole office offline"],
        "Nobody at {co} can reach anything online.",
        "ISP fault repaired; failover held meanwhile.",
        "Network & Security",
        "Priority 1",
    ),
    (
        &["Laptop won't power on", "{c}'s notebook is dead"],
        "No lights when the power button is pressed.",
        "Replaced the power adapter.",
        "Field Services",
        "Priority 3",
    ),
    (
        &["Mailbox full - cannot send", "Emails bouncing for {c}"],
        "{c} gets quota warnings and mail bounces.",
        "Enabled the archive and moved old mail.",
        "Help Desk",
        "Priority 2",
    ),
    (
        &["High CPU usage on {m}", "CPU at 100% on {m}"],
        "RMM alert: processor on {m} above 95% for 30 minutes.",
        "Restarted a stuck indexing service.",
        "Alerts",
        "Priority 3",
    ),
];
const NAMES: &[&str] = &[
    "Dana", "Priya", "Marco", "Lena", "Tom", "Aisha", "Jonas", "Mei",
];
const COMPANIES: &[&str] = &[
    "Acme",
    "Birchwood",
    "Cobalt",
    "Dunmore",
    "Evergreen",
    "Fairview",
];
const FLOORS: &[&str] = &["1st", "2nd", "3rd"];
const NOISE: &[&str] = &[
    "Thanks.",
    "Please help today.",
    "Started after the weekend.",
    "",
    "",
];

fn text(rng: &mut StdRng, template: &str) -> String {
    template
        .replace("{c}", NAMES[rng.random_range(0..NAMES.len())])
        .replace("{co}", COMPANIES[rng.random_range(0..COMPANIES.len())])
        .replace("{n}", FLOORS[rng.random_range(0..FLOORS.len())])
        .replace("{m}", &format!("WS-{:04}", rng.random_range(0..5000)))
}

fn label(id: i64, name: &str) -> Option<Label> {
    Some(Label {
        id,
        name: name.into(),
    })
}

fn ticket(rng: &mut StdRng, id: i64) -> Doc {
    let f = rng.random_range(0..FAMILIES.len());
    let (summaries, description, resolution, board, priority) = FAMILIES[f];
    let summary = summaries[rng.random_range(0..summaries.len())];
    let mut description = format!(
        "{} {}",
        text(rng, description),
        NOISE[rng.random_range(0..NOISE.len())]
    );
    if id % 50 == 0 {
        description.push_str(&format!(
            " Call me on +1 (415) 555-01{:02} or at user{id}@home-mail.example.",
            id % 100
        ));
    }
    let closed =
        Utc.with_ymd_and_hms(2025, 1, 1, 9, 0, 0).unwrap() + chrono::Duration::minutes(id * 7);
    Doc {
        id,
        closed,
        updated: closed,
        summary: text(rng, summary),
        description,
        resolution: resolution.into(),
        board: label(f as i64 % 5 + 1, board),
        kind: label(f as i64 + 1, "Type"),
        sub_type: label(f as i64 + 100, "Subtype"),
        item: None,
        priority: label(priority.len() as i64, priority),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let redactor = Arc::new(Redactor::new(Vec::<String>::new()));
    println!(
        "| tickets | build (redact, index, write) | file size | open (read, verify, index) | query p50 | query p99 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in [10_000i64, 100_000] {
        let mut rng = StdRng::seed_from_u64(10);
        let docs: Vec<Doc> = (1..=n).map(|id| ticket(&mut rng, id)).collect();
        let dir = tempfile::tempdir().unwrap();

        let start = Instant::now();
        let mut index = HistoryIndex::from_docs(docs, redactor.clone());
        index.save_to(dir.path()).unwrap();
        let build = start.elapsed();
        let size = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();

        let start = Instant::now();
        let (opened, _) = HistoryIndex::open(dir.path(), redactor.clone()).unwrap();
        let open = start.elapsed();
        assert_eq!(opened.len() as i64, n);

        let mut latencies = Vec::with_capacity(1000);
        for q in 0..1000 {
            let query = ticket(&mut rng, n + 1 + q);
            let text = format!("{} {}", query.summary, query.description);
            let start = Instant::now();
            let hits = opened.similar(&text, 5, Some(query.closed), None);
            latencies.push(start.elapsed());
            assert!(!hits.is_empty());
        }
        latencies.sort();
        println!(
            "| {n} | {:.2} s | {:.1} MB | {:.2} s | {:.2} ms | {:.2} ms |",
            build.as_secs_f64(),
            size as f64 / 1e6,
            open.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        );
    }
}
