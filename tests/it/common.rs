//! Helpers shared by the integration tests: run the real binary with stdin and arguments, and
//! split what it wrote into JSON lines.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_source-tiktok-marketing");

pub(crate) struct Output {
    pub code: i32,
    pub stdout: Vec<Value>,
    pub stdout_text: String,
    pub stderr: String,
}

impl Output {
    /// The data of every RECORD message, in the order written.
    pub(crate) fn record_data(&self) -> Vec<&Value> {
        self.stdout
            .iter()
            .filter(|m| m["type"] == "RECORD")
            .map(|m| &m["record"]["data"])
            .collect()
    }

    /// The message of the last stderr log line (what Flow shows as the task error).
    pub(crate) fn last_log_message(&self) -> String {
        let last = self
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str::<Value>(last)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| last.to_string())
    }
}

/// Runs the binary with these arguments and this stdin, and waits (bounded) for it to end.
pub(crate) fn run(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    {
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
    }
    let output = wait_bounded(child, std::time::Duration::from_secs(300));
    let stdout_text = String::from_utf8_lossy(&output.stdout).to_string();
    let stdout = stdout_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stdout_text,
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

fn wait_bounded(child: std::process::Child, limit: std::time::Duration) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("waiting for the binary"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("the binary did not finish within {limit:?}: it hangs");
        }
    }
}

/// Writes a JSON value to a temporary file and returns its path (kept alive by the dir).
pub(crate) fn temp_json(dir: &tempfile::TempDir, name: &str, value: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_string_lossy().to_string()
}

pub(crate) fn production_config() -> Value {
    serde_json::json!({"credentials": {"auth_type": "oauth2.0", "client_id": "app-canary-1",
        "client_secret": "secret-canary-2", "access_token": "token-canary-3"},
        "start_date": "2024-01-01"})
}

pub(crate) fn sandbox_config() -> Value {
    serde_json::json!({"credentials": {"auth_type": "sandbox_access_token",
        "advertiser_id": "7000000000000000001", "access_token": "token-canary-3"},
        "start_date": "2024-01-01"})
}

