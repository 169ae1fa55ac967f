//! [`Client`]: one account on one route, with signing, retries and rate limiting.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::credentials::Route;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind};
use crate::limit::{AccountLimiter, RateLimitConfig};
use crate::pager::{Page, PageStream};
use crate::retry::{decide, decide_damaged, Decision, RetryConfig, RetryState, Sleep, TokioSleep};
use crate::server_time::{ClockOffset, ServerClock, Stamp};
use crate::telemetry::{self, MetricLabels};
use crate::time::{Clock, SystemClock};
use crate::transport::{self, ApiMethod, PageRequest, Prepared};

/// Counters of what a client did since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// HTTP exchanges attempted.
    pub requests: u64,
    /// Retries made (after any retryable failure).
    pub retries: u64,
    /// Throttle answers received.
    pub throttles: u64,
    /// Transient failures received.
    pub transient_failures: u64,
    /// Answers that looked damaged (records that are not valid JSON or UTF-8, a body over the
    /// size limit, more records than asked for); each was read again or, at the last read,
    /// kept (its damaged records as dead letters) or failed.
    pub damaged_answers: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttles: AtomicU64,
    transient: AtomicU64,
    damaged: AtomicU64,
}

struct Inner {
    route: Route,
    http: reqwest::Client,
    retry: RetryConfig,
    limiter: Arc<AccountLimiter>,
    clock: Arc<dyn Clock>,
    server_clock: ServerClock,
    sleep: Arc<dyn Sleep>,
    qimen_page_base: u32,
    max_body_bytes: usize,
    counters: Counters,
    labels: MetricLabels,
}

/// When an attempt was sent: the host's clock and the monotonic instant, read together.
#[derive(Clone, Copy)]
struct Sent {
    at: chrono::DateTime<chrono::Utc>,
    instant: std::time::Instant,
}

/// A 2xx answer: its body, and its `Date` header (measured once the body tells whether the
/// request's timestamp was accepted).
struct Answer {
    body: Vec<u8>,
    date: Option<String>,
    answered: std::time::Instant,
}

/// What a decoded answer says of its request's timestamp `stamp`.
fn stamp_verdict<T>(result: &Result<T, Error>, stamp: chrono::DateTime<chrono::Utc>) -> Stamp {
    match result {
        Ok(_) => Stamp::Accepted(stamp),
        Err(e) if e.kind() == ErrorKind::Timestamp => Stamp::Refused,
        Err(_) => Stamp::Unknown,
    }
}

/// A client of one WDT account on one route. Cheap to clone (an `Arc` inside); share one per
/// account so the rate limit is shared too.
///
/// ```no_run
/// # async fn run() -> Result<(), wdt_qimen::Error> {
/// use futures::TryStreamExt;
/// use wdt_qimen::{Client, QimenCredentials, RefundSearch, Route, WdtCredentials};
///
/// let route = Route::Qimen {
///     url: wdt_qimen::credentials::DEFAULT_QIMEN_URL.into(),
///     qimen: QimenCredentials::new("my-qimen-app-key", "my-qimen-secret")?,
///     wdt: WdtCredentials::new("my-sid", "my-wdt-app-key", "secret:salt")?,
/// };
/// let client = Client::builder(route).build()?;
/// let search = RefundSearch::modified_between("2024-06-01 00:00:00", "2024-06-02 00:00:00")?;
/// let refunds: Vec<_> = client.refund_pages(search).items().try_collect().await?;
/// println!("{} refunds", refunds.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("route", &self.inner.route)
            .field("retry", &self.inner.retry)
            .field("limiter", &self.inner.limiter)
            .field("qimen_page_base", &self.inner.qimen_page_base)
            .finish()
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    route: Route,
    retry: RetryConfig,
    rate: RateLimitConfig,
    connect_timeout: Duration,
    request_timeout: Duration,
    qimen_page_base: u32,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
    sleep: Arc<dyn Sleep>,
    http: Option<reqwest::Client>,
    labels: Option<MetricLabels>,
}

/// The default of [`ClientBuilder::max_body_bytes`]: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("route", &self.route)
            .field("retry", &self.retry)
            .field("rate", &self.rate)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("qimen_page_base", &self.qimen_page_base)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("labels", &self.labels)
            .finish()
    }
}

