//! The Airbyte protocol (protocols.md section 4): `spec`, `check --config`, `discover --config`
//! and `read --config --catalog [--state]`, answering with AirbyteMessage lines. `check` reports
//! a bad config or bad credentials as `FAILED` and exits 0, as Airbyte expects; other failures
//! end with an ERROR trace and a non-zero exit.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::emit::{now_millis, write_line, Framing};
use super::DOCUMENTATION_URL;
use crate::capture::state::BindingState;
use crate::capture::Binding;
use crate::client::ClientOptions;
use crate::config::{self, Config, Flavor};
use crate::error::{Error, ErrorClass, Result};
use crate::registry;

pub fn spec() -> Value {
    json!({
        "type": "SPEC",
        "spec": {
            "documentationUrl": DOCUMENTATION_URL,
            "connectionSpecification": config::endpoint_schema(Flavor::Airbyte),
            "supportsIncremental": true,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
            "advanced_auth": {
                "auth_flow_type": "oauth2.0",
                "predicate_key": ["credentials", "auth_type"],
                "predicate_value": "oauth2.0",
                "oauth_config_specification": {
                    "complete_oauth_output_specification": {
                        "type": "object",
                        "properties": {"access_token": {"type": "string",
                            "path_in_connector_config": ["credentials", "access_token"]}}
                    },
                    "complete_oauth_server_input_specification": {
                        "type": "object",
                        "properties": {"app_id": {"type": "string"}, "secret": {"type": "string"}}
                    },
                    "complete_oauth_server_output_specification": {
                        "type": "object",
                        "properties": {
                            "app_id": {"type": "string", "path_in_connector_config": ["credentials", "app_id"]},
                            "secret": {"type": "string", "path_in_connector_config": ["credentials", "secret"]}
                        }
                    }
                }
            }
        }
    })
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
            "The {flag} file {} is not valid JSON: {e}.",
            path.display()
        ))
    })
}

pub fn load_config(path: &Path) -> Result<Config> {
    config::parse(&read_json(path, "--config")?)
}

pub async fn check<W: Write>(config_path: &Path, out: &mut W) -> Result<()> {
    let outcome = match load_config(config_path) {
        Ok(config) => crate::check::connection(&config).await,
        Err(e) => Err(e),
    };
    let status = match outcome {
        Ok(message) => json!({"status": "SUCCEEDED", "message": crate::scrub::scrub(&message)}),
        Err(err) => {
            tracing::warn!(error = %err, "Connection check failed.");
            json!({"status": "FAILED", "message": crate::scrub::scrub(&err.to_string())})
        }
    };
    write_line(
        out,
        &json!({"type": "CONNECTION_STATUS", "connectionStatus": status}),
    )
    .map_err(|e| Error::io("writing the connection status", e))
}

pub fn catalog(config: &Config) -> Value {
    let streams: Vec<Value> = registry::catalog(config)
        .iter()
        .map(|stream| {
            let mut entry = json!({
                "name": stream.name,
                "json_schema": stream.schema,
                "source_defined_primary_key": stream.key.iter().map(|k| vec![k]).collect::<Vec<_>>(),
                "is_resumable": true,
            });
            match &stream.cursor {
                Some(cursor) => {
                    entry["supported_sync_modes"] = json!(["full_refresh", "incremental"]);
                    entry["source_defined_cursor"] = json!(true);
                    entry["default_cursor_field"] = json!([cursor]);
                }
                None => entry["supported_sync_modes"] = json!(["full_refresh"]),
            }
            entry
        })
        .collect();
    json!({"type": "CATALOG", "catalog": {"streams": streams}})
}

