//! The only writer of stdout. Unary answers go through [`write_line`]; a capture's events go
//! through [`Emitter`], which frames them for Flow (`captured` / `checkpoint`) or Airbyte
//! (`RECORD` / `STATE` / `TRACE`, and `LOG` lines from [`super::logs`]), buffers records and
//! flushes at every checkpoint, so a kill never leaves a half-written transaction. Every line
//! is one of the typed messages of `flow::wire` or `airbyte::wire`; records are written from
//! pre-rendered heads for speed, with the same bytes those types serialize to.

use std::io::{BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::airbyte::wire::{
    self as airbyte, Message, SourceStats, StateMessage, StateType, StreamDescriptor,
    StreamRunStatus, StreamState, StreamStatus, Trace, TraceError,
};
use super::flow::wire::{self, Checkpoint, Response, StateUpdate};
use crate::capture::state::{BindingState, StatePatch};
use crate::capture::Event;

/// Writes one JSON line and flushes.
pub fn write_line<W: Write, T: Serialize>(out: &mut W, message: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, message)?;
    out.write_all(b"\n")?;
    out.flush()
}

pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How a capture's events are framed.
pub(crate) enum Framing {
    /// Flow: one state key per binding.
    Flow { state_keys: Vec<String> },
    /// Airbyte: one stream name per binding, and the whole state of each stream (Airbyte
    /// replaces a stream's state with each STATE message, so patches are folded here).
    Airbyte {
        streams: Vec<String>,
        states: Vec<BindingState>,
        since_state: Vec<u64>,
        written: Vec<StateMark>,
    },
    /// The demo: `{"stream": NAME, "data": RECORD}` lines, no state.
    Plain { streams: Vec<String> },
}

impl Framing {
    pub(crate) fn airbyte(streams: Vec<String>, states: Vec<BindingState>) -> Self {
        let n = streams.len();
        Framing::Airbyte {
            streams,
            states,
            since_state: vec![0; n],
            written: (0..n).map(|_| StateMark::default()).collect(),
        }
    }
}

/// The constant head of a record line up to its document, rendered once per binding. The
/// tests compare whole lines with the typed messages.
fn record_head(framing: &Framing, binding: usize) -> Vec<u8> {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match framing {
        Framing::Flow { .. } => format!("{{\"captured\":{{\"binding\":{binding},\"doc\":"),
        Framing::Airbyte { streams, .. } => format!(
            "{{\"type\":\"RECORD\",\"record\":{{\"stream\":{},\"data\":",
            quoted(&streams[binding])
        ),
        Framing::Plain { streams } => {
            format!("{{\"stream\":{},\"data\":", quoted(&streams[binding]))
        }
    }
    .into_bytes()
}

/// When a stream's Airbyte state was last written, and whether it changed since.
#[derive(Default)]
pub(crate) struct StateMark {
    /// A patch was folded in (or records written) since the last STATE line.
    dirty: bool,
    /// The size of the last STATE line, and when it was written (`None`: never).
    last: Option<(usize, std::time::Instant)>,
}

/// An Airbyte state line of at least this size is written at most every
/// [`LARGE_STATE_INTERVAL`]: each line carries the stream's whole state, so with many
/// advertisers (one checkpoint each) writing it at every checkpoint would make the output grow
/// with the square of the state. The stream's last state is always written when it ends.
const LARGE_STATE_BYTES: usize = 1 << 20;
const LARGE_STATE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts what passes through, so a state line is measured without being built twice.
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    bytes: usize,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) struct Emitter<W: Write> {
    out: BufWriter<W>,
    framing: Framing,
    /// Records written since the last checkpoint (Flow).
    pending: u64,
    checkpoints: u64,
    record_heads: Vec<Vec<u8>>,
}

impl<W: Write> Emitter<W> {
    pub(crate) fn new(out: W, framing: Framing) -> Self {
        let bindings = match &framing {
            Framing::Flow { state_keys } => state_keys.len(),
            Framing::Airbyte { streams, .. } | Framing::Plain { streams } => streams.len(),
        };
        let record_heads = (0..bindings).map(|b| record_head(&framing, b)).collect();
        Emitter {
            out: BufWriter::with_capacity(256 * 1024, out),
            framing,
            pending: 0,
            checkpoints: 0,
            record_heads,
        }
    }

