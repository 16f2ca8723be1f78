//! The Flow capture protocol over JSON lines: `spec`, `discover`, `validate` and `apply` are
//! answered with one line each, and `open` answers `opened`, runs the capture and ends after its
//! final checkpoint. [`wire`] holds the message types; this module holds one handler per request,
//! each taking its typed request and returning its typed response, and [`serve`], which reads
//! the lines and writes the answers.

pub(crate) mod wire;

use std::io::Write;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::emit::{write_line, Framing};
use super::{json_kind, state_key, DOCUMENTATION_URL};
use super::{CaptureOutput, RunOptions};
use crate::capture::state::BindingState;
use crate::capture::Binding;
use crate::config::{self, Config, Flavor};
use crate::error::{Error, Result};
use crate::registry::{self, Stream};
use wire::{
    Applied, Apply, ConnectorState, Discover, Discovered, DiscoveredBinding, OAuth2, Open, Opened,
    Request, ResourceConfig, Response, Spec, SyncMode, Validate, Validated, ValidatedBinding,
};

/// `spec`: the endpoint and resource config schemas and the OAuth2 flow.
pub(crate) fn spec() -> Spec {
    Spec {
        protocol: wire::PROTOCOL,
        config_schema: config::endpoint_schema(Flavor::Flow),
        resource_config_schema: resource_config_schema(),
        documentation_url: DOCUMENTATION_URL.into(),
        oauth2: oauth2(),
        resource_path_pointers: vec!["/stream".into()],
    }
}

