//! Google's OAuth token endpoint as the fake speaks it (`POST /token`): the service-account
//! JWT-bearer grant, its RS256 signature verified with the key's public half and its claims
//! checked (issuer, audience, scope, lifetime), and the refresh-token grant of an
//! application-default credential. Answers `{"access_token", "expires_in", "token_type"}` or
//! OAuth's `{"error", "error_description"}`.
//! Also makes the test credentials: a fresh RSA key pair (with the `openssl` CLI) written as a
//! service-account key file whose `token_uri` is this fake.
//! Must not: hand out a token for a request it could not verify.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};

use revis_fixtures::http::{HttpRequest, HttpResponse, HttpServer};

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A service-account key made for one test.
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_pem: String,
    /// The public key as PKCS#1 DER, for verifying.
    pub public_key_der: Vec<u8>,
}

impl ServiceAccount {
    /// A new 2048-bit RSA key, made with `openssl` in `dir`.
    pub fn generate(dir: &Path, client_email: &str) -> Self {
        let pem = dir.join("sa-key.pem");
        let der = dir.join("sa-key.der");
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).output().expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &pem.display().to_string()]);
        run(&[
            "rsa",
            "-in",
            &pem.display().to_string(),
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            &der.display().to_string(),
        ]);
        Self {
            client_email: client_email.to_string(),
            private_key_pem: std::fs::read_to_string(&pem).expect("read the key"),
            public_key_der: std::fs::read(&der).expect("read the public key"),
        }
    }

    /// The key file as `gcloud iam service-accounts keys create` writes it.
    pub fn key_json(&self, project: &str, token_uri: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": "0123456789abcdef",
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        })
        .to_string()
    }
}

/// An `authorized_user` credential (gcloud's application-default file).
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl RefreshGrant {
    pub fn key_json(&self, token_uri: &str) -> String {
        json!({
            "type": "authorized_user",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "token_uri": token_uri,
        })
        .to_string()
    }
}

#[derive(Default)]
struct Grants {
    issued: usize,
    refused: Vec<String>,
}

/// The token endpoint; stops when dropped.
pub struct TokenServer {
    server: HttpServer,
    grants: Arc<Mutex<Grants>>,
}

impl TokenServer {
    /// Hands out `token` to `account`'s signed assertions and to `refresh`'s refresh token.
    pub fn start(account: Option<&ServiceAccount>, refresh: Option<RefreshGrant>, token: &str) -> Self {
        let grants = Arc::new(Mutex::new(Grants::default()));
        let state = Arc::clone(&grants);
        let account = account.map(|a| (a.client_email.clone(), a.public_key_der.clone()));
        let token = token.to_string();
        let server = HttpServer::start(Arc::new(move |req: HttpRequest| {
            let port = req.header("host").unwrap_or_default().to_string();
            let audience = format!("http://{port}/token");
            let verdict = grant(&req, account.as_ref(), refresh.as_ref(), &audience);
            let mut grants = state.lock().unwrap_or_else(|p| p.into_inner());
            match verdict {
                Ok(()) => {
                    grants.issued += 1;
                    HttpResponse::json(200, &json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
                }
                Err((status, error, description)) => {
                    grants.refused.push(format!("{error}: {description}"));
                    HttpResponse::json(status, &json!({"error": error, "error_description": description}))
                }
            }
        }))
        .unwrap_or_else(|e| panic!("cannot start the fake token server: {e}"));
        Self { server, grants }
    }

    pub fn token_uri(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port())
    }

    /// Tokens handed out so far.
    pub fn issued(&self) -> usize {
        self.grants.lock().unwrap_or_else(|p| p.into_inner()).issued
    }

    /// Requests refused, with why.
    pub fn refused(&self) -> Vec<String> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner()).refused.clone()
    }
}

type Refusal = (u16, &'static str, String);

fn params(req: &HttpRequest) -> Vec<(String, String)> {
    let json_body = req.header("content-type").is_some_and(|c| c.starts_with("application/json"));
    if json_body {
        let value: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        return value
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
    }
    form_urlencoded::parse(&req.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn grant(
    req: &HttpRequest,
    account: Option<&(String, Vec<u8>)>,
    refresh: Option<&RefreshGrant>,
    audience: &str,
) -> Result<(), Refusal> {
    let invalid = |description: String| (400, "invalid_grant", description);
    if req.method != "POST" || req.path != "/token" {
        return Err((404, "not_found", format!("{} {}", req.method, req.path)));
    }
    let params = params(req);
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match get("grant_type") {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let (email, public_key) = account.ok_or_else(|| invalid("no service account here".into()))?;
            let assertion = get("assertion").ok_or_else(|| invalid("no assertion".into()))?;
            let claims =
                verify_jwt(assertion, public_key).map_err(|e| invalid(format!("Invalid JWT Signature: {e}")))?;
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
            if claims["iss"] != *email {
                return Err(invalid(format!("iss {} is not {email}", claims["iss"])));
            }
            if claims["aud"] != audience {
                return Err(invalid(format!("aud {} is not {audience}", claims["aud"])));
            }
            if !claims["scope"].as_str().is_some_and(|s| s.split(' ').any(|s| s == SCOPE)) {
                return Err(invalid(format!("scope {} lacks {SCOPE}", claims["scope"])));
            }
            let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
            if !(iat <= now + 60 && exp > now && exp - iat <= 3600) {
                return Err(invalid(format!("Invalid JWT: token lifetime iat={iat} exp={exp} now={now}")));
            }
            Ok(())
        }
        Some("refresh_token") => {
            let expected = refresh.ok_or_else(|| invalid("no refresh grant here".into()))?;
            if get("client_id") != Some(&expected.client_id) || get("client_secret") != Some(&expected.client_secret) {
                return Err((401, "invalid_client", "The OAuth client was not found.".into()));
            }
            if get("refresh_token") != Some(&expected.refresh_token) {
                return Err(invalid("Token has been expired or revoked.".into()));
            }
            Ok(())
        }
        other => Err((400, "unsupported_grant_type", format!("Invalid grant_type: {other:?}"))),
    }
}

/// The claims of an RS256 JWT whose signature `public_key` (PKCS#1 DER) verifies.
fn verify_jwt(jwt: &str, public_key: &[u8]) -> Result<Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err("not three parts".into()) };
    // gcp_auth pads its base64url; the spec does not: take both.
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|e| e.to_string())
    };
    let head: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if head["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", head["alg"]));
    }
    let signed = format!("{header}.{claims}");
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(signed.as_bytes(), &decode(signature)?)
        .map_err(|_| "the signature does not verify".to_string())?;
    serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_key(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the key file");
    path
}
