//! Typed configuration: built-in defaults, overlaid by an optional YAML file, overlaid by
//! `LICET__SECTION__KEY` environment variables, then checked against bounds.
//!
//! Every key is documented in the sample `licet.yaml` at the top of the repository.

mod activation;

pub use activation::ActivationConfig;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

/// The prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "LICET__";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file `{path}` is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable `{var}` does not name a configuration key")]
    UnknownEnvKey { var: String },
    #[error("configuration key `{key}` is not valid: `{value}` from `{var}` must be {expected}")]
    EnvValue {
        key: String,
        value: String,
        expected: &'static str,
        var: String,
    },
    #[error("configuration key `{key}` is not valid: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The whole configuration of a licet process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub policies: PolicyConfig,
    pub signing: SigningConfig,
    pub cache: CacheConfig,
    pub log: LogConfig,
    pub decision_log: DecisionLogConfig,
    pub access: AccessConfig,
    pub metrics: MetricsConfig,
    pub activation: ActivationConfig,
}

/// HTTP listener and process settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on; port 0 picks a free port.
    pub bind: String,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Directory for the SQLite database and the local signing key.
    pub data_dir: PathBuf,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_timeout_seconds: u64,
    /// Longest time to receive and answer one request; a slower one gets 408.
    pub request_timeout_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            data_dir: PathBuf::from("data"),
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_seconds: 30,
            request_timeout_seconds: 10,
        }
    }
}

/// Where the data lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...`; unset means `sqlite://<data_dir>/licet.db`.
    pub url: Option<String>,
    /// Largest number of pooled connections.
    pub pool_size: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub pool_timeout_seconds: u64,
    /// Apply pending migrations when the service starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 8,
            pool_timeout_seconds: 5,
            migrate_on_start: true,
        }
    }
}

/// Which policy bundle to load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Folder of `*.cedar` files; unset means the bundle built into the binary.
    pub dir: Option<PathBuf>,
    /// The Cedar schema file; required when `dir` is set.
    pub schema: Option<PathBuf>,
    /// Check the files for changes every this many seconds and reload when they change;
    /// 0 turns watching off (reload on SIGHUP or through the admin API only).
    pub watch_seconds: u64,
}

/// How decisions are signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningConfig {
    /// Signer backend: `local` keeps an RSA key in a file, `vault-transit` asks Vault (or
    /// OpenBao) transit to sign with a key that never leaves it.
    pub backend: String,
    /// PKCS#8 PEM file of the active local key; unset means `<data_dir>/signing-key.pem`.
    pub key_file: Option<PathBuf>,
    /// Size of a newly created local key in bits.
    pub key_bits: usize,
    /// Name of an environment variable holding the passphrase of an encrypted local key.
    pub key_passphrase_env: Option<String>,
    /// File holding the passphrase of an encrypted local key.
    pub key_passphrase_file: Option<PathBuf>,
    /// How long a signed decision stays valid.
    pub token_ttl_seconds: u64,
    /// How often a running server reads the key set again, so that a rotation made by
    /// `licet keys rotate` (or in Vault) reaches every replica within this bound.
    pub refresh_seconds: u64,
    /// The Vault transit backend.
    pub vault: VaultConfig,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            backend: "local".into(),
            key_file: None,
            key_bits: 2048,
            key_passphrase_env: None,
            key_passphrase_file: None,
            token_ttl_seconds: 300,
            refresh_seconds: 30,
            vault: VaultConfig::default(),
        }
    }
}

/// Where and how to reach the Vault (or OpenBao) transit key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultConfig {
    /// Base URL of the Vault server.
    pub address: String,
    /// Mount path of the transit secrets engine.
    pub mount: String,
    /// Name of the transit key.
    pub key: String,
    /// `token` or `approle`.
    pub auth: String,
    /// Name of the environment variable holding the token (`auth: token`).
    pub token_env: String,
    /// File holding the token, read when the variable is not set.
    pub token_file: Option<PathBuf>,
    /// AppRole mount path (`auth: approle`).
    pub approle_mount: String,
    /// Name of the environment variable holding the AppRole role id.
    pub role_id_env: String,
    /// Name of the environment variable holding the AppRole secret id.
    pub secret_id_env: String,
    /// File holding the AppRole secret id, read when the variable is not set.
    pub secret_id_file: Option<PathBuf>,
    /// PEM file of the CA that signed Vault's TLS certificate; unset uses the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate. For tests only.
    pub tls_skip_verify: bool,
    /// Longest wait for one signature or call to Vault.
    pub timeout_seconds: u64,
    /// Combine concurrent signatures into one `batch_input` call.
    pub coalesce: bool,
    /// Largest number of signatures in one call.
    pub batch_max: usize,
    /// Longest time a signature waits for others to join its batch.
    pub batch_wait_ms: u64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            address: "http://127.0.0.1:8200".into(),
            mount: "transit".into(),
            key: "licet".into(),
            auth: "token".into(),
            token_env: "VAULT_TOKEN".into(),
            token_file: None,
            approle_mount: "approle".into(),
            role_id_env: "LICET_VAULT_ROLE_ID".into(),
            secret_id_env: "LICET_VAULT_SECRET_ID".into(),
            secret_id_file: None,
            ca_file: None,
            tls_skip_verify: false,
            timeout_seconds: 5,
            coalesce: true,
            batch_max: 64,
            batch_wait_ms: 2,
        }
    }
}

