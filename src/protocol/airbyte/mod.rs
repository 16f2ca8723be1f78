//! The Airbyte protocol: `spec`, `check --config`, `discover --config` and
//! `read --config --catalog [--state]`, answering with AirbyteMessage lines. [`wire`] holds the
//! message types; this module holds one handler per command, each returning typed messages.
//! `check` reports a bad config or bad credentials as `FAILED` and exits 0, as Airbyte expects;
//! other failures end with an ERROR trace and a non-zero exit.

pub(crate) mod wire;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::emit::{now_millis, Framing};
use super::{field_problem, json_kind, DOCUMENTATION_URL};
use super::{CaptureOutput, RunOptions};
use crate::capture::state::BindingState;
use crate::capture::Binding;
use crate::config::{self, Config, Flavor};
use crate::error::{Error, ErrorClass, Result};
use crate::registry;
use wire::{
    AdvancedAuth, Catalog, CatalogStream, ConfiguredCatalog, ConnectionStatus,
    ConnectorSpecification, DestinationSyncMode, FailureType, InputStateMessage, InputStreamState,
    Message, OAuthConfigSpecification, StateType, Status, SyncMode, Trace, TraceError,
};

/// `spec`: the config schema and how the platform's OAuth flow fills the credentials.
pub fn spec() -> Message<'static> {
    Message::Spec {
        spec: Box::new(ConnectorSpecification {
            documentation_url: DOCUMENTATION_URL.into(),
            connection_specification: config::endpoint_schema(Flavor::Airbyte),
            supports_incremental: true,
            supported_destination_sync_modes: vec![
                DestinationSyncMode::Overwrite,
                DestinationSyncMode::Append,
                DestinationSyncMode::AppendDedup,
            ],
            advanced_auth: AdvancedAuth {
                auth_flow_type: "oauth2.0".into(),
                predicate_key: vec!["credentials".into(), "auth_type".into()],
                predicate_value: "oauth2.0".into(),
                oauth_config_specification: OAuthConfigSpecification {
                    complete_oauth_output_specification: json!({
                        "type": "object",
                        "properties": {"access_token": {"type": "string",
                            "path_in_connector_config": ["credentials", "access_token"]}}
                    }),
                    complete_oauth_server_input_specification: json!({
                        "type": "object",
                        "properties": {"app_id": {"type": "string"}, "secret": {"type": "string"}}
                    }),
                    complete_oauth_server_output_specification: json!({
                        "type": "object",
                        "properties": {
                            "app_id": {"type": "string", "path_in_connector_config": ["credentials", "app_id"]},
                            "secret": {"type": "string", "path_in_connector_config": ["credentials", "secret"]}
                        }
                    }),
                },
            },
        }),
    }
}

/// Reads a JSON file given on the command line, naming the flag when it cannot.
fn read_json(path: &Path, flag: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "Cannot read the {flag} file {}: {e}. Pass an existing JSON file.",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::config(format!(
            "The {flag} file {} is not valid JSON (line {} column {}).",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

pub(crate) fn load_config(path: &Path) -> Result<Config> {
    config::parse(&read_json(path, "--config")?)
}

/// `check`: the config parses and the credentials work. Always one CONNECTION_STATUS.
pub async fn check(config_path: &Path) -> Message<'static> {
    let outcome = match load_config(config_path) {
        Ok(config) => crate::check::connection(&config).await,
        Err(e) => Err(e),
    };
    let connection_status = match outcome {
        Ok(message) => ConnectionStatus {
            status: Status::Succeeded,
            message: crate::scrub::scrub(&message).into_owned(),
        },
        Err(err) => {
            // The answer says it; on stderr too, but not as a warning copied to stdout.
            tracing::info!(error = %err, "Connection check failed.");
            ConnectionStatus {
                status: Status::Failed,
                message: crate::scrub::scrub(&err.to_string()).into_owned(),
            }
        }
    };
    Message::ConnectionStatus { connection_status }
}

/// `discover`: every stream this config offers.
pub fn discover(config_path: &Path) -> Result<Message<'static>> {
    Ok(catalog(&load_config(config_path)?))
}

pub(crate) fn catalog(config: &Config) -> Message<'static> {
    let streams = registry::catalog(config)
        .into_iter()
        .map(|stream| {
            let incremental = stream.cursor.is_some();
            CatalogStream {
                source_defined_primary_key: stream.key.iter().map(|k| vec![k.clone()]).collect(),
                is_resumable: true,
                supported_sync_modes: if incremental {
                    vec![SyncMode::FullRefresh, SyncMode::Incremental]
                } else {
                    vec![SyncMode::FullRefresh]
                },
                source_defined_cursor: incremental.then_some(true),
                default_cursor_field: stream.cursor.map(|cursor| vec![cursor]),
                name: stream.name,
                json_schema: stream.schema,
            }
        })
        .collect();
    Message::Catalog {
        catalog: Catalog { streams },
    }
}

