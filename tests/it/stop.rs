//! SIGTERM and SIGINT end every command promptly: a Flow capture and an Airbyte read stop with
//! their output ending after the last checkpoint (exit 143 / 130), and the next run resumes from
//! it without losing a record; a `check` waiting on a server that never answers, and a Flow
//! connector waiting for its first request, stop at once. The image test (.ci/image) repeats the
//! capture case with `docker stop`, where the connector is PID 1.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{every_ad_id, fold, open_request, sim_config, temp_json, BINARY};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, Faults, SimConfig};

/// A capture slow enough to be stopped in the middle: 20,000 ads of 4 accounts, 100 a page,
/// each answer 20 ms late.
fn slow_simulator() -> SimConfig {
    SimConfig {
        data: DataShape {
            advertisers: 4,
            campaigns_per_advertiser: 5,
            adgroups_per_campaign: 10,
            ads_per_adgroup: 100,
            ..DataShape::default()
        },
        faults: Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
        ..SimConfig::default()
    }
}

/// The binary, started with these arguments and this stdin (kept open, as Flow keeps it), its
/// stdout lines arriving on a channel as they are written.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn start(args: &[&str], stdin: &str) -> Running {
    let mut child = Command::new(BINARY)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    // Held open in a thread that ends with the process: Flow does not close stdin.
    std::thread::spawn(move || {
        let _keep = input;
        std::thread::sleep(Duration::from_secs(120));
    });
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if tx.send(String::from_utf8(line).unwrap()).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    Running {
        child,
        lines,
        stderr,
    }
}

