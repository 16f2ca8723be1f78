//! The Flow capture protocol over JSON lines (protocols.md section 1): `spec`, `discover`,
//! `validate`, `apply` answered one line each, and `open`, which answers `opened`, runs the
//! capture and ends after its final checkpoint. Request types accept unknown fields and missing
//! defaults, as the runtime omits them; response types emit exactly the fields the runtime
//! knows, never `null`.

use std::io::Write;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::emit::{write_line, Framing};
use super::{state_key, DOCUMENTATION_URL};
use crate::capture::state::BindingState;
use crate::capture::Binding;
use crate::config::{self, Config, Flavor};
use crate::error::{Error, Result};
use crate::registry::{self, Stream};

pub const PROTOCOL: u32 = 3032023;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Request {
    spec: Option<Value>,
    discover: Option<Discover>,
    validate: Option<Validate>,
    apply: Option<Apply>,
    open: Option<Open>,
    acknowledge: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Discover {
    #[serde(default)]
    config: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Validate {
    #[serde(default)]
    config: Value,
    #[serde(default)]
    bindings: Vec<ValidateBinding>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ValidateBinding {
    #[serde(default)]
    resource_config: Value,
}

#[derive(Deserialize, Default)]
struct Apply {
    #[serde(default)]
    capture: CaptureSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CaptureSpec {
    #[serde(default)]
    config: Value,
    #[serde(default)]
    bindings: Vec<CaptureBinding>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CaptureBinding {
    #[serde(default)]
    resource_config: Value,
    #[serde(default)]
    resource_path: Vec<String>,
    #[serde(default)]
    state_key: String,
}

#[derive(Deserialize, Default)]
struct Open {
    #[serde(default)]
    capture: CaptureSpec,
    #[serde(default)]
    state: Value,
}

/// A binding's resource config: `{"stream": NAME, "syncMode": "incremental" | "full_refresh"}`.
pub struct ResourceConfig {
    pub stream: String,
    pub incremental: bool,
}

pub fn parse_resource(value: &Value, binding: usize) -> Result<ResourceConfig> {
    let stream = match value.get("stream") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(Error::config(format!(
                "Binding {binding}: resourceConfig.stream is missing or not a string; it must \
                 name a TikTok stream, such as {{\"stream\": \"ads\", \"syncMode\": \
                 \"incremental\"}}. Got {value}."
            )))
        }
    };
    let incremental = match value.get("syncMode") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) if s == "incremental" => true,
        Some(Value::String(s)) if s == "full_refresh" => false,
        Some(other) => {
            return Err(Error::config(format!(
                "Binding {binding} (stream {stream:?}): resourceConfig.syncMode is {other}; use \
                 \"incremental\" or \"full_refresh\"."
            )))
        }
    };
    Ok(ResourceConfig {
        stream,
        incremental,
    })
}

/// The Flow spec response.
pub fn spec() -> Value {
    json!({
        "protocol": PROTOCOL,
        "configSchema": config::endpoint_schema(Flavor::Flow),
        "resourceConfigSchema": resource_config_schema(),
        "documentationUrl": DOCUMENTATION_URL,
        "oauth2": oauth2(),
        "resourcePathPointers": ["/stream"],
    })
}

pub fn resource_config_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "TikTok Marketing Resource",
        "type": "object",
        "required": ["stream", "syncMode"],
        "properties": {
            "stream": {
                "type": "string",
                "title": "Stream",
                "description": "The TikTok resource to capture, such as ads or ads_reports_daily."
            },
            "syncMode": {
                "type": "string",
                "title": "Sync Mode",
                "description": "incremental resumes where the last run stopped; full_refresh reads everything each run.",
                "enum": ["incremental", "full_refresh"],
                "default": "incremental"
            }
        }
    })
}