    pub(crate) fn event(&mut self, event: Event) -> std::io::Result<()> {
        match event {
            Event::Records { binding, docs } => {
                docs.iter().try_for_each(|doc| self.record(binding, doc))
            }
            Event::Checkpoint { binding, patch } => self.checkpoint(binding, patch),
            Event::Started { binding } => self.status(binding, StreamRunStatus::Started),
            Event::Finished {
                binding,
                error,
                cut_short,
            } => self.finished(binding, error, cut_short),
        }
    }

    /// Writes an Airbyte LOG line (the other framings keep their logs on stderr).
    pub(crate) fn log(&mut self, log: airbyte::Log) -> std::io::Result<()> {
        if let Framing::Airbyte { .. } = self.framing {
            write_line(&mut self.out, &Message::Log { log })?;
        }
        Ok(())
    }

    /// Every record of every protocol passes here, and through the secret scrubber: a server
    /// can put the access token in any cell.
    fn record(&mut self, binding: usize, doc: &str) -> std::io::Result<()> {
        self.out.write_all(&self.record_heads[binding])?;
        self.out.write_all(crate::scrub::scrub(doc).as_bytes())?;
        match &mut self.framing {
            Framing::Flow { .. } => self.out.write_all(b"}}\n")?,
            Framing::Plain { .. } => self.out.write_all(b"}\n")?,
            Framing::Airbyte { since_state, .. } => {
                since_state[binding] += 1;
                writeln!(self.out, ",\"emitted_at\":{}}}}}", now_millis())?;
            }
        }
        self.pending += 1;
        Ok(())
    }

    fn checkpoint(&mut self, binding: usize, patch: StatePatch) -> std::io::Result<()> {
        match &mut self.framing {
            Framing::Flow { state_keys } => {
                let mut updated = wire::StatePatch::default();
                updated
                    .binding_state_v1
                    .insert(state_keys[binding].clone(), patch.to_json());
                write_line(&mut self.out, &flow_checkpoint(updated))?;
            }
            Framing::Airbyte {
                states, written, ..
            } => {
                states[binding].apply(&patch);
                let mark = &mut written[binding];
                mark.dirty = true;
                let due = match mark.last {
                    Some((bytes, at)) if bytes >= LARGE_STATE_BYTES => {
                        at.elapsed() >= LARGE_STATE_INTERVAL
                    }
                    _ => true,
                };
                if due {
                    self.airbyte_state(binding)?;
                }
            }
            Framing::Plain { .. } => self.out.flush()?,
        }
        self.pending = 0;
        self.checkpoints += 1;
        Ok(())
    }

    /// Writes the stream's whole state as one STATE line, serialized straight from the folded
    /// state (no copy of it is made, however large).
    fn airbyte_state(&mut self, binding: usize) -> std::io::Result<()> {
        let Framing::Airbyte {
            streams,
            states,
            since_state,
            written,
        } = &mut self.framing
        else {
            return Ok(());
        };
        let message = Message::State {
            state: StateMessage {
                kind: StateType::Stream,
                stream: StreamState {
                    stream_descriptor: descriptor(&streams[binding]),
                    stream_state: &states[binding],
                },
                source_stats: SourceStats {
                    record_count: since_state[binding] as f64,
                },
            },
        };
        let mut counting = Counting {
            inner: &mut self.out,
            bytes: 0,
        };
        write_line(&mut counting, &message)?;
        since_state[binding] = 0;
        written[binding] = StateMark {
            dirty: false,
            last: Some((counting.bytes, std::time::Instant::now())),
        };
        Ok(())
    }

    fn status(&mut self, binding: usize, status: StreamRunStatus) -> std::io::Result<()> {
        if let Framing::Airbyte { streams, .. } = &self.framing {
            let message = Message::Trace {
                trace: Trace::StreamStatus {
                    emitted_at: now_millis() as f64,
                    stream_status: StreamStatus {
                        stream_descriptor: descriptor(&streams[binding]),
                        status,
                    },
                },
            };
            write_line(&mut self.out, &message)?;
        }
        Ok(())
    }

    fn finished(
        &mut self,
        binding: usize,
        error: Option<String>,
        cut_short: bool,
    ) -> std::io::Result<()> {
        let Framing::Airbyte {
            streams,
            written,
            since_state,
            ..
        } = &self.framing
        else {
            return Ok(());
        };
        let name = streams[binding].clone();
        // A state always closes a stream, so the platform never resets it and every record is
        // followed by one; it is not written twice in a row unchanged.
        let mark = &written[binding];
        if mark.dirty || mark.last.is_none() || since_state[binding] > 0 {
            self.airbyte_state(binding)?;
        }
        let status = match error {
            Some(message) => {
                let trace = Message::Trace {
                    trace: Trace::Error {
                        emitted_at: now_millis() as f64,
                        error: TraceError {
                            message: crate::scrub::scrub(&message).into_owned(),
                            failure_type: airbyte::FailureType::SystemError,
                            stream_descriptor: Some(descriptor(&name)),
                        },
                    },
                };
                write_line(&mut self.out, &trace)?;
                StreamRunStatus::Incomplete
            }
            // Stopped by a spent daily quota: not a failure, but not everything was read.
            None if cut_short => StreamRunStatus::Incomplete,
            None => StreamRunStatus::Complete,
        };
        self.status(binding, status)
    }

