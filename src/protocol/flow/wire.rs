//! The Flow capture protocol's messages as serde types: the requests the runtime sends us
//! ([`Request`] and its parts) and the responses we send ([`Response`]). Requests accept unknown
//! fields and missing defaults, as the runtime sends many fields we do not use and omits empty
//! ones; responses carry exactly the camelCase fields the runtime knows and never `null` (the
//! runtime refuses unknown fields). Documents that are ours to define (configs, schemas, state
//! patches) stay JSON values.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The protocol version `spec` announces.
pub(crate) const PROTOCOL: u32 = 3032023;

// ------------------------------------------------------------------------------------ requests

/// One request line: exactly one of these.
#[derive(Debug)]
pub(crate) enum Request {
    Spec(SpecRequest),
    Discover(Discover),
    Validate(Validate),
    Apply(Apply),
    Open(Open),
    /// Sent only when `opened` asks for acknowledgements, which we never do; tolerated.
    Acknowledge,
}

/// The request names, as the runtime spells them.
const REQUEST_NAMES: &[&str] = &[
    "spec",
    "discover",
    "validate",
    "apply",
    "open",
    "acknowledge",
];

impl Request {
    /// Parses one request line. Errors name the offending field and never echo the line: it may
    /// hold credentials.
    pub(crate) fn parse(line: &str) -> Result<Request> {
        // `open` carries the state of every binding, which can hold a million advertisers: it
        // is read from the line's text straight into its types, its binding states left as
        // text for the typed state to read once. Other requests are small.
        if let Ok(fields) =
            serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(line)
        {
            if let (1, Some(body)) = (fields.len(), fields.get("open")) {
                let body = if body.get() == "null" {
                    "{}"
                } else {
                    body.get()
                };
                return Ok(Request::Open(typed_text("open", body)?));
            }
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            Error::config(format!(
                "A Flow request on stdin is not valid JSON ({}, line 1 column {}); expected one \
                 object per line such as {{\"spec\": {{}}}}.",
                syntax_problem(&e),
                e.column()
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(Error::config(format!(
                "A Flow request must be a JSON object with exactly one of spec, discover, \
                 validate, apply or open; got {}.",
                crate::protocol::json_kind(&value)
            )));
        };
        if map.is_empty() {
            return Err(Error::config(
                "A Flow request on stdin has none of spec, discover, validate, apply or open; \
                 is the connector started by the Flow runtime?",
            ));
        }
        if map.len() != 1 {
            let known: Vec<&str> = map
                .keys()
                .filter_map(|k| REQUEST_NAMES.iter().find(|n| **n == k).copied())
                .collect();
            let unknown = map.len() - known.len();
            return Err(Error::config(format!(
                "A Flow request must be a JSON object with exactly one of spec, discover, \
                 validate, apply or open; got {} field(s): [{}]{}.",
                map.len(),
                known.join(", "),
                if unknown > 0 {
                    format!(" and {unknown} other(s)")
                } else {
                    String::new()
                }
            )));
        }
        let (name, body) = map.into_iter().next().expect("one field");
        let body = if body.is_null() {
            Value::Object(Map::new())
        } else {
            body
        };
        Ok(match name.as_str() {
            "spec" => Request::Spec(typed(&name, body)?),
            "discover" => Request::Discover(typed(&name, body)?),
            "validate" => Request::Validate(typed(&name, body)?),
            "apply" => Request::Apply(typed(&name, body)?),
            "open" => Request::Open(typed(&name, body)?),
            "acknowledge" => Request::Acknowledge,
            _ => {
                return Err(Error::config(
                    "A Flow request on stdin has none of spec, discover, validate, apply or \
                     open; is the connector started by the Flow runtime?",
                ))
            }
        })
    }
}

/// What is wrong with a line that is not JSON, without quoting it.
fn syntax_problem(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        _ => "a syntax error",
    }
}

fn typed<T: serde::de::DeserializeOwned>(name: &str, body: Value) -> Result<T> {
    serde_path_to_error::deserialize(body).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." {
            name.to_string()
        } else {
            format!("{name}.{path}")
        };
        Error::config(format!(
            "The Flow {name} request is malformed: {}.",
            crate::protocol::field_problem(&path, &err.into_inner().to_string())
        ))
    })
}

/// [`typed`] from the request's text rather than its JSON tree.
fn typed_text<'a, T: Deserialize<'a>>(name: &str, body: &'a str) -> Result<T> {
    let mut text = serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(&mut text).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." {
            name.to_string()
        } else {
            format!("{name}.{path}")
        };
        // serde_json names a position in the text; the path names the place, as from a tree.
        let inner = err.into_inner();
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = inner.to_string();
        let message = message.strip_suffix(&position).unwrap_or(&message);
        Error::config(format!(
            "The Flow {name} request is malformed: {}.",
            crate::protocol::field_problem(&path, message)
        ))
    })
}

