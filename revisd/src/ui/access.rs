//! Who may use the dashboard: requests to this port's loopback names only (a DNS-rebound name
//! is refused), from its own page or no page at all (another origin is refused), with the
//! token. Reads take it from the `Authorization` header or, where a browser cannot set one
//! (the page itself, its assets, an EventSource), from `?token=`; actions only from the header,
//! which a page of another site cannot send.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use super::routes::Shared;

const TOKEN_BYTES: usize = 24;

/// 48 hex digits from the OS's random source.
pub fn new_token() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn is_token(text: &str) -> bool {
    text.len() == TOKEN_BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Equal without an early exit: the time taken does not say how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks every request, then adds the headers that keep the page to itself.
pub async fn guard(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let (token, port) = (&shared.token, shared.port);
    if let Err(refusal) = check(token, port, request.method(), request.headers(), request.uri().query()) {
        return refusal.into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // The token travels in URLs: no referrer leaves the page, nothing is cached, no frame.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

#[derive(Debug, PartialEq)]
pub struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.1).into_response()
    }
}

pub fn check(token: &str, port: u16, method: &Method, headers: &HeaderMap, query: Option<&str>) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if host != format!("127.0.0.1:{port}") && host != format!("localhost:{port}") {
        return Err(Refusal(StatusCode::FORBIDDEN, "this dashboard answers to 127.0.0.1 and localhost only\n"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if origin != format!("http://127.0.0.1:{port}") && origin != format!("http://localhost:{port}") {
            return Err(Refusal(StatusCode::FORBIDDEN, "requests from other origins are refused\n"));
        }
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let presented = match (method, bearer) {
        (_, Some(token)) => Some(token.to_string()),
        (&Method::GET | &Method::HEAD, None) => query_token(query),
        _ => None,
    };
    match presented {
        Some(presented) if same(&presented, token) => Ok(()),
        Some(_) => Err(Refusal(StatusCode::UNAUTHORIZED, "wrong token: open the URL `revis ui` prints\n")),
        None => Err(Refusal(StatusCode::UNAUTHORIZED, "a token is required: open the URL `revis ui` prints\n")),
    }
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| pair.strip_prefix("token=")).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check` as the dashboard on port 4242 with the token `abab…` runs it.
    fn check(method: &Method, headers: &HeaderMap, query: Option<&str>) -> Result<(), Refusal> {
        super::check(&"ab".repeat(TOKEN_BYTES), 4242, method, headers, query)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn tokens_are_random_hex_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert!(is_token(&a) && is_token(&b) && a != b);
        assert!(same(&a, &a) && !same(&a, &b) && !same(&a, &a[..10]));
    }

    #[test]
    fn the_token_host_and_origin_are_all_required() {
        let token = "ab".repeat(TOKEN_BYTES);
        let host = (header::HOST, "127.0.0.1:4242");
        let ok_query = format!("token={token}");
        assert_eq!(check(&Method::GET, &headers(std::slice::from_ref(&host)), Some(&ok_query)), Ok(()));
        let local = headers(&[(header::HOST, "localhost:4242")]);
        assert_eq!(check(&Method::GET, &local, Some(&format!("x=1&{ok_query}"))), Ok(()));
        // No token, a wrong one.
        assert_eq!(
            check(&Method::GET, &headers(std::slice::from_ref(&host)), None).map_err(|r| r.0),
            Err(StatusCode::UNAUTHORIZED)
        );
        let wrong = Some("token=00");
        assert_eq!(
            check(&Method::GET, &headers(std::slice::from_ref(&host)), wrong).map_err(|r| r.0),
            Err(StatusCode::UNAUTHORIZED)
        );
        // A rebound name, another port.
        for bad in ["evil.example:4242", "127.0.0.1:80", ""] {
            let h = headers(&[(header::HOST, bad)]);
            assert_eq!(check(&Method::GET, &h, Some(&ok_query)).map_err(|r| r.0), Err(StatusCode::FORBIDDEN), "{bad}");
        }
        // Another origin, even with the token.
        let other = headers(&[host.clone(), (header::ORIGIN, "http://evil.example")]);
        assert_eq!(check(&Method::GET, &other, Some(&ok_query)).map_err(|r| r.0), Err(StatusCode::FORBIDDEN));
        let same_origin = headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:4242")]);
        assert_eq!(check(&Method::GET, &same_origin, Some(&ok_query)), Ok(()));
    }

    #[test]
    fn actions_take_the_token_from_the_header_only() {
        let token = "ab".repeat(TOKEN_BYTES);
        let host = (header::HOST, "127.0.0.1:4242");
        let in_query = format!("token={token}");
        let refused = check(&Method::POST, &headers(std::slice::from_ref(&host)), Some(&in_query)).map_err(|r| r.0);
        assert_eq!(refused, Err(StatusCode::UNAUTHORIZED));
        let bearer = format!("Bearer {token}");
        assert_eq!(check(&Method::POST, &headers(&[host, (header::AUTHORIZATION, &bearer)]), None), Ok(()));
    }
}
