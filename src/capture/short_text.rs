//! [`ShortText`]: an immutable string that keeps up to 22 bytes inline, the form a state's
//! advertiser ids (19 digits) and cursors (`YYYY-MM-DD HH:MM:SS`, 19 bytes) take in memory. A
//! state of a million advertisers holds two million of them, so each is 24 bytes with no heap
//! allocation of its own instead of a `String`'s 24 bytes plus a 32-byte allocation. It orders,
//! compares, hashes, prints and serializes exactly as the `str` it holds, so a state written
//! from it is byte for byte the state a `String` would write; longer texts (a hand-edited
//! state) are kept whole on the heap.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most bytes kept inline: with the length and the variant's tag, 24 bytes in all, the
/// size of the heap variant's pointer and length plus the tag's word.
const INLINE: usize = 22;

/// A string of at most [`INLINE`] bytes inline, or a longer one on the heap.
#[derive(Clone)]
pub(crate) enum ShortText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl ShortText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Built from a whole `&str` (`From<&str>`), so always valid UTF-8; the default
            // is never reached.
            ShortText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            ShortText::Heap(text) => text,
        }
    }

    /// Whether the text is held without a heap allocation of its own.
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self, ShortText::Inline { .. })
    }
}

impl From<&str> for ShortText {
    fn from(text: &str) -> Self {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            ShortText::Inline {
                // At most INLINE (22), so it fits a u8.
                len: text.len() as u8,
                bytes,
            }
        } else {
            ShortText::Heap(text.into())
        }
    }
}

impl From<String> for ShortText {
    fn from(text: String) -> Self {
        if text.len() <= INLINE {
            ShortText::from(text.as_str())
        } else {
            ShortText::Heap(text.into_boxed_str())
        }
    }
}

impl Deref for ShortText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortText {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ShortText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ShortText {}

impl PartialOrd for ShortText {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortText {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ShortText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for ShortText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ShortText {
    /// Read from the text as it is parsed, without a `String` in between.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = ShortText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ShortText, E> {
                Ok(ShortText::from(text))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<ShortText, E> {
                Ok(ShortText::from(text))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point of the type: ids and cursors take 24 bytes and no allocation, and a missing
    /// one (an `Option`) no more.
    #[test]
    fn a_short_text_is_three_words_and_ids_and_cursors_stay_inline() {
        assert_eq!(std::mem::size_of::<ShortText>(), 24);
        assert_eq!(std::mem::size_of::<Option<ShortText>>(), 24);
        for text in [
            "7100000000000000000",
            "18446744073709551615",
            "2024-02-01 00:00:00",
            "2024-02-01",
            "",
        ] {
            let short = ShortText::from(text);
            assert!(short.is_inline(), "{text}");
            assert_eq!(short.as_str(), text);
        }
        let long = "x".repeat(23);
        assert!(!ShortText::from(long.as_str()).is_inline());
        assert_eq!(ShortText::from(long.clone()).as_str(), long);
    }

    /// Order, equality, printing and JSON are those of the string, inline or not, escapes
    /// and multi-byte characters included.
    #[test]
    fn it_behaves_as_the_string_it_holds() {
        let texts = [
            "10",
            "9",
            "100",
            "2024-01-02",
            "2024-01-02 00:00:00",
            "é\"\\\n",
            "a much longer text than twenty-two bytes",
            "",
        ];
        for a in texts {
            let short = ShortText::from(a);
            let json = serde_json::to_string(&short).unwrap();
            assert_eq!(json, serde_json::to_string(a).unwrap());
            assert_eq!(serde_json::from_str::<ShortText>(&json).unwrap(), short);
            assert_eq!(short.to_string(), a);
            assert_eq!(format!("{short:?}"), format!("{a:?}"));
            for b in texts {
                assert_eq!(short.cmp(&ShortText::from(b)), a.cmp(b), "{a} {b}");
            }
        }
        assert!(serde_json::from_str::<ShortText>("5").is_err());
    }
}
