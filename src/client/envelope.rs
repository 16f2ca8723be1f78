//! TikTok's envelope (`code`, `message`, `request_id`, `data`) decoded: `data` borrowed from the
//! body, or an error classified by the code table ([`codes`]) with the secrets
//! scrubbed out.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::codes;
use crate::error::{ApiError, Error, ErrorClass, Result};
use crate::scrub::Scrubber;

#[derive(Deserialize)]
struct Envelope<'a> {
    code: Option<i64>,
    #[serde(default, borrow)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

pub(super) fn null_value() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

/// Decodes one HTTP answer into `data` (borrowed from the body; `None` when absent) or a
/// classified error. A 2xx body cut short is retried like a dropped connection; a 2xx body
/// that is whole but not a TikTok envelope is [`Error::Malformed`].
pub fn decode_data<'a>(
    path: &str,
    status: u16,
    body: &'a [u8],
    scrubber: &Scrubber,
) -> Result<Option<&'a RawValue>> {
    let envelope: std::result::Result<Envelope<'a>, _> = serde_json::from_slice(body);
    let scrub = |text: &str| crate::scrub::scrub(&scrubber.scrub(text)).into_owned();
    let problem = match envelope {
        Ok(Envelope {
            code: Some(code),
            message,
            request_id,
            data,
        }) => {
            if codes::is_success(code) {
                return Ok(data);
            }
            let (mut class, hint) = codes::classify(code);
            let message = message.as_deref().unwrap_or("(no message)");
            if class == ErrorClass::RateLimited
                && codes::throttle_limit(code, message) == codes::ThrottleLimit::PerDay
            {
                class = ErrorClass::QuotaExhausted;
            }
            return Err(Error::Api(Box::new(ApiError {
                code,
                message: crate::scrub::echo(&scrub(message)),
                request_id: request_id.map(|id| crate::scrub::echo(&scrub(&id))),
                path: path.to_string(),
                class,
                hint,
            })));
        }
        Ok(Envelope { code: None, .. }) => "it has no `code`".to_string(),
        Err(e) if e.is_eof() => String::new(),
        Err(e) => format!(
            "it is not a TikTok envelope ({})",
            crate::scrub::echo(&e.to_string())
        ),
    };
    let text = String::from_utf8_lossy(body);
    // Scrub before cutting, so a secret straddling the cut cannot leak its first half.
    let snippet: String = scrub(&text)
        .chars()
        .take(200)
        .collect::<String>()
        .replace('\n', " ");
    if (200..=299).contains(&status) && !problem.is_empty() {
        return Err(Error::Malformed(format!(
            "TikTok's answer to {path} cannot be read: {problem}: {snippet:?}"
        )));
    }
    let (retryable, what) = match status {
        429 => (true, "throttled (HTTP 429)".to_string()),
        500..=599 => (true, format!("a server error (HTTP {status})")),
        200..=299 => (true, "an incomplete answer".to_string()),
        404 => (
            false,
            "HTTP 404: check advanced.base_url, it must point at the TikTok API root".into(),
        ),
        _ => (false, format!("HTTP {status}")),
    };
    let message = format!("TikTok answered {path} with {what}: {snippet:?}");
    if status == 429 {
        return Err(Error::Api(Box::new(ApiError {
            code: 429,
            message,
            request_id: None,
            path: path.to_string(),
            class: ErrorClass::RateLimited,
            hint: None,
        })));
    }
    Err(Error::Transport { message, retryable })
}

/// Parses a JSON value as `T` with a message naming the path on failure.
pub(crate) fn from_raw<T: serde::de::DeserializeOwned>(path: &str, raw: &RawValue) -> Result<T> {
    serde_json::from_str(raw.get()).map_err(|e| Error::Transport {
        message: format!(
            "TikTok's answer to {path} is not what the connector expects: {}",
            crate::scrub::echo(&e.to_string())
        ),
        retryable: false,
    })
}
