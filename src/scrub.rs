//! The one secret scrubber of the process. Every string that can reach stdout or stderr and may
//! carry a credential (log lines, error messages, `request_id`s, URLs, echoes of config, state
//! or protocol requests) passes through [`scrub`]. Secrets are registered once, as soon as a
//! config is read ([`register_config`]), and each is searched for in every form it can take on
//! the way out: raw, JSON-escaped (once and twice, with and without `\/`), URL-encoded (form
//! and percent encoding, upper- and lower-case hex) and HTML-entity encoded (named, decimal and
//! hex entities). The logging writer of `main.rs` scrubs every stderr line; the protocol layer
//! scrubs every message it writes to stdout, records included (the emitter); the client scrubs
//! its error texts. Values from outside are echoed bounded ([`echo`]).

use std::borrow::Cow;
use std::sync::RwLock;

use serde_json::Value;

/// What a secret becomes in scrubbed text.
pub(crate) const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not scrubbed: replacing every `abc` of a log would make it
/// unreadable while protecting nothing (no real token, app id or secret is this short).
pub(crate) const MIN_SECRET_CHARS: usize = 4;

/// Config keys whose string values are credentials, wherever they sit under `credentials`.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "secret",
    "client_secret",
    "app_id",
    "client_id",
];

/// Replaces every known form of a set of secrets.
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    /// Every encoded form of every secret, longest first so a form containing another is
    /// replaced whole.
    needles: Vec<String>,
    /// Finds whether any needle is in a text in one pass, so text without a secret (nearly
    /// every record and log line) costs one scan and no copy.
    finder: Option<aho_corasick::AhoCorasick>,
}

impl Scrubber {
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut scrubber = Scrubber::default();
        scrubber.add(secrets);
        scrubber
    }

    /// Adds secrets (and all their forms) to the set.
    pub(crate) fn add<S: AsRef<str>>(&mut self, secrets: impl IntoIterator<Item = S>) {
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.chars().count() < MIN_SECRET_CHARS {
                continue;
            }
            for form in forms(secret) {
                if !self.needles.contains(&form) {
                    self.needles.push(form);
                }
            }
        }
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        // Built from a few dozen short needles, it cannot fail; without it every text is
        // searched needle by needle, which finds the same.
        self.finder = aho_corasick::AhoCorasick::new(&self.needles).ok();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The text with every form of every secret replaced by [`REDACTED`].
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.finder.as_ref().is_some_and(|f| !f.is_match(text)) {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), REDACTED));
            }
        }
        out
    }
}

/// The forms a secret can take in text that leaves the process.
fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let json_once = json_escape(secret);
    let json_twice = json_escape(&json_once);
    for json in [json_once, json_twice] {
        out.push(json.replace('/', "\\/"));
        out.push(json);
    }
    // Rust's `{:?}` escapes like JSON for quotes and backslashes but writes `\u{..}` for
    // control characters.
    out.push(secret.escape_debug().to_string());
    for upper in [true, false] {
        out.push(percent_encode(secret, upper, false));
        out.push(percent_encode(secret, upper, true));
    }
    out.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    out.extend(html_forms(secret));
    out.sort();
    out.dedup();
    out
}

fn json_escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// Percent-encodes every byte but RFC 3986's unreserved characters; `form` writes a space as
/// `+` (HTML form encoding) instead of `%20`.
fn percent_encode(text: &str, upper: bool, form: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' if form => out.push('+'),
            _ if upper => out.push_str(&format!("%{byte:02X}")),
            _ => out.push_str(&format!("%{byte:02x}")),
        }
    }
    out
}

/// The HTML-escaped forms: named entities (with each spelling of the apostrophe), and every
/// special character as a decimal or a hex entity.
fn html_forms(secret: &str) -> Vec<String> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'');
    if !secret.chars().any(special) {
        return Vec::new();
    }
    let named = |apostrophe: &str| {
        let mut out = String::new();
        for c in secret.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str(apostrophe),
                c => out.push(c),
            }
        }
        out
    };
    let numeric = |hex: bool| {
        let mut out = String::new();
        for c in secret.chars() {
            match (special(c), hex) {
                (true, false) => out.push_str(&format!("&#{};", c as u32)),
                (true, true) => out.push_str(&format!("&#x{:x};", c as u32)),
                (false, _) => out.push(c),
            }
        }
        out
    };
    vec![
        named("&#39;"),
        named("&#x27;"),
        named("&apos;"),
        numeric(false),
        numeric(true),
    ]
}

/// The process-wide set of secrets.
static GLOBAL: RwLock<Option<Scrubber>> = RwLock::new(None);

/// Adds secrets to the process-wide scrubber.
pub(crate) fn register<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) {
    let mut global = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    global.get_or_insert_with(Scrubber::default).add(secrets);
}

/// Registers every credential of a raw (not yet validated) config, so that even the errors of
/// its validation cannot echo one.
pub(crate) fn register_config(raw: &Value) {
    let mut found = Vec::new();
    collect_secrets(&raw["credentials"], &mut found);
    register(found);
}

fn collect_secrets(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    // Trimmed: values are trimmed before use, and the trimmed text is inside
                    // the untrimmed one anyway.
                    Value::String(s) if SECRET_KEYS.contains(&key.as_str()) => {
                        found.push(s.trim().to_string())
                    }
                    Value::Number(n) if SECRET_KEYS.contains(&key.as_str()) => {
                        found.push(n.to_string())
                    }
                    other => collect_secrets(other, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, found)),
        _ => {}
    }
}

