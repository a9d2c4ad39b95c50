//! Server-sent events as the model APIs stream them: `event: NAME` + `data: JSON` records, each
//! ended by a blank line. The whole stream is sent as one body with a Content-Length (the http
//! fake closes every connection after its response): clients read it as a stream that ends.

use serde_json::Value;

use revis_fixtures::http::HttpResponse;

#[derive(Default)]
pub(super) struct EventStream {
    text: String,
}

impl EventStream {
    /// `event: name` then `data: {json}`: Anthropic Messages and OpenAI Responses.
    pub(super) fn event(&mut self, name: &str, data: &Value) {
        self.text.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }

    /// A `data:` line alone: OpenAI Chat Completions chunks and its `[DONE]`.
    pub(super) fn data(&mut self, data: &str) {
        self.text.push_str(&format!("data: {data}\n\n"));
    }

    pub(super) fn into_response(self) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream; charset=utf-8".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: self.text.into_bytes(),
        }
    }
}

/// Splits `text` in two (on a char boundary) so clients have to join deltas.
pub(super) fn halves(text: &str) -> Vec<&str> {
    if text.len() < 2 {
        return vec![text];
    }
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid += 1;
    }
    vec![&text[..mid], &text[mid..]]
}
