//! Live updates as server-sent events. Each stream ends when the daemon shuts down, and the
//! browser's EventSource reconnects on its own: to the next daemon, which serves on the same
//! port with the same token. A session's stream carries each event's seq as its id, so a
//! reconnect (`Last-Event-ID`) resumes exactly where the page was, as `revis watch` does.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State as Extract};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use revis_proto::v1 as pb;
use revis_proto::v1::revis_server::Revis;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tonic::Request;

use super::routes::{Failure, Shared, Which};

/// How long a browser waits before reconnecting a dropped stream.
const RETRY: Duration = Duration::from_secs(1);
/// A comment line this often keeps proxies and idle connections from closing the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn sse(stream: impl Stream<Item = Event> + Send + 'static) -> Response {
    // The first event sets the reconnect delay; the page reloads what it shows on `open`.
    let hello = tokio_stream::once(Event::default().retry(RETRY).comment("revis"));
    let stream = hello.chain(stream).map(Ok::<Event, Infallible>);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}

/// Every session's events, as "something changed in session N": the list page reloads what
/// it shows. Lagging behind the bus only means a reload.
pub async fn all_sessions(Extract(shared): Extract<Shared>) -> Response {
    let live = BroadcastStream::new(shared.engine.bus().subscribe());
    let changes = live
        .map(|item| match item {
            Ok(event) => serde_json::json!({
                "session_id": event.session_id,
                "kind": event.kind,
                "iteration": event.iteration,
            }),
            Err(_lagged) => serde_json::json!({ "kind": "lagged" }),
        })
        .map(|data| Event::default().event("change").data(data.to_string()));
    sse(until_closing(&shared, changes))
}

/// `stream` until the daemon starts shutting down.
fn until_closing<S: Stream<Item = Event> + Send + 'static>(
    shared: &Shared,
    stream: S,
) -> impl Stream<Item = Event> + Send + 'static {
    let mut closing = shared.engine.closing();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    futures::StreamExt::take_until(stream, closed)
}

/// One session's events, replayed after the page's last one, then live.
pub async fn one_session(
    Extract(shared): Extract<Shared>,
    headers: HeaderMap,
    Query(which): Query<Which>,
) -> Result<Response, Failure> {
    let after_seq = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let request = pb::WatchRequest { name: which.name, project_dir: which.project, after_seq };
    let events = shared.service.watch(Request::new(request)).await?.into_inner();
    // An error ends the stream (the daemon is going away): the browser reconnects. A watch
    // that ended with its session stays open, quiet, until the daemon goes: a closed one
    // would have the browser reconnect (and the page reload) every second.
    let stream = events.take_while(Result::is_ok).filter_map(Result::ok).map(|event: pb::Event| {
        let data = serde_json::to_string(&event).unwrap_or_default();
        Event::default().id(event.seq.to_string()).event("event").data(data)
    });
    Ok(sse(until_closing(&shared, stream.chain(futures::stream::pending()))))
}

/// An iteration's training log, from its start, then as it is written.
pub async fn training_log(Extract(shared): Extract<Shared>, Query(which): Query<Which>) -> Result<Response, Failure> {
    let request = pb::LogsRequest {
        name: which.name,
        project_dir: which.project,
        iteration: which.iteration,
        follow: true,
        ..Default::default()
    };
    let chunks = shared.service.logs(Request::new(request)).await?.into_inner();
    let stream = chunks
        .take_while(Result::is_ok)
        .filter_map(Result::ok)
        .filter(|chunk: &pb::LogChunk| chunk.source == "train")
        .map(|chunk| Event::default().event("log").data(serde_json::json!({ "text": chunk.text }).to_string()));
    Ok(sse(stream))
}
