//! The object-store's HTTP/1.1 layer, on hyper.
//!
//! Swift allows 90 metadata headers on one request; with the headers every
//! client adds that is ~100 header lines, above the fixed 96 of actix-http,
//! so this listener uses hyper with a configurable limit. Handlers see a
//! small request type and build responses with [`HttpResponse`]; nothing
//! else in the crate depends on the HTTP library.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::Swift;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A response body: full, empty or streamed.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;
pub type Response = http::Response<Body>;

/// The request line and headers of a request.
pub struct HttpRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<std::net::SocketAddr>,
}

impl HttpRequest {
    pub fn method(&self) -> &Method {
        &self.method
    }
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The client's address (temporary URLs may be bound to addresses).
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }
    /// The same request with another query string.
    pub fn with_query(&self, query: &str) -> HttpRequest {
        let pq = if query.is_empty() {
            self.uri.path().to_string()
        } else {
            format!("{}?{query}", self.uri.path())
        };
        let mut parts = self.uri.clone().into_parts();
        parts.path_and_query = pq.parse().ok().or(parts.path_and_query);
        HttpRequest {
            method: self.method.clone(),
            uri: Uri::from_parts(parts).unwrap_or_else(|_| self.uri.clone()),
            headers: self.headers.clone(),
            peer: self.peer,
        }
    }
    /// The raw (still percent-encoded) query string, `""` when absent.
    pub fn query_string(&self) -> &str {
        self.uri.query().unwrap_or("")
    }
}

/// A request body as a stream of data chunks. Polling it first is what
/// makes hyper answer `Expect: 100-continue`, so a request refused before
/// its body is read never has the body sent.
pub struct Payload(BodyStream<Incoming>);

impl Stream for Payload {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.0).poll_next(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A response body of known length streamed from `stream`.
pub struct SizedStream<S> {
    len: u64,
    stream: S,
}

impl<S> SizedStream<S> {
    pub fn new(len: u64, stream: S) -> Self {
        SizedStream { len, stream }
    }
}

/// What a response body can be made from.
pub trait IntoBody {
    /// The body and, when known, its length.
    fn into_body(self) -> (Body, Option<u64>);
}

fn full(b: Bytes) -> (Body, Option<u64>) {
    let n = b.len() as u64;
    (
        Full::new(b)
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
        Some(n),
    )
}

impl IntoBody for Bytes {
    fn into_body(self) -> (Body, Option<u64>) {
        full(self)
    }
}
impl IntoBody for Vec<u8> {
    fn into_body(self) -> (Body, Option<u64>) {
        full(Bytes::from(self))
    }
}
impl IntoBody for String {
    fn into_body(self) -> (Body, Option<u64>) {
        full(Bytes::from(self))
    }
}
impl IntoBody for &'static str {
    fn into_body(self) -> (Body, Option<u64>) {
        full(Bytes::from_static(self.as_bytes()))
    }
}
impl<S, E> IntoBody for SizedStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    fn into_body(self) -> (Body, Option<u64>) {
        let frames = self.stream.map_ok(Frame::data).map_err(Into::into);
        (
            BodyExt::boxed_unsync(StreamBody::new(frames)),
            Some(self.len),
        )
    }
}

/// Builds a response (status, headers, then body), in the manner of
/// actix-web's builder so handlers read naturally.
pub struct HttpResponseBuilder {
    status: StatusCode,
    headers: HeaderMap,
}

/// Constructors of [`HttpResponseBuilder`], one per status used.
pub struct HttpResponse;

#[allow(non_snake_case)]
impl HttpResponse {
    pub fn build(status: StatusCode) -> HttpResponseBuilder {
        HttpResponseBuilder {
            status,
            headers: HeaderMap::new(),
        }
    }
    pub fn Ok() -> HttpResponseBuilder {
        Self::build(StatusCode::OK)
    }
    pub fn Created() -> HttpResponseBuilder {
        Self::build(StatusCode::CREATED)
    }
    pub fn Accepted() -> HttpResponseBuilder {
        Self::build(StatusCode::ACCEPTED)
    }
    pub fn NoContent() -> HttpResponseBuilder {
        Self::build(StatusCode::NO_CONTENT)
    }
    pub fn PartialContent() -> HttpResponseBuilder {
        Self::build(StatusCode::PARTIAL_CONTENT)
    }
    pub fn NotModified() -> HttpResponseBuilder {
        Self::build(StatusCode::NOT_MODIFIED)
    }
}

impl HttpResponseBuilder {
    /// Sets a header, replacing any earlier value. Names or values that are
    /// not valid in HTTP are skipped (stored metadata was validated on the
    /// way in).
    pub fn insert_header<K: AsRef<str>, V: AsRef<str>>(&mut self, (k, v): (K, V)) -> &mut Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_ref().as_bytes()),
            HeaderValue::from_str(v.as_ref()),
        ) {
            self.headers.insert(n, v);
        }
        self
    }

    /// A header whose value is bytes (metadata Swift keeps verbatim).
    pub fn insert_header_bytes(&mut self, k: &str, v: &[u8]) -> &mut Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            self.headers.insert(n, v);
        }
        self
    }

    pub fn content_type<V: AsRef<str>>(&mut self, v: V) -> &mut Self {
        self.insert_header((CONTENT_TYPE.as_str(), v))
    }

    /// The response with an empty body (`Content-Length: 0` unless set).
    pub fn finish(&mut self) -> Response {
        let body = Empty::<Bytes>::new()
            .map_err(|e: Infallible| match e {})
            .boxed_unsync();
        self.respond(body, Some(0))
    }

    pub fn body<B: IntoBody>(&mut self, b: B) -> Response {
        let (body, len) = b.into_body();
        self.respond(body, len)
    }

    fn respond(&mut self, body: Body, len: Option<u64>) -> Response {
        let mut r = http::Response::new(body);
        *r.status_mut() = self.status;
        *r.headers_mut() = std::mem::take(&mut self.headers);
        if self.status != StatusCode::NO_CONTENT && self.status != StatusCode::NOT_MODIFIED {
            if let Some(n) = len {
                if !r.headers().contains_key(CONTENT_LENGTH) {
                    r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(n));
                }
            }
        }
        r
    }
}

/// Limits of the HTTP/1.1 listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Header lines accepted on one request (Swift: 90 metadata items plus
    /// the headers clients always send).
    pub max_headers: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_headers: 256,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves the object-store API on `listener` until `shutdown` resolves,
/// then stops accepting and waits (up to the grace period) for the
/// requests in flight.
pub async fn serve(
    swift: Swift,
    listener: TcpListener,
    cfg: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let swift = Arc::new(swift);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Swift (swob) sends Title-Case header names, and clients that read
    // them through http.client's getheaders() see the case as sent.
    builder
        .max_headers(cfg.max_headers)
        .keep_alive(true)
        .title_case_headers(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Replies are written as headers then body: without
                // TCP_NODELAY a small reply waits for a delayed ACK.
                let _ = stream.set_nodelay(true);
                let swift = swift.clone();
                let svc = service_fn(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(peer);
                    let swift = swift.clone();
                    async move { Ok::<_, Infallible>(crate::handle(&swift, req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(cfg.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// Splits a hyper request into the handlers' view of it and its body.
pub(crate) fn split(req: http::Request<Incoming>) -> (HttpRequest, Payload) {
    let (parts, body) = req.into_parts();
    (
        HttpRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            peer: parts.extensions.get::<std::net::SocketAddr>().copied(),
        },
        Payload(BodyStream::new(body)),
    )
}
