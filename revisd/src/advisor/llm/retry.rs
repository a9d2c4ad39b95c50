//! The retry policies of the official SDKs (Anthropic and OpenAI, google-genai, the AWS SDK's
//! standard mode) and the request loop every provider runs: one attempt per timeout, then wait
//! (server hint or the family's backoff) and try again, at most `max_retries` times. Error
//! statuses become [`LlmError`]s carrying the provider's own message.
//!
//! Must not: build request bodies or parse successful answers (the providers do), or log
//! anything from the request (its headers hold the key).

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::chat::LlmError;
use super::models::ProviderSettings;

/// A server's `retry-after` beyond this is ignored in favour of our own backoff (SDK rule).
const MAX_SERVER_WAIT_SECS: f64 = 60.0;
/// The backoff doubles from `ProviderSettings::backoff` up to this factor (0.5 s → 8 s).
const MAX_BACKOFF_FACTOR: u32 = 16;

/// Anthropic's spend-limit 429: waiting does not raise the limit.
pub fn is_spend_limit(status: u16, body: &str) -> bool {
    status == 429
        && serde_json::from_str::<Value>(body).ok().is_some_and(|v| {
            v.pointer("/error/details/error_code").and_then(Value::as_str) == Some("enforced_spend_limit_reached")
        })
}

/// Google's answer to a key it does not know: 400 INVALID_ARGUMENT with the reason
/// `API_KEY_INVALID` (not a 401), which is a credentials problem like any other family's 401.
pub fn is_invalid_google_key(status: u16, body: &str) -> bool {
    status == 400
        && serde_json::from_str::<Value>(body).ok().is_some_and(|v| {
            v.pointer("/error/details").and_then(Value::as_array).is_some_and(|details| {
                details.iter().any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
            })
        })
}

/// Whether an error status is worth another attempt, as the SDKs decide: never a spend-limit
/// 429 (waiting does not raise it); otherwise the server's `x-should-retry` wins; otherwise
/// 408, 409, 429 and every 5xx (529 "overloaded" included).
pub fn should_retry(status: u16, headers: &HeaderMap, body: &str) -> bool {
    if is_spend_limit(status, body) {
        return false;
    }
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()).map(str::trim) {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// The wait the server asks for: `retry-after-ms`, else `retry-after` in seconds or as an HTTP
/// date, kept only when 0 < wait <= 60 s.
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let seconds = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()).map(|ms| ms / 1000.0).or_else(|| {
        let value = header("retry-after")?;
        value.parse::<f64>().ok().or_else(|| seconds_until(value, now))
    })?;
    (seconds.is_finite() && seconds > 0.0 && seconds <= MAX_SERVER_WAIT_SECS).then(|| Duration::from_secs_f64(seconds))
}

fn seconds_until(http_date: &str, now: SystemTime) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc2822(http_date).ok()?;
    let now = chrono::DateTime::<chrono::Utc>::from(now);
    Some((at.timestamp_millis() - now.timestamp_millis()) as f64 / 1000.0)
}

/// Our own wait before retry number `retries_done + 1`: `min(base * 2^n, 16 * base)` minus up
/// to 25 % jitter, `jitter` in [0, 1).
pub fn backoff(retries_done: u32, base: Duration, jitter: f64) -> Duration {
    let factor = 2u32.saturating_pow(retries_done).min(MAX_BACKOFF_FACTOR);
    base.saturating_mul(factor).mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0))
}

/// The provider's message from an error body. Anthropic and OpenAI use `error.message`;
/// compatible servers send `{"error": "..."}` (Ollama), `{"detail": ...}` (FastAPI) or text.
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        // Vertex AI wraps its errors in a one-element array.
        let v = match v {
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            other => other,
        };
        let text = |v: &Value| v.as_str().map(str::to_string);
        v.pointer("/error/message")
            .and_then(text)
            .or_else(|| v.get("error").and_then(text))
            .or_else(|| v.get("message").and_then(text))
            .or_else(|| v.get("detail").map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string)))
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_string());
    if message.is_empty() {
        return "(empty body)".into();
    }
    const MAX_CHARS: usize = 500;
    match message.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

