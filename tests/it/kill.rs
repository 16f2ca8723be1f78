//! A capture killed (SIGKILL) at random points and restarted from its last committed state
//! loses nothing: 50,000 ads from the simulated API, the union of what every session committed
//! (documents a checkpoint covers) holds every ad of the model; and a soak over every enabled
//! core resource, killed at least 20 times, holds every key of a fault-free capture.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{every_ad_id, fold, open_request, sim_config, BINARY};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, SimConfig};

/// Runs one session, killing it after `kill_after` (if it has not ended by then). Returns the
/// committed ad ids, the folded state, and whether it was killed before finishing.
fn session(config: &Value, state: &Value, kill_after: Option<Duration>) -> (Vec<u64>, Value, bool) {
    let (docs, state, killed) = session_of(config, &["ads"], state, kill_after);
    let ads = docs
        .into_iter()
        .map(|(_, d)| d["ad_id"].as_u64().unwrap())
        .collect();
    (ads, state, killed)
}

/// One session over these streams; the committed documents with their binding index.
fn session_of(
    config: &Value,
    streams: &[&str],
    state: &Value,
    kill_after: Option<Duration>,
) -> (Vec<(usize, Value)>, Value, bool) {
    let request = open_request(config, streams, state);
    let mut child = Command::new(BINARY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{request}\n").as_bytes())
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill has no newline: it was never delivered.
                Ok(_) if line.last() == Some(&b'\n') => lines.push(line),
                Ok(_) => break,
            }
        }
        lines
    });
    let started = Instant::now();
    let mut killed = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if kill_after.is_some_and(|k| started.elapsed() >= k) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let lines = reader.join().unwrap();
    let mut state = state.clone();
    let (mut committed, mut pending) = (Vec::new(), Vec::new());
    for line in lines {
        let message: Value = serde_json::from_slice(&line).unwrap();
        if let Some(c) = message.get("captured") {
            pending.push((c["binding"].as_u64().unwrap() as usize, c["doc"].clone()));
        } else if let Some(c) = message.get("checkpoint") {
            fold(&mut state, &c["state"]["updated"]);
            committed.append(&mut pending);
        }
    }
    (committed, state, killed)
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_captures_resume_without_losing_an_ad() {
    let sim = simulator::spawn(SimConfig {
        data: DataShape {
            advertisers: 5,
            campaigns_per_advertiser: 10,
            adgroups_per_campaign: 10,
            ads_per_adgroup: 100,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let expected: BTreeSet<u64> = every_ad_id(&sim);
    assert!(expected.len() >= 50_000, "{}", expected.len());
    let config = sim_config(
        &sim.base_url(),
        "2024-01-01",
        json!({"advanced": {"requests_per_second": 20}}),
    );
    let seed: u64 = rand::rng().random();
    let result = tokio::task::spawn_blocking(move || {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut state = json!({});
        let mut union = BTreeSet::new();
        let mut kills = 0;
        for _ in 0..12 {
            let after = Duration::from_millis(rng.random_range(100..2500));
            let (committed, next, killed) = session(&config, &state, Some(after));
            union.extend(committed);
            state = next;
            kills += usize::from(killed);
        }
        let (committed, _, killed) = session(&config, &state, None);
        assert!(!killed);
        union.extend(committed);
        (union, kills)
    })
    .await
    .unwrap();
    let (union, kills) = result;
    assert!(
        kills >= 6,
        "only {kills} sessions were killed mid-capture (seed {seed})"
    );
    let missing: Vec<&u64> = expected.difference(&union).take(5).collect();
    assert!(
        missing.is_empty(),
        "lost ads {missing:?} (seed {seed}, {kills} kills)"
    );
}

/// The key of a document, from the stream's key pointers.
fn key(doc: &Value, pointers: &[String]) -> String {
    pointers
        .iter()
        .map(|p| doc.pointer(p).map(Value::to_string).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|")
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_every_core_resource_killed_twenty_times_loses_no_key() {
    let sim = simulator::spawn(SimConfig {
        data: DataShape {
            advertisers: 3,
            campaigns_per_advertiser: 3,
            adgroups_per_campaign: 3,
            ads_per_adgroup: 8,
            days: 20,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let start = sim
        .model()
        .first_day()
        .checked_add_days(chrono::Days::new(15))
        .unwrap();
    let config = sim_config(
        &sim.base_url(),
        &start.to_string(),
        json!({"advanced": {"requests_per_second": 40}}),
    );
    let parsed = source_tiktok_marketing::config::parse(&config).unwrap();
    let streams: Vec<source_tiktok_marketing::registry::Stream> =
        source_tiktok_marketing::registry::catalog(&parsed)
            .into_iter()
            .filter(|s| !s.disabled_by_default)
            .take(25)
            .filter(|s| source_tiktok_marketing::registry::find(&s.name).is_some_and(|d| d.core))
            .collect();
    assert_eq!(streams.len(), 21, "every enabled core resource");
    let names: Vec<String> = streams.iter().map(|s| s.name.clone()).collect();
    let pointers: Vec<Vec<String>> = streams.iter().map(|s| s.key_pointers()).collect();
    let seed: u64 = rand::rng().random();
    let (clean, union, kills) = tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let keys_of = |docs: Vec<(usize, Value)>, into: &mut BTreeSet<(usize, String)>| {
            for (b, d) in docs {
                into.insert((b, key(&d, &pointers[b])));
            }
        };
        let mut clean = BTreeSet::new();
        let (docs, _, _) = session_of(&config, &names, &json!({}), None);
        keys_of(docs, &mut clean);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut union = BTreeSet::new();
        let mut state = json!({});
        let mut kills = 0;
        // Bounded: a run that always finished before its kill would end here, not hang.
        for _ in 0..100 {
            if kills >= 20 {
                break;
            }
            let after = Duration::from_millis(rng.random_range(50..1200));
            let (docs, next, killed) = session_of(&config, &names, &state, Some(after));
            keys_of(docs, &mut union);
            state = next;
            kills += usize::from(killed);
        }
        let (docs, _, killed) = session_of(&config, &names, &state, None);
        assert!(!killed);
        keys_of(docs, &mut union);
        (clean, union, kills)
    })
    .await
    .unwrap();
    assert!(clean.len() > 1000, "{}", clean.len());
    assert!(
        kills >= 20,
        "only {kills} sessions were killed mid-capture (seed {seed})"
    );
    let lost: Vec<&(usize, String)> = clean.difference(&union).take(5).collect();
    assert!(
        lost.is_empty(),
        "lost {lost:?} after {kills} kills (seed {seed})"
    );
}
