//! The armoured text form of licence files, revocation lists and offline
//! activation requests, for e-mail and file transfer.
//!
//! ```text
//! free comment lines, ignored
//! -----BEGIN LICET LICENSE-----
//! eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImxpY2V0LTIwMjYtMDEifQ.eyJ
//! ...
//! -----END LICET LICENSE-----
//! ```
//!
//! The body is wrapped at [`LINE_WIDTH`] characters when written; whitespace
//! inside it is ignored when read, so a mail client that re-wraps or indents
//! the lines does no harm. Text after the END line is ignored too. Whether the
//! body is a valid token is for the caller to decide.

use crate::error::ArmorError;

/// Characters per body line when armouring.
pub const LINE_WIDTH: usize = 64;

/// What an armoured block holds; each kind has its own BEGIN/END label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArmorKind {
    /// A signed licence file (`LICET LICENSE`).
    License,
    /// A signed revocation list (`LICET REVOCATIONS`).
    Revocations,
    /// An offline activation request (`LICET ACTIVATION REQUEST`).
    ActivationRequest,
}

impl ArmorKind {
    /// The label between `-----BEGIN ` and `-----`, e.g. `LICET LICENSE`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::License => "LICET LICENSE",
            Self::Revocations => "LICET REVOCATIONS",
            Self::ActivationRequest => "LICET ACTIVATION REQUEST",
        }
    }
}

/// Armours `body` as `kind`, preceded by `comments` (one line each, ignored by
/// readers). The result ends with a newline.
#[must_use]
pub fn armor(kind: ArmorKind, body: &str, comments: &[&str]) -> String {
    let label = kind.label();
    let mut out = String::with_capacity(body.len() + body.len() / LINE_WIDTH + 80);
    for comment in comments {
        out.push_str(comment);
        out.push('\n');
    }
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    let chars: Vec<char> = body.chars().collect();
    for line in chars.chunks(LINE_WIDTH) {
        out.extend(line);
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Extracts the body of the armoured block of `kind` from `text`, with all
/// whitespace removed.
///
/// # Errors
///
/// [`ArmorError::NotArmored`] when `text` has no BEGIN line, otherwise as
/// [`read_armored_or_bare`].
pub fn unarmor(kind: ArmorKind, text: &str) -> Result<String, ArmorError> {
    let mut lines = text.lines().enumerate();
    let begin = lines
        .by_ref()
        .map(|(_, line)| line.trim())
        .find(|line| line.starts_with("-----BEGIN "))
        .ok_or(ArmorError::NotArmored {
            label: kind.label(),
        })?;
    let label = kind.label();
    if begin != format!("-----BEGIN {label}-----") {
        return Err(ArmorError::WrongLabel {
            expected: label,
            found: begin.to_owned(),
        });
    }

    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for (index, line) in lines {
        let line = line.trim();
        if line == end {
            if body.is_empty() {
                return Err(ArmorError::EmptyBody { label });
            }
            return Ok(body);
        }
        if line.starts_with("-----") {
            return Err(ArmorError::UnexpectedLine {
                line: index + 1,
                expected: end,
            });
        }
        body.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    Err(ArmorError::MissingEnd { label })
}

/// The body of an armoured block of `kind`, or the whole of `text` trimmed
/// when it holds no armour (a bare compact token).
///
/// # Errors
///
/// [`ArmorError::Empty`] for blank input; for armoured input,
/// [`ArmorError::WrongLabel`] when the block is of another kind,
/// [`ArmorError::UnexpectedLine`] for a stray `-----` line before the END
/// line, [`ArmorError::MissingEnd`] and [`ArmorError::EmptyBody`].
pub fn read_armored_or_bare(kind: ArmorKind, text: &str) -> Result<String, ArmorError> {
    if text.trim().is_empty() {
        return Err(ArmorError::Empty);
    }
    if text
        .lines()
        .any(|line| line.trim().starts_with("-----BEGIN "))
    {
        unarmor(kind, text)
    } else {
        Ok(text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_wraps_at_64_and_round_trips() {
        let body = "a".repeat(64) + &"b".repeat(64) + "c.d";
        let text = armor(ArmorKind::License, &body, &["licence for `acme`"]);
        assert_eq!(
            text,
            format!(
                "licence for `acme`\n-----BEGIN LICET LICENSE-----\n{}\n{}\nc.d\n-----END LICET LICENSE-----\n",
                "a".repeat(64),
                "b".repeat(64)
            )
        );
        assert_eq!(unarmor(ArmorKind::License, &text).unwrap(), body);
        assert_eq!(
            read_armored_or_bare(ArmorKind::License, &text).unwrap(),
            body
        );
    }

    #[test]
    fn comments_indentation_crlf_and_trailing_text_are_ignored() {
        let text = "From: licensing@example.com\r\n\r\n  -----BEGIN LICET REVOCATIONS-----\r\n  aaa bbb\r\n\tccc\r\n  -----END LICET REVOCATIONS-----\r\n-- \r\nsignature\r\n";
        assert_eq!(
            read_armored_or_bare(ArmorKind::Revocations, text).unwrap(),
            "aaabbbccc"
        );
    }

    #[test]
    fn bare_tokens_are_trimmed() {
        assert_eq!(
            read_armored_or_bare(ArmorKind::License, "\n  h.c.s \n").unwrap(),
            "h.c.s"
        );
        assert_eq!(
            read_armored_or_bare(ArmorKind::License, " \n\t").unwrap_err(),
            ArmorError::Empty
        );
        assert_eq!(
            unarmor(ArmorKind::ActivationRequest, "eyJ2IjoxfQ").unwrap_err(),
            ArmorError::NotArmored {
                label: "LICET ACTIVATION REQUEST"
            }
        );
    }

    #[test]
    fn broken_armour_is_reported() {
        let wrong = "-----BEGIN LICET REVOCATIONS-----\nabc\n-----END LICET REVOCATIONS-----\n";
        assert_eq!(
            read_armored_or_bare(ArmorKind::License, wrong).unwrap_err(),
            ArmorError::WrongLabel {
                expected: "LICET LICENSE",
                found: "-----BEGIN LICET REVOCATIONS-----".into(),
            }
        );
        assert_eq!(
            read_armored_or_bare(ArmorKind::License, "-----BEGIN LICET LICENSE-----\nabc\n")
                .unwrap_err(),
            ArmorError::MissingEnd {
                label: "LICET LICENSE"
            }
        );
        assert_eq!(
            read_armored_or_bare(
                ArmorKind::License,
                "-----BEGIN LICET LICENSE-----\n\n-----END LICET LICENSE-----"
            )
            .unwrap_err(),
            ArmorError::EmptyBody {
                label: "LICET LICENSE"
            }
        );
        assert_eq!(
            read_armored_or_bare(
                ArmorKind::License,
                "note\n-----BEGIN LICET LICENSE-----\nabc\n-----END LICET REVOCATIONS-----\n"
            )
            .unwrap_err(),
            ArmorError::UnexpectedLine {
                line: 4,
                expected: "-----END LICET LICENSE-----".into(),
            }
        );
    }
}