/// TikTok's OAuth2 flow as Estuary registers it (protocols.md section 2.2).
pub fn oauth2() -> Value {
    json!({
        "provider": "tiktok",
        "authUrlTemplate": "https://ads.tiktok.com/marketing_api/auth?app_id={{#urlencode}}{{{ client_id }}}{{/urlencode}}&redirect_uri={{#urlencode}}{{{ redirect_uri }}}{{/urlencode}}&response_type=code&state={{#urlencode}}{{{ state }}}{{/urlencode}}",
        "accessTokenUrlTemplate": "https://ads.tiktok.com/open_api/v1.2/oauth2/access_token/?app_id={{#urlencode}}{{{ client_id }}}{{/urlencode}}&secret={{#urlencode}}{{{ client_secret }}}{{/urlencode}}&auth_code={{#urlencode}}{{{ code }}}{{/urlencode}}&grant_type=authorization_code",
        "accessTokenBody": "",
        "accessTokenHeaders": {},
        "accessTokenResponseMap": {"access_token": "/data/access_token"}
    })
}

/// The discovered bindings of a config.
pub fn discovered(config: &Config) -> Value {
    let bindings: Vec<Value> = registry::catalog(config)
        .iter()
        .map(|stream| {
            let mut binding = json!({
                "recommendedName": stream.name,
                "resourceConfig": {"stream": stream.name, "syncMode": default_sync_mode(stream)},
                "documentSchema": stream.schema,
                "key": stream.key_pointers(),
                "resourcePath": [stream.name],
            });
            if stream.disabled_by_default {
                binding["disable"] = json!(true);
            }
            binding
        })
        .collect();
    json!({ "bindings": bindings })
}

fn default_sync_mode(stream: &Stream) -> &'static str {
    if stream.cursor.is_some() {
        "incremental"
    } else {
        "full_refresh"
    }
}

/// Resolves the bindings of a validate or open request: every stream must exist for this
/// config and appear once.
fn resolve_bindings(config: &Config, resources: &[Value]) -> Result<Vec<(Stream, bool)>> {
    let mut out: Vec<(Stream, bool)> = Vec::new();
    for (n, resource) in resources.iter().enumerate() {
        let resource = parse_resource(resource, n)?;
        let stream = registry::resolve(&resource.stream, config)
            .map_err(|e| Error::config(format!("Binding {n}: {e}")))?;
        if out.iter().any(|(s, _)| s.name == stream.name) {
            return Err(Error::config(format!(
                "Binding {n}: the stream {:?} is bound twice; remove one of the bindings.",
                stream.name
            )));
        }
        out.push((stream, resource.incremental));
    }
    Ok(out)
}

/// Serves Flow requests until stdin ends (unary calls) or a capture session ends (`open`).
pub async fn serve<R, W>(input: R, mut out: W) -> Result<()>
where
    R: AsyncBufRead + Unpin,
    W: Write + Send + 'static,
{
    let mut lines = input.lines();
    let mut answered = 0usize;
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| Error::io("reading a request from stdin", e))?
    {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| {
            Error::config(format!(
                "A Flow request on stdin is not valid JSON ({e}); expected one object per line \
                 such as {{\"spec\": {{}}}}."
            ))
        })?;
        let variants = value.as_object().map(|o| o.len()).unwrap_or(0);
        if !value.is_object() || variants > 1 {
            // Name the keys, never the values: a request carries the config and its secrets.
            let got = match value.as_object() {
                Some(object) => format!(
                    "an object with the keys {}",
                    crate::scrub::excerpt(
                        &object.keys().cloned().collect::<Vec<_>>().join(", "),
                        120
                    )
                ),
                None => match value {
                    Value::Array(_) => "an array".to_string(),
                    Value::String(_) => "a string".to_string(),
                    _ => "a scalar value".to_string(),
                },
            };
            return Err(Error::config(format!(
                "A Flow request must be a JSON object with exactly one of spec, discover, \
                 validate, apply or open; got {got}."
            )));
        }
        let request: Request = serde_json::from_value(value)
            .map_err(|e| Error::config(format!("A Flow request on stdin is malformed: {e}.")))?;
        let response = if request.spec.is_some() {
            json!({ "spec": spec() })
        } else if let Some(discover) = request.discover {
            let config = config::parse(&discover.config)?;
            json!({ "discovered": discovered(&config) })
        } else if let Some(validate) = request.validate {
            let config = config::parse(&validate.config)?;
            let resources: Vec<Value> = validate
                .bindings
                .into_iter()
                .map(|b| b.resource_config)
                .collect();
            let streams = resolve_bindings(&config, &resources)?;
            let message = crate::check::connection(&config).await?;
            tracing::info!(eventType = "connectorStatus", "{message}");
            let bindings: Vec<Value> = streams
                .iter()
                .map(|(s, _)| json!({"resourcePath": [s.name]}))
                .collect();
            json!({ "validated": { "bindings": bindings } })
        } else if let Some(apply) = request.apply {
            let config = config::parse(&apply.capture.config)?;
            let resources: Vec<Value> = apply
                .capture
                .bindings
                .iter()
                .map(|b| b.resource_config.clone())
                .collect();
            resolve_bindings(&config, &resources)?;
            json!({ "applied": { "actionDescription": "" } })
        } else if let Some(open) = request.open {
            return open_session(open, out).await;
        } else if request.acknowledge.is_some() {
            // Acknowledgements are not requested; tolerate a runtime that sends them anyway.
            continue;
        } else {
            return Err(Error::config(
                "A Flow request on stdin has none of spec, discover, validate, apply or open; \
                 is the connector started by the Flow runtime?",
            ));
        };
        write_line(&mut out, &response).map_err(|e| Error::io("writing a response", e))?;
        answered += 1;
    }
    if answered == 0 {
        return Err(Error::config(
            "No request arrived on stdin. Started without arguments, the connector speaks the \
             Flow capture protocol; run `source-tiktok-marketing --help` for the Airbyte \
             commands and the demo.",
        ));
    }
    Ok(())
}

