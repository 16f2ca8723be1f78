//! What the transport says, read into errors and signals: TikTok's ads-throttle header, a
//! redirect (never followed), a certificate TLS refused (named with the fix), and an error's
//! whole chain of causes.

use url::Url;

use crate::error::Error;

/// TikTok's signal that a report hit its cap of 20,000 most recently created ads (Run a
/// synchronous report, portal doc 1740302848100353). Its value is not documented: any value
/// but an empty, `0` or `false` one counts.
pub(super) const ADS_THROTTLE_HEADER: &str = "x-tt-ads-throttle";

pub(super) fn ads_throttled(headers: &reqwest::header::HeaderMap) -> bool {
    headers.get(ADS_THROTTLE_HEADER).is_some_and(|v| {
        let v = v.to_str().unwrap_or("1").trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// The error for a redirect: names where it pointed (host and port only, never the path or
/// query, which may carry secrets) and says nothing was sent there.
pub(super) fn redirect_error(
    path: &str,
    status: u16,
    url: &Url,
    response: &reqwest::Response,
) -> Error {
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url.join(l).ok());
    let host = match &target {
        Some(t) => match (t.host_str(), t.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => format!("a {} URL without a host", t.scheme()),
        },
        None => "no readable Location".to_string(),
    };
    Error::Transport {
        message: crate::scrub::scrub(&format!(
            "TikTok's answer to {path} is a redirect (HTTP {status}) to {host}. TikTok's API \
             never redirects, so the connector does not follow it and sent nothing there: set \
             advanced.base_url to the API itself."
        ))
        .into_owned(),
        retryable: false,
    }
}

/// The reason TLS refused the server's certificate (an unknown issuer, an expired or misnamed
/// certificate), when that is why a request failed: asking again cannot help. rustls's error
/// sits in reqwest's source chain inside `io::Error`s (two, today), and an `io::Error`'s
/// `source()` skips what it wraps, so each one is opened with `get_ref`.
pub(super) fn certificate_problem<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) = err.downcast_ref() {
            return Some(tls);
        }
        current = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
