//! The protocol layer: Flow (no arguments, JSON lines on stdin/stdout) in [`flow`], Airbyte
//! (subcommands) in [`airbyte`], both writing through [`emit`]. They parse and validate what
//! they are given, hand typed values to the registry and the capture engine, and frame the
//! answers; neither talks to TikTok itself.

pub mod airbyte;
pub mod emit;
pub mod flow;

use std::io::Write;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::capture::{self, Binding, BindingSummary};
use crate::client::{ClientOptions, TikTokClient};
use crate::config::Config;
use crate::error::{Error, Result};
use emit::{Emitter, Framing};

pub const DOCUMENTATION_URL: &str = "https://go.estuary.dev/VyWQ7h";

/// How many events (batches of up to `RECORD_BATCH` records) may wait for the writer: bounds
/// memory when stdout is slower than TikTok.
const EVENT_BUFFER: usize = 4;

/// Runs a capture and writes its events with one writer thread. Returns the per-binding
/// summaries; a failure of the run is returned after everything already captured is written.
pub async fn capture<W: Write + Send + 'static>(
    config: Arc<Config>,
    bindings: Vec<Binding>,
    framing: Framing,
    out: W,
) -> Result<Vec<BindingSummary>> {
    capture_with(config, bindings, framing, out, ClientOptions::default()).await
}

/// [`capture()`] with the client's retry, timeout and size knobs given.
pub async fn capture_with<W: Write + Send + 'static>(
    config: Arc<Config>,
    bindings: Vec<Binding>,
    framing: Framing,
    out: W,
    options: ClientOptions,
) -> Result<Vec<BindingSummary>> {
    let client = Arc::new(TikTokClient::new(&config, options)?);
    let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut emitter = Emitter::new(out, framing);
        while let Some(event) = rx.blocking_recv() {
            emitter.event(event)?;
        }
        emitter.finish().map(|_| ())
    });
    let result = capture::run(config, bindings, client.clone(), tx).await;
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| Error::Fatal(format!("the output writer stopped: {e}")))?
        .map_err(|_| Error::Fatal("the output writer panicked".into()))?;
    let requests = client
        .stats
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    tracing::info!(requests, peak_rss_kb = peak_rss_kb(), "Capture finished.");
    match (result, written) {
        (_, Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::Fatal(
            "stdout was closed by the reader before the capture ended".into(),
        )),
        (_, Err(e)) => Err(Error::io("writing the output", e)),
        (result, Ok(())) => result,
    }
}

/// The process's peak resident memory (Linux `VmHWM`), for the logs and the benchmark.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Percent-encodes a resource path into a Flow state key, as the runtime does.
pub fn state_key(resource_path: &[String]) -> String {
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