/// The text with every registered secret replaced.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let global = GLOBAL.read().unwrap_or_else(|e| e.into_inner());
    match global.as_ref() {
        Some(scrubber) if !scrubber.is_empty() => scrubber.scrub(text),
        _ => Cow::Borrowed(text),
    }
}

/// At most `max_chars` characters of a text, scrubbed first so that a secret cut in half by
/// the limit cannot leak its first part; a longer text ends with `…` and its length.
pub(crate) fn excerpt(text: &str, max_chars: usize) -> String {
    bounded(&scrub(text), max_chars).into_owned()
}

/// The most characters of one value from the server, a state or the config that a message or
/// a log line repeats ([`echo`]).
pub(crate) const ECHO_CHARS: usize = 300;

/// A value from outside (an answer of the server, a state, the config) as an error message or a
/// log line may repeat it: scrubbed, and cut to [`ECHO_CHARS`] characters followed by its
/// length, so a 1 MB `task_id` or CSV header cannot flood the logs. Every echo of such a value
/// goes through here.
pub(crate) fn echo(text: &str) -> String {
    excerpt(text, ECHO_CHARS)
}

/// `text` itself when it has at most `max_chars` characters; otherwise its first `max_chars`
/// characters, `…` and how many characters it had in all.
pub(crate) fn bounded(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!(
            "{}… ({} characters in all)",
            &text[..cut],
            text.chars().count()
        )),
    }
}

/// A writer that scrubs what it is given before passing it on. It holds the bytes until it is
/// flushed or dropped, so a secret split across two `write` calls is still found; the logging
/// layer makes one per log line.
pub struct ScrubbingWriter<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: std::io::Write> ScrubbingWriter<W> {
    pub fn new(inner: W) -> Self {
        ScrubbingWriter {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending);
            self.inner.write_all(scrub(&text).as_bytes())?;
            self.pending.clear();
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for ScrubbingWriter<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "tok/en \"q\"&<x>'é+%";

    #[test]
    fn every_encoding_of_a_secret_is_replaced() {
        let scrubber = Scrubber::new([SECRET]);
        let json_once = json_escape(SECRET);
        let encodings = [
            SECRET.to_string(),
            json_once.clone(),
            json_escape(&json_once),
            json_once.replace('/', "\\/"),
            format!("{SECRET:?}").trim_matches('"').to_string(),
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            percent_encode(SECRET, true, false),
            percent_encode(SECRET, false, false),
            "tok/en &quot;q&quot;&amp;&lt;x&gt;&#39;é+%".to_string(),
            "tok/en &quot;q&quot;&amp;&lt;x&gt;&#x27;é+%".to_string(),
            "tok/en &#34;q&#34;&#38;&#60;x&#62;&#39;é+%".to_string(),
            "tok/en &#x22;q&#x22;&#x26;&#x3c;x&#x3e;&#x27;é+%".to_string(),
        ];
        for encoded in encodings {
            let text = format!("before {encoded} after");
            assert_eq!(
                scrubber.scrub(&text),
                format!("before {REDACTED} after"),
                "{encoded}"
            );
        }
    }

    #[test]
    fn short_values_and_other_text_are_left_alone() {
        let scrubber = Scrubber::new(["abc", ""]);
        assert!(scrubber.is_empty());
        assert_eq!(scrubber.scrub("abc abc"), "abc abc");
    }

    #[test]
    fn echoed_values_are_cut_with_their_length() {
        let long = "é".repeat(1_000_000);
        let echoed = echo(&long);
        assert!(echoed.chars().count() < ECHO_CHARS + 40, "{}", echoed.len());
        assert!(
            echoed.ends_with("… (1000000 characters in all)"),
            "{echoed}"
        );
        assert!(echoed.starts_with(&"é".repeat(ECHO_CHARS)));
        assert_eq!(echo("short"), "short");
        assert_eq!(bounded(&"x".repeat(10), 10), "x".repeat(10));
    }

    #[test]
    fn excerpts_never_hold_half_a_secret() {
        register(["half-and-half-secret-1234"]);
        let text = format!("{}half-and-half-secret-1234", "x".repeat(10));
        let cut = excerpt(&text, 20);
        assert!(!cut.contains("half-and"), "{cut}");
        assert!(cut.starts_with("xxxxxxxxxx<redacted>"), "{cut}");
    }

    #[test]
    fn config_credentials_are_registered_before_validation() {
        register_config(&serde_json::json!({"credentials": {
            "auth_type": "oauth2.0", "access_token": " registered-token-77 ",
            "nested": {"client_secret": "nested-secret-88"}}}));
        assert_eq!(
            scrub("a registered-token-77 b nested-secret-88"),
            format!("a {REDACTED} b {REDACTED}")
        );
    }

    #[test]
    fn the_writer_scrubs_secrets_split_across_writes() {
        register(["split-secret-9911"]);
        let mut out = Vec::new();
        {
            let mut writer = ScrubbingWriter::new(&mut out);
            std::io::Write::write_all(&mut writer, b"x split-sec").unwrap();
            std::io::Write::write_all(&mut writer, b"ret-9911 y\n").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), format!("x {REDACTED} y\n"));
    }
}
