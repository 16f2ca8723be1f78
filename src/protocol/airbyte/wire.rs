//! The Airbyte protocol's messages as serde types: the [`Message`] lines we write (`SPEC`,
//! `CONNECTION_STATUS`, `CATALOG`, `RECORD`, `STATE`, `LOG`, `TRACE`) and the files we read
//! (the configured catalog and the state messages of `--state`). Read types accept unknown
//! fields, as platforms add their own; written types carry the protocol's field names exactly
//! (mostly snake_case, with the protocol's few camelCase exceptions). Documents that are ours
//! to define (configs, schemas, stream states) stay JSON values.

use crate::capture::state::BindingState;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// One output line.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message<'a> {
    /// Boxed: much larger than the per-record variants.
    Spec {
        spec: Box<ConnectorSpecification>,
    },
    ConnectionStatus {
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus,
    },
    Catalog {
        catalog: Catalog,
    },
    Record {
        record: Record<'a>,
    },
    State {
        state: StateMessage<'a>,
    },
    Log {
        log: Log,
    },
    Trace {
        trace: Trace,
    },
}

// ---------------------------------------------------------------------------------------- spec

#[derive(Debug, Serialize)]
pub struct ConnectorSpecification {
    #[serde(rename = "documentationUrl")]
    pub(crate) documentation_url: String,
    #[serde(rename = "connectionSpecification")]
    pub(crate) connection_specification: Value,
    #[serde(rename = "supportsIncremental")]
    pub(crate) supports_incremental: bool,
    pub(crate) supported_destination_sync_modes: Vec<DestinationSyncMode>,
    pub(crate) advanced_auth: AdvancedAuth,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DestinationSyncMode {
    Overwrite,
    Append,
    AppendDedup,
}

/// Where the platform's OAuth flow puts what it obtains: applies when the config value at
/// `predicate_key` equals `predicate_value`.
#[derive(Debug, Serialize)]
pub(crate) struct AdvancedAuth {
    pub(crate) auth_flow_type: String,
    pub(crate) predicate_key: Vec<String>,
    pub(crate) predicate_value: String,
    pub(crate) oauth_config_specification: OAuthConfigSpecification,
}

/// JSON schemas of the OAuth flow's inputs and outputs, each property naming its place in the
/// connector config.
#[derive(Debug, Serialize)]
pub(crate) struct OAuthConfigSpecification {
    pub(crate) complete_oauth_output_specification: Value,
    pub(crate) complete_oauth_server_input_specification: Value,
    pub(crate) complete_oauth_server_output_specification: Value,
}

// ------------------------------------------------------------------------------ check, catalog

#[derive(Debug, Serialize)]
pub struct ConnectionStatus {
    pub(crate) status: Status,
    pub(crate) message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    Succeeded,
    Failed,
}

#[derive(Debug, Serialize)]
pub struct Catalog {
    pub(crate) streams: Vec<CatalogStream>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CatalogStream {
    pub(crate) name: String,
    pub(crate) json_schema: Value,
    pub(crate) source_defined_primary_key: Vec<Vec<String>>,
    pub(crate) is_resumable: bool,
    pub(crate) supported_sync_modes: Vec<SyncMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source_defined_cursor: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) default_cursor_field: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SyncMode {
    FullRefresh,
    Incremental,
}

// ------------------------------------------------------------------------------- read: records

/// A record. The emitter writes these lines from pre-rendered bytes for speed; a test proves
/// its bytes equal this type's.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub(crate) stream: &'a str,
    pub(crate) data: &'a RawValue,
    /// Milliseconds since the Unix epoch.
    pub(crate) emitted_at: u64,
}

/// A per-stream state: the platform replaces the stream's state with each one.
#[derive(Debug, Serialize)]
pub struct StateMessage<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: StateType,
    pub(crate) stream: StreamState<'a>,
    #[serde(rename = "sourceStats")]
    pub(crate) source_stats: SourceStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum StateType {
    Stream,
    Global,
    Legacy,
}

#[derive(Debug, Serialize)]
pub(crate) struct StreamState<'a> {
    pub(crate) stream_descriptor: StreamDescriptor,
    /// Serialized straight from the engine's folded state: no copy of it is made, however many
    /// advertisers it holds.
    pub(crate) stream_state: &'a BindingState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StreamDescriptor {
    pub(crate) name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SourceStats {
    /// Records since the stream's previous state (a number, as the protocol declares it).
    #[serde(rename = "recordCount")]
    pub(crate) record_count: f64,
}

#[derive(Debug, Serialize)]
pub struct Log {
    pub(crate) level: LogLevel,
    pub(crate) message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum LogLevel {
    Error,
    Warn,
    Info,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trace {
    StreamStatus {
        /// Milliseconds since the Unix epoch (a number, as the protocol declares it).
        emitted_at: f64,
        stream_status: StreamStatus,
    },
    Error {
        emitted_at: f64,
        error: TraceError,
    },
}

#[derive(Debug, Serialize)]
pub struct StreamStatus {
    pub(crate) stream_descriptor: StreamDescriptor,
    pub(crate) status: StreamRunStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum StreamRunStatus {
    Started,
    Complete,
    Incomplete,
}

#[derive(Debug, Serialize)]
pub struct TraceError {
    pub(crate) message: String,
    pub(crate) failure_type: FailureType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream_descriptor: Option<StreamDescriptor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[expect(
    clippy::enum_variant_names,
    reason = "Airbyte's names: `config_error`, `system_error`, ..."
)]
pub(crate) enum FailureType {
    /// The user must change the config.
    ConfigError,
    /// Trying again later may succeed.
    TransientError,
    SystemError,
}

// --------------------------------------------------------------------------------- read: input

/// The configured catalog of `read --catalog`: the streams to read and how.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfiguredCatalog {
    pub(crate) streams: Vec<ConfiguredStream>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfiguredStream {
    pub(crate) stream: ConfiguredStreamInfo,
    /// Absent: full refresh.
    #[serde(default)]
    pub(crate) sync_mode: Option<SyncMode>,
}

/// Of the stream as discovered, only its name matters: the rest is ours already.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfiguredStreamInfo {
    pub(crate) name: String,
}

/// One state message of `read --state`, in any of the protocol's three kinds. `kind` is absent
/// in the oldest legacy files.
#[derive(Debug, Deserialize)]
pub(crate) struct InputStateMessage {
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<StateType>,
    #[serde(default)]
    pub(crate) stream: Option<InputStreamState>,
    #[serde(default)]
    pub(crate) global: Option<InputGlobalState>,
    /// LEGACY: every stream's state in one object, by stream name (each left as text).
    #[serde(default)]
    pub(crate) data: Option<std::collections::BTreeMap<String, Box<RawValue>>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InputStreamState {
    pub(crate) stream_descriptor: StreamDescriptor,
    /// Left as text, read once into the typed state; absent or `null` is a first run.
    #[serde(default)]
    pub(crate) stream_state: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InputGlobalState {
    #[serde(default)]
    pub(crate) stream_states: Vec<InputStreamState>,
}

#[cfg(test)]
mod tests {
    //! One snapshot per message type: output lines as we write them, input files as parsed.
    use super::*;
    use serde_json::json;

    /// The line exactly as written (pretty-printed for reading).
    fn line(message: &Message) -> String {
        serde_json::to_string_pretty(message).unwrap()
    }

    fn descriptor(name: &str) -> StreamDescriptor {
        StreamDescriptor { name: name.into() }
    }

    #[test]
    fn spec_message() {
        let message = Message::Spec {
            spec: Box::new(ConnectorSpecification {
                documentation_url: "https://example.com/docs".into(),
                connection_specification: json!({"type": "object"}),
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
                        complete_oauth_output_specification: json!({"type": "object"}),
                        complete_oauth_server_input_specification: json!({"type": "object"}),
                        complete_oauth_server_output_specification: json!({"type": "object"}),
                    },
                },
            }),
        };
        insta::assert_snapshot!(line(&message));
    }

    #[test]
    fn connection_status_message() {
        let message = Message::ConnectionStatus {
            connection_status: ConnectionStatus {
                status: Status::Failed,
                message: "TikTok rejected the credentials".into(),
            },
        };
        insta::assert_snapshot!(line(&message));
    }

    #[test]
    fn catalog_message() {
        let message = Message::Catalog {
            catalog: Catalog {
                streams: vec![
                    CatalogStream {
                        name: "ads".into(),
                        json_schema: json!({"type": "object"}),
                        source_defined_primary_key: vec![vec!["ad_id".into()]],
                        is_resumable: true,
                        supported_sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
                        source_defined_cursor: Some(true),
                        default_cursor_field: Some(vec!["modify_time".into()]),
                    },
                    CatalogStream {
                        name: "pixels".into(),
                        json_schema: json!({"type": "object"}),
                        source_defined_primary_key: vec![vec!["pixel_id".into()]],
                        is_resumable: true,
                        supported_sync_modes: vec![SyncMode::FullRefresh],
                        source_defined_cursor: None,
                        default_cursor_field: None,
                    },
                ],
            },
        };
        insta::assert_snapshot!(line(&message));
    }

    #[test]
    fn record_message() {
        let data = RawValue::from_string("{\"ad_id\":1}".into()).unwrap();
        let message = Message::Record {
            record: Record {
                stream: "ads",
                data: &data,
                emitted_at: 1_700_000_000_000,
            },
        };
        insta::assert_snapshot!(line(&message));
    }

    #[test]
    fn state_message() {
        let folded = BindingState::from_any(&json!({"advertisers": {"7": {"cursor": "x"}}}))
            .expect("a state of this connector");
        let message = Message::State {
            state: StateMessage {
                kind: StateType::Stream,
                stream: StreamState {
                    stream_descriptor: descriptor("ads"),
                    stream_state: &folded,
                },
                source_stats: SourceStats { record_count: 3.0 },
            },
        };
        insta::assert_snapshot!(line(&message));
    }

    #[test]
    fn log_message() {
        let message = Message::Log {
            log: Log {
                level: LogLevel::Warn,
                message: "Skipping an advertiser this token cannot read.".into(),
            },
        };
        insta::assert_snapshot!(line(&message));
    }

    #[test]
    fn trace_messages() {
        let status = Message::Trace {
            trace: Trace::StreamStatus {
                emitted_at: 1.7e12,
                stream_status: StreamStatus {
                    stream_descriptor: descriptor("ads"),
                    status: StreamRunStatus::Started,
                },
            },
        };
        insta::assert_snapshot!("trace_stream_status", line(&status));
        let error = Message::Trace {
            trace: Trace::Error {
                emitted_at: 1.7e12,
                error: TraceError {
                    message: "boom".into(),
                    failure_type: FailureType::SystemError,
                    stream_descriptor: Some(descriptor("ads")),
                },
            },
        };
        insta::assert_snapshot!("trace_error", line(&error));
    }

    #[test]
    fn configured_catalog_input() {
        let catalog: ConfiguredCatalog = serde_json::from_value(json!({"streams": [
            {"stream": {"name": "ads", "json_schema": {}, "supported_sync_modes": ["incremental"]},
             "sync_mode": "incremental", "destination_sync_mode": "append", "cursor_field": ["modify_time"]},
            {"stream": {"name": "pixels"}}]}))
        .unwrap();
        insta::assert_debug_snapshot!(catalog);
    }

    #[test]
    fn state_message_inputs() {
        let states: Vec<InputStateMessage> = serde_json::from_value(json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "ads", "namespace": null},
                "stream_state": {"advertisers": {"1": {"cursor": "x"}}}}, "sourceStats": {"recordCount": 1.0}},
            {"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": [
                {"stream_descriptor": {"name": "campaigns"}, "stream_state": {}}]}},
            {"type": "LEGACY", "data": {"adgroups": {"modify_time": "2024-01-01 00:00:00"}}}
        ]))
        .unwrap();
        insta::assert_debug_snapshot!(states);
    }
}