/// The entity cache in front of the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Longest time a cached entity slice is used: the staleness bound for changes made by
    /// another process (another replica, or `licet import`). 0 disables the cache.
    pub ttl_seconds: u64,
    /// Largest number of cached slices.
    pub max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_seconds: 5,
            max_entries: 100_000,
        }
    }
}

/// The log of every decision, written off the request path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionLogConfig {
    /// Record every decision.
    pub enabled: bool,
    /// Entries waiting to be written; when full, new entries are dropped and counted.
    pub queue_capacity: usize,
    /// Largest number of entries written in one transaction.
    pub batch_size: usize,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_capacity: 10_000,
            batch_size: 500,
        }
    }
}

/// What `/metrics` exports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Tenants whose decisions are counted under their own label; all others count as `other`,
    /// so the number of series stays bounded whatever the number of tenants.
    pub tenant_labels: Vec<String>,
}

/// Who may call the admin and auditor APIs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// API tokens, stored as SHA-256 hashes; `licet token new` makes one.
    pub tokens: Vec<TokenConfig>,
}

/// One API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it; recorded as the actor of what it does.
    pub name: String,
    /// `admin` (reload policies, and everything an auditor may) or `auditor` (read only).
    pub role: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    /// Limits the token to one tenant's decisions and audit events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `licet=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` when given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit set of environment variables.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = serde_yaml::to_value(Config::default()).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<defaults>"),
            message: e.to_string(),
        })?;
        let mut tree = defaults.clone();
        let origin = file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<environment>"));

        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let overlay: Value = serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            if !overlay.is_null() {
                merge(&mut tree, overlay);
            }
        }

        for (var, raw) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let Some(default_node) = lookup(&defaults, &path) else {
                return Err(ConfigError::UnknownEnvKey { var });
            };
            let value =
                env_value(default_node, &raw).map_err(|expected| ConfigError::EnvValue {
                    key: path.join("."),
                    value: raw.clone(),
                    expected,
                    var: var.clone(),
                })?;
            set(&mut tree, &path, value);
        }

        let config: Config = serde_yaml::from_value(tree).map_err(|e| ConfigError::Parse {
            path: origin,
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every bound; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        };
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return invalid(
                "server.bind",
                "expected an address such as `127.0.0.1:8080`",
            );
        }
        if self.server.workers > 512 {
            return invalid("server.workers", "must be between 0 (one per core) and 512");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.body_limit_bytes) {
            return invalid(
                "server.body_limit_bytes",
                "must be between 1024 and 16777216",
            );
        }
        if !(1..=300).contains(&self.server.request_timeout_seconds) {
            return invalid(
                "server.request_timeout_seconds",
                "must be between 1 and 300",
            );
        }
        if self.server.shutdown_timeout_seconds > 3600 {
            return invalid("server.shutdown_timeout_seconds", "must be at most 3600");
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return invalid("database.url", "must start with `sqlite:` or `postgres://`");
        }
        if !(1..=512).contains(&self.database.pool_size) {
            return invalid("database.pool_size", "must be between 1 and 512");
        }
        if !(1..=300).contains(&self.database.pool_timeout_seconds) {
            return invalid("database.pool_timeout_seconds", "must be between 1 and 300");
        }
        if self.policies.dir.is_some() != self.policies.schema.is_some() {
            return invalid(
                "policies.schema",
                "set `policies.dir` and `policies.schema` together",
            );
        }
        if !["local", "vault-transit"].contains(&self.signing.backend.as_str()) {
            return invalid("signing.backend", "must be `local` or `vault-transit`");
        }
        if self.signing.key_passphrase_env.is_some() && self.signing.key_passphrase_file.is_some() {
            return invalid(
                "signing.key_passphrase_file",
                "set `signing.key_passphrase_env` or `signing.key_passphrase_file`, not both",
            );
        }
        if !(1..=3600).contains(&self.signing.refresh_seconds) {
            return invalid("signing.refresh_seconds", "must be between 1 and 3600");
        }
        self.signing.vault.validate()?;
        if ![2048, 3072, 4096].contains(&self.signing.key_bits) {
            return invalid("signing.key_bits", "must be 2048, 3072 or 4096");
        }
        if !(1..=86_400).contains(&self.signing.token_ttl_seconds) {
            return invalid("signing.token_ttl_seconds", "must be between 1 and 86400");
        }
        if self.cache.ttl_seconds > 3600 {
            return invalid("cache.ttl_seconds", "must be at most 3600");
        }
        if self.cache.max_entries == 0 {
            return invalid("cache.max_entries", "must be at least 1");
        }
        if self.policies.watch_seconds > 86_400 {
            return invalid("policies.watch_seconds", "must be at most 86400");
        }
        if !(1..=10_000_000).contains(&self.decision_log.queue_capacity) {
            return invalid(
                "decision_log.queue_capacity",
                "must be between 1 and 10000000",
            );
        }
        if !(1..=10_000).contains(&self.decision_log.batch_size) {
            return invalid("decision_log.batch_size", "must be between 1 and 10000");
        }
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for token in &self.access.tokens {
            if !hashes.insert(token.sha256.as_str()) {
                return invalid(
                    "access.tokens",
                    &format!(
                        "token `{}` has the same sha256 as another token; each token must be different",
                        token.name
                    ),
                );
            }
            if token.name.trim().is_empty() || !names.insert(token.name.as_str()) {
                return invalid(
                    "access.tokens",
                    &format!("token names must be present and unique (`{}`)", token.name),
                );
            }
            if !["admin", "auditor"].contains(&token.role.as_str()) {
                return invalid(
                    "access.tokens",
                    &format!(
                        "token `{}`: role must be `admin` or `auditor`, not `{}`",
                        token.name, token.role
                    ),
                );
            }
            if token.sha256.len() != 64
                || !token
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return invalid(
                    "access.tokens",
                    &format!(
                        "token `{}`: sha256 must be 64 lowercase hex digits (`licet token new` prints it)",
                        token.name
                    ),
                );
            }
        }
        if self.metrics.tenant_labels.len() > 100 {
            return invalid(
                "metrics.tenant_labels",
                "lists at most 100 tenants; the others are counted as `other`",
            );
        }
        if self.metrics.tenant_labels.iter().any(|t| t == "other") {
            return invalid(
                "metrics.tenant_labels",
                "`other` is the label of every tenant not listed and cannot be listed itself",
            );
        }
        self.activation.validate()?;
        if !is_log_filter(&self.log.level) {
            return invalid(
                "log.level",
                "must be a level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or a list such as `licet=debug,info`",
            );
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return invalid("log.format", "must be `text` or `json`");
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("licet.db").display()
            )
        })
    }

    /// The local signing key file, defaulting to one in the data directory.
    pub fn key_file(&self) -> PathBuf {
        self.signing
            .key_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("signing-key.pem"))
    }
}

