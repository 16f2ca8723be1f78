//! Warnings an Airbyte user sees: Airbyte platforms (and clients such as PyAirbyte) show the
//! source's LOG messages on stdout, not its stderr. When the binary runs an Airbyte command,
//! [`AirbyteLogLayer`] copies every WARN and ERROR event, and every INFO event about one stream
//! (the progress lines), into a LOG message. During a capture those go through the emitter, in
//! order with the records: each is stamped with the number of events sent to the writer so far
//! and written right after those. Outside a capture (check, discover) they are written at once,
//! before the command's answer. Flow keeps its logs on stderr only. The layer adds to the stderr logs, it
//! never replaces them.

use std::fmt::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::airbyte::wire::{Log, LogLevel, Message};

/// Where LOG messages go right now.
enum Sink {
    /// Not an Airbyte command: nothing is forwarded.
    Off,
    /// Airbyte, no capture running: written to stdout at once.
    Direct,
    /// A capture is running: queued for its writer, each with the number of events sent before
    /// it was logged (from `events_sent`).
    Queue {
        queued: Vec<(u64, Log)>,
        events_sent: EventCount,
    },
}

/// How many events the running capture has sent to its writer.
pub(crate) type EventCount = Box<dyn Fn() -> u64 + Send>;

static SINK: Mutex<Sink> = Mutex::new(Sink::Off);

fn sink() -> std::sync::MutexGuard<'static, Sink> {
    SINK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns forwarding on (the binary calls this for Airbyte commands).
pub fn enable() {
    *sink() = Sink::Direct;
}

/// Turns forwarding off (before the final ERROR trace, which says it all).
pub fn disable() {
    *sink() = Sink::Off;
}

/// A capture's writer takes over: LOG messages queue for it. No effect when forwarding is off.
pub(crate) fn begin_capture(events_sent: EventCount) {
    let mut sink = sink();
    if matches!(*sink, Sink::Direct) {
        *sink = Sink::Queue {
            queued: Vec::new(),
            events_sent,
        };
    }
}

/// The queued LOG messages logged before event number `event` (0-based) was sent: the writer
/// writes them just before that event.
pub(crate) fn take_queued(event: u64) -> Vec<Log> {
    match &mut *sink() {
        Sink::Queue { queued, .. } => {
            let due = queued.iter().take_while(|(sent, _)| *sent <= event).count();
            queued.drain(..due).map(|(_, log)| log).collect()
        }
        _ => Vec::new(),
    }
}

/// The capture's writer is done: what it did not take is written now, later messages at once.
pub(crate) fn end_capture() {
    let left = {
        let mut sink = sink();
        match std::mem::replace(&mut *sink, Sink::Direct) {
            Sink::Queue { queued, .. } => queued,
            other => {
                *sink = other;
                return;
            }
        }
    };
    for (_, log) in left {
        write_now(log);
    }
}

fn write_now(log: Log) {
    let mut stdout = std::io::stdout().lock();
    let _ = super::emit::write_line(&mut stdout, &Message::Log { log });
}

/// The tracing layer that feeds the sink.
pub struct AirbyteLogLayer;

impl<S: Subscriber> Layer<S> for AirbyteLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            _ => return,
        };
        let mut text = Text::default();
        event.record(&mut text);
        if level == LogLevel::Info && !text.about_a_stream {
            return;
        }
        let log = Log {
            level,
            // LOG lines reach stdout: they pass the secret scrubber as stderr lines do.
            message: crate::scrub::scrub(&text.finish()).into_owned(),
        };
        let mut sink = sink();
        match &mut *sink {
            Sink::Off => {}
            Sink::Queue {
                queued,
                events_sent,
            } => {
                let sent = events_sent();
                queued.push((sent, log));
            }
            Sink::Direct => {
                drop(sink);
                write_now(log);
            }
        }
    }
}

/// An event rendered as one line: its message, then its fields as `name=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
    about_a_stream: bool,
}

impl Text {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else {
            format!("{} ({})", self.message, self.fields)
        }
    }

    fn field(&mut self, field: &Field, value: &dyn std::fmt::Display) {
        // Bounded like the stderr lines' values (`logging::MAX_VALUE_CHARS`).
        let value = value.to_string();
        let value = crate::scrub::bounded(&value, crate::logging::MAX_VALUE_CHARS);
        if field.name() == "message" {
            let _ = write!(self.message, "{value}");
            return;
        }
        if field.name() == "stream" {
            self.about_a_stream = true;
        }
        if !self.fields.is_empty() {
            self.fields.push_str(", ");
        }
        let _ = write!(self.fields, "{}={value}", field.name());
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, &format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Only this layer installed, forwarding into a queue. The sink is process-wide, so this is
    /// the only unit test that uses it.
    #[test]
    fn warnings_and_stream_progress_become_log_messages_and_the_rest_does_not() {
        let subscriber = tracing_subscriber::registry().with(AirbyteLogLayer);
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = sent.clone();
        enable();
        begin_capture(Box::new(move || {
            count.load(std::sync::atomic::Ordering::SeqCst)
        }));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(advertiser_id = 7u64, "Skipping an advertiser.");
            tracing::info!("Capture finished.");
            sent.store(2, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(stream = "ads", records = 3u64, "Capture in progress.");
            tracing::debug!(stream = "ads", "Fine detail.");
            tracing::error!(error = %"boom", "A stream failed.");
        });
        // Before event 0: only what was logged before any event was sent.
        let first: Vec<String> = take_queued(0).into_iter().map(|l| l.message).collect();
        assert_eq!(first, vec!["Skipping an advertiser. (advertiser_id=7)"]);
        assert!(
            take_queued(1).is_empty(),
            "nothing was logged after one event"
        );
        let queued = take_queued(2);
        *sink() = Sink::Off;
        let lines: Vec<(LogLevel, String)> =
            queued.into_iter().map(|l| (l.level, l.message)).collect();
        assert_eq!(
            lines,
            vec![
                (
                    LogLevel::Info,
                    "Capture in progress. (stream=ads, records=3)".to_string()
                ),
                (LogLevel::Error, "A stream failed. (error=boom)".to_string()),
            ]
        );
    }
}