/// The states of `--state` by stream name, each kept as its JSON text: a stream's state is
/// read once, straight into its typed state ([`BindingState::from_raw`]), so a state of a
/// million advertisers is never also held as a JSON tree.
pub type StreamStates = BTreeMap<String, Box<RawValue>>;

/// Per-stream states from `--state`, in every form the protocol has had: an array of state
/// messages (STREAM, GLOBAL or LEGACY), a single state message, a legacy `{stream: state}`
/// object, an empty file, `{}` or `null`; and the `STATE` lines exactly as `read` prints them
/// (`{"type":"STATE","state":{...}}`), one per line or in an array. Several JSON documents in
/// one file are read in order, so a later state of a stream replaces an earlier one (the last
/// `STATE` of each stream is the one that counts, as it was when printed). Only the messages'
/// outer fields are parsed here; each stream's state stays text.
pub fn parse_state(text: &str) -> Result<StreamStates> {
    let mut out = StreamStates::new();
    let documents = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    let mut n = 0;
    for document in documents {
        let document = document.map_err(|e| {
            Error::config(format!(
                "The --state file is not valid JSON (line {} column {}).",
                e.line(),
                e.column()
            ))
        })?;
        collect_document(document, &mut n, &mut out)?;
    }
    Ok(out)
}

/// The first character of a JSON text, which tells its kind (`{`, `[`, `n`ull, ...).
fn opening(raw: &RawValue) -> u8 {
    raw.get().trim_start().bytes().next().unwrap_or_default()
}

/// How an error describes a JSON text (see [`json_kind`]). Only error paths call it.
fn raw_kind(raw: &RawValue) -> String {
    json_kind(&serde_json::from_str(raw.get()).unwrap_or(Value::Null))
}

/// The fields of a JSON object, their values left as text. The text is valid JSON already
/// (the document parsed), so this cannot fail on an object; a non-object has no fields.
fn fields(raw: &RawValue) -> BTreeMap<String, &RawValue> {
    serde_json::from_str(raw.get()).unwrap_or_default()
}

/// One JSON document of a `--state` file: `null`, a state message (or a printed `STATE`
/// line), an array of them, or a legacy `{stream: state}` object. `n` counts the state messages
/// read so far, for errors.
fn collect_document(document: &RawValue, n: &mut usize, out: &mut StreamStates) -> Result<()> {
    match opening(document) {
        b'n' => {}
        b'{' => {
            let message = printed_state(document, *n)?;
            // A single state message is accepted too.
            if is_state_message(message) {
                collect_message(message, *n, out)?;
                *n += 1;
            } else {
                let legacy: StreamStates = serde_json::from_str(message.get()).unwrap_or_default();
                out.extend(legacy);
            }
        }
        b'[' => {
            let messages: Vec<&RawValue> = serde_json::from_str(document.get()).unwrap_or_default();
            for message in messages {
                collect_message(printed_state(message, *n)?, *n, out)?;
                *n += 1;
            }
        }
        _ => {
            return Err(Error::config(format!(
                "The --state file holds {}; expected an array of state messages or an object.",
                raw_kind(document)
            )))
        }
    }
    Ok(())
}

/// Whether an object is a state message (rather than a legacy `{stream: state}` object).
fn is_state_message(value: &RawValue) -> bool {
    let fields = fields(value);
    fields.get("type").is_some_and(|kind| opening(kind) == b'"')
        && ["stream", "global", "data"]
            .iter()
            .any(|key| fields.contains_key(*key))
}

