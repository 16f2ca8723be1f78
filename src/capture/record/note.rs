//! The notes: what the record layer changed in a row so that it fits its schema, which the
//! capture engine logs once per kind, field and stream.

/// Something the record layer changed in a row so that it fits its schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Note {
    /// A value that cannot take its field's declared type became null.
    Unconvertible {
        field: String,
        declared: &'static str,
        sent: &'static str,
    },
    /// A number that is not finite in double precision (such as `1e+999`) became null.
    NotFinite { field: String },
    /// An id that is not a positive 64-bit integer, kept as given.
    OddId { field: String, value: String },
    /// A lone UTF-16 surrogate escape in a string became U+FFFD (the row is kept).
    LoneSurrogate,
}

impl Note {
    /// What makes two notes the same warning: the kind and the field (not the value).
    pub(crate) fn topic(&self) -> (&'static str, &str) {
        match self {
            Note::Unconvertible { field, .. } => ("unconvertible", field),
            Note::NotFinite { field } => ("not-finite", field),
            Note::OddId { field, .. } => ("odd-id", field),
            Note::LoneSurrogate => ("lone-surrogate", ""),
        }
    }

    /// Logs the note as a warning about this stream.
    pub(crate) fn warn(&self, stream: &str) {
        match self {
            Note::Unconvertible {
                field,
                declared,
                sent,
            } => tracing::warn!(
                stream,
                field = field.as_str(),
                "TikTok sent {sent} where the schema declares {declared}; the value is emitted as null (further ones in this field and stream are not logged)."
            ),
            Note::NotFinite { field } => tracing::warn!(
                stream,
                field = field.as_str(),
                "TikTok sent a number outside the double-precision range; it is emitted as null (further ones in this field and stream are not logged)."
            ),
            Note::OddId { field, value } => tracing::warn!(
                stream,
                field = field.as_str(),
                value = value.as_str(),
                "TikTok sent an id that is not a positive 64-bit integer; it is kept as given (further ones in this field and stream are not logged)."
            ),
            Note::LoneSurrogate => tracing::warn!(
                stream,
                "TikTok sent text with half of a UTF-16 surrogate pair (a cut emoji); it is emitted as U+FFFD and the row is kept (further ones in this stream are not logged)."
            ),
        }
    }
}

/// The notes of the rows being built; the caller drains and logs them.
pub type Notes = Vec<Note>;