/// The JSON schema of [`ResourceConfig`], as the UI shows it.
pub(crate) fn resource_config_schema() -> Value {
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

/// TikTok's OAuth2 flow as Estuary's platform runs it: the user authorizes the app on TikTok's
/// page, and the platform exchanges the code for a long-lived access token with the app's id
/// and secret (the token answer nests it under `data`).
pub(crate) fn oauth2() -> OAuth2 {
    let mut response_map = Map::new();
    response_map.insert("access_token".into(), json!("/data/access_token"));
    OAuth2 {
        provider: "tiktok".into(),
        auth_url_template: "https://ads.tiktok.com/marketing_api/auth?app_id={{#urlencode}}{{{ client_id }}}{{/urlencode}}&redirect_uri={{#urlencode}}{{{ redirect_uri }}}{{/urlencode}}&response_type=code&state={{#urlencode}}{{{ state }}}{{/urlencode}}".into(),
        access_token_url_template: "https://ads.tiktok.com/open_api/v1.2/oauth2/access_token/?app_id={{#urlencode}}{{{ client_id }}}{{/urlencode}}&secret={{#urlencode}}{{{ client_secret }}}{{/urlencode}}&auth_code={{#urlencode}}{{{ code }}}{{/urlencode}}&grant_type=authorization_code".into(),
        access_token_body: String::new(),
        access_token_headers: Map::new(),
        access_token_response_map: response_map,
    }
}

/// `discover`: one binding per stream this config offers.
pub(crate) fn discover(request: Discover) -> Result<Discovered> {
    let config = config::parse(&request.config)?;
    Ok(discovered(&config))
}

/// The discovered bindings of a config.
pub(crate) fn discovered(config: &Config) -> Discovered {
    let bindings = registry::catalog(config)
        .into_iter()
        .map(|stream| DiscoveredBinding {
            recommended_name: stream.name.clone(),
            resource_config: ResourceConfig {
                stream: stream.name.clone(),
                sync_mode: default_sync_mode(&stream),
            },
            key: stream.key_pointers(),
            resource_path: vec![stream.name.clone()],
            disable: stream.disabled_by_default,
            document_schema: stream.schema,
        })
        .collect();
    Discovered { bindings }
}

fn default_sync_mode(stream: &Stream) -> SyncMode {
    if stream.cursor.is_some() {
        SyncMode::Incremental
    } else {
        SyncMode::FullRefresh
    }
}

/// `validate`: the config parses, every binding names a stream this config offers (once), and
/// the credentials work.
pub(crate) async fn validate(request: Validate) -> Result<Validated> {
    let config = config::parse(&request.config)?;
    let resources: Vec<&ResourceConfig> = request
        .bindings
        .iter()
        .map(|b| &b.resource_config)
        .collect();
    let streams = resolve_bindings(&config, &resources)?;
    let message = crate::check::connection(&config).await?;
    tracing::info!(eventType = "connectorStatus", "{message}");
    Ok(Validated {
        bindings: streams
            .into_iter()
            .map(|(stream, _)| ValidatedBinding {
                resource_path: vec![stream.name],
            })
            .collect(),
    })
}

/// `apply`: nothing to create at TikTok; the bindings must still resolve.
pub(crate) fn apply(request: Apply) -> Result<Applied> {
    let config = config::parse(&request.capture.config)?;
    let resources: Vec<&ResourceConfig> = request
        .capture
        .bindings
        .iter()
        .map(|b| &b.resource_config)
        .collect();
    resolve_bindings(&config, &resources)?;
    Ok(Applied {
        action_description: String::new(),
    })
}

/// Resolves the bindings of a validate, apply or open request: every stream must exist for
/// this config and appear once. Returns each stream and whether it is read incrementally.
fn resolve_bindings(config: &Config, resources: &[&ResourceConfig]) -> Result<Vec<(Stream, bool)>> {
    let mut out: Vec<(Stream, bool)> = Vec::new();
    for (n, resource) in resources.iter().enumerate() {
        let name = resource.stream.trim();
        if name.is_empty() {
            return Err(Error::config(format!(
                "Binding {n}: resourceConfig.stream is empty; it must name a TikTok stream, such \
                 as {{\"stream\": \"ads\", \"syncMode\": \"incremental\"}}."
            )));
        }
        let stream = registry::resolve(name, config)
            .map_err(|e| Error::config(format!("Binding {n}: {e}")))?;
        if out.iter().any(|(s, _)| s.name == stream.name) {
            return Err(Error::config(format!(
                "Binding {n}: the stream {:?} is bound twice; remove one of the bindings.",
                stream.name
            )));
        }
        out.push((stream, resource.sync_mode == SyncMode::Incremental));
    }
    Ok(out)
}

/// Serves Flow requests until stdin ends (unary calls) or a capture session ends (`open`).
pub async fn serve<R, W>(input: R, out: W) -> Result<()>
where
    R: AsyncBufRead + Unpin,
    W: Write + Send + 'static,
{
    serve_with(input, out, RunOptions::default()).await
}

/// [`serve`] with the run's options given (tests shorten the client's pauses and fix the clock).
pub async fn serve_with<R, W>(input: R, mut out: W, options: RunOptions) -> Result<()>
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
        let request = Request::parse(&line)?;
        // An `open` line holds every binding's state: not kept while the capture runs.
        drop(line);
        let response = match request {
            Request::Spec(_) => Response::Spec(Box::new(spec())),
            Request::Discover(request) => Response::Discovered(discover(request)?),
            Request::Validate(request) => Response::Validated(validate(request).await?),
            Request::Apply(request) => Response::Applied(apply(request)?),
            Request::Open(request) => return open(request, out, options).await,
            Request::Acknowledge => continue,
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

/// `open`: answers `opened`, runs the capture, and ends after its last checkpoint.
pub(crate) async fn open<W: Write + Send + 'static>(
    request: Open,
    mut out: W,
    options: RunOptions,
) -> Result<()> {
    let config = Arc::new(options.apply(config::parse(&request.capture.config)?));
    let resources: Vec<&ResourceConfig> = request
        .capture
        .bindings
        .iter()
        .map(|b| &b.resource_config)
        .collect();
    let streams = resolve_bindings(&config, &resources)?;
    let state = request.state.unwrap_or_default();
    let mut bindings = Vec::new();
    let mut state_keys = Vec::new();
    for (n, ((stream, incremental), spec)) in streams
        .into_iter()
        .zip(&request.capture.bindings)
        .enumerate()
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
        let binding_state = binding_state(&state, &key, &stream.name, n)?;
        state_keys.push(key);
        bindings.push(Binding {
            stream,
            incremental,
            state: binding_state,
        });
    }
    // The bindings' states, as text, are read: not kept while the capture runs.
    drop(state);
    let opened = Response::Opened(Opened {
        explicit_acknowledgements: false,
    });
    write_line(&mut out, &opened).map_err(|e| Error::io("writing the opened response", e))?;
    tracing::info!(
        eventType = "connectorStatus",
        bindings = bindings.len(),
        "Capture started."
    );
    let output = CaptureOutput {
        framing: Framing::Flow { state_keys },
        writer: out,
    };
    let summaries =
        super::capture_with(config, bindings, output, options.client, options.capture).await?;
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
fn binding_state(
    state: &ConnectorState,
    key: &str,
    stream: &str,
    n: usize,
) -> Result<BindingState> {
    let (read, origin) = match state.binding_state_v1.get(key) {
        Some(raw) => (BindingState::from_raw(raw), "bindingStateV1"),
        None => match state.earlier.get(stream) {
            Some(v) => (BindingState::from_any(v), "a state of an earlier version"),
            None => return Ok(BindingState::default()),
        },
    };
    read.ok_or_else(|| {
        // Only a refused state is read as JSON again, to describe it.
        let value = match state.binding_state_v1.get(key) {
            Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
            None => state.earlier.get(stream).cloned().unwrap_or_default(),
        };
        Error::config(format!(
            "Binding {n} (stream {stream:?}): its state in {origin} is not in a shape this \
             connector knows ({}). Trigger a backfill of the binding to start it afresh.",
            json_kind(&value)
        ))
    })
}
