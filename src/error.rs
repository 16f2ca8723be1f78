//! The one error type of the connector. Every failure is classified (retryable, rate limited,
//! auth, config, permission, query too large, fatal) so that retry logic and the protocol layers
//! decide by class, never by parsing text, and every message is written for the person who must
//! act on it. Messages never contain secrets: the client strips them before an error is built.

use std::fmt;

/// How the connector reacts to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try the same request again after a backoff (5xxxx codes, 60001, HTTP 5xx, timeouts).
    Retryable,
    /// TikTok throttled us (40100, 40016, 40133): back off and lower the request rate.
    RateLimited,
    /// The credentials are wrong, expired or revoked: the user must re-authenticate.
    Auth,
    /// The configuration, catalog, state or request is wrong: the user must fix it.
    Config,
    /// The token cannot read this advertiser or this resource: skip it, go on with the others.
    Permission,
    /// TikTok's daily request quota is used up (a throttle code whose message names QPD): nothing
    /// succeeds before 00:00 UTC, so the run ends at its last checkpoint, without failing.
    QuotaExhausted,
    /// 40067: the report query is too large; a smaller date window may succeed.
    QueryTooLarge,
    /// Nothing to retry: the run (or the binding) fails with this message.
    Fatal,
}

/// A TikTok API answer with a non-zero `code`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: i64,
    pub message: String,
    pub request_id: Option<String>,
    /// The API path that answered, e.g. `report/integrated/get/`.
    pub path: String,
    pub class: ErrorClass,
    /// What the user can do about it, if anything.
    pub hint: Option<&'static str>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TikTok answered {} with code {}: {}",
            self.path,
            self.code,
            self.message.trim_end_matches('.')
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request_id {id})")?;
        }
        if let Some(hint) = self.hint {
            write!(f, ". {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad user input: the message names the field or value and says how to fix it.
    #[error("{0}")]
    Config(String),
    /// TikTok answered with an error code.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request did not get a TikTok answer (network, HTTP status, unreadable body).
    #[error("{message}")]
    Transport { message: String, retryable: bool },
    /// A whole answer that is not a TikTok envelope (no numeric `code`, trailing garbage, a
    /// `data` of the wrong shape). Retried a few times, quickly, then the request fails.
    #[error("{0}")]
    Malformed(String),
    /// Retrying went on for too long without progress.
    #[error("{0}")]
    GaveUp(String),
    /// Reading input or writing output failed.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
    /// A failure with nothing to retry.
    #[error("{0}")]
    Fatal(String),
    /// SIGTERM or SIGINT stopped the command; a capture wrote everything up to its last
    /// checkpoint first.
    #[error(
        "Stopped by {}. A capture's output ends after its last checkpoint; the next run resumes \
         from it.",
        .0.name()
    )]
    Stopped(crate::shutdown::Signal),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    pub fn io(context: &'static str, source: std::io::Error) -> Self {
        Error::Io { context, source }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) => ErrorClass::Config,
            Error::Api(api) => api.class,
            Error::Transport { retryable, .. } => {
                if *retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Fatal
                }
            }
            Error::Malformed(_) => ErrorClass::Retryable,
            Error::GaveUp(_) | Error::Io { .. } | Error::Fatal(_) | Error::Stopped(_) => {
                ErrorClass::Fatal
            }
        }
    }

    /// The TikTok code, when TikTok answered.
    pub fn api_code(&self) -> Option<i64> {
        match self {
            Error::Api(api) => Some(api.code),
            _ => None,
        }
    }

    /// Whether the whole run must stop (the user has to act) rather than one binding or one
    /// advertiser.
    pub fn stops_the_run(&self) -> bool {
        matches!(self.class(), ErrorClass::Auth | ErrorClass::Config)
    }
}

/// A JSON value's kind ("a string", "an object"), never its text (which may hold a secret), for
/// messages about input of the wrong shape.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
