//! Stopping on request: SIGTERM (`docker stop`, Kubernetes, Flow and Airbyte ending a task) and
//! SIGINT (Ctrl-C) end every command promptly, in both protocols and also as PID 1, where the
//! kernel ignores a signal the process installed no handler for. The binary calls [`listen`];
//! a running capture stops at the signal, its writer drains what it was handed (every record
//! is followed by the checkpoint covering it) and ends the output as a finished run would, then
//! the process exits with [`Signal::exit_status`]. Tests of the library never call [`listen`],
//! so their own Ctrl-C still ends them at once.

use std::sync::OnceLock;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The signals that stop the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Interrupt,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
        }
    }

    /// The exit status after this signal: 128 + its number, what a shell reports for a
    /// process the signal ended (143 for SIGTERM, 130 for SIGINT), so that a supervisor sees
    /// the run did not finish, though everything up to its last checkpoint is written.
    pub fn exit_status(self) -> u8 {
        match self {
            Signal::Terminate => 128 + 15,
            Signal::Interrupt => 128 + 2,
        }
    }
}

/// The first stop signal received, once there is one.
fn stop() -> &'static watch::Sender<Option<Signal>> {
    static STOP: OnceLock<watch::Sender<Option<Signal>>> = OnceLock::new();
    STOP.get_or_init(|| watch::channel(None).0)
}

/// Installs the SIGTERM and SIGINT handlers. Must run inside the tokio runtime.
pub fn listen() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let signal = tokio::select! {
            _ = terminate.recv() => Signal::Terminate,
            _ = interrupt.recv() => Signal::Interrupt,
        };
        tracing::info!(signal = signal.name(), "Stop requested; stopping.");
        stop().send_replace(Some(signal));
    });
    Ok(())
}

/// Resolves when a stop signal has arrived (at once if one already has); never if [`listen`]
/// was not called.
pub async fn requested() -> Signal {
    let mut receiver = stop().subscribe();
    let signal = receiver.wait_for(Option::is_some).await.map(|s| *s);
    match signal {
        Ok(Some(signal)) => signal,
        // The sender is a static, never dropped, and `wait_for` returns only a `Some`.
        _ => std::future::pending().await,
    }
}

/// Whether a capture is running (it then stops by itself at the signal, after writing what
/// it was handed, and the process waits for it).
pub fn capture_running() -> bool {
    CAPTURES.load(std::sync::atomic::Ordering::SeqCst) > 0
}

static CAPTURES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Marks a capture as running while it lives.
pub(crate) struct CaptureRunning(());

impl CaptureRunning {
    pub(crate) fn start() -> Self {
        CAPTURES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        CaptureRunning(())
    }
}

impl Drop for CaptureRunning {
    fn drop(&mut self) {
        CAPTURES.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A spawned task that is aborted when this handle is dropped, so that a run dropped at a stop
/// signal leaves no task behind (nor what the task holds, such as the output channel the writer
/// waits on).
pub(crate) struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