/// Per-stream states from `--state`, in every form protocols.md 4.4 lists: an array of state
/// messages, a legacy `{stream: state}` object, an empty file, `{}` or `null`. Each stream's
/// state stays unparsed text here: a state of a million advertisers as a JSON value would take
/// several times the memory of the typed state it becomes.
pub fn parse_state(text: &str) -> Result<BTreeMap<String, Box<RawValue>>> {
    let mut out = BTreeMap::new();
    if text.trim().is_empty() {
        return Ok(out);
    }
    let value: &RawValue = serde_json::from_str(text)
        .map_err(|e| Error::config(format!("The --state file is not valid JSON: {e}.")))?;
    let raw = value.get();
    match raw.as_bytes().first() {
        Some(b'n') => {}
        Some(b'{') => {
            let map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw)
                .map_err(|e| Error::config(format!("The --state file is not valid JSON: {e}.")))?;
            // A single state message is accepted too.
            if map.contains_key("type")
                && (map.contains_key("stream") || map.contains_key("global"))
            {
                collect_message(value, 0, &mut out)?;
            } else {
                out = map;
            }
        }
        Some(b'[') => {
            let messages: Vec<&RawValue> = serde_json::from_str(raw)
                .map_err(|e| Error::config(format!("The --state file is not valid JSON: {e}.")))?;
            for (n, message) in messages.into_iter().enumerate() {
                collect_message(message, n, &mut out)?;
            }
        }
        _ => {
            return Err(Error::config(format!(
                "The --state file holds {}; expected an array of state messages or an object.",
                crate::scrub::excerpt(raw, 200)
            )))
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct StateMessage<'a> {
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(default, borrow)]
    stream: Option<&'a RawValue>,
    #[serde(default, borrow)]
    global: Option<&'a RawValue>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamEntry<'a> {
    #[serde(default)]
    stream_descriptor: Option<Value>,
    #[serde(default, borrow)]
    stream_state: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct GlobalEntry<'a> {
    #[serde(default, borrow)]
    stream_states: Option<Vec<&'a RawValue>>,
}

fn collect_message(
    message: &RawValue,
    n: usize,
    out: &mut BTreeMap<String, Box<RawValue>>,
) -> Result<()> {
    let refuse = || {
        Error::config(format!(
            "State message {n} is neither a STREAM, GLOBAL nor LEGACY state: {}",
            crate::scrub::excerpt(message.get(), 200)
        ))
    };
    let stream_entry = |entry: &RawValue, out: &mut BTreeMap<String, Box<RawValue>>| {
        let missing_name = || {
            Error::config(format!(
                "State message {n} has a stream entry without stream_descriptor.name."
            ))
        };
        let entry: StreamEntry = serde_json::from_str(entry.get()).map_err(|_| missing_name())?;
        let name = entry
            .stream_descriptor
            .as_ref()
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(missing_name)?;
        let state = entry
            .stream_state
            .map(|s| s.to_owned())
            .unwrap_or_else(null_raw);
        out.insert(name.to_string(), state);
        Ok::<(), Error>(())
    };
    let parsed: StateMessage = serde_json::from_str(message.get()).map_err(|_| refuse())?;
    let is_object = |raw: Option<&RawValue>| raw.is_some_and(|r| r.get().starts_with('{'));
    match parsed.kind.as_ref().and_then(Value::as_str) {
        Some("STREAM") => stream_entry(parsed.stream.unwrap_or(&null_raw()), out),
        Some("GLOBAL") => {
            let global: Option<GlobalEntry> = parsed
                .global
                .and_then(|g| serde_json::from_str(g.get()).ok());
            for entry in global.and_then(|g| g.stream_states).into_iter().flatten() {
                stream_entry(entry, out)?;
            }
            Ok(())
        }
        Some("LEGACY") | None if is_object(parsed.data) => {
            let data: BTreeMap<String, Box<RawValue>> =
                serde_json::from_str(parsed.data.map(RawValue::get).unwrap_or("{}"))
                    .map_err(|_| refuse())?;
            out.extend(data);
            Ok(())
        }
        _ => Err(refuse()),
    }
}

fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

/// Runs `read`.
pub async fn read<W: Write + Send + 'static>(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
    out: W,
) -> Result<()> {
    read_with(
        config_path,
        catalog_path,
        state_path,
        out,
        ClientOptions::default(),
    )
    .await
}