/// The state message inside an Airbyte message as `read` prints it (`{"type": "STATE", "state":
/// {...}}`); anything else is returned as it is. Another kind of Airbyte message (a RECORD,
/// LOG or TRACE line of the same output) is refused, naming the fix.
fn printed_state(message: &RawValue, n: usize) -> Result<&RawValue> {
    const OTHER_MESSAGES: [&str; 7] = [
        "RECORD",
        "LOG",
        "TRACE",
        "CATALOG",
        "SPEC",
        "CONNECTION_STATUS",
        "CONTROL",
    ];
    let fields = fields(message);
    let kind: String = fields
        .get("type")
        .and_then(|kind| serde_json::from_str(kind.get()).ok())
        .unwrap_or_default();
    if kind == "STATE" {
        return match fields.get("state") {
            Some(state) if opening(state) == b'{' => Ok(state),
            _ => Err(Error::config(format!(
                "State message {n} is a STATE message without its `state` object: pass the \
                 STATE lines as `read` printed them."
            ))),
        };
    }
    if OTHER_MESSAGES.contains(&kind.as_str()) {
        return Err(Error::config(format!(
            "State message {n} is an Airbyte {kind} message, not a state: pass only the STATE \
             lines `read` printed, for example `grep '\"type\":\"STATE\"' output.jsonl > \
             state.jsonl`."
        )));
    }
    Ok(message)
}

fn collect_message(message: &RawValue, n: usize, out: &mut StreamStates) -> Result<()> {
    let neither = |what: String| {
        Error::config(format!(
            "State message {n} is neither a STREAM, GLOBAL nor LEGACY state: {what}."
        ))
    };
    if opening(message) != b'{' {
        return Err(neither(format!("it is {}", raw_kind(message))));
    }
    let mut text = serde_json::Deserializer::from_str(message.get());
    let message: InputStateMessage =
        serde_path_to_error::deserialize(&mut text).map_err(|err| {
            let path = err.path().to_string();
            let problem = field_problem(&path, &without_position(err.into_inner()));
            if path.starts_with("stream") || path.starts_with("global") {
                Error::config(format!("State message {n}: {problem}."))
            } else {
                neither(problem)
            }
        })?;
    let mut stream_entry = |entry: InputStreamState| {
        let state = entry.stream_state.unwrap_or_else(null);
        out.insert(entry.stream_descriptor.name, state);
    };
    match (message.kind, message.stream, message.global, message.data) {
        (Some(StateType::Stream), Some(stream), _, _) => stream_entry(stream),
        (Some(StateType::Global), _, Some(global), _) => {
            global.stream_states.into_iter().for_each(stream_entry)
        }
        (Some(StateType::Legacy) | None, _, _, Some(data)) => out.extend(data),
        (Some(StateType::Stream), None, _, _) => {
            return Err(Error::config(format!(
                "State message {n} is a STREAM state without its stream.stream_descriptor.name."
            )))
        }
        _ => return Err(neither("no payload for its type".into())),
    }
    Ok(())
}

/// A JSON `null`, the state of a stream the file names without one.
fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// A parse error's message without the position serde_json appends when reading text: the
/// field path names the place, as it did when the message was read from a JSON tree.
fn without_position(err: serde_json::Error) -> String {
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_string(),
        None => text,
    }
}

/// The files `read` is given on its command line: the config, the configured catalog and,
/// when a previous run left one, the state to resume from.
#[derive(clap::Args, Debug, Clone)]
pub struct ReadArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub catalog: PathBuf,
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// `read`: captures the catalog's streams, resuming from `--state`.
pub async fn read<W: Write + Send + 'static>(files: ReadArgs, out: W) -> Result<()> {
    read_with(files, out, RunOptions::default()).await
}