    /// Ends the output: Flow gets a last checkpoint when records are pending (or when none was
    /// written at all, so the runtime sees a complete transaction).
    pub(crate) fn finish(mut self) -> std::io::Result<u64> {
        if let Framing::Flow { .. } = self.framing {
            if self.pending > 0 || self.checkpoints == 0 {
                write_line(&mut self.out, &flow_checkpoint(wire::StatePatch::default()))?;
            }
        }
        self.out.flush()?;
        Ok(self.checkpoints)
    }
}

fn descriptor(name: &str) -> StreamDescriptor {
    StreamDescriptor { name: name.into() }
}

fn flow_checkpoint(updated: wire::StatePatch) -> Response<'static> {
    Response::Checkpoint(Checkpoint {
        state: StateUpdate {
            updated,
            merge_patch: true,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Counts flushes, to prove records are buffered until a checkpoint.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        flushes: usize,
    }
    impl Write for &mut Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    fn lines(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn flow_records_are_flushed_only_with_their_checkpoint() {
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::Flow {
                    state_keys: vec!["ads".into(), "campaigns.v1".into()],
                },
            );
            e.event(Event::Records {
                binding: 1,
                docs: vec!["{\"campaign_id\":1}".into()],
            })
            .unwrap();
            e.event(Event::Checkpoint {
                binding: 1,
                patch: StatePatch::cursor(7, "x"),
            })
            .unwrap();
            e.finish().unwrap();
        }
        let out = lines(&rec.bytes);
        assert_eq!(
            out[0],
            json!({"captured": {"binding": 1, "doc": {"campaign_id": 1}}})
        );
        assert_eq!(
            out[1],
            json!({"checkpoint": {"state": {"updated": {"bindingStateV1": {"campaigns.v1": {"advertisers": {"7": {"cursor": "x"}}}}}, "mergePatch": true}}})
        );
        assert_eq!(out.len(), 2, "no extra checkpoint when nothing is pending");
        assert_eq!(
            rec.flushes, 2,
            "one flush at the checkpoint, one at the end"
        );
    }

    #[test]
    fn flow_pending_records_get_a_final_checkpoint() {
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::Flow {
                    state_keys: vec!["ads".into()],
                },
            );
            e.event(Event::Records {
                binding: 0,
                docs: vec!["{\"ad_id\":1}".into()],
            })
            .unwrap();
            e.finish().unwrap();
        }
        let out = lines(&rec.bytes);
        assert_eq!(out.len(), 2);
        assert!(out[1].get("checkpoint").is_some());
    }

    #[test]
    fn airbyte_states_are_whole_per_stream_states() {
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::airbyte(
                    vec!["ads".into()],
                    vec![
                        BindingState::from_any(&json!({"advertisers": {"1": {"cursor": "a"}}}))
                            .unwrap(),
                    ],
                ),
            );
            e.event(Event::Started { binding: 0 }).unwrap();
            e.event(Event::Records {
                binding: 0,
                docs: vec!["{\"ad_id\":1}".into()],
            })
            .unwrap();
            e.event(Event::Checkpoint {
                binding: 0,
                patch: StatePatch::cursor(2, "b"),
            })
            .unwrap();
            e.event(Event::Finished {
                binding: 0,
                error: None,
                cut_short: false,
            })
            .unwrap();
            e.finish().unwrap();
        }
        let out = lines(&rec.bytes);
        assert_eq!(out[0]["trace"]["stream_status"]["status"], "STARTED");
        assert_eq!(out[1]["record"]["data"], json!({"ad_id": 1}));
        assert!(out[1]["record"]["emitted_at"].is_u64());
        assert_eq!(
            out[2]["state"]["stream"]["stream_state"],
            json!({"advertisers": {"1": {"cursor": "a"}, "2": {"cursor": "b"}}})
        );
        assert_eq!(out[2]["state"]["sourceStats"]["recordCount"], json!(1.0));
        // The state did not change after the checkpoint: it is not written a second time.
        assert_eq!(out[3]["trace"]["stream_status"]["status"], "COMPLETE");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn a_large_airbyte_state_is_not_rewritten_at_every_checkpoint() {
        let big: serde_json::Map<String, Value> = (0..40_000u64)
            .map(|i| {
                (
                    format!("{}", 7_000_000_000_000_000_000 + i),
                    json!({"cursor": "2024-01-01"}),
                )
            })
            .collect();
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::airbyte(
                    vec!["ads".into()],
                    vec![BindingState::from_any(&json!({"advertisers": big})).unwrap()],
                ),
            );
            for n in 0..50 {
                e.event(Event::Checkpoint {
                    binding: 0,
                    patch: StatePatch::cursor(n, "2024-02-01"),
                })
                .unwrap();
            }
            e.event(Event::Finished {
                binding: 0,
                error: None,
                cut_short: false,
            })
            .unwrap();
            e.finish().unwrap();
        }
        let out = lines(&rec.bytes);
        let states: Vec<&Value> = out.iter().filter(|l| l["type"] == "STATE").collect();
        // The first checkpoint, then (within the interval) only the final state, which holds
        // every patch.
        assert_eq!(states.len(), 2);
        let last = &states[1]["state"]["stream"]["stream_state"]["advertisers"];
        assert_eq!(last.as_object().unwrap().len(), 40_050);
        assert_eq!(last["49"]["cursor"], "2024-02-01");
    }

    #[test]
    fn airbyte_failed_streams_end_incomplete_with_an_error_trace() {
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::airbyte(vec!["ads".into()], vec![BindingState::default()]),
            );
            e.event(Event::Finished {
                binding: 0,
                error: Some("boom".into()),
                cut_short: false,
            })
            .unwrap();
            e.finish().unwrap();
        }
        let out = lines(&rec.bytes);
        assert_eq!(out[0]["state"]["stream"]["stream_state"], json!({}));
        assert_eq!(out[1]["trace"]["error"]["message"], "boom");
        assert_eq!(out[2]["trace"]["stream_status"]["status"], "INCOMPLETE");
    }

    #[test]
    fn record_lines_are_the_typed_messages() {
        use serde_json::value::RawValue;
        let doc = "{\"ad_id\":1,\"name\":\"a \\\"quoted\\\" ad\"}";
        let raw = RawValue::from_string(doc.into()).unwrap();
        let mut flow = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut flow,
                Framing::Flow {
                    state_keys: vec!["a".into(), "b".into()],
                },
            );
            e.record(1, doc).unwrap();
            e.out.flush().unwrap();
        }
        let typed = Response::Captured(super::super::flow::wire::Captured {
            binding: 1,
            doc: &raw,
        });
        assert_eq!(
            String::from_utf8(flow.bytes).unwrap(),
            format!("{}\n", serde_json::to_string(&typed).unwrap())
        );
        let stream = "ads \"x\"";
        let mut airbyte_out = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut airbyte_out,
                Framing::airbyte(vec![stream.into()], vec![BindingState::default()]),
            );
            e.record(0, doc).unwrap();
            e.out.flush().unwrap();
        }
        let written = String::from_utf8(airbyte_out.bytes).unwrap();
        let emitted_at: Value =
            serde_json::from_str::<Value>(&written).unwrap()["record"]["emitted_at"].clone();
        let typed = Message::Record {
            record: airbyte::Record {
                stream,
                data: &raw,
                emitted_at: emitted_at.as_u64().unwrap(),
            },
        };
        assert_eq!(
            written,
            format!("{}\n", serde_json::to_string(&typed).unwrap())
        );
    }

    #[test]
    fn log_lines_go_out_in_airbyte_only() {
        let log = || airbyte::Log {
            level: airbyte::LogLevel::Warn,
            message: "careful".into(),
        };
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::airbyte(vec!["ads".into()], vec![BindingState::default()]),
            );
            e.log(log()).unwrap();
            e.finish().unwrap();
        }
        assert_eq!(
            lines(&rec.bytes),
            vec![json!({"type": "LOG", "log": {"level": "WARN", "message": "careful"}})]
        );
        let mut rec = Recorder::default();
        {
            let mut e = Emitter::new(
                &mut rec,
                Framing::Flow {
                    state_keys: vec!["ads".into()],
                },
            );
            e.log(log()).unwrap();
            e.finish().unwrap();
        }
        assert!(lines(&rec.bytes)
            .iter()
            .all(|l| l.get("checkpoint").is_some()));
    }
}