/// The error for an unsuccessful status. Bad keys, billing and spend limits are fatal; the
/// provider's text of a 401 is not repeated because OpenAI echoes part of the key in it.
pub fn status_error(provider: &'static str, status: u16, body: &str, retryable: bool) -> LlmError {
    match status {
        401 | 403 => LlmError::Fatal { provider, message: format!("authentication failed (HTTP {status})") },
        _ if is_invalid_google_key(status, body) => {
            LlmError::Fatal { provider, message: format!("authentication failed (HTTP {status}: API_KEY_INVALID)") }
        }
        402 => LlmError::Fatal { provider, message: format!("billing error: {}", error_message(body)) },
        _ if is_spend_limit(status, body) => {
            LlmError::Fatal { provider, message: format!("spend limit reached: {}", error_message(body)) }
        }
        _ => LlmError::Status { provider, status, message: error_message(body), retryable },
    }
}

/// How a family's official SDK retries: which answers, and how long it waits.
#[derive(Clone, Copy)]
pub struct Policy {
    pub retryable: fn(u16, &HeaderMap, &str) -> bool,
    /// The wait the server asks for, if the SDK honours one.
    pub server_wait: fn(&HeaderMap, &str, SystemTime) -> Option<Duration>,
    /// Our own wait before retry `n + 1`, from the base delay (`ProviderSettings::backoff`,
    /// 0.5 s unless a test shortens it) and a uniform random number in [0, 1).
    pub backoff: fn(u32, Duration, f64) -> Duration,
}

/// The Anthropic and OpenAI SDKs (and Azure OpenAI, which the OpenAI SDK serves).
pub const SDK: Policy =
    Policy { retryable: should_retry, server_wait: |headers, _, now| server_wait(headers, now), backoff };

struct Failure {
    error: LlmError,
    retryable: bool,
    wait: Option<Duration>,
}

/// Sends the request `build` makes (again for every attempt) and returns the body of the first
/// 2xx answer, applying the retry rules above.
pub(crate) async fn send(
    provider: &'static str,
    settings: &ProviderSettings,
    policy: &Policy,
    build: impl Fn() -> Result<reqwest::RequestBuilder, LlmError>,
) -> Result<String, LlmError> {
    let mut retries_done = 0;
    loop {
        let failure = match attempt(provider, settings, policy, build()?).await {
            Ok(body) => return Ok(body),
            Err(failure) => failure,
        };
        if !failure.retryable || retries_done >= settings.max_retries {
            return Err(failure.error);
        }
        let delay = failure.wait.unwrap_or_else(|| (policy.backoff)(retries_done, settings.backoff, rand::random()));
        tracing::warn!(
            provider,
            error = %failure.error,
            retry = retries_done + 1,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "LLM request failed, retrying"
        );
        tokio::time::sleep(delay).await;
        retries_done += 1;
    }
}

async fn attempt(
    provider: &'static str,
    settings: &ProviderSettings,
    policy: &Policy,
    request: reqwest::RequestBuilder,
) -> Result<String, Failure> {
    let transport = |error: reqwest::Error| transport_failure(provider, settings, &error);
    let response = request.timeout(settings.timeout).send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let retryable = (policy.retryable)(status, &headers, &body);
    Err(Failure {
        error: status_error(provider, status, &body, retryable),
        retryable,
        wait: (policy.server_wait)(&headers, &body, SystemTime::now()),
    })
}