async fn open_session<W: Write + Send + 'static>(open: Open, mut out: W) -> Result<()> {
    let config = Arc::new(config::parse(&open.capture.config)?);
    let resources: Vec<Value> = open
        .capture
        .bindings
        .iter()
        .map(|b| b.resource_config.clone())
        .collect();
    let streams = resolve_bindings(&config, &resources)?;
    let mut bindings = Vec::new();
    let mut state_keys = Vec::new();
    for (n, ((stream, incremental), spec)) in
        streams.into_iter().zip(&open.capture.bindings).enumerate()
    {
        let key = if spec.state_key.is_empty() {
            let path = if spec.resource_path.is_empty() {
                vec![stream.name.clone()]
            } else {
                spec.resource_path.clone()
            };
            state_key(&path)
        } else {
            spec.state_key.clone()
        };
        let state = binding_state(&open.state, &key, &stream.name, n)?;
        state_keys.push(key);
        bindings.push(Binding {
            stream,
            incremental,
            state,
        });
    }
    write_line(
        &mut out,
        &json!({"opened": {"explicitAcknowledgements": false}}),
    )
    .map_err(|e| Error::io("writing the opened response", e))?;
    tracing::info!(
        eventType = "connectorStatus",
        bindings = bindings.len(),
        "Capture started."
    );
    let summaries = super::capture(config, bindings, Framing::Flow { state_keys }, out).await?;
    let failed: Vec<String> = summaries.into_iter().filter_map(|s| s.error).collect();
    if !failed.is_empty() {
        return Err(Error::Fatal(format!(
            "{} binding(s) could not finish; everything captured before the failure is \
             checkpointed: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(())
}

/// A binding's state: its `bindingStateV1` entry, else the state the Airbyte-based v2 image
/// kept under the stream name, migrated.
fn binding_state(state: &Value, key: &str, stream: &str, n: usize) -> Result<BindingState> {
    let ours = state.get("bindingStateV1").and_then(|m| m.get(key));
    let (value, origin) = match ours {
        Some(v) => (v, "bindingStateV1"),
        None => match state.get(stream) {
            Some(v) => (v, "a state of an earlier version"),
            None => return Ok(BindingState::default()),
        },
    };
    BindingState::from_any(value).ok_or_else(|| {
        Error::config(format!(
            "Binding {n} (stream {stream:?}): its state in {origin} is not in a shape this \
             connector knows ({}). Trigger a backfill of the binding to start it afresh.",
            crate::scrub::excerpt(&value.to_string(), 200)
        ))
    })
}
