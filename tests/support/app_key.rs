//! GitHub App key material for tests: an RSA 2048 key pair generated at test time (no key
//! file is ever committed), and a JWT signer so tests can mint good and deliberately bad app
//! JWTs without going through the application's own code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh RSA 2048 key pair: (private key as PKCS#1 PEM, as GitHub hands it out;
/// public key as SubjectPublicKeyInfo PEM).
pub fn generate_app_key() -> (String, String) {
    let rsa = Rsa::generate(2048).expect("generate RSA key");
    let private = String::from_utf8(rsa.private_key_to_pem().expect("private PEM")).unwrap();
    let public = String::from_utf8(rsa.public_key_to_pem().expect("public PEM")).unwrap();
    (private, public)
}

/// One key pair per test process; generating keys is the slowest part of starting a fake.
pub fn shared_app_key() -> &'static (String, String) {
    static KEY: OnceLock<(String, String)> = OnceLock::new();
    KEY.get_or_init(generate_app_key)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs() as i64
}

/// Sign arbitrary claims as an RS256 JWT with a PEM private key (PKCS#1 or PKCS#8).
pub fn sign_jwt(private_pem: &str, claims: &Value) -> String {
    let key = PKey::private_key_from_pem(private_pem.as_bytes()).expect("parse private key");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims to JSON"));
    let signing_input = format!("{header}.{payload}");
    let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("signer");
    signer.update(signing_input.as_bytes()).expect("sign");
    let signature = URL_SAFE_NO_PAD.encode(signer.sign_to_vec().expect("sign"));
    format!("{signing_input}.{signature}")
}

/// A valid app JWT as GitHub recommends building it: issued 60 s in the past against clock
/// drift, expiring 9 minutes later.
pub fn app_jwt(private_pem: &str, app_id: u64) -> String {
    let now = unix_now();
    sign_jwt(
        private_pem,
        &json!({"iat": now - 60, "exp": now + 540, "iss": app_id}),
    )
}
