//! Licence keys: what a customer types in to activate a machine.
//!
//! A key is 25 characters from an alphabet without look-alikes (no `0`/`O`, `1`/`I`), read in
//! five groups of five: `K7MQ2-XWR4T-…`. That is 125 random bits. Only the SHA-256 of the
//! normalised key is stored; the key itself is shown once, when it is made. Lookups ignore
//! case, spaces and dashes, so a key read over the phone still matches.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The 32 symbols of a key: letters without `I` and `O`, digits without `0` and `1`.
pub const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Symbols per group, and groups per key.
const GROUP: usize = 5;
const GROUPS: usize = 5;

/// A licence key as a customer typed it. It is a secret: `Debug` shows its first three
/// characters only, so a logged request never carries a usable key.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct TypedKey(String);

impl TypedKey {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TypedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start: String = self.0.chars().take(3).collect();
        write!(f, "TypedKey(\"{start}…\")")
    }
}

/// A key as typed, reduced to its symbols; `None` when it cannot be a key.
pub fn normalise(typed: &str) -> Option<String> {
    let symbols: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = symbols.len() == GROUP * GROUPS && symbols.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(symbols)
}

/// The stored form of a key: lowercase hex SHA-256 of its normalised symbols.
pub fn hash(normalised: &str) -> String {
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// The last group of a key, kept in clear so that people can tell keys apart.
pub fn hint(normalised: &str) -> String {
    normalised[normalised.len() - GROUP..].to_string()
}

/// A key just made: the grouped text shown once, and its normalised symbols.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    pub text: String,
    pub normalised: String,
}

/// A new random key.
pub fn generate() -> Result<GeneratedKey, getrandom::Error> {
    let mut bytes = [0u8; GROUP * GROUPS];
    getrandom::fill(&mut bytes)?;
    // 256 is a multiple of 32, so taking the low five bits keeps every symbol equally likely.
    let normalised: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    let groups: Vec<&str> = (0..GROUPS)
        .map(|g| &normalised[g * GROUP..(g + 1) * GROUP])
        .collect();
    Ok(GeneratedKey {
        text: groups.join("-"),
        normalised,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_grouped_and_use_no_look_alikes() {
        let key = generate().unwrap();
        assert_eq!(key.text.len(), 29);
        assert_eq!(
            key.text.split('-').map(str::len).collect::<Vec<_>>(),
            [5; 5]
        );
        assert!(!key.text.contains(['0', 'O', '1', 'I']));
        assert_eq!(
            normalise(&key.text).as_deref(),
            Some(key.normalised.as_str())
        );
        assert_ne!(key.text, generate().unwrap().text);
    }

    #[test]
    fn lookups_ignore_case_spaces_and_dashes() {
        let key = "K7MQ2-XWR4T-ABCDE-FGH23-456PQ";
        let typed = [
            key,
            "k7mq2xwr4tabcdefgh23456pq",
            " k7mq2 - xwr4t abcde\tfgh23 456pq ",
            "K7MQ2XWR4T-ABCDE-FGH23456PQ",
        ];
        for t in typed {
            assert_eq!(
                normalise(t).as_deref(),
                Some("K7MQ2XWR4TABCDEFGH23456PQ"),
                "{t}"
            );
        }
        assert_eq!(
            hash(&normalise(typed[1]).unwrap()),
            hash(&normalise(key).unwrap())
        );
        assert_eq!(hint("K7MQ2XWR4TABCDEFGH23456PQ"), "456PQ");
    }

    #[test]
    fn a_typed_key_never_shows_whole_in_debug_output() {
        let key = TypedKey::new("K7MQ2-XWR4T-ABCDE-FGH23-456PQ");
        assert_eq!(format!("{key:?}"), "TypedKey(\"K7M…\")");
        assert_eq!(key.as_str(), "K7MQ2-XWR4T-ABCDE-FGH23-456PQ");
    }

    #[test]
    fn strings_that_cannot_be_keys_are_refused() {
        for bad in [
            "",
            "K7MQ2-XWR4T",
            "K7MQ2-XWR4T-ABCDE-FGH23-456P0",
            "K7MQ2-XWR4T-ABCDE-FGH23-456PQ-Z",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
    }
}
