//! The few transit endpoints licet calls, as `rustify` endpoints run by `vaultrs`.
//!
//! `vaultrs` has typed calls for transit, but its sign request has no `batch_input` and its key
//! answer no `latest_version`; these types add exactly that and nothing else.

use std::collections::BTreeMap;

use rustify::endpoint::Endpoint;
use rustify::enums::{RequestMethod, RequestType, ResponseType};
use rustify::errors::ClientError;
use serde::{Deserialize, Serialize};

/// `POST {mount}/sign/{key}` with several inputs at once.
#[derive(Debug, Serialize)]
pub struct SignBatch {
    #[serde(skip)]
    pub mount: String,
    #[serde(skip)]
    pub key: String,
    /// The key version to sign with, so that the `kid` in the header is the one that signs.
    pub key_version: u64,
    pub hash_algorithm: &'static str,
    pub signature_algorithm: &'static str,
    pub prehashed: bool,
    pub batch_input: Vec<SignInput>,
}

/// One input of a batch: the base64 (standard) of the bytes to sign.
#[derive(Debug, Serialize)]
pub struct SignInput {
    pub input: String,
}

/// Transit's answer to a batch: one result per input, in order.
#[derive(Debug, Deserialize)]
pub struct SignBatchResponse {
    pub batch_results: Vec<SignResult>,
}

/// One signature, `vault:vN:<base64>`, or the error that stopped it.
#[derive(Debug, Deserialize)]
pub struct SignResult {
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

fn json_body<T: Serialize>(value: &T) -> Result<Option<Vec<u8>>, ClientError> {
    serde_json::to_vec(value)
        .map(Some)
        .map_err(|e| ClientError::DataParseError { source: e.into() })
}

impl Endpoint for SignBatch {
    type Response = SignBatchResponse;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        format!("{}/sign/{}", self.mount, self.key)
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::POST
    }

    fn body(&self) -> Result<Option<Vec<u8>>, ClientError> {
        json_body(self)
    }
}

/// `GET {mount}/keys/{key}`: the key's type, versions and public keys.
#[derive(Debug)]
pub struct ReadKey {
    pub mount: String,
    pub key: String,
}

/// What licet reads of a transit key.
#[derive(Debug, Deserialize)]
pub struct KeyDescription {
    #[serde(rename = "type")]
    pub key_type: String,
    pub latest_version: u64,
    pub min_decryption_version: u64,
    pub supports_signing: bool,
    /// Version number (as text) to its public key and creation time.
    pub keys: BTreeMap<String, KeyVersion>,
}

/// One version of an asymmetric transit key.
#[derive(Debug, Deserialize)]
pub struct KeyVersion {
    #[serde(default)]
    pub public_key: String,
    pub creation_time: String,
}

impl Endpoint for ReadKey {
    type Response = KeyDescription;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        format!("{}/keys/{}", self.mount, self.key)
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::GET
    }
}

/// `POST {mount}/keys/{key}/config` setting the oldest version that still verifies.
#[derive(Debug, Serialize)]
pub struct SetMinVersion {
    #[serde(skip)]
    pub mount: String,
    #[serde(skip)]
    pub key: String,
    pub min_decryption_version: u64,
}

impl Endpoint for SetMinVersion {
    type Response = serde_json::Value;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        format!("{}/keys/{}/config", self.mount, self.key)
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::POST
    }

    fn body(&self) -> Result<Option<Vec<u8>>, ClientError> {
        json_body(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_request_has_the_fields_transit_expects() {
        let request = SignBatch {
            mount: "transit".into(),
            key: "licet".into(),
            key_version: 3,
            hash_algorithm: "sha2-256",
            signature_algorithm: "pkcs1v15",
            prehashed: false,
            batch_input: vec![SignInput {
                input: "aGk=".into(),
            }],
        };
        assert_eq!(request.path(), "transit/sign/licet");
        let body: serde_json::Value =
            serde_json::from_slice(&request.body().unwrap().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "key_version": 3,
                "hash_algorithm": "sha2-256",
                "signature_algorithm": "pkcs1v15",
                "prehashed": false,
                "batch_input": [{ "input": "aGk=" }],
            })
        );
    }
}
