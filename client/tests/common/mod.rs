//! What the command-line tests share: one RSA key per test binary (generating one is slow),
//! the JWKS and PEM files that publish it, and compact JWS signing with it.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::PrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The `kid` of the test key in its JWKS and in the tokens signed here.
pub const KID: &str = "test-key";

pub struct Fixture {
    pub key: PrivateKey,
    _dir: TempDir,
    /// A JWKS holding the public key under [`KID`].
    pub jwks_path: PathBuf,
    /// The public key as a PEM `PUBLIC KEY` block, for pinning.
    pub pem_path: PathBuf,
}

/// The test binary's key and its files, made on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let public = key.as_public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA",
            "kid": KID,
            "use": "sig",
            "alg": "RS256",
            "n": b64(&public.n().to_be_bytes_trimmed_vartime()),
            "e": b64(&public.e().to_be_bytes_trimmed_vartime()),
        }]});
        let dir = tempfile::tempdir().unwrap();
        let jwks_path = dir.path().join("jwks.json");
        std::fs::write(&jwks_path, jwks.to_string()).unwrap();
        let pem_path = dir.path().join("licet.pem");
        std::fs::write(&pem_path, public.to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
        Fixture {
            key,
            _dir: dir,
            jwks_path,
            pem_path,
        }
    })
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS of `claims` under `header`, signed RS256 with the test key.
pub fn sign_with_header(header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = fixture()
        .key
        .pkcs1v15_sign::<sha2::Sha256>(input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(&signature))
}

/// A compact JWS of `claims` as licet signs them: RS256 under [`KID`].
pub fn sign(claims: &Value) -> String {
    sign_with_header(&json!({"alg": "RS256", "typ": "JWT", "kid": KID}), claims)
}

/// Runs `licet-client` with `args` and, when given, `stdin` as its standard input; no licence
/// key in the environment.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_licet-client"))
        .args(args)
        .env_remove("LICET_LICENSE_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}
