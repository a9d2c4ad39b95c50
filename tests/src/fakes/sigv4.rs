//! AWS Signature Version 4 computed from its specification, for the Bedrock fake to verify
//! requests with. It is written apart from the `aws-sigv4` crate Revis signs with on purpose: a
//! verifier using the same crate with the same settings would accept the same mistake (a path
//! encoded once instead of twice, an unsigned header, a wrong payload hash). Checked against the
//! AWS signing test suite's vectors below.
//! Must not: be used to sign anything Revis sends (production signs with `aws-sigv4`).

use ring::{digest, hmac};

/// A request as the server received it.
pub struct Received<'a> {
    pub method: &'a str,
    /// The path as sent, with its query string if any.
    pub target: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The signing key's inputs: `date` is `YYYYMMDD`.
pub struct Scope<'a> {
    pub secret_access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, every other byte is `%XX`
/// in upper case; `/` stays when `keep_slash`.
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Every service but S3 encodes the path it received once more (so `%3A` becomes `%253A`).
/// `.` and `..` segments are not normalized: no Bedrock path has them.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() { "/".to_string() } else { uri_encode(path, true) }
}

/// Parameters decoded, encoded again, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), false), uri_encode(&percent_decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// A header's values as SigV4 reads them: all of that name in order, each trimmed with its
/// inner runs of spaces made one, joined by commas.
fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The canonical request over `signed` (lower-case header names, `;`-separated as in the
/// Authorization header).
pub fn canonical_request(req: &Received<'_>, signed: &str) -> Result<String, String> {
    let (path, query) = req.target.split_once('?').unwrap_or((req.target, ""));
    let mut names: Vec<&str> = signed.split(';').collect();
    names.sort_unstable();
    names.dedup();
    if names.join(";") != signed || signed.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("SignedHeaders must be lower-case, sorted and without repeats: {signed}"));
    }
    let mut lines = String::new();
    for name in &names {
        let value = header_value(req.headers, name).ok_or_else(|| format!("signed header {name} is missing"))?;
        lines.push_str(&format!("{name}:{value}\n"));
    }
    let payload = sha256_hex(req.body);
    if let Some(claimed) = header_value(req.headers, "x-amz-content-sha256")
        && claimed != payload
    {
        return Err("x-amz-content-sha256 does not match the body".into());
    }
    Ok(format!("{}\n{}\n{}\n{lines}\n{signed}\n{payload}", req.method, canonical_uri(path), canonical_query(query)))
}

/// The signature of `canonical` at `amz_date` (`YYYYMMDDTHHMMSSZ`) in `scope`.
pub fn signature(scope: &Scope<'_>, amz_date: &str, canonical: &str) -> String {
    let credential_scope = format!("{}/{}/{}/aws4_request", scope.date, scope.region, scope.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{credential_scope}\n{}", sha256_hex(canonical.as_bytes()));
    let key = [scope.date, scope.region, scope.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{}", scope.secret_access_key).into_bytes(), |key, part| hmac_sha256(&key, part.as_bytes()));
    hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SCOPE: Scope<'static> =
        Scope { secret_access_key: SECRET, date: "20150830", region: "us-east-1", service: "service" };

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn post_vanilla_matches_the_aws_test_suite() {
        let h = headers(&[("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]);
        let req = Received { method: "POST", target: "/", headers: &h, body: b"" };
        let canonical = canonical_request(&req, "host;x-amz-date").expect("canonical");
        assert_eq!(
            canonical,
            "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signature(&SCOPE, "20150830T123600Z", &canonical),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn a_signed_body_and_a_session_token_match_the_aws_test_suite() {
        let hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
        let h = headers(&[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Host", "example.amazonaws.com"),
            ("Content-Length", "13"),
            ("X-Amz-Content-Sha256", hash),
            ("X-Amz-Date", "20150830T123600Z"),
        ]);
        let req = Received { method: "POST", target: "/", headers: &h, body: b"Param1=value1" };
        let signed = "content-length;content-type;host;x-amz-content-sha256;x-amz-date";
        let canonical = canonical_request(&req, signed).expect("canonical");
        assert_eq!(
            signature(&SCOPE, "20150830T123600Z", &canonical),
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        );

        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("X-Amz-Security-Token", token),
        ]);
        let req = Received { method: "GET", target: "/", headers: &h, body: b"" };
        let canonical = canonical_request(&req, "host;x-amz-date;x-amz-security-token").expect("canonical");
        assert_eq!(
            signature(&SCOPE, "20150830T123600Z", &canonical),
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        );
    }

    #[test]
    fn the_path_is_encoded_once_more_as_the_test_suite_double_encodes_it() {
        assert_eq!(canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"), "/test/%40connections/JBDvjfGEIAMCERw%253D");
        assert_eq!(
            canonical_uri("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"),
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/converse"
        );
        assert_eq!(canonical_query("b=2&a=%7E1&a=0"), "a=0&a=~1&b=2");
    }

    #[test]
    fn a_changed_body_or_an_unsorted_list_does_not_verify() {
        let h = headers(&[("Host", "h"), ("X-Amz-Content-Sha256", "00")]);
        let req = Received { method: "POST", target: "/", headers: &h, body: b"x" };
        assert!(canonical_request(&req, "host").is_err(), "the claimed payload hash is wrong");
        let req = Received { method: "POST", target: "/", headers: &h[..1], body: b"x" };
        assert!(canonical_request(&req, "x-amz-date;host").is_err());
        assert!(canonical_request(&req, "Host").is_err(), "upper case");
        assert!(canonical_request(&req, "host;host").is_err(), "a repeat");
        assert!(canonical_request(&req, "host;x-amz-date").is_err(), "a signed header that is absent");
    }
}