impl ClientBuilder {
    /// The labels every metric of this client carries (see [`crate::telemetry`]);
    /// default `account` = the WDT `sid`. A program syncing several accounts sets
    /// `MetricLabels::account(name)` with its own name of each.
    pub fn metric_labels(mut self, labels: MetricLabels) -> Self {
        self.labels = Some(labels);
        self
    }

    /// Retry settings (default [`RetryConfig::default`]).
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Rate-limit settings (default [`RateLimitConfig::default`]: 1 request/s, one in flight).
    pub fn rate_limit(mut self, rate: RateLimitConfig) -> Self {
        self.rate = rate;
        self
    }

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Timeout of one whole exchange (default 60 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// The wire number of the first page on the Qimen route (default 1). INFERRED from WDT's
    /// Qimen demo and several clients, not stated by the vendor: set 0 if your account's gateway
    /// pages from 0 (the first page then repeats, which the page stream reports as an error).
    pub fn qimen_page_base(mut self, base: u32) -> Self {
        self.qimen_page_base = base;
        self
    }

    /// The longest answer body read (default [`DEFAULT_MAX_BODY_BYTES`], 16 MiB; at least
    /// 1024). A page of 200 refunds is a few hundred KiB; a longer body is refused as soon as
    /// its `Content-Length` or its first bytes past the limit show, so a broken gateway or proxy
    /// cannot exhaust memory ([`Error::BodyTooLarge`], read again
    /// [`RetryConfig::damaged_retries`] times before it fails).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// This host's clock (default the system clock). Requests are stamped with it, moved by the
    /// offset the gateway's `Date` headers show ([`Client::clock_offset`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How retries wait (default `tokio::time::sleep`).
    pub fn sleep(mut self, sleep: Arc<dyn Sleep>) -> Self {
        self.sleep = sleep;
        self
    }

    /// Uses this reqwest client (its own timeouts then apply).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client; checks the URL and the body limit.
    pub fn build(self) -> Result<Client, Error> {
        if self.max_body_bytes < 1024 {
            return Err(Error::config(
                "max_body_bytes",
                self.max_body_bytes,
                format!("allow at least 1024 bytes (the default is {DEFAULT_MAX_BODY_BYTES})"),
            ));
        }
        let (field, url) = match &self.route {
            Route::Qimen { url, .. } => ("QIMEN_URL", url),
            Route::Native { url, .. } => ("WDT_URL", url),
        };
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
            _ => {
                return Err(Error::config(
                    field,
                    transport::redact_url(url),
                    "give the endpoint as http(s)://host/path without a query string",
                ))
            }
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .timeout(self.request_timeout)
                .user_agent(concat!("wdt-qimen/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::config("http client", e.without_url(), "check the TLS setup of this machine"))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                retry: self.retry,
                limiter: Arc::new(AccountLimiter::new(self.rate)),
                clock: self.clock,
                server_clock: ServerClock::default(),
                sleep: self.sleep,
                qimen_page_base: self.qimen_page_base,
                max_body_bytes: self.max_body_bytes,
                counters: Counters::default(),
                labels: self
                    .labels
                    .unwrap_or_else(|| MetricLabels::account(self.route.wdt().sid())),
                route: self.route,
            }),
        })
    }
}

impl Client {
    /// A builder for `route`.
    pub fn builder(route: Route) -> ClientBuilder {
        ClientBuilder {
            route,
            retry: RetryConfig::default(),
            rate: RateLimitConfig::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            qimen_page_base: 1,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
            sleep: Arc::new(TokioSleep),
            http: None,
            labels: None,
        }
    }

    /// The labels every metric of this client carries.
    pub fn metric_labels(&self) -> &MetricLabels {
        &self.inner.labels
    }

