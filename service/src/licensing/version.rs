//! Product versions: parsed as semantic versions at the edge and encoded as a Cedar `Long` so
//! that policies can compare them with `<` and `>=`.
//!
//! The encoding packs `major` into bits 41..62, `minor` into 21..40, `patch` into 1..20, and sets
//! bit 0 for a release. A pre-release (`3.0.0-beta.1`) therefore sorts just below its release and
//! above every earlier version; pre-releases of the same version compare equal to each other.
//! Limits: major below 2^22 (4,194,304), minor and patch below 2^20 (1,048,576). Build metadata
//! (`+build.5`) is ignored, as semantic versioning requires.

use std::fmt;

const MAJOR_LIMIT: u64 = 1 << 22;
const PART_LIMIT: u64 = 1 << 20;

/// The largest encoded value, used as the open upper bound of a version range.
pub const UNBOUNDED: i64 = i64::MAX;

/// A validated product version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductVersion(semver::Version);

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("`{0}` is not a semantic version such as `2.4.1`")]
    Syntax(String),
    #[error(
        "`{0}` is outside the supported range (major below 4194304, minor and patch below 1048576)"
    )]
    TooLarge(String),
}

impl ProductVersion {
    /// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]`; a leading `v` is accepted.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let bare = text.strip_prefix('v').unwrap_or(text);
        let version =
            semver::Version::parse(bare).map_err(|_| VersionError::Syntax(text.to_string()))?;
        if version.major >= MAJOR_LIMIT
            || version.minor >= PART_LIMIT
            || version.patch >= PART_LIMIT
        {
            return Err(VersionError::TooLarge(text.to_string()));
        }
        Ok(Self(version))
    }

    /// The order-preserving `Long` that policies compare.
    pub fn encode(&self) -> i64 {
        let release = u64::from(self.0.pre.is_empty());
        let packed = (self.0.major << 41) | (self.0.minor << 21) | (self.0.patch << 1) | release;
        // INVARIANT: major < 2^22 keeps the packed value below 2^63.
        i64::try_from(packed).unwrap_or(UNBOUNDED)
    }
}

impl fmt::Display for ProductVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(text: &str) -> i64 {
        ProductVersion::parse(text).unwrap().encode()
    }

    #[test]
    fn encoding_orders_like_semantic_versions() {
        let ordered = [
            "0.0.1",
            "1.9.9",
            "2.0.0-alpha",
            "2.0.0",
            "2.0.1",
            "2.10.0",
            "10.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(enc(pair[0]) < enc(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn known_values_are_stable() {
        assert_eq!(enc("0.0.0"), 1);
        assert_eq!(enc("2.4.1"), (2 << 41) | (4 << 21) | (1 << 1) | 1);
        assert_eq!(enc("2.4.1"), 4_398_054_899_715);
        assert_eq!(enc("v2.4.1+build.7"), enc("2.4.1"));
    }

    #[test]
    fn malformed_and_oversized_versions_are_refused() {
        assert_eq!(
            ProductVersion::parse("2.4"),
            Err(VersionError::Syntax("2.4".into()))
        );
        assert_eq!(
            ProductVersion::parse("x.y.z"),
            Err(VersionError::Syntax("x.y.z".into()))
        );
        assert_eq!(
            ProductVersion::parse("1.1048576.0"),
            Err(VersionError::TooLarge("1.1048576.0".into()))
        );
        assert!(enc("4194303.1048575.1048575") > 0);
    }
}