/// [`read`] with the client's retry, timeout and size knobs given (tests shorten them).
pub async fn read_with<W: Write + Send + 'static>(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
    out: W,
    options: ClientOptions,
) -> Result<()> {
    let config = Arc::new(load_config(config_path)?);
    let catalog = read_json(catalog_path, "--catalog")?;
    let state_text = match state_path {
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
    let Some(entries) = catalog.get("streams").and_then(Value::as_array) else {
        return Err(Error::config(
            "The --catalog file has no \"streams\" array; pass a configured catalog as written \
             by discover plus sync modes.",
        ));
    };
    let mut bindings = Vec::new();
    let mut names = Vec::new();
    let mut initial_states = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let name = entry["stream"]["name"]
            .as_str()
            .ok_or_else(|| Error::config(format!("Catalog streams[{n}] has no stream.name.")))?;
        let stream = registry::resolve(name, &config)
            .map_err(|e| Error::config(format!("Catalog streams[{n}]: {e}")))?;
        if names.contains(&stream.name) {
            return Err(Error::config(format!(
                "Catalog streams[{n}]: the stream {name:?} is listed twice."
            )));
        }
        let incremental = match entry.get("sync_mode").and_then(Value::as_str) {
            Some("incremental") => true,
            Some("full_refresh") | None => false,
            Some(other) => {
                return Err(Error::config(format!(
                    "Catalog streams[{n}] ({name}): sync_mode {other:?} is neither \
                     \"incremental\" nor \"full_refresh\"."
                )))
            }
        };
        let raw_state = states.remove(name).unwrap_or_else(null_raw);
        let state = BindingState::from_raw(&raw_state).ok_or_else(|| {
            Error::config(format!(
                "The --state for stream {name:?} is not in a shape this connector knows: {}. \
                 Reset the stream to start it afresh.",
                crate::scrub::excerpt(raw_state.get(), 200)
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
    let summaries = super::capture_with(
        config,
        bindings,
        Framing::airbyte(names, initial_states),
        out,
        options,
    )
    .await?;
    let failed: Vec<String> = summaries.into_iter().filter_map(|s| s.error).collect();
    if !failed.is_empty() {
        return Err(Error::Fatal(format!(
            "{} stream(s) are incomplete: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(())
}

/// The ERROR trace that ends a failed command.
pub fn error_trace(err: &Error) -> Value {
    let failure_type = match err.class() {
        ErrorClass::Config | ErrorClass::Auth => "config_error",
        ErrorClass::Retryable | ErrorClass::RateLimited => "transient_error",
        _ => "system_error",
    };
    json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_millis() as f64,
        "error": {"message": crate::scrub::scrub(&err.to_string()), "failure_type": failure_type}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_form_is_accepted() {
        let modern = r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"campaigns","namespace":null},
            "stream_state":{"advertisers":{"1":{"cursor":"x"}}}},"global_":null,"data":null,"sourceStats":{"recordCount":1.0}}]"#;
        let states = parse_state(modern).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(states["campaigns"].get()).unwrap(),
            json!({"advertisers": {"1": {"cursor": "x"}}})
        );
        let legacy = parse_state(r#"{"ads": {"modify_time": "2024-01-01 00:00:00"}}"#).unwrap();
        assert!(legacy.contains_key("ads"));
        for empty in ["", "  \n", "{}", "null", "[]"] {
            assert!(parse_state(empty).unwrap().is_empty(), "{empty:?}");
        }
        let global = r#"[{"type":"GLOBAL","global":{"stream_states":[{"stream_descriptor":{"name":"ads"},"stream_state":{}}]}}]"#;
        assert!(parse_state(global).unwrap().contains_key("ads"));
        assert!(parse_state("[1]").is_err());
        assert!(parse_state("\"text\"").is_err());
        assert!(parse_state("{\"truncated\": ").is_err());
    }
}
