//! The protocol layer: Flow (no arguments, JSON lines on stdin/stdout) in [`flow`], Airbyte
//! (subcommands) in [`airbyte`], each with its message types in a `wire` module, both writing
//! through [`emit`]; [`logs`] copies warnings and progress into Airbyte LOG messages. They parse
//! and validate what they are given, hand typed values to the registry and the capture engine,
//! and frame the answers; neither talks to TikTok itself.

pub mod airbyte;
pub mod emit;
pub mod flow;
mod input;
pub mod logs;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::capture::{self, Binding, BindingSummary, CaptureOptions};
use crate::client::{ClientOptions, TikTokClient};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use emit::{Emitter, Framing};
pub(crate) use input::{field_problem, json_kind};

pub(crate) const DOCUMENTATION_URL: &str = "https://go.estuary.dev/VyWQ7h";

/// How many events (batches of up to `RECORD_BATCH` records) may wait for the writer: bounds
/// memory when stdout is slower than TikTok.
const EVENT_BUFFER: usize = 4;

/// What a caller of the library may set on a run that production leaves at its defaults: the
/// client's retry, timeout and size knobs, the capture engine's (the task deadline), and the
/// clock (tests fix "now" to cross a day boundary on purpose). The binary reads none of it from
/// its environment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub client: ClientOptions,
    pub capture: CaptureOptions,
    pub clock: Clock,
    /// Read every report day as if no activity index existed: how the tests show the index
    /// loses no row.
    pub no_activity_index: bool,
}

impl From<ClientOptions> for RunOptions {
    fn from(client: ClientOptions) -> Self {
        RunOptions {
            client,
            ..RunOptions::default()
        }
    }
}

impl RunOptions {
    /// The config as this run sees it: with the run's clock.
    fn apply(&self, mut config: Config) -> Config {
        config.clock = self.clock;
        config.activity_index = !self.no_activity_index;
        config
    }
}

/// Where a capture's events go: the writer (stdout in production) and the protocol framing
/// they are written in.
pub(crate) struct CaptureOutput<W> {
    pub(crate) framing: Framing,
    pub(crate) writer: W,
}

/// Runs a capture and writes its events with one writer thread. Returns the per-binding
/// summaries; a failure of the run is returned after everything already captured is written.
pub(crate) async fn capture<W: Write + Send + 'static>(
    config: Arc<Config>,
    bindings: Vec<Binding>,
    output: CaptureOutput<W>,
) -> Result<Vec<BindingSummary>> {
    capture_with(
        config,
        bindings,
        output,
        ClientOptions::default(),
        CaptureOptions::default(),
    )
    .await
}

/// [`capture()`] with the client's retry, timeout and size knobs and the engine's options given.
pub(crate) async fn capture_with<W: Write + Send + 'static>(
    config: Arc<Config>,
    bindings: Vec<Binding>,
    output: CaptureOutput<W>,
    options: ClientOptions,
    capture: CaptureOptions,
) -> Result<Vec<BindingSummary>> {
    let client = Arc::new(TikTokClient::new(&config, options)?);
    let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
    // Events sent so far = taken by the writer + waiting in the channel: a LOG message is
    // stamped with it, so it is written after exactly the events sent before it was logged.
    let taken = Arc::new(AtomicU64::new(0));
    let events_sent = {
        let taken = taken.clone();
        let waiting = tx.downgrade();
        let capacity = tx.max_capacity();
        move || {
            let in_channel = waiting
                .upgrade()
                .map_or(0, |tx| capacity.saturating_sub(tx.capacity()));
            taken.load(Ordering::SeqCst) + in_channel as u64
        }
    };
    logs::begin_capture(Box::new(events_sent));
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut emitter = Emitter::new(output.writer, output.framing);
        let write_logs = |emitter: &mut Emitter<W>, up_to: u64| {
            logs::take_queued(up_to)
                .into_iter()
                .try_for_each(|log| emitter.log(log))
        };
        while let Some(event) = rx.blocking_recv() {
            let index = taken.fetch_add(1, Ordering::SeqCst);
            write_logs(&mut emitter, index)?;
            emitter.event(event)?;
        }
        write_logs(&mut emitter, u64::MAX)?;
        emitter.finish().map(|_| ())
    });
    let running = crate::shutdown::CaptureRunning::start();
    // A stop signal drops the run, and with it the channel's sender: the writer then writes
    // what it was handed (checkpoints follow the records they cover) and ends the output.
    let (result, stopped) = tokio::select! {
        result = capture::run(config, bindings, client.clone(), capture, tx) => (result, None),
        signal = crate::shutdown::requested() => (Ok(Default::default()), Some(signal)),
    };
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| Error::Fatal(format!("the output writer stopped: {e}")))?
        .map_err(|_| Error::Fatal("the output writer panicked".into()))?;
    logs::end_capture();
    drop(running);
    let requests = client.stats.requests.load(Ordering::Relaxed);
    match stopped {
        Some(signal) => tracing::info!(
            requests,
            signal = signal.name(),
            "Capture stopped; its output ends after the last checkpoint."
        ),
        None => {
            let reconciled = result.as_ref().ok();
            tracing::info!(
                requests,
                peak_rss_kb = peak_rss_kb(),
                reconciled_account_days = reconciled.map(|r| r.reconciled_account_days),
                differing_account_days = reconciled.map(|r| r.differing_account_days),
                metrics_dropped = reconciled
                    .filter(|r| !r.metrics_dropped.is_empty())
                    .map(|r| r.metrics_dropped.join("; ")),
                "Capture finished."
            )
        }
    }
    let result = match stopped {
        Some(signal) => Err(Error::Stopped(signal)),
        None => result,
    };
    match (result, written) {
        (_, Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::Fatal(
            "stdout was closed by the reader before the capture ended".into(),
        )),
        (_, Err(e)) => Err(Error::io("writing the output", e)),
        (result, Ok(())) => result.map(|summary| summary.bindings),
    }
}

/// The process's peak resident memory (Linux `VmHWM`), for the logs and the benchmark.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Percent-encodes a resource path into a Flow state key, as the runtime does.
pub(crate) fn state_key(resource_path: &[String]) -> String {
    let joined = resource_path.join("/");
    let mut out = String::with_capacity(joined.len());
    for byte in joined.bytes() {
        let c = byte as char;
        if c.is_ascii_alphanumeric() || "-_+.=".contains(c) {
            out.push(c);
        } else if c == ' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_keys_are_percent_encoded() {
        assert_eq!(super::state_key(&["campaigns".into()]), "campaigns");
        assert_eq!(
            super::state_key(&["a/cdc".into(), "table baz".into()]),
            "a%2Fcdc%2Ftable+baz"
        );
    }
}
