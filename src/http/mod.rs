//! The `--http-addr` server: the status page and the probes, beside the Prometheus metrics.
//!
//! - `GET /`: the status page (HTML, no script, readable on a phone; Chinese or English by
//!   `Accept-Language`);
//! - `GET /health`: liveness, `200` while every account's loop runs, `503` when one is stuck
//!   (no heartbeat within [`Monitor::stall_bound`]) or they all ended;
//! - `GET /ready`: `200`, or `503` with a JSON reason when MySQL cannot be read, an account is
//!   not connected, or a live stream has no checkpoint or lags more than `--max-lag`;
//! - `GET /api/streams`: the page's data as JSON ([`data::Snapshot`]);
//! - `GET /metrics`: the Prometheus text of the process's recorder.
//!
//! Each request reads MySQL in at most two statements per set of tables, one attempt within a
//! short limit, with no lock held while it waits.

pub mod data;
pub mod i18n;
pub mod page;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::error::AppError;
use crate::monitor::Monitor;

pub use data::Source;

/// What the server answers from.
pub struct Server {
    source: Arc<Source>,
    metrics: Option<PrometheusHandle>,
    /// Bounds the MySQL reads in flight at once, however many clients ask.
    reads: tokio::sync::Semaphore,
}

/// The most requests reading MySQL at once; more wait their turn.
pub const MAX_READS: usize = 4;

/// The longest a client may take to send a request's headers.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Server {
    /// A server over `source`, with `/metrics` rendered from `metrics` (`503` without).
    pub fn new(source: Arc<Source>, metrics: Option<PrometheusHandle>) -> Arc<Self> {
        Arc::new(Self {
            source,
            metrics,
            reads: tokio::sync::Semaphore::new(MAX_READS),
        })
    }

    fn monitor(&self) -> &Monitor {
        self.source.monitor()
    }

    /// Binds `addr` and serves from then on, in the background; returns the address bound (the
    /// port chosen when `addr`'s is 0).
    pub async fn serve(self: Arc<Self>, addr: SocketAddr) -> Result<SocketAddr, AppError> {
        let listen_error = |e: std::io::Error| AppError::HttpListen {
            addr,
            detail: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen_error)?;
        let bound = listener.local_addr().map_err(listen_error)?;
        tokio::spawn(async move {
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "the status server could not accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let server = self.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.answer(req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(io, service)
                        .await
                    {
                        tracing::debug!(error = %e, "a status-page connection ended with an error");
                    }
                });
            }
        });
        Ok(bound)
    }

    /// The answer to `req`.
    pub async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let lang = i18n::Lang::from_accept_language(
            req.headers()
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        );
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            r.headers_mut().insert("allow", HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let path = req.uri().path();
        let _permit = if matches!(path, "/" | "/ready" | "/api/streams") {
            self.reads.acquire().await.ok()
        } else {
            None
        };
        let mut response = match path {
            "/" => {
                let snapshot = self.source.snapshot(true).await;
                let html = page::render(&snapshot, lang, self.monitor().health(Instant::now()).err());
                let mut r = body(StatusCode::OK, "text/html; charset=utf-8", html);
                r.headers_mut().insert(
                    "content-security-policy",
                    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
                );
                r.headers_mut()
                    .insert("content-language", HeaderValue::from_static(lang.tag()));
                r
            }
            "/health" => match self.monitor().health(Instant::now()) {
                Ok(()) => json_body(StatusCode::OK, &json!({"status": "ok"})),
                Err(e) => json_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "stuck", "reason": e.to_string()}),
                ),
            },
            "/ready" => {
                let snapshot = self.source.snapshot(false).await;
                let reasons = data::not_ready(&snapshot);
                match reasons.first() {
                    None => json_body(StatusCode::OK, &json!({"ready": true})),
                    Some(first) => json_body(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({
                            "ready": false,
                            "reason": format!("{}: {}", first.account, first.detail),
                            "reasons": reasons,
                        }),
                    ),
                }
            }
            "/api/streams" => {
                let snapshot = self.source.snapshot(true).await;
                json_body(StatusCode::OK, &snapshot)
            }
            "/metrics" => match &self.metrics {
                Some(h) => body(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", h.render()),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "no metrics recorder in this process\n"),
            },
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /, /health, /ready, /api/streams or /metrics\n",
            ),
        };
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        if head {
            *response.body_mut() = Full::new(Bytes::new());
        }
        response
    }
}

fn body(status: StatusCode, content_type: &'static str, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", text.to_owned())
}

fn json_body(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    body(status, "application/json", text)
}