impl VaultConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        };
        if !(self.address.starts_with("http://") || self.address.starts_with("https://")) {
            return invalid(
                "signing.vault.address",
                "must start with `http://` or `https://`",
            );
        }
        let is_path = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        };
        if !is_path(&self.mount) {
            return invalid(
                "signing.vault.mount",
                "must be a mount path such as `transit`",
            );
        }
        if !is_path(&self.approle_mount) {
            return invalid(
                "signing.vault.approle_mount",
                "must be a mount path such as `approle`",
            );
        }
        if !is_path(&self.key) || self.key.contains('/') {
            return invalid(
                "signing.vault.key",
                "must be a key name of letters, digits, `-`, `_` and `.`",
            );
        }
        if !["token", "approle"].contains(&self.auth.as_str()) {
            return invalid("signing.vault.auth", "must be `token` or `approle`");
        }
        if !(1..=120).contains(&self.timeout_seconds) {
            return invalid("signing.vault.timeout_seconds", "must be between 1 and 120");
        }
        if !(1..=1000).contains(&self.batch_max) {
            return invalid("signing.vault.batch_max", "must be between 1 and 1000");
        }
        if self.batch_wait_ms > 1000 {
            return invalid("signing.vault.batch_wait_ms", "must be at most 1000");
        }
        Ok(())
    }
}