impl Running {
    /// Reads stdout lines until one satisfies `until` (returned with every line before it).
    fn read_until(&self, until: impl Fn(&Value) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the awaited line never came");
            let done = until(&serde_json::from_str(&line).unwrap());
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    /// Sends the signal and waits for the exit: its status, how long it took, and every stdout
    /// line not read yet, and stderr.
    fn stop(mut self, signal: &str) -> (Option<i32>, Duration, Vec<String>, String) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal} failed");
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            if sent.elapsed() > Duration::from_secs(10) {
                self.child.kill().unwrap();
                panic!("the connector did not stop within 10 s of {signal}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = sent.elapsed();
        let rest: Vec<String> = self.lines.iter().collect();
        (exit.code(), took, rest, self.stderr.join().unwrap())
    }
}

fn is_flow_checkpoint(line: &Value) -> bool {
    line.get("checkpoint").is_some()
}

/// Folds a Flow session's lines: the ads that a checkpoint covers, and the state.
fn committed_ads(lines: &[String], state: &mut Value) -> Vec<u64> {
    let (mut committed, mut pending) = (Vec::new(), Vec::new());
    for line in lines {
        let line: Value = serde_json::from_str(line).unwrap();
        if let Some(doc) = line.get("captured") {
            if doc["binding"] == 0 {
                pending.push(doc["doc"]["ad_id"].as_u64().unwrap());
            }
        } else if let Some(checkpoint) = line.get("checkpoint") {
            fold(state, &checkpoint["state"]["updated"]);
            committed.append(&mut pending);
        }
    }
    committed
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_flow_capture_after_its_last_checkpoint_and_it_resumes() {
    let sim = simulator::spawn(slow_simulator()).await.unwrap();
    let expected: BTreeSet<u64> = every_ad_id(&sim);
    let config = sim_config(&sim.base_url(), "2024-01-01", json!({}));
    let (stopped, resumed) = tokio::task::spawn_blocking(move || {
        let request = open_request(&config, &["ads", "campaigns"], &json!({}));
        let running = start(&[], &format!("{request}\n"));
        let mut lines = running.read_until(is_flow_checkpoint);
        let (code, took, rest, stderr) = running.stop("TERM");
        lines.extend(rest);
        assert_eq!(
            code,
            Some(143),
            "exit status after SIGTERM; stderr:\n{stderr}"
        );
        assert!(took < Duration::from_secs(2), "stopping took {took:?}");
        assert!(
            stderr.contains("Stopped by SIGTERM"),
            "the last log line says why it stopped:\n{stderr}"
        );
        // Logged once the writer has ended the output: nothing kept it waiting (the engine's
        // tasks let go of the output channel when the run was dropped).
        assert!(
            stderr.contains("Capture stopped; its output ends after the last checkpoint."),
            "the writer ended the output:\n{stderr}"
        );
        let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert!(
            is_flow_checkpoint(&last),
            "the output ends with a checkpoint: {last}"
        );
        let mut state = json!({});
        let stopped = committed_ads(&lines, &mut state);
        assert!(
            stopped.len() < expected_len(),
            "the capture was stopped before it finished ({} ads)",
            stopped.len()
        );
        // The next run starts from the folded checkpoints and finishes.
        let request = open_request(&config, &["ads", "campaigns"], &state);
        let output = crate::common::run(&[], &format!("{request}\n"), &[]);
        assert_eq!(output.code, 0, "{}", output.stderr);
        let lines: Vec<String> = output.stdout.iter().map(Value::to_string).collect();
        let resumed = committed_ads(&lines, &mut state);
        (stopped, resumed)
    })
    .await
    .unwrap();
    let union: BTreeSet<u64> = stopped.iter().chain(&resumed).copied().collect();
    assert_eq!(union, expected, "stopped + resumed sessions hold every ad");
}

/// How many ads [`slow_simulator`] serves.
fn expected_len() -> usize {
    let sim = slow_simulator();
    sim.data.advertisers
        * sim.data.campaigns_per_advertiser
        * sim.data.adgroups_per_campaign
        * sim.data.ads_per_adgroup
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_stops_an_airbyte_read_after_a_state_message() {
    let sim = simulator::spawn(slow_simulator()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = temp_json(
        &dir,
        "config.json",
        &sim_config(&sim.base_url(), "2024-01-01", json!({})),
    );
    let catalog = temp_json(
        &dir,
        "catalog.json",
        &json!({"streams": [{"stream": {"name": "ads", "json_schema": {},
            "supported_sync_modes": ["incremental"]}, "sync_mode": "incremental",
            "destination_sync_mode": "append"}]}),
    );
    tokio::task::spawn_blocking(move || {
        let running = start(&["read", "--config", &config, "--catalog", &catalog], "");
        let is_state = |line: &Value| line["type"] == "STATE";
        let mut lines = running.read_until(is_state);
        let (code, took, rest, stderr) = running.stop("INT");
        lines.extend(rest);
        assert_eq!(
            code,
            Some(130),
            "exit status after SIGINT; stderr:\n{stderr}"
        );
        assert!(took < Duration::from_secs(2), "stopping took {took:?}");
        assert!(
            stderr.contains("Capture stopped; its output ends after the last checkpoint."),
            "the writer ended the output:\n{stderr}"
        );
        let messages: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // Records the writer was handed after the last STATE are written too (their state
        // is not, so the next run reads them again): at least once, never lost.
        assert!(
            messages.iter().any(|m| m["type"] == "STATE"),
            "the state read so far is written"
        );
        assert!(
            !messages
                .iter()
                .any(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ERROR"),
            "a requested stop is not reported as an error"
        );
        let records = messages.iter().filter(|m| m["type"] == "RECORD").count();
        assert!(
            records < expected_len(),
            "stopped before the end ({records} records)"
        );
    })
    .await
    .unwrap();
}

#[test]
fn sigterm_stops_a_check_waiting_on_a_silent_server() {
    // Accepts connections and never answers: the check would wait for its timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = temp_json(
        &dir,
        "config.json",
        &sim_config(&format!("http://{address}"), "2024-01-01", json!({})),
    );
    let running = start(&["check", "--config", &config], "");
    std::thread::sleep(Duration::from_millis(500));
    let (code, took, stdout, stderr) = running.stop("TERM");
    assert_eq!(code, Some(143), "stderr:\n{stderr}");
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    // No CONNECTION_STATUS (the check did not finish), only the reason as an Airbyte LOG.
    let messages: Vec<Value> = stdout
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        messages.iter().all(|m| m["type"] == "LOG"),
        "only LOG messages: {stdout:?}"
    );
    assert!(
        messages.iter().any(|m| m["log"]["message"]
            .as_str()
            .unwrap()
            .contains("Stopped by SIGTERM")),
        "{stdout:?}"
    );
}

#[test]
fn sigterm_stops_a_flow_connector_waiting_for_a_request() {
    let running = start(&[], "");
    std::thread::sleep(Duration::from_millis(300));
    let (code, took, stdout, stderr) = running.stop("TERM");
    assert_eq!(code, Some(143), "stderr:\n{stderr}");
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    assert!(stdout.is_empty(), "nothing written: {stdout:?}");
}
