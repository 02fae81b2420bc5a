//! The server's public signing keys as a JSON Web Key Set (RFC 7517).
//!
//! A [`Jwks`] is parsed from JSON text, read from a file, or fetched over
//! HTTP(S), and then maps key ids (`kid`) to RSA public keys. Only keys this
//! client can verify RS256 signatures with are kept: `kty` must be `RSA`, and
//! `use` and `alg`, when present, must be `sig` and `RS256`. Other entries
//! (for example EC keys added by a future server) are skipped, so an older
//! client keeps working while keys rotate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use rsa::{BoxedUint, PublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::JwksError;

/// How long [`Jwks::fetch`] waits for the whole HTTP exchange.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest JWKS document [`Jwks::fetch`] accepts, in bytes.
const MAX_FETCH_BYTES: u64 = 1024 * 1024;

/// A set of RS256 verification keys, looked up by key id.
#[derive(Debug, Clone)]
pub struct Jwks {
    keys: BTreeMap<String, PublicKey>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<Value>,
}

impl Jwks {
    /// Parses a JWKS document (`{"keys":[...]}`).
    ///
    /// # Errors
    ///
    /// [`JwksError::Json`] if the text is not JSON or has no `keys` array,
    /// [`JwksError::InvalidEntry`] / [`JwksError::InvalidKey`] for a malformed
    /// entry (the latter names its `kid`), [`JwksError::DuplicateKid`], and
    /// [`JwksError::NoUsableKeys`] if no RS256 key remains.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        let raw: RawJwks = serde_json::from_str(json).map_err(JwksError::Json)?;
        let mut keys = BTreeMap::new();
        for (index, entry) in raw.keys.iter().enumerate() {
            let Value::Object(entry) = entry else {
                return Err(JwksError::InvalidEntry {
                    index,
                    reason: "not a JSON object".to_owned(),
                });
            };
            if let Some((kid, key)) = parse_entry(index, entry)? {
                if keys.contains_key(&kid) {
                    return Err(JwksError::DuplicateKid(kid));
                }
                keys.insert(kid, key);
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(Self { keys })
    }

    /// Reads and parses a JWKS file.
    ///
    /// # Errors
    ///
    /// [`JwksError::Read`] if the file cannot be read, otherwise as
    /// [`Jwks::from_json`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, JwksError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| JwksError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Downloads and parses a JWKS from an `http://` or `https://` URL, with a
    /// [`FETCH_TIMEOUT`] limit on the whole exchange.
    ///
    /// The JWKS is the trust anchor for every verification: use `https://`
    /// outside local testing. Proxy settings are taken from the usual
    /// environment variables.
    ///
    /// # Errors
    ///
    /// [`JwksError::Fetch`] on network errors, timeouts, non-2xx responses or
    /// bodies over 1 MiB, otherwise as [`Jwks::from_json`].
    pub fn fetch(url: &str) -> Result<Self, JwksError> {
        let fetch_error = |source: ureq::Error| JwksError::Fetch {
            url: url.to_owned(),
            source: Box::new(source),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .build()
            .into();
        let mut response = agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(fetch_error)?;
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_FETCH_BYTES)
            .read_to_string()
            .map_err(fetch_error)?;
        Self::from_json(&text)
    }

    /// Loads a JWKS from `source`: fetched when it starts with `http://` or
    /// `https://`, otherwise read as a file path.
    ///
    /// # Errors
    ///
    /// As [`Jwks::fetch`] or [`Jwks::from_file`].
    pub fn load(source: &str) -> Result<Self, JwksError> {
        if source.starts_with("http://") || source.starts_with("https://") {
            Self::fetch(source)
        } else {
            Self::from_file(source)
        }
    }

    /// The public key with id `kid`, if the set holds a usable one.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// The ids of the usable keys, in sorted order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Returns `Ok(None)` for entries this client skips (not RSA, or meant for
/// another use or algorithm).
fn parse_entry(
    index: usize,
    entry: &Map<String, Value>,
) -> Result<Option<(String, PublicKey)>, JwksError> {
    let invalid_entry = |reason: &str| JwksError::InvalidEntry {
        index,
        reason: reason.to_owned(),
    };
    let kty = match entry.get("kty") {
        Some(Value::String(kty)) => kty,
        Some(_) => return Err(invalid_entry("`kty` is not a string")),
        None => return Err(invalid_entry("missing `kty`")),
    };
    let usable = kty == "RSA"
        && optional_str(entry, "use").is_none_or(|u| u == "sig")
        && optional_str(entry, "alg").is_none_or(|a| a == "RS256");
    if !usable {
        return Ok(None);
    }
    let kid = match entry.get("kid") {
        Some(Value::String(kid)) => kid.clone(),
        Some(_) => return Err(invalid_entry("`kid` is not a string")),
        None => return Err(invalid_entry("RSA key has no `kid`")),
    };
    let invalid_key = |reason: String| JwksError::InvalidKey {
        kid: kid.clone(),
        reason,
    };
    let n = decode_uint(entry, "n").map_err(invalid_key)?;
    let e = decode_uint(entry, "e").map_err(invalid_key)?;
    let key = PublicKey::new(n, e)
        .map_err(|err| invalid_key(format!("not a usable RSA public key: {err}")))?;
    Ok(Some((kid, key)))
}

/// `Some(value)` when `name` is present and a string. A present non-string
/// value yields `Some("")`, which matches no accepted value, so the entry is
/// skipped rather than trusted.
fn optional_str<'a>(entry: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    entry.get(name).map(|v| v.as_str().unwrap_or(""))
}

/// Decodes a base64url big-endian unsigned integer member (`n` or `e`).
fn decode_uint(entry: &Map<String, Value>, name: &str) -> Result<BoxedUint, String> {
    let text = match entry.get(name) {
        Some(Value::String(text)) => text,
        Some(_) => return Err(format!("`{name}` is not a string")),
        None => return Err(format!("missing `{name}`")),
    };
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(text)
        .map_err(|err| format!("`{name}` is not valid base64url: {err}"))?;
    let first_nonzero = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[first_nonzero..];
    if significant.is_empty() {
        return Err(format!("`{name}` is zero"));
    }
    Ok(BoxedUint::from_be_slice_vartime(significant))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;
    use crate::test_support::{TEST_KID, jwk_value, jwks_json, test_key};

    fn jwks_with(entries: &[Value]) -> String {
        serde_json::json!({ "keys": entries }).to_string()
    }

    #[test]
    fn parses_keys_and_looks_them_up_by_kid() {
        let jwks = Jwks::from_json(&jwks_json()).unwrap();
        assert_eq!(jwks.kids().collect::<Vec<_>>(), vec![TEST_KID]);
        assert_eq!(jwks.get(TEST_KID), Some(test_key().as_public_key()));
        assert!(jwks.get("other").is_none());
    }

    #[test]
    fn leading_zero_bytes_and_padding_are_tolerated() {
        let mut jwk = jwk_value("padded");
        let n = jwk["n"].as_str().unwrap();
        let mut bytes = vec![0u8];
        bytes.extend(URL_SAFE_NO_PAD_INDIFFERENT.decode(n).unwrap());
        jwk["n"] = base64::engine::general_purpose::URL_SAFE
            .encode(&bytes)
            .into();
        let jwks = Jwks::from_json(&jwks_with(&[jwk])).unwrap();
        assert_eq!(jwks.get("padded"), Some(test_key().as_public_key()));
    }

    #[test]
    fn keys_for_other_algorithms_or_uses_are_skipped() {
        let mut enc = jwk_value("enc");
        enc["use"] = "enc".into();
        let mut ps = jwk_value("ps");
        ps["alg"] = "PS256".into();
        let ec =
            serde_json::json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"});
        let no_alg = {
            let mut jwk = jwk_value("bare");
            let obj = jwk.as_object_mut().unwrap();
            obj.remove("alg");
            obj.remove("use");
            jwk
        };
        let jwks = Jwks::from_json(&jwks_with(&[enc, ps, ec, no_alg])).unwrap();
        assert_eq!(jwks.kids().collect::<Vec<_>>(), vec!["bare"]);
    }

    #[test]
    fn malformed_entries_name_the_kid() {
        let mut missing_n = jwk_value("k-missing-n");
        missing_n.as_object_mut().unwrap().remove("n");
        let err = Jwks::from_json(&jwks_with(&[missing_n])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid JWKS key `k-missing-n`: missing `n`"
        );

        let mut bad_e = jwk_value("k-bad-e");
        bad_e["e"] = "!!".into();
        let err = Jwks::from_json(&jwks_with(&[bad_e])).unwrap_err();
        assert!(
            matches!(&err, JwksError::InvalidKey { kid, reason }
                if kid == "k-bad-e" && reason.starts_with("`e` is not valid base64url")),
            "{err}"
        );

        let small = serde_json::json!({"kty": "RSA", "kid": "k-small", "n": "AQAB", "e": "AQAB"});
        let err = Jwks::from_json(&jwks_with(&[small])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid JWKS key `k-small`: not a usable RSA public key"),
            "{err}"
        );
    }

    #[test]
    fn structural_problems_are_reported() {
        assert!(matches!(
            Jwks::from_json("not json").unwrap_err(),
            JwksError::Json(_)
        ));
        assert!(matches!(
            Jwks::from_json(r#"{"keys": 3}"#).unwrap_err(),
            JwksError::Json(_)
        ));
        assert!(matches!(
            Jwks::from_json(r#"{"keys": []}"#).unwrap_err(),
            JwksError::NoUsableKeys
        ));
        let err = Jwks::from_json(r#"{"keys": ["x"]}"#).unwrap_err();
        assert_eq!(err.to_string(), "invalid JWKS entry #0: not a JSON object");

        let mut no_kid = jwk_value("x");
        no_kid.as_object_mut().unwrap().remove("kid");
        let err = Jwks::from_json(&jwks_with(&[jwk_value("ok"), no_kid])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid JWKS entry #1: RSA key has no `kid`"
        );

        let err = Jwks::from_json(&jwks_with(&[jwk_value("k1"), jwk_value("k1")])).unwrap_err();
        assert!(matches!(err, JwksError::DuplicateKid(kid) if kid == "k1"));
    }

    #[test]
    fn loads_from_a_file_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks_json()).unwrap();
        let jwks = Jwks::load(path.to_str().unwrap()).unwrap();
        assert!(jwks.get(TEST_KID).is_some());

        let missing = dir.path().join("missing.json");
        let err = Jwks::load(missing.to_str().unwrap()).unwrap_err();
        assert!(matches!(&err, JwksError::Read { path, .. } if *path == missing));
    }

    /// Serves one HTTP response on a local port and returns the base URL.
    fn serve_once(status_line: &'static str, body: String) -> (String, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            write!(
                stream,
                "{status_line}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            request_line
        });
        (url, handle)
    }

    #[test]
    fn fetches_over_http() {
        let (url, server) = serve_once("HTTP/1.1 200 OK", jwks_json());
        let jwks = Jwks::load(&format!("{url}/.well-known/jwks.json")).unwrap();
        assert!(jwks.get(TEST_KID).is_some());
        assert_eq!(
            server.join().unwrap(),
            "GET /.well-known/jwks.json HTTP/1.1\r\n"
        );
    }

    #[test]
    fn http_errors_are_fetch_errors() {
        let (url, server) = serve_once("HTTP/1.1 404 Not Found", "{}".to_owned());
        let url = format!("{url}/jwks.json");
        let err = Jwks::fetch(&url).unwrap_err();
        server.join().unwrap();
        assert!(
            matches!(&err, JwksError::Fetch { url: u, .. } if *u == url),
            "{err}"
        );
        assert!(err.to_string().contains("404"), "{err}");
    }
}