/// A comma-separated list of `LEVEL` or `TARGET=LEVEL`: a misspelt level would otherwise be
/// read as a target name and silence every log line.
fn is_log_filter(filter: &str) -> bool {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    filter.split(',').all(|directive| {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
    })
}

/// Overlays `overlay` onto `base`, key by key for mappings.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn lookup<'a>(tree: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(tree, |node, key| node.as_mapping()?.get(key.as_str()))
}

fn set(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for key in parents {
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else { return };
        node = map
            .entry(Value::from(key.as_str()))
            .or_insert(Value::Mapping(Mapping::new()));
    }
    if let Value::Mapping(map) = node {
        map.insert(Value::from(last.as_str()), value);
    }
}

/// Reads an environment value as the type its key has; the error says what was expected.
fn env_value(default_node: &Value, raw: &str) -> Result<Value, &'static str> {
    match default_node {
        Value::String(_) | Value::Null => Ok(Value::String(raw.to_string())),
        Value::Bool(_) => raw
            .parse::<bool>()
            .map(Value::Bool)
            .map_err(|_| "`true` or `false`"),
        Value::Number(n) if n.is_f64() => {
            raw.parse::<f64>().map(Value::from).map_err(|_| "a number")
        }
        Value::Number(_) => raw
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| "a whole number"),
        Value::Sequence(_) => match serde_yaml::from_str::<Value>(raw) {
            Ok(list @ Value::Sequence(_)) => Ok(list),
            _ => Err("a JSON or YAML list"),
        },
        _ => Err("a key inside this section, not the section itself"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_without_a_file() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://data/licet.db");
        assert_eq!(config.key_file(), PathBuf::from("data/signing-key.pem"));
        assert_eq!(config.server.body_limit_bytes, 65536);
    }

    #[test]
    fn environment_overrides_file_and_keeps_types() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licet.yaml");
        std::fs::write(
            &file,
            "database:\n  pool_size: 4\ncache:\n  ttl_seconds: 9\n",
        )
        .unwrap();
        let vars = env(&[
            ("LICET__DATABASE__POOL_SIZE", "12"),
            ("LICET__DATABASE__URL", "postgres://db/licet"),
            ("LICET__SERVER__DATA_DIR", "/var/lib/licet"),
            ("PATH", "/bin"),
        ]);
        let config = Config::load_from(Some(&file), vars).unwrap();
        assert_eq!(config.database.pool_size, 12);
        assert_eq!(config.cache.ttl_seconds, 9);
        assert_eq!(config.database_url(), "postgres://db/licet");
        assert_eq!(config.server.data_dir, PathBuf::from("/var/lib/licet"));
    }

    #[test]
    fn out_of_bounds_value_names_the_key() {
        let err = Config::load_from(None, env(&[("LICET__DATABASE__POOL_SIZE", "0")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration key `database.pool_size` is not valid: must be between 1 and 512"
        );
    }

    #[test]
    fn mistyped_environment_value_names_key_and_variable() {
        let err =
            Config::load_from(None, env(&[("LICET__DATABASE__POOL_SIZE", "abc")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration key `database.pool_size` is not valid: `abc` from `LICET__DATABASE__POOL_SIZE` must be a whole number"
        );
        let err = Config::load_from(None, env(&[("LICET__DATABASE__MIGRATE_ON_START", "maybe")]));
        assert!(matches!(
            err,
            Err(ConfigError::EnvValue {
                expected: "`true` or `false`",
                ..
            })
        ));
        let err = Config::load_from(None, env(&[("LICET__SERVER", "x")]));
        assert!(matches!(err, Err(ConfigError::EnvValue { .. })));
    }

    #[test]
    fn unknown_environment_key_is_refused() {
        let err = Config::load_from(None, env(&[("LICET__DATABASE__POLL_SIZE", "3")])).unwrap_err();
        assert!(
            matches!(err, ConfigError::UnknownEnvKey { var } if var == "LICET__DATABASE__POLL_SIZE")
        );
    }

    #[test]
    fn unknown_file_key_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licet.yaml");
        std::fs::write(&file, "server:\n  bnd: 1.2.3.4:1\n").unwrap();
        let err = Config::load_from(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `bnd`"), "{err}");
    }

    #[test]
    fn nested_vault_keys_are_read_from_the_environment() {
        let vars = env(&[
            ("LICET__SIGNING__BACKEND", "vault-transit"),
            (
                "LICET__SIGNING__VAULT__ADDRESS",
                "https://vault.example:8200",
            ),
            ("LICET__SIGNING__VAULT__BATCH_MAX", "16"),
            ("LICET__SIGNING__VAULT__COALESCE", "false"),
        ]);
        let config = Config::load_from(None, vars).unwrap();
        assert_eq!(config.signing.backend, "vault-transit");
        assert_eq!(config.signing.vault.address, "https://vault.example:8200");
        assert_eq!(config.signing.vault.batch_max, 16);
        assert!(!config.signing.vault.coalesce);
        assert_eq!(config.signing.vault.mount, "transit");

        let err =
            Config::load_from(None, env(&[("LICET__SIGNING__VAULT__BATCH_MAX", "0")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration key `signing.vault.batch_max` is not valid: must be between 1 and 1000"
        );
        let err = Config::load_from(None, env(&[("LICET__SIGNING__BACKEND", "hsm")])).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "signing.backend",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn sample_file_loads_and_names_every_key() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../licet.yaml");
        Config::load_from(Some(&sample), env(&[])).unwrap();
        let text = std::fs::read_to_string(&sample).unwrap();
        fn leaves(prefix: &str, node: &Value, out: &mut Vec<String>) {
            match node {
                Value::Mapping(map) => {
                    for (key, value) in map {
                        let key = key.as_str().unwrap_or_default();
                        leaves(&format!("{prefix}{key}."), value, out);
                    }
                }
                _ => out.push(prefix.trim_end_matches('.').to_string()),
            }
        }
        let mut keys = Vec::new();
        leaves(
            "",
            &serde_yaml::to_value(Config::default()).unwrap(),
            &mut keys,
        );
        for key in keys {
            let name = key.rsplit('.').next().unwrap();
            assert!(
                text.lines().any(|l| l
                    .trim_start_matches([' ', '#'])
                    .starts_with(&format!("{name}:"))),
                "licet.yaml does not document `{key}`"
            );
        }
    }

    #[test]
    fn policy_dir_without_schema_is_refused() {
        let err =
            Config::load_from(None, env(&[("LICET__POLICIES__DIR", "policies")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                key: "policies.schema",
                ..
            }
        ));
    }

    #[test]
    fn access_tokens_come_from_a_json_list_in_the_environment_and_are_checked() {
        let hash = "a".repeat(64);
        let list = format!(r#"[{{"name":"ops","role":"admin","sha256":"{hash}"}}]"#);
        let config =
            Config::load_from(None, env(&[("LICET__ACCESS__TOKENS", list.as_str())])).unwrap();
        assert_eq!(config.access.tokens.len(), 1);
        assert_eq!(config.access.tokens[0].name, "ops");

        let err = Config::load_from(None, env(&[("LICET__ACCESS__TOKENS", "ops")])).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::EnvValue {
                    expected: "a JSON or YAML list",
                    ..
                }
            ),
            "{err}"
        );
        let bad_role = list.replace("admin", "root");
        let err = Config::load_from(None, env(&[("LICET__ACCESS__TOKENS", bad_role.as_str())]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration key `access.tokens` is not valid: token `ops`: role must be `admin` or `auditor`, not `root`"
        );
        let short = list.replace(&hash, "abc");
        let err =
            Config::load_from(None, env(&[("LICET__ACCESS__TOKENS", short.as_str())])).unwrap_err();
        assert!(
            err.to_string()
                .contains("sha256 must be 64 lowercase hex digits"),
            "{err}"
        );
    }

    #[test]
    fn decision_log_bounds_name_their_key() {
        let err = Config::load_from(None, env(&[("LICET__DECISION_LOG__QUEUE_CAPACITY", "0")]))
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                key: "decision_log.queue_capacity",
                ..
            }
        ));
    }

    #[test]
    fn tenant_labels_are_bounded_and_other_is_reserved() {
        let err = Config::load_from(
            None,
            env(&[("LICET__METRICS__TENANT_LABELS", r#"["acme","other"]"#)]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("`other` is the label of every tenant not listed")
        );
        let config = Config::load_from(
            None,
            env(&[("LICET__METRICS__TENANT_LABELS", r#"["acme","globex"]"#)]),
        )
        .unwrap();
        assert_eq!(config.metrics.tenant_labels, ["acme", "globex"]);
    }
}