/// `spec`: nothing we use.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SpecRequest {}

/// `discover`: the endpoint config.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Discover {
    #[serde(default)]
    pub(crate) config: Value,
}

/// `validate`: the endpoint config and the proposed bindings.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Validate {
    #[serde(default)]
    pub(crate) config: Value,
    #[serde(default)]
    pub(crate) bindings: Vec<ValidateBinding>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidateBinding {
    pub(crate) resource_config: ResourceConfig,
}

/// `apply`: the capture as it will run.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Apply {
    #[serde(default)]
    pub(crate) capture: CaptureSpec,
}

/// `open`: the capture to run and the state of its last checkpoint.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Open {
    #[serde(default)]
    pub(crate) capture: CaptureSpec,
    /// Absent or `null` on a first run.
    #[serde(default)]
    pub(crate) state: Option<ConnectorState>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CaptureSpec {
    #[serde(default)]
    pub(crate) config: Value,
    #[serde(default)]
    pub(crate) bindings: Vec<CaptureBinding>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CaptureBinding {
    pub(crate) resource_config: ResourceConfig,
    #[serde(default)]
    pub(crate) resource_path: Vec<String>,
    /// Empty from older runtimes: then derived from the resource path.
    #[serde(default)]
    pub(crate) state_key: String,
}

/// A binding's resource config: the stream and how it is read. Written by discovery, read back
/// in every request that names bindings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceConfig {
    pub(crate) stream: String,
    #[serde(default)]
    pub(crate) sync_mode: SyncMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SyncMode {
    /// Resume where the last run stopped.
    #[default]
    Incremental,
    /// Read everything every run, keep no cursor.
    FullRefresh,
}

/// The connector state the runtime hands back to `open`: the merge of every checkpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "an object (the state of the last checkpoint, or {} on a first run)")]
pub(crate) struct ConnectorState {
    /// Our bindings' states, by state key.
    /// Each left as text, read once into the typed state ([`BindingState::from_raw`]).
    ///
    /// [`BindingState::from_raw`]: crate::capture::state::BindingState::from_raw
    #[serde(rename = "bindingStateV1", default)]
    pub(crate) binding_state_v1: std::collections::BTreeMap<String, Box<RawValue>>,
    /// The state the earlier Airbyte-based image kept, by stream name (migrated on first use).
    #[serde(flatten)]
    pub(crate) earlier: Map<String, Value>,
}

// ----------------------------------------------------------------------------------- responses

/// One response line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Response<'a> {
    /// Boxed: much larger than the per-record variants.
    Spec(Box<Spec>),
    Discovered(Discovered),
    Validated(Validated),
    Applied(Applied),
    Opened(Opened),
    /// The emitter writes `captured` lines by hand; the tests hold them to this typed form.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the emitter writes these lines by hand")
    )]
    Captured(Captured<'a>),
    Checkpoint(Checkpoint),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Spec {
    pub(crate) protocol: u32,
    pub(crate) config_schema: Value,
    pub(crate) resource_config_schema: Value,
    pub(crate) documentation_url: String,
    pub(crate) oauth2: OAuth2,
    pub(crate) resource_path_pointers: Vec<String>,
}

/// How the platform runs the OAuth2 flow for the user: URL templates (mustache) it fills in.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OAuth2 {
    pub(crate) provider: String,
    pub(crate) auth_url_template: String,
    pub(crate) access_token_url_template: String,
    pub(crate) access_token_body: String,
    pub(crate) access_token_headers: Map<String, Value>,
    /// Where each config field is found in the token response (JSON pointers).
    pub(crate) access_token_response_map: Map<String, Value>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Discovered {
    pub(crate) bindings: Vec<DiscoveredBinding>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiscoveredBinding {
    pub(crate) recommended_name: String,
    pub(crate) resource_config: ResourceConfig,
    pub(crate) document_schema: Value,
    /// JSON pointers of the collection key.
    pub(crate) key: Vec<String>,
    pub(crate) resource_path: Vec<String>,
    /// Offered but not enabled until the user enables it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) disable: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Validated {
    pub(crate) bindings: Vec<ValidatedBinding>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidatedBinding {
    pub(crate) resource_path: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Applied {
    pub(crate) action_description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Opened {
    pub(crate) explicit_acknowledgements: bool,
}

/// A captured document. The emitter writes these lines from pre-rendered bytes for speed; a
/// test proves its bytes equal this type's.
#[derive(Debug, Serialize)]
pub(crate) struct Captured<'a> {
    pub(crate) binding: usize,
    pub(crate) doc: &'a RawValue,
}

#[derive(Debug, Serialize)]
pub(crate) struct Checkpoint {
    pub(crate) state: StateUpdate,
}

/// A state update: with `merge_patch`, merged into the previous state (RFC 7396).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateUpdate {
    pub(crate) updated: StatePatch,
    pub(crate) merge_patch: bool,
}

/// The part of [`ConnectorState`] a checkpoint changes: binding states by state key.
#[derive(Debug, Default, Serialize)]
pub(crate) struct StatePatch {
    #[serde(rename = "bindingStateV1", skip_serializing_if = "Map::is_empty")]
    pub(crate) binding_state_v1: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    //! One snapshot per message type: requests as the runtime sends them, parsed; responses as
    //! we write them.
    use super::*;
    use serde_json::json;

    fn parse(request: Value) -> Request {
        Request::parse(&request.to_string()).unwrap()
    }

    fn capture() -> Value {
        json!({"name": "acmeCo/tiktok", "connectorType": "IMAGE", "config": {"start_date": "2024-01-01"},
            "intervalSeconds": 300, "bindings": [{
                "resourceConfig": {"stream": "ads", "syncMode": "incremental"},
                "resourcePath": ["ads"], "stateKey": "ads",
                "collection": {"name": "acmeCo/ads", "key": ["/ad_id"], "writeSchema": {}}}]})
    }

    #[test]
    fn spec_request() {
        let request = parse(json!({"spec": {"connectorType": "IMAGE", "config": {}}}));
        insta::assert_debug_snapshot!(request);
    }

    #[test]
    fn discover_request() {
        let request = parse(
            json!({"discover": {"connectorType": "IMAGE", "config": {"start_date": "2024-01-01"}}}),
        );
        insta::assert_debug_snapshot!(request);
    }

    #[test]
    fn validate_request() {
        let request = parse(
            json!({"validate": {"name": "acmeCo/tiktok", "connectorType": "IMAGE",
            "config": {"start_date": "2024-01-01"},
            "bindings": [{"resourceConfig": {"stream": "ads_reports_daily"},
                          "collection": {"name": "acmeCo/ads_reports_daily", "key": ["/ad_id"]}}]}}),
        );
        insta::assert_debug_snapshot!(request);
    }

    #[test]
    fn apply_request() {
        let request = parse(json!({"apply": {"capture": capture(), "version": "abc"}}));
        insta::assert_debug_snapshot!(request);
    }

    #[test]
    fn open_request() {
        let request = parse(json!({"open": {"capture": capture(), "version": "abc",
            "range": {"keyEnd": 4294967295u32, "rClockEnd": 4294967295u32},
            "state": {"bindingStateV1": {"ads": {"advertisers": {"7": {"cursor": "2024-05-01 00:00:00"}}}},
                      "campaigns": {"modify_time": "2024-01-01 00:00:00"}}}}));
        insta::assert_debug_snapshot!(request);
    }

    #[test]
    fn acknowledge_request() {
        assert!(matches!(
            parse(json!({"acknowledge": {}})),
            Request::Acknowledge
        ));
    }

    /// The line exactly as written (pretty-printed for reading).
    fn line(response: &Response) -> String {
        serde_json::to_string_pretty(response).unwrap()
    }

    #[test]
    fn spec_response() {
        let response = Response::Spec(Box::new(Spec {
            protocol: PROTOCOL,
            config_schema: json!({"type": "object"}),
            resource_config_schema: json!({"type": "object"}),
            documentation_url: "https://example.com/docs".into(),
            oauth2: OAuth2 {
                provider: "tiktok".into(),
                auth_url_template: "https://auth?app_id={{{ client_id }}}".into(),
                access_token_url_template: "https://token?code={{{ code }}}".into(),
                access_token_body: String::new(),
                access_token_headers: Map::new(),
                access_token_response_map: json!({"access_token": "/data/access_token"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            resource_path_pointers: vec!["/stream".into()],
        }));
        insta::assert_snapshot!(line(&response));
    }

    #[test]
    fn discovered_response() {
        let binding = |name: &str, disable: bool| DiscoveredBinding {
            recommended_name: name.into(),
            resource_config: ResourceConfig {
                stream: name.into(),
                sync_mode: SyncMode::FullRefresh,
            },
            document_schema: json!({"type": "object"}),
            key: vec!["/id".into()],
            resource_path: vec![name.into()],
            disable,
        };
        let response = Response::Discovered(Discovered {
            bindings: vec![binding("advertisers", false), binding("pixels", true)],
        });
        insta::assert_snapshot!(line(&response));
    }

    #[test]
    fn validated_response() {
        let response = Response::Validated(Validated {
            bindings: vec![ValidatedBinding {
                resource_path: vec!["ads".into()],
            }],
        });
        insta::assert_snapshot!(line(&response));
    }

    #[test]
    fn applied_response() {
        let response = Response::Applied(Applied {
            action_description: String::new(),
        });
        insta::assert_snapshot!(line(&response));
    }

    #[test]
    fn opened_response() {
        let response = Response::Opened(Opened {
            explicit_acknowledgements: false,
        });
        insta::assert_snapshot!(line(&response));
    }

    #[test]
    fn captured_response() {
        let doc = RawValue::from_string("{\"ad_id\":1}".into()).unwrap();
        let response = Response::Captured(Captured {
            binding: 2,
            doc: &doc,
        });
        insta::assert_snapshot!(line(&response));
    }

    #[test]
    fn checkpoint_response() {
        let mut patch = StatePatch::default();
        patch
            .binding_state_v1
            .insert("ads".into(), json!({"advertisers": {"7": {"cursor": "x"}}}));
        let response = Response::Checkpoint(Checkpoint {
            state: StateUpdate {
                updated: patch,
                merge_patch: true,
            },
        });
        insta::assert_snapshot!(line(&response));
        let empty = Response::Checkpoint(Checkpoint {
            state: StateUpdate {
                updated: StatePatch::default(),
                merge_patch: true,
            },
        });
        insta::assert_snapshot!("checkpoint_response_empty", line(&empty));
    }

    #[test]
    fn malformed_requests_name_the_field_and_never_echo_values() {
        let secret = "s3cr3t-value";
        let cases = [
            (
                json!({"validate": {"bindings": [{"resourceConfig": {"stream": secret, "syncMode": secret}}]}}),
                "validate.bindings[0].resourceConfig.syncMode",
            ),
            (
                json!({"validate": {"bindings": [{"resourceConfig": {"stream": 5}}]}}),
                "validate.bindings[0].resourceConfig.stream",
            ),
            (
                json!({"validate": {"bindings": [{"resourceConfig": {}}]}}),
                "validate.bindings[0].resourceConfig.stream is missing",
            ),
            (json!({"open": {"state": secret}}), "open.state"),
            (json!({"open": {"state": [1, 2, 3]}}), "open.state"),
            (
                json!({"open": {"state": {"bindingStateV1": secret}}}),
                "open.state.bindingStateV1",
            ),
            (json!({"spec": {}, secret: 1}), "[spec] and 1 other(s)"),
            (json!(secret), "got a string"),
        ];
        for (request, needle) in cases {
            let message = Request::parse(&request.to_string())
                .unwrap_err()
                .to_string();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            assert!(!message.contains(secret), "{message:?} echoes the request");
        }
        let truncated = format!("{{\"open\": {{\"config\": {{\"token\": \"{secret}");
        let message = Request::parse(&truncated).unwrap_err().to_string();
        assert!(message.contains("ends too early"), "{message}");
        assert!(!message.contains(secret), "{message}");
    }

    #[test]
    fn a_state_that_is_not_an_object_is_refused_and_null_is_a_first_run() {
        for state in [json!("garbage"), json!([1, 2, 3]), json!(5)] {
            let message = Request::parse(&json!({"open": {"state": state}}).to_string())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("open.state") && message.contains("an object"),
                "{message}"
            );
        }
        for state in [json!(null), json!({})] {
            let Request::Open(open) =
                Request::parse(&json!({"open": {"state": state}}).to_string()).unwrap()
            else {
                panic!("not an open")
            };
            let state = open.state.unwrap_or_default();
            assert!(state.binding_state_v1.is_empty() && state.earlier.is_empty());
        }
    }

    /// `open` is read from its text: a binding state of 100,000 advertisers reaches the typed
    /// state whole, and comes back out byte for byte.
    #[test]
    fn a_large_binding_state_is_kept_as_text_and_read_whole() {
        let entries: Vec<String> = (0..100_000u64)
            .map(|i| {
                format!(
                    "\"{}\":{{\"cursor\":\"2024-02-01\"}}",
                    7_100_000_000_000_000_000 + i
                )
            })
            .collect();
        let binding_state = format!("{{\"advertisers\":{{{}}}}}", entries.join(","));
        let line = format!(
            "{{\"open\":{{\"state\":{{\"bindingStateV1\":{{\"ads\":{binding_state}}}}}}}}}"
        );
        let Request::Open(open) = Request::parse(&line).unwrap() else {
            panic!("not an open")
        };
        let raw = &open.state.unwrap().binding_state_v1["ads"];
        assert_eq!(raw.get(), binding_state);
        let state = crate::capture::state::BindingState::from_raw(raw).unwrap();
        assert_eq!(state.cursor(7_100_000_000_000_000_099), Some("2024-02-01"));
        assert_eq!(serde_json::to_string(&state).unwrap(), binding_state);
    }
}