/// [`read`] with the run's options given (tests shorten the client's pauses and fix the clock).
pub async fn read_with<W: Write + Send + 'static>(
    files: ReadArgs,
    out: W,
    options: RunOptions,
) -> Result<()> {
    let config = Arc::new(options.apply(load_config(&files.config)?));
    let catalog = parse_catalog(read_json(&files.catalog, "--catalog")?)?;
    let state_text = match &files.state {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "Cannot read the --state file {}: {e}.",
                path.display()
            ))
        })?,
        None => String::new(),
    };
    let mut states = parse_state(&state_text)?;
    drop(state_text);
    let mut bindings = Vec::new();
    let mut names = Vec::new();
    let mut initial_states = Vec::new();
    for (n, entry) in catalog.streams.into_iter().enumerate() {
        let name = entry.stream.name;
        let stream = registry::resolve(&name, &config)
            .map_err(|e| Error::config(format!("Catalog streams[{n}]: {e}")))?;
        if names.contains(&stream.name) {
            return Err(Error::config(format!(
                "Catalog streams[{n}]: the stream {name:?} is listed twice."
            )));
        }
        let incremental = entry.sync_mode == Some(SyncMode::Incremental);
        let raw_state = states.remove(&name).unwrap_or_else(null);
        let state = BindingState::from_raw(&raw_state).ok_or_else(|| {
            Error::config(format!(
                "The --state for stream {name:?} is not in a shape this connector knows ({}). \
                 Reset the stream to start it afresh.",
                raw_kind(&raw_state)
            ))
        })?;
        drop(raw_state);
        initial_states.push(state.clone());
        names.push(stream.name.clone());
        bindings.push(Binding {
            stream,
            incremental,
            state,
        });
    }
    // States of streams not in the catalog: not kept while the capture runs.
    drop(states);
    let output = CaptureOutput {
        framing: Framing::airbyte(names, initial_states),
        writer: out,
    };
    tracing::info!(streams = bindings.len(), "Capture started.");
    let summaries =
        super::capture_with(config, bindings, output, options.client, options.capture).await?;
    let failed: Vec<String> = summaries.into_iter().filter_map(|s| s.error).collect();
    if !failed.is_empty() {
        return Err(Error::Fatal(format!(
            "{} stream(s) are incomplete, and a read with the last STATE of each stream resumes \
             them where they stopped: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(())
}

/// The configured catalog, with errors naming the entry and field at fault.
fn parse_catalog(value: Value) -> Result<ConfiguredCatalog> {
    if !value.get("streams").is_some_and(Value::is_array) {
        return Err(Error::config(
            "The --catalog file has no \"streams\" array; pass a configured catalog as written \
             by discover plus sync modes.",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        Error::config(format!(
            "Catalog {}; pass a configured catalog as written by discover plus sync modes \
             (sync_mode \"incremental\" or \"full_refresh\").",
            field_problem(&path, &err.into_inner().to_string())
        ))
    })
}

/// The ERROR trace that ends a failed command.
pub fn error_trace(err: &Error) -> Message<'static> {
    let failure_type = match err.class() {
        ErrorClass::Config | ErrorClass::Auth => FailureType::ConfigError,
        ErrorClass::Retryable | ErrorClass::RateLimited => FailureType::TransientError,
        _ => FailureType::SystemError,
    };
    Message::Trace {
        trace: Trace::Error {
            emitted_at: now_millis() as f64,
            error: TraceError {
                message: crate::scrub::scrub(&err.to_string()).into_owned(),
                failure_type,
                stream_descriptor: None,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`parse_state`], each stream's state read as JSON for comparing.
    fn parsed(text: &str) -> Result<BTreeMap<String, Value>> {
        Ok(parse_state(text)?
            .into_iter()
            .map(|(stream, state)| (stream, serde_json::from_str(state.get()).unwrap()))
            .collect())
    }

    /// A `STATE` line as `read` prints it, for a stream and cursor.
    fn printed(stream: &str, cursor: &str) -> String {
        json!({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": stream},
            "stream_state": {"advertisers": {"1": {"cursor": cursor}}}},
            "sourceStats": {"recordCount": 3.0}}})
        .to_string()
    }

    #[test]
    fn state_lines_as_read_printed_them_are_accepted() {
        // One per line, as `grep '"type":"STATE"' out.jsonl` leaves them: the last of each
        // stream counts.
        let lines = [
            printed("campaigns", "2024-01-01"),
            printed("ads", "2024-01-02"),
            printed("campaigns", "2024-01-03"),
        ]
        .join("\n");
        let states = parsed(&format!("{lines}\n")).unwrap();
        assert_eq!(
            states["campaigns"],
            json!({"advertisers": {"1": {"cursor": "2024-01-03"}}})
        );
        assert_eq!(
            states["ads"],
            json!({"advertisers": {"1": {"cursor": "2024-01-02"}}})
        );
        // One printed line alone, and printed lines in an array.
        let one = parsed(&printed("ads", "2024-01-04")).unwrap();
        assert_eq!(one["ads"]["advertisers"]["1"]["cursor"], "2024-01-04");
        let array = format!(
            "[{}, {}]",
            printed("ads", "2024-01-05"),
            printed("campaigns", "2024-01-06")
        );
        let both = parsed(&array).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both["ads"]["advertisers"]["1"]["cursor"], "2024-01-05");
        // Other lines of the same output are refused with the fix; so is a STATE without state.
        let record = r#"{"type":"RECORD","record":{"stream":"ads","data":{},"emitted_at":1}}"#;
        let err = parsed(&format!("{}\n{record}", printed("ads", "x"))).unwrap_err();
        assert!(err.to_string().contains("RECORD message"), "{err}");
        assert!(err.to_string().contains("grep"), "{err}");
        let err = parsed(r#"{"type":"STATE"}"#).unwrap_err();
        assert!(err.to_string().contains("without its `state`"), "{err}");
        // A line cut short names where.
        let err = parsed(&format!("{}\n{{\"type\": \"STA", printed("ads", "x"))).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn every_state_form_is_accepted() {
        let modern = r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"campaigns","namespace":null},
            "stream_state":{"advertisers":{"1":{"cursor":"x"}}}},"global_":null,"data":null,"sourceStats":{"recordCount":1.0}}]"#;
        let states = parsed(modern).unwrap();
        assert_eq!(
            states["campaigns"],
            json!({"advertisers": {"1": {"cursor": "x"}}})
        );
        let legacy = parsed(r#"{"ads": {"modify_time": "2024-01-01 00:00:00"}}"#).unwrap();
        assert!(legacy.contains_key("ads"));
        for empty in ["", "  \n", "{}", "null", "[]"] {
            assert!(parsed(empty).unwrap().is_empty(), "{empty:?}");
        }
        let global = r#"[{"type":"GLOBAL","global":{"stream_states":[{"stream_descriptor":{"name":"ads"},"stream_state":{}}]}}]"#;
        assert!(parsed(global).unwrap().contains_key("ads"));
        assert!(parsed("[1]").is_err());
        // A legacy LEGACY message on its own.
        let legacy_message = r#"{"type":"LEGACY","data":{"ads":{"cursor":"y"}}}"#;
        assert_eq!(
            parsed(legacy_message).unwrap()["ads"],
            json!({"cursor": "y"})
        );

        assert!(parsed("\"text\"").is_err());
        assert!(parsed("{\"truncated\": ").is_err());
    }

    /// The text of a stream state of `n` advertisers, as this connector writes it.
    fn advertisers_state(n: u64) -> String {
        let entries: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "\"{}\":{{\"cursor\":\"2024-02-01 00:00:00\"}}",
                    7_100_000_000_000_000_000 + i
                )
            })
            .collect();
        format!("{{\"advertisers\":{{{}}}}}", entries.join(","))
    }

    /// A large state is read straight from its text into the typed state (no JSON tree of it),
    /// and comes back out byte for byte. (How its memory grows is measured, not timed here:
    /// the ignored `state_memory` test in tests/it/hostile.rs and README's State size.)
    #[test]
    fn a_state_of_many_advertisers_round_trips() {
        for n in [10_000, 100_000] {
            let stream_state = advertisers_state(n);
            let file = format!(
                "{{\"type\":\"STATE\",\"state\":{{\"type\":\"STREAM\",\"stream\":\
                 {{\"stream_descriptor\":{{\"name\":\"campaigns\"}},\"stream_state\":{stream_state}}}}}}}"
            );
            let mut states = parse_state(&file).unwrap();
            let state = BindingState::from_raw(&states.remove("campaigns").unwrap()).unwrap();
            assert_eq!(state.advertisers.len(), n as usize);
            assert_eq!(
                state.cursor(7_100_000_000_000_000_000 + n - 1),
                Some("2024-02-01 00:00:00")
            );
            assert_eq!(serde_json::to_string(&state).unwrap(), stream_state);
        }
    }
}