/// Timeouts and connection errors are retried (SDK rule); a request that cannot even be built
/// (malformed base URL) is not.
fn transport_failure(provider: &'static str, settings: &ProviderSettings, error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        let seconds = settings.timeout.as_secs();
        return Failure { error: LlmError::Timeout { provider, seconds }, retryable: true, wait: None };
    }
    let message = crate::http::error_text(error);
    Failure { error: LlmError::Transport { provider, message }, retryable: !error.is_builder(), wait: None }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const SPEND_LIMIT: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"limit","details":{"error_code":"enforced_spend_limit_reached"}}}"#;

    #[test]
    fn default_statuses_follow_the_sdk() {
        let none = HeaderMap::new();
        for status in [408, 409, 429, 500, 502, 503, 529] {
            assert!(should_retry(status, &none, ""), "{status}");
        }
        for status in [400, 401, 402, 403, 404, 413, 422] {
            assert!(!should_retry(status, &none, ""), "{status}");
        }
    }

    #[test]
    fn x_should_retry_wins_both_ways() {
        assert!(!should_retry(500, &headers(&[("x-should-retry", "false")]), ""));
        assert!(!should_retry(429, &headers(&[("x-should-retry", "false")]), ""));
        assert!(should_retry(422, &headers(&[("x-should-retry", "true")]), ""));
        assert!(should_retry(409, &headers(&[("x-should-retry", "maybe")]), ""));
        // The SDKs read the header before the status: a 400 the server says to retry is.
        assert!(should_retry(400, &headers(&[("x-should-retry", "true")]), ""));
    }

    #[test]
    fn spend_limit_is_never_retried_and_a_bad_google_key_is_an_authentication_failure() {
        assert!(is_spend_limit(429, SPEND_LIMIT));
        assert!(!is_spend_limit(429, r#"{"error":{"type":"rate_limit_error"}}"#));
        assert!(!should_retry(429, &HeaderMap::new(), SPEND_LIMIT));
        assert!(!should_retry(429, &headers(&[("x-should-retry", "true")]), SPEND_LIMIT));
        assert!(matches!(status_error("anthropic", 429, SPEND_LIMIT, false), LlmError::Fatal { .. }));
        let bad_key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",
            "status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
            "reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        let error = status_error("gemini", 400, bad_key, false);
        assert!(
            matches!(&error, LlmError::Fatal { message, .. } if message.starts_with("authentication failed")),
            "{error}"
        );
        let bad_request = r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(status_error("gemini", 400, bad_request, false), LlmError::Status { .. }));
    }

    #[test]
    fn server_wait_prefers_milliseconds_then_seconds_then_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let wait = |pairs: &[(&'static str, &str)]| server_wait(&headers(pairs), now);
        assert_eq!(wait(&[("retry-after-ms", "1500"), ("retry-after", "9")]), Some(Duration::from_millis(1500)));
        assert_eq!(wait(&[("retry-after-ms", "soon"), ("retry-after", "9")]), Some(Duration::from_secs(9)));
        assert_eq!(wait(&[("retry-after", "2.5")]), Some(Duration::from_millis(2500)));
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        assert_eq!(wait(&[("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT")]), Some(Duration::from_secs(30)));
        assert_eq!(wait(&[("retry-after", "Tue, 14 Nov 2023 22:13:00 GMT")]), None);
        assert_eq!(wait(&[("retry-after", "60")]), Some(Duration::from_secs(60)));
        assert_eq!(wait(&[("retry-after", "61")]), None);
        assert_eq!(wait(&[("retry-after", "0")]), None);
        assert_eq!(wait(&[("retry-after", "-3")]), None);
        assert_eq!(wait(&[("retry-after", "whenever")]), None);
        assert_eq!(wait(&[]), None);
    }

    #[test]
    fn backoff_doubles_to_eight_seconds_minus_up_to_a_quarter() {
        let base = Duration::from_millis(500);
        let secs = |n, jitter| backoff(n, base, jitter).as_secs_f64();
        assert_eq!([secs(0, 0.0), secs(1, 0.0), secs(2, 0.0), secs(3, 0.0), secs(4, 0.0)], [0.5, 1.0, 2.0, 4.0, 8.0]);
        assert_eq!(secs(5, 0.0), 8.0);
        assert_eq!(secs(1000, 0.0), 8.0);
        assert!((secs(0, 0.999_999) - 0.375).abs() < 1e-3);
        for _ in 0..100 {
            let s = secs(2, rand::random());
            assert!((1.5..=2.0).contains(&s), "{s}");
        }
    }

    #[test]
    fn error_messages_come_from_either_provider_or_plain_text() {
        assert_eq!(error_message(r#"{"type":"error","error":{"type":"x","message":"overloaded"}}"#), "overloaded");
        assert_eq!(error_message(r#"{"error":{"message":"bad","type":"invalid_request_error"}}"#), "bad");
        assert_eq!(error_message(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(error_message(r#"{"detail":"nope"}"#), "nope");
        assert_eq!(
            error_message(r#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#),
            "quota"
        );
        assert_eq!(error_message(r#"{"message":"Too many tokens"}"#), "Too many tokens");
        assert_eq!(error_message(" gateway down \n"), "gateway down");
        assert_eq!(error_message(""), "(empty body)");
        assert_eq!(error_message(&"x".repeat(2000)).chars().count(), 501);
    }

    #[test]
    fn auth_errors_never_repeat_the_body() {
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}"#;
        let error = status_error("openai", 401, body, false);
        assert!(matches!(error, LlmError::Fatal { .. }));
        assert!(!error.to_string().contains("sk-abc"), "{error}");
        assert!(error.to_string().contains("authentication failed"));
        assert!(matches!(status_error("openai", 403, "", false), LlmError::Fatal { .. }));
        assert!(matches!(
            status_error("anthropic", 529, r#"{"error":{"message":"Overloaded"}}"#, true),
            LlmError::Status { status: 529, retryable: true, .. }
        ));
    }
}
