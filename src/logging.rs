//! The shape of the JSON lines on stderr: one object per event with `timestamp`, `level` and
//! `message` first, then the event's fields. Those three keys always mean what they say: a field
//! of the same name (a report's data `level`, say) is written as `field_level` instead, so no
//! event can pass a warning off as another level to whatever parses the logs (Flow does). Every
//! value is bounded ([`MAX_VALUE_CHARS`]), whatever a caller hands in. `main.rs` plugs
//! [`JsonLines`] into the tracing subscriber, behind the secret scrubber's writer.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The most characters of one value in a log line. Values from outside are cut much shorter
/// where they are echoed ([`crate::scrub::echo`]); this bounds whatever else reaches a line.
pub(crate) const MAX_VALUE_CHARS: usize = 4_000;

/// The event formatter of the stderr JSON lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let line = json_line(&timestamp, event.metadata().level().as_str(), |visit| {
            event.record(visit)
        });
        writeln!(writer, "{line}")
    }
}

/// One line: the reserved keys, then the fields `record` hands the visitor, renamed where they
/// would collide and bounded.
fn json_line(timestamp: &str, level: &str, record: impl FnOnce(&mut Fields)) -> String {
    let mut fields = Fields::default();
    record(&mut fields);
    let mut line = Map::new();
    line.insert("timestamp".into(), Value::from(timestamp));
    line.insert("level".into(), Value::from(level));
    line.insert(
        "message".into(),
        Value::from(fields.message.take().unwrap_or_default()),
    );
    for (name, value) in fields.values {
        let mut key = name;
        while line.contains_key(&key) {
            key = format!("field_{key}");
        }
        line.insert(key, value);
    }
    Value::Object(line).to_string()
}

/// The fields of one event, in the order they were recorded.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Vec<(String, Value)>,
}

impl Fields {
    fn text(&mut self, field: &Field, text: &str) {
        let text = crate::scrub::bounded(text, MAX_VALUE_CHARS).into_owned();
        if field.name() == "message" && self.message.is_none() {
            self.message = Some(text);
        } else {
            self.values
                .push((field.name().to_string(), Value::from(text)));
        }
    }

    fn value(&mut self, field: &Field, value: Value) {
        self.values.push((field.name().to_string(), value));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, &format!("{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, &value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.value(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.text(field, &value.to_string());
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.text(field, &value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        match serde_json::Number::from_f64(value) {
            Some(number) => self.value(field, Value::Number(number)),
            None => self.text(field, &value.to_string()),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.value(field, Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// The lines `log` writes through [`JsonLines`].
    fn lines(log: impl FnOnce()) -> Vec<Value> {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(move || out.clone()),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn a_field_named_like_a_reserved_key_never_replaces_it() {
        let got = lines(|| {
            tracing::warn!(
                level = "AUCTION_ADVERTISER",
                timestamp = 3u64,
                stream = "ads",
                "A report was cut short."
            );
            tracing::info!(message2 = 1, "plain");
        });
        let warning = &got[0];
        assert_eq!(warning["level"], "WARN", "{warning}");
        assert_eq!(warning["message"], "A report was cut short.");
        assert!(warning["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(warning["field_level"], "AUCTION_ADVERTISER");
        assert_eq!(warning["field_timestamp"], 3);
        assert_eq!(warning["stream"], "ads");
        let keys: Vec<&String> = warning.as_object().unwrap().keys().collect();
        assert_eq!(&keys[..3], ["timestamp", "level", "message"]);
        assert_eq!(got[1]["level"], "INFO");
        assert_eq!(got[1]["message2"], 1);
    }

    #[test]
    fn values_are_typed_and_bounded() {
        let huge = "h".repeat(1 << 20);
        let got = lines(|| {
            tracing::error!(
                count = 3u64,
                delta = -2i64,
                ratio = 0.5f64,
                ok = true,
                header = huge.as_str(),
                "{}",
                huge
            );
        });
        let line = &got[0];
        assert_eq!(line["count"], 3);
        assert_eq!(line["delta"], -2);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["ok"], true);
        for key in ["header", "message"] {
            let text = line[key].as_str().unwrap();
            assert!(text.chars().count() < MAX_VALUE_CHARS + 40, "{key}");
            assert!(
                text.ends_with(&format!("({} characters in all)", 1 << 20)),
                "{key}"
            );
        }
    }
}