/// The id of every ad the simulated API serves (deleted ones included): what a full capture
/// of `ads` must hold.
pub(crate) fn every_ad_id(sim: &tiktok_sim::SimHandle) -> std::collections::BTreeSet<u64> {
    sim.model()
        .advertiser_ids()
        .into_iter()
        .flat_map(|a| sim.model().entities(tiktok_sim::EntityKind::Ad, a, true))
        .map(|e| e["ad_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// A config for the simulated API.
pub(crate) fn sim_config(base_url: &str, start: &str, extra: Value) -> Value {
    let mut config = serde_json::json!({
        "credentials": {"auth_type": "oauth2.0", "client_id": "sim-app",
                        "client_secret": "sim-secret", "access_token": "sim-token"},
        "start_date": start,
        "advanced": {"base_url": base_url, "requests_per_second": 100},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        if k == "advanced" {
            for (ak, av) in v.as_object().into_iter().flatten() {
                config["advanced"][ak] = av.clone();
            }
        } else {
            config[k] = v.clone();
        }
    }
    config
}

/// The Open request for these streams.
pub(crate) fn open_request(config: &Value, streams: &[&str], state: &Value) -> Value {
    let bindings: Vec<Value> = streams
        .iter()
        .map(|s| {
            serde_json::json!({"resourceConfig": {"stream": s, "syncMode": "incremental"},
                "resourcePath": [s], "stateKey": s,
                "collection": {"name": format!("acmeCo/{s}"), "key": ["/x"], "writeSchema": {}}})
        })
        .collect();
    serde_json::json!({"open": {"capture": {"name": "acmeCo/tiktok", "config": config,
        "intervalSeconds": 300, "bindings": bindings}, "version": "test",
        "range": {"keyEnd": 4294967295u32, "rClockEnd": 4294967295u32}, "state": state}})
}

/// What one Flow session committed: documents per binding (only those a checkpoint covers)
/// and the state folded from the checkpoints.
pub(crate) struct Session {
    pub docs: Vec<(usize, Value)>,
    pub state: Value,
    pub output: Output,
}

pub(crate) fn fold(state: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !state.is_object() {
                *state = serde_json::json!({});
            }
            let map = state.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    map.remove(k);
                } else {
                    fold(map.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *state = other.clone(),
    }
}

/// Runs one Flow capture session to its end.
pub(crate) fn flow_session(
    config: &Value,
    streams: &[&str],
    state: &Value,
    env: &[(&str, &str)],
) -> Session {
    let request = open_request(config, streams, state);
    let output = run(&[], &format!("{request}\n"), env);
    fold_session(output, state)
}

/// The documents a session committed (those followed by a checkpoint) and its folded state.
fn fold_session(output: Output, state: &Value) -> Session {
    let mut docs = Vec::new();
    let mut pending = Vec::new();
    let mut state = state.clone();
    for line in &output.stdout {
        if let Some(c) = line.get("captured") {
            pending.push((c["binding"].as_u64().unwrap() as usize, c["doc"].clone()));
        } else if let Some(c) = line.get("checkpoint") {
            let s = &c["state"];
            if s["mergePatch"] == Value::Bool(true) {
                fold(&mut state, &s["updated"]);
            } else {
                state = s["updated"].clone();
            }
            docs.append(&mut pending);
        }
    }
    Session {
        docs,
        state,
        output,
    }
}

/// A `Write` the test keeps a handle on, for captures run in-process.
#[derive(Clone, Default)]
pub(crate) struct SharedOut(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedOut {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

static LOGS: std::sync::OnceLock<SharedOut> = std::sync::OnceLock::new();

/// Installs (once per test binary) the logging `main.rs` installs, JSON lines through the
/// connector's secret scrubber, into a buffer, and returns everything logged so far by every
/// test of this binary.
pub(crate) fn logs() -> String {
    LOGS.get_or_init(|| {
        let buffer = SharedOut::default();
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(move || source_tiktok_marketing::scrub::ScrubbingWriter::new(sink.clone()))
            .try_init();
        buffer
    })
    .text()
}

/// Runs an Airbyte `read` in this process with these client knobs (the binary has no way to
/// set them). The output's `code` is 0 or 1 as the binary's would be, and its `stderr` holds
/// the final error, as the binary's last log line would; the logs of the run go to
/// [`logs`].
pub(crate) async fn read_in_process(
    config: &Value,
    catalog: &Value,
    state: Option<&Value>,
    options: impl Into<source_tiktok_marketing::protocol::RunOptions>,
) -> Output {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let c = temp_json(&dir, "config.json", config);
    let k = temp_json(&dir, "catalog.json", catalog);
    let s = state.map(|s| temp_json(&dir, "state.json", s));
    let out = SharedOut::default();
    let files = source_tiktok_marketing::protocol::airbyte::ReadArgs {
        config: c.into(),
        catalog: k.into(),
        state: s.map(Into::into),
    };
    let result =
        source_tiktok_marketing::protocol::airbyte::read_with(files, out.clone(), options.into())
            .await;
    in_process_output(out.text(), String::new(), result)
}

/// What an in-process run showed: its stdout lines parsed, `logs` then its error (scrubbed, as
/// the binary prints it) as stderr, and exit code 1 when it failed.
fn in_process_output(
    stdout_text: String,
    logs: String,
    result: source_tiktok_marketing::error::Result<()>,
) -> Output {
    let stdout = stdout_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let (code, error) = match result {
        Ok(()) => (0, String::new()),
        Err(err) => (
            1,
            source_tiktok_marketing::scrub::scrub(&err.to_string()).into_owned(),
        ),
    };
    Output {
        code,
        stdout,
        stdout_text,
        stderr: format!("{logs}{error}"),
    }
}

/// Client knobs for fault tests: every retry pause a few milliseconds.
pub(crate) fn quick_retries() -> source_tiktok_marketing::client::ClientOptions {
    source_tiktok_marketing::client::ClientOptions::default()
        .with_retry_delay(std::time::Duration::from_millis(5))
}

/// A Flow session run in-process with the run's options (a fixed clock, quick retries): the
/// same `open` request and folding as [`flow_session`], for what the binary cannot be told.
/// It runs on a thread of its own with a current-thread runtime, as the binary does, so its
/// logs are its own: `output.stderr` holds them (JSON lines) and the run's error, if any.
pub(crate) async fn flow_in_process(
    config: &Value,
    streams: &[&str],
    state: &Value,
    options: impl Into<source_tiktok_marketing::protocol::RunOptions>,
) -> Session {
    let request = open_request(config, streams, state);
    let options = options.into();
    let (output_text, stderr_text, result) = tokio::task::spawn_blocking(move || {
        let out = SharedOut::default();
        let log = SharedOut::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(move || source_tiktok_marketing::scrub::ScrubbingWriter::new(sink.clone()))
            .finish();
        let input = format!("{request}\n");
        let result = tracing::subscriber::with_default(subscriber, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(source_tiktok_marketing::protocol::flow::serve_with(
                    input.as_bytes(),
                    out.clone(),
                    options,
                ))
        });
        (out.text(), log.text(), result)
    })
    .await
    .expect("the session's thread");
    fold_session(in_process_output(output_text, stderr_text, result), state)
}

/// The simulated "today" of tests that seed their data from the date: `TIKTOK_TEST_TODAY`
/// (`YYYY-MM-DD`) when set, to run them as on another day, else today's UTC date.
pub(crate) fn today() -> chrono::NaiveDate {
    match std::env::var("TIKTOK_TEST_TODAY") {
        Ok(text) => {
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").unwrap_or_else(|e| {
                panic!("TIKTOK_TEST_TODAY={text:?} is not a date ({e}): write it as YYYY-MM-DD")
            })
        }
        Err(_) => chrono::Utc::now().date_naive(),
    }
}

/// Runs at a fixed instant (RFC 3339), with the client's default pauses.
pub(crate) fn at(now: &str) -> source_tiktok_marketing::protocol::RunOptions {
    source_tiktok_marketing::protocol::RunOptions {
        clock: source_tiktok_marketing::clock::Clock::Fixed(
            chrono::DateTime::parse_from_rfc3339(now)
                .unwrap_or_else(|e| panic!("{now}: {e}"))
                .with_timezone(&chrono::Utc),
        ),
        ..Default::default()
    }
}

/// The JSON log lines of a run's stderr (lines that are not JSON are left out).
pub(crate) fn log_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The JSON log lines of a run's stderr whose message contains `text`.
pub(crate) fn logs_saying(stderr: &str, text: &str) -> Vec<Value> {
    log_lines(stderr)
        .into_iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
        .collect()
}