    /// `qimen` or `native`, the `route` label.
    fn route_label(&self) -> &'static str {
        match self.inner.route {
            Route::Qimen { .. } => "qimen",
            Route::Native { .. } => "native",
        }
    }

    /// The route.
    pub fn route(&self) -> &Route {
        &self.inner.route
    }

    /// What the client did so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttles: c.throttles.load(Ordering::Relaxed),
            transient_failures: c.transient.load(Ordering::Relaxed),
            damaged_answers: c.damaged.load(Ordering::Relaxed),
        }
    }

    /// The gateway's clock minus this host's, as the `Date` header of the latest answer that
    /// accepted its request's timestamp showed it (a `Date` that contradicts the accepted
    /// timestamp is not the gateway's clock and is ignored; see
    /// [`server_time`](crate::server_time)). `None` before the first such answer, after a
    /// refused timestamp, and when this host's clock has since moved otherwise than the time
    /// elapsed (stepped by NTP, set by hand): the next answer measures it again.
    pub fn clock_offset(&self) -> Option<ClockOffset> {
        self.clock_now().1
    }

    /// What this host's clock (the one given to [`ClientBuilder::clock`]) shows now.
    pub fn host_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// This host's clock now, and the offset that holds at this reading.
    pub(crate) fn clock_now(&self) -> (chrono::DateTime<chrono::Utc>, Option<ClockOffset>) {
        let sent = self.sent();
        (sent.at, self.inner.server_clock.offset(sent.at, sent.instant))
    }

    /// The account's rate limiter.
    pub fn limiter(&self) -> &AccountLimiter {
        &self.inner.limiter
    }

    /// Calls a paged method for page `page.page_no` (1 = first page), with retries. `params` are
    /// sent as [`signable_params`](transport::signable_params) makes them; a shape the official
    /// signing helpers disagree on is refused with [`Error::UnsignableParam`] before any request.
    ///
    /// A page with damaged records (not valid JSON, not UTF-8; see [`Page::damaged`]) is read
    /// again up to [`RetryConfig::damaged_retries`] times; if the damage stays, the last page is
    /// returned with those records in [`Page::rejected`].
    pub async fn call_page<T: DeserializeOwned>(
        &self,
        method: ApiMethod,
        params: &Map<String, Value>,
        page: PageRequest,
    ) -> Result<Page<T>, Error> {
        self.call_listed(method, params, page, 0, transport::REFUND_LISTING)
            .await
    }

    /// One page of endpoint `endpoint`; `page_no` 1 is the first page on either route (the
    /// endpoint's native base and the client's Qimen base map it to the wire). Every decoded
    /// record goes through [`Endpoint::finish`]; records that do not decode are in
    /// [`Page::rejected`].
    pub async fn page<E: Endpoint>(&self, endpoint: &E, page_no: u32) -> Result<Page<E::Record>, Error> {
        if page_no == 0 {
            return Err(Error::config("page_no", 0, "pages are numbered from 1 on both routes"));
        }
        let page = PageRequest {
            page_no,
            page_size: endpoint.page_size(),
        };
        let listing = transport::Listing {
            list_key: E::LIST_KEY,
            key_field: <E::Record as crate::endpoint::Record>::KEY_FIELD,
        };
        let mut page: Page<E::Record> = self
            .call_listed(E::METHOD, &endpoint.params(), page, E::NATIVE_FIRST_PAGE, listing)
            .await?;
        page.items.iter_mut().for_each(E::finish);
        Ok(page)
    }

    /// All pages of `endpoint`, first to last, as an owned lazy stream; `.items()` gives the
    /// records (an undecodable one as an [`Error::Rejected`] item, the stream going on). For a
    /// sync that must not lose records while they change, use [`sync`](crate::sync), which pages
    /// backwards.
    pub fn pages<E: Endpoint>(&self, endpoint: E) -> PageStream<E::Record> {
        let client = self.clone();
        let endpoint = Arc::new(endpoint);
        let fetch: crate::pager::FetchPage<E::Record> = Box::new(move |page_no| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            Box::pin(async move { client.page(&*endpoint, page_no).await })
        });
        PageStream::new(E::METHOD.name_on(self.route()), fetch)
    }

    async fn call_listed<T: DeserializeOwned>(
        &self,
        method: ApiMethod,
        params: &Map<String, Value>,
        page: PageRequest,
        native_base: u32,
        listing: transport::Listing,
    ) -> Result<Page<T>, Error> {
        let name = method.name_on(&self.inner.route);
        let params = &transport::signable_params(&self.inner.route, &method, params)?;
        let wire = PageRequest {
            page_no: transport::route_page_no_from(
                &self.inner.route,
                page.page_no,
                native_base,
                self.inner.qimen_page_base,
            ),
            page_size: page.page_size,
        };
        self.with_retries(name, |client| async move {
            let sent = client.sent();
            let stamp = client.inner.server_clock.request_time(sent.at, sent.instant);
            let prepared = transport::prepare(&client.inner.route, &method, params, Some(wire), stamp);
            let answer = client.exchange(name, &prepared, sent).await?;
            let page = transport::decode_list::<T>(name, &answer.body, page, listing);
            client.observe_date(sent, &answer, stamp_verdict(&page, stamp));
            let page = page?;
            Ok(if page.damaged() > 0 {
                Outcome::Damaged(page)
            } else {
                Outcome::Done(page)
            })
        })
        .await
    }

    /// Calls an unpaged method and decodes its `data`, with retries. `params` are treated as in
    /// [`Client::call_page`].
    pub async fn call<T: DeserializeOwned>(&self, method: ApiMethod, params: &Map<String, Value>) -> Result<T, Error> {
        let name = method.name_on(&self.inner.route);
        let params = &transport::signable_params(&self.inner.route, &method, params)?;
        self.with_retries(name, |client| async move {
            let sent = client.sent();
            let stamp = client.inner.server_clock.request_time(sent.at, sent.instant);
            let prepared = transport::prepare(&client.inner.route, &method, params, None, stamp);
            let answer = client.exchange(name, &prepared, sent).await?;
            let data = transport::decode_data::<T>(name, &answer.body);
            client.observe_date(sent, &answer, stamp_verdict(&data, stamp));
            data.map(Outcome::Done)
        })
        .await
    }

    async fn with_retries<'a, T, F, Fut>(&'a self, method: &str, attempt: F) -> Result<T, Error>
    where
        F: Fn(&'a Client) -> Fut,
        Fut: std::future::Future<Output = Result<Outcome<T>, Error>> + 'a,
    {
        let started = Instant::now();
        let mut state = RetryState::default();
        let route = self.route_label();
        let labels = &self.inner.labels;
        loop {
            let waited = Instant::now();
            let permit = self.inner.limiter.acquire().await;
            metrics::histogram!(telemetry::RATE_LIMIT_WAIT, labels.and(&[("route", route)]))
                .record(waited.elapsed().as_secs_f64());
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let result = attempt(self).await;
            drop(permit);
            let outcome = match &result {
                Ok(Outcome::Done(_)) => "ok",
                Ok(Outcome::Damaged(_)) => "damaged",
                Err(e) if e.is_damaged_answer() => "damaged",
                Err(e) => telemetry::result_of(e.kind()),
            };
            metrics::counter!(
                telemetry::REQUESTS,
                labels.and(&[("route", route), ("method", method), ("result", outcome)])
            )
            .increment(1);
            let per_method = || labels.and(&[("route", route), ("method", method)]);
            state.attempts += 1;
            state.elapsed = started.elapsed();
            let damage = match &result {
                Ok(Outcome::Damaged(_)) => Some("records that are not valid JSON or UTF-8".to_owned()),
                Err(e) if e.is_damaged_answer() => Some(e.to_string()),
                _ => None,
            };
            if let Some(damage) = damage {
                self.inner.counters.damaged.fetch_add(1, Ordering::Relaxed);
                if let Decision::RetryAfter(wait) = decide_damaged(&self.inner.retry, state, fastrand::f64()) {
                    state.damaged_retries += 1;
                    self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(telemetry::RETRIES, per_method()).increment(1);
                    tracing::warn!(method, attempt = state.attempts, ?wait, %damage, "the answer looks damaged; reading it again");
                    self.inner.sleep.sleep(wait).await;
                    continue;
                }
            }
            let err = match result {
                Ok(Outcome::Done(v) | Outcome::Damaged(v)) => {
                    self.inner.limiter.on_success();
                    return Ok(v);
                }
                Err(e) => e,
            };
            match err.kind() {
                ErrorKind::Throttled => {
                    self.inner.counters.throttles.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(telemetry::THROTTLES, per_method()).increment(1);
                    // The pause is clamped like the retry's own wait (a hint of days would
                    // stall every later call of this client).
                    let pause = err.retry_after().map(|d| d.min(self.inner.retry.throttle_cap));
                    self.inner.limiter.on_throttle(pause);
                }
                ErrorKind::Transient => {
                    self.inner.counters.transient.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            match decide(&self.inner.retry, state, &err, fastrand::f64()) {
                Decision::RetryAfter(wait) => {
                    if err.kind() == ErrorKind::Timestamp {
                        state.timestamp_retries += 1;
                    }
                    self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(telemetry::RETRIES, per_method()).increment(1);
                    if err.kind() == ErrorKind::Throttled {
                        metrics::histogram!(telemetry::THROTTLE_WAIT, per_method()).record(wait.as_secs_f64());
                    }
                    tracing::warn!(method, attempt = state.attempts, ?wait, kind = %err.kind(), error = %err, "retrying");
                    self.inner.sleep.sleep(wait).await;
                }
                Decision::GiveUp => {
                    return Err(if state.attempts > 1 && err.is_retryable() {
                        Error::RetriesExhausted {
                            attempts: state.attempts,
                            elapsed: state.elapsed,
                            last: Box::new(err),
                        }
                    } else {
                        err
                    });
                }
            }
        }
    }

    /// Reads the host's clock for an attempt about to be sent.
    fn sent(&self) -> Sent {
        Sent {
            at: self.inner.clock.now(),
            instant: std::time::Instant::now(),
        }
    }

    /// Measures the gateway's clock from an answer's `Date` header (every answer has one,
    /// errors and throttles included), with what the answer said of the request's timestamp.
    fn observe_date(&self, sent: Sent, answer: &Answer, stamp: Stamp) {
        if let Some(offset) =
            self.inner
                .server_clock
                .observe(sent.at, sent.instant, answer.answered, answer.date.as_deref(), stamp)
        {
            if matches!(stamp, Stamp::Accepted(_)) {
                metrics::gauge!(telemetry::CLOCK_OFFSET, self.inner.labels.and(&[]))
                    .set(offset.estimate().as_seconds_f64());
            }
        }
    }

    /// One HTTP exchange; returns the body of a 2xx answer, as received, with its `Date` header
    /// (the `Date` of any other answer is measured here).
    async fn exchange(&self, method: &str, prepared: &Prepared, sent: Sent) -> Result<Answer, Error> {
        let transport_err = |e: reqwest::Error| Error::Transport {
            method: method.to_owned(),
            what: if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "I/O error"
            },
            url: prepared.redacted_url(),
            source: e.without_url(),
        };
        let resp = self
            .inner
            .http
            .post(&prepared.endpoint)
            .query(&prepared.query)
            .header(reqwest::header::CONTENT_TYPE, prepared.content_type)
            .body(prepared.body.clone())
            .send()
            .await
            .map_err(transport_err)?;
        let mut answer = Answer {
            body: Vec::new(),
            date: resp
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            answered: std::time::Instant::now(),
        };
        let status = resp.status();
        let limit = self.inner.max_body_bytes;
        let failed = match read_capped(resp, limit).await {
            Ok(body) if status.is_success() => {
                tracing::trace!(method, url = %prepared.redacted_url(), bytes = body.len(), "answer");
                answer.body = body;
                return Ok(answer);
            }
            Ok(body) => Error::Http {
                method: method.to_owned(),
                status: status.as_u16(),
                url: prepared.redacted_url(),
                excerpt: crate::excerpt::body_summary(&body),
            },
            Err(Some(e)) => transport_err(e),
            Err(None) => Error::BodyTooLarge {
                method: method.to_owned(),
                url: prepared.redacted_url(),
                limit,
            },
        };
        self.observe_date(sent, &answer, Stamp::Unknown);
        Err(failed)
    }
}

/// What one attempt produced: a result, or one from an answer that looked damaged (read again
/// while the damaged-answer budget lasts, then used as it is).
enum Outcome<T> {
    Done(T),
    Damaged(T),
}

/// Reads a body of at most `limit` bytes: `Err(None)` as soon as it shows to be longer (by its
/// `Content-Length`, or while it streams), so memory use stays bounded; the bytes are kept as
/// received (no charset decoding, no replacement of bytes that are not UTF-8).
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, Option<reqwest::Error>> {
    let announced = resp.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(None);
    }
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = resp.chunk().await.map_err(Some)? {
        if body.len() + chunk.len() > limit {
            return Err(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
