//! A local stand-in for both gateways (feature `simulator`): WDT's native open API and the Qimen
//! route, serving a generated, reproducible set of refunds.
//!
//! [`Simulator::builder`] starts a [`wiremock::MockServer`] on `127.0.0.1` (random port) whose
//! one responder answers the way the real services are documented to answer:
//!
//! - **Native route**, `POST {native_url}` (path `/openapi`): system parameters in the query,
//!   the body a JSON array `[{params}]`. Checked in this order: `method` is
//!   `aftersales.refund.Refund.search` (else status 100); `sid`, `key`, `salt` (status 1
//!   "sid is not exists" / "app auth fail" / "验证失败"); `timestamp` in seconds since
//!   2012-01-01 00:00:00 +08:00, within 120 s of the server's clock (status 7 "时间戳错误"; a value
//!   that does not fit an int, e.g. milliseconds, gives status 1 `For input string: "…"`); the md5
//!   `sign` over every query parameter but `sign`, plus `body` = the raw body text (status 1
//!   "验证失败"); `v=1.0` (status 8). `page_no` is 0-based; `total_count` is only written when
//!   `calc_total=1`. Success: `{"status":0,"data":{"total_count":N,"order":[…]}}`.
//! - **Qimen route**, `POST {qimen_url}` (path `/router/qm`): TOP system parameters in the query
//!   (or the form), the application fields as an `application/x-www-form-urlencoded` body.
//!   Checked in this order: required TOP parameters (code 40); `app_key` (code 29); the TOP `sign`
//!   over query ∪ form with any of `md5`, `hmac`, `hmac-sha256` (code 25 "Invalid signature");
//!   `timestamp` (Beijing `yyyy-MM-dd HH:mm:ss`) within ±10 min (code 31); `target_app_key`
//!   (code 41); `method` is `wdt.aftersales.refund.refund.search` (code 22). Then, inside
//!   `response`: `wdt3_customer_id`, `wdt_appkey`, `wdt_salt`, and the `wdt_sign` (status 1
//!   "验证失败"). `page_no` is 1-based (0 is read as 1). Success:
//!   `{"response":{"status":0,"data":{"total_count":N,"order":[…]}}}`; with
//!   [`SimulatorBuilder::string_status`] every other WDT answer on this route writes the status
//!   as a string (`"0"`).
//! - **History**: `aftersales.refund.Refund.searchHistory` / `wdt.aftersales.refund.refund.searchhistory`
//!   on the same paths, with the same checks, serves the archived refunds (see
//!   [`SimulatorBuilder::archive_after`]) over `start_time` / `end_time`, filters `shop_no`,
//!   `type`, `status` (comma-separated), in that method's field shape: `modified`/`created` as
//!   `yyyy-MM-dd HH:mm:ss` strings, its field set (no `amount_detail_list`), its history-only
//!   fields; pages from 0 natively.
//! - **Both**: every answer carries an HTTP `Date` header with the server's clock
//!   ([`SimulatorBuilder::clock`], default the system clock), as the real gateways' answers do
//!   ([`Simulator::set_date_shift`] moves it off, as a proxy with a clock of its own would).
//!   `modified_from` / `modified_to` (Beijing `yyyy-MM-dd HH:mm:ss`) are required
//!   (status 100 "参数中必须包含起止时间"), unparseable dates give status 100
//!   "Unparseable date: …", a span over 30 days status 100
//!   "您的查询时间过宽,查询时间不能大于30天"; `page_size` must be 1..=200. The page holds
//!   the refunds with `from <= modified <= to` (compared in milliseconds; each bound's
//!   inclusivity is configurable), ordered by `modified` then `refund_id`, descending with
//!   `order_type=1`. The filters `status`, `type` and `shop_nos` are honoured; other business
//!   parameters are accepted and ignored.
//!
//! The data set is derived from a seed: the same seed, size and time range give the same
//! refunds. Their JSON has the quirks of WDT's official sample answer: epoch-millisecond
//! `modified`/`created` (numeric strings for some refunds on Qimen), `""` for unset time strings,
//! `platform_id` as a string, exact decimal amounts (strings for some refunds on Qimen),
//! `fenxiao_nick_name` omitted when empty, undocumented keys, `detail_list` sometimes absent and
//! sometimes `[]`. A share of the refunds sit in clusters with one exact `modified` second.
//! Refunds are rebuilt from the seed when served, so a large set starts in milliseconds.
//!
//! Faults — latency, throttling (status 100 with WDT's frequency texts, Qimen code 7 with a ban
//! hint), transient failures, and paging drift (a refund modified while a window is paged moves
//! to "now" and every later refund shifts one place) — are all off by
//! default and drawn from their own seeded generators. Throttles and transient failures are only
//! drawn for requests that passed every check (a bad signature always gets its error); drift
//! happens before a page is served and moves refunds of the requested window to "now". Damaged
//! records (not UTF-8, or not valid JSON) are served only for the refunds named with
//! [`Simulator::damage_refund`].
//!
//! # What it cannot imitate
//! - Real quotas: nobody outside WDT knows the per-minute limits; throttling here is a coin flip
//!   at [`SimulatorBuilder::throttle_rate`], not a response to how fast the client calls, and a
//!   "ban" lasts only as long as the client chooses to wait.
//! - Privacy masking: the Qimen route here returns the same buyer and receiver fields as the
//!   native one; the real services blank or mask them depending on the platform.
//! - Server-side inclusivity of `modified_from`/`modified_to`, the Qimen `page_no` base, the
//!   `page_size` cap, the JSON types Qimen really uses, and whether `total_count` is written
//!   without `calc_total=1`: none of these is documented by WDT; the simulator picks one behaviour (configurable
//!   where cheap) and a client must not rely on it.
//! - Error texts it invents where the documentation has none (unknown method, bad `page_size`,
//!   database error) and the order of the checks.
//! - When and how WDT archives refunds: here a refund in a final status moves to the archive
//!   once its last change is older than [`SimulatorBuilder::archive_after`] (off by default).
//! - Other methods, other tenants, IP whitelists, `X-Version-SDK`, keep-alive quirks, HTTPS.

mod data;
mod faults;
mod handler;
mod history;
mod query;
mod refund;
mod state;
mod text;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::credentials::{QimenCredentials, WdtCredentials, DEFAULT_TARGET_APP_KEY};
use crate::time::{from_beijing, parse_wdt, to_beijing, Clock, SystemClock};
use data::{DataConfig, Dataset};
pub use faults::Damage;
use handler::Gateway;
use state::{lock, State};

/// The native method this simulator serves.
pub const NATIVE_METHOD: &str = "aftersales.refund.Refund.search";
/// The Qimen method this simulator serves.
pub const QIMEN_METHOD: &str = "wdt.aftersales.refund.refund.search";
/// The native history method this simulator serves (archived refunds).
pub const NATIVE_HISTORY_METHOD: &str = "aftersales.refund.Refund.searchHistory";
/// The Qimen history method this simulator serves (archived refunds).
pub const QIMEN_HISTORY_METHOD: &str = "wdt.aftersales.refund.refund.searchhistory";
/// The path of the native route.
pub const NATIVE_PATH: &str = "/openapi";
/// The path of the Qimen route.
pub const QIMEN_PATH: &str = "/router/qm";

/// The seller account (`sid`) the simulator accepts.
pub const WDT_SID: &str = "wdtsim";
/// The WDT app key the simulator accepts.
pub const WDT_APP_KEY: &str = "wdtsim-refund";
/// The WDT app secret (`secret:salt`) the simulator accepts. A test value, not a secret.
pub const WDT_APP_SECRET: &str = "sim0secret0native:sim0salt";
/// The Qimen app key the simulator accepts.
pub const QIMEN_APP_KEY: &str = "30000001";
/// The Qimen app secret the simulator accepts. A test value, not a secret.
pub const QIMEN_APP_SECRET: &str = "sim0secret0qimen";
/// The `target_app_key` the simulator accepts (WDT Ultimate's).
pub const QIMEN_TARGET_APP_KEY: &str = DEFAULT_TARGET_APP_KEY;

/// What the simulator has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Every HTTP request received.
    pub requests: u64,
    /// Requests on the native path.
    pub native_requests: u64,
    /// Requests on the Qimen path.
    pub qimen_requests: u64,
    /// Pages answered with success.
    pub pages_served: u64,
    /// Requests answered with an injected throttle.
    pub throttled: u64,
    /// Requests answered with an injected transient failure (HTTP 502, truncated JSON, HTML,
    /// database error).
    pub transient_faults: u64,
    /// Requests refused for credentials, signature or timestamp.
    pub auth_failures: u64,
    /// Requests refused for their arguments (method, window, pager, parameters).
    pub invalid_requests: u64,
    /// Refunds modified by drift (per request and [`Simulator::modify_now`]).
    pub drifted_refunds: u64,
    /// Refunds served damaged ([`Simulator::damage_refund`]).
    pub damaged_records: u64,
    /// Pages of the history method answered with success (counted in `pages_served` too).
    pub history_pages_served: u64,
}

/// Configures and starts a [`Simulator`]. Every fault is off by default.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    clock: Arc<dyn Clock>,
    seed: u64,
    refunds: usize,
    time_range: Option<(NaiveDateTime, NaiveDateTime)>,
    cluster_share: f64,
    latency: Duration,
    throttle_rate: f64,
    transient_rate: f64,
    drift: usize,
    unstable_pages: usize,
    string_status: bool,
    inclusive_from: bool,
    inclusive_to: bool,
    archive_after: Option<chrono::TimeDelta>,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            seed: 42,
            refunds: 3000,
            time_range: None,
            cluster_share: 0.05,
            latency: Duration::ZERO,
            throttle_rate: 0.0,
            transient_rate: 0.0,
            drift: 0,
            unstable_pages: 0,
            string_status: false,
            inclusive_from: true,
            inclusive_to: true,
            archive_after: None,
        }
    }
}

impl SimulatorBuilder {
    /// The server's clock (default the system clock): request timestamps are checked against
    /// it, answers carry it in their `Date` header, and drift stamps refunds with it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The seed of the data set and of every fault generator (default 42).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many refunds to generate (default 3000).
    pub fn refunds(mut self, n: usize) -> Self {
        self.refunds = n;
        self
    }

    /// The range, in Beijing wall time, the refunds' `modified` times are spread over (default
    /// 2024-01-01 00:00:00 to one hour before the start, whole seconds). Reversed bounds are
    /// swapped.
    pub fn time_range(mut self, start: NaiveDateTime, end: NaiveDateTime) -> Self {
        self.time_range = Some(if start <= end { (start, end) } else { (end, start) });
        self
    }

    /// The share of refunds (0..=1, default 0.05) placed in clusters of 3–20 refunds that share
    /// one exact `modified` second.
    pub fn cluster_share(mut self, share: f64) -> Self {
        self.cluster_share = share;
        self
    }

    /// A delay added to every answer (default none).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The probability (0..=1) that a valid page request is answered with a throttle: on the
    /// native route status 100 with the call-rate or concurrency message (full-width or ASCII
    /// comma); on Qimen alternately WDT's message inside `response` and the gateway's code 7
    /// "App Call Limited" ban.
    pub fn throttle_rate(mut self, rate: f64) -> Self {
        self.throttle_rate = rate;
        self
    }

    /// The probability (0..=1) that a valid page request fails transiently: HTTP 502, a
    /// truncated JSON body, an HTML body with HTTP 200, or status 4 (database error).
    pub fn transient_rate(mut self, rate: f64) -> Self {
        self.transient_rate = rate;
        self
    }

    /// Before each page is answered, modify this many refunds of the requested window (or of the
    /// whole set when the window is empty): `modified` becomes now, and the status, an amount or
    /// the detail lines change. This is the drift that makes forward paging lose refunds.
    pub fn drift(mut self, per_request: usize) -> Self {
        self.drift = per_request;
        self
    }

    /// Serve the next `n` pages that are not the first of their window one position early: each
    /// repeats the previous page's last refund and leaves out its own last one, which
    /// `total_count` still counts. A server whose order among refunds sharing one `modified`
    /// second changes between requests answers like this. `usize::MAX`: every such page
    /// (default 0).
    pub fn unstable_pages(mut self, n: usize) -> Self {
        self.unstable_pages = n;
        self
    }

    /// On the Qimen route, write every other WDT `status` as a string (`"0"`), a quirk real
    /// clients report (default off).
    pub fn string_status(mut self, on: bool) -> Self {
        self.string_status = on;
        self
    }

    /// Whether `modified == modified_from` is inside the window (default true).
    pub fn inclusive_from(mut self, inclusive: bool) -> Self {
        self.inclusive_from = inclusive;
        self
    }

    /// Whether `modified == modified_to` is inside the window (default true).
    pub fn inclusive_to(mut self, inclusive: bool) -> Self {
        self.inclusive_to = inclusive;
        self
    }

    /// Archive refunds: one in a final status (10 已取消, 90 已完成) whose last change is older
    /// than `age` by the server's clock is no longer served by `Refund.search`, only by
    /// `Refund.searchHistory` (both routes), in that method's field shape (default: nothing is
    /// archived). When WDT archives is not documented; this is the simulator's rule.
    pub fn archive_after(mut self, age: chrono::TimeDelta) -> Self {
        self.archive_after = Some(age);
        self
    }

    /// Generates the data set and starts the server. Must run inside a Tokio runtime.
    pub async fn start(self) -> Simulator {
        let (start, end) = self.time_range.unwrap_or_else(|| {
            let start = parse_wdt("2024-01-01 00:00:00").expect("a valid constant");
            let end = to_beijing(self.clock.now() - chrono::Duration::hours(1));
            let end = end.with_nanosecond(0).unwrap_or(end);
            (start, end.max(start))
        });
        let data = Dataset::generate(&DataConfig {
            seed: self.seed,
            refunds: self.refunds,
            start_ms: from_beijing(start).timestamp_millis(),
            end_ms: from_beijing(end).timestamp_millis(),
            cluster_share: self.cluster_share,
        });
        let mut st = State::new(data, self.clock);
        st.faults.set_throttle_rate(self.throttle_rate);
        st.faults.set_transient_rate(self.transient_rate);
        st.drift_per_request = self.drift;
        st.unstable_pages = self.unstable_pages;
        st.latency = self.latency;
        st.string_status = self.string_status;
        st.inclusive_from = self.inclusive_from;
        st.inclusive_to = self.inclusive_to;
        st.archive_after_ms = self.archive_after.map(|a| a.num_milliseconds());
        let state = Arc::new(Mutex::new(st));
        let server = MockServer::builder().disable_request_recording().start().await;
        Mock::given(any())
            .respond_with(Gateway {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Simulator { server, state }
    }
}

/// A running simulator; dropping it stops the server.
pub struct Simulator {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("uri", &self.server.uri())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Simulator {
    /// A builder with the defaults: 3000 refunds, seed 42, 2024-01-01 to an hour ago, no faults.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// The server's base URI, `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The native route's URL (`…/openapi`).
    pub fn native_url(&self) -> String {
        format!("{}{NATIVE_PATH}", self.server.uri())
    }

    /// The Qimen route's URL (`…/router/qm`).
    pub fn qimen_url(&self) -> String {
        format!("{}{QIMEN_PATH}", self.server.uri())
    }

    /// The WDT credentials the simulator accepts ([`WDT_SID`], [`WDT_APP_KEY`],
    /// [`WDT_APP_SECRET`]).
    pub fn wdt_credentials(&self) -> WdtCredentials {
        WdtCredentials::new(WDT_SID, WDT_APP_KEY, WDT_APP_SECRET).expect("the simulator's credentials are valid")
    }

    /// The Qimen credentials the simulator accepts ([`QIMEN_APP_KEY`], [`QIMEN_APP_SECRET`],
    /// target `21363512`, sign method md5; the simulator also accepts hmac and hmac-sha256).
    pub fn qimen_credentials(&self) -> QimenCredentials {
        QimenCredentials::new(QIMEN_APP_KEY, QIMEN_APP_SECRET)
            .expect("the simulator's credentials are valid")
            .with_target_app_key(QIMEN_TARGET_APP_KEY)
            .expect("the simulator's target app key is valid")
    }

    /// The current data set (after drift), as the native route writes it, sorted by
    /// `refund_id`. Builds every refund: meant for tests, not for large sets in a loop.
    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        lock(&self.state).snapshot()
    }

    /// Changes how many refunds drift before each page is answered.
    pub fn set_drift(&self, per_request: usize) {
        lock(&self.state).drift_per_request = per_request;
    }

    /// Changes how many of the next pages are served one position early (see
    /// [`SimulatorBuilder::unstable_pages`]).
    pub fn set_unstable_pages(&self, n: usize) {
        lock(&self.state).unstable_pages = n;
    }

    /// Changes the throttle probability (0..=1).
    pub fn set_throttle_rate(&self, rate: f64) {
        lock(&self.state).faults.set_throttle_rate(rate);
    }

    /// Changes the transient-failure probability (0..=1).
    pub fn set_transient_rate(&self, rate: f64) {
        lock(&self.state).faults.set_transient_rate(rate);
    }

    /// Writes the `Date` header of every answer `shift` off the server's clock, as a proxy in
    /// front of the gateway with a clock of its own would (zero: the server's time, the default).
    /// Request timestamps are still checked against the server's clock.
    pub fn set_date_shift(&self, shift: chrono::TimeDelta) {
        lock(&self.state).date_shift = shift;
    }

    /// Changes the delay added to every answer.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// What the simulator has done so far.
    pub fn stats(&self) -> SimStats {
        lock(&self.state).stats
    }

    /// Serves refund `refund_id` damaged `how` the next `times` times it is on a page (`None`:
    /// every time), as a gateway that corrupts answers in passing (`Some`) or a record stored
    /// broken (`None`) would. The rest of its page stays intact.
    pub fn damage_refund(&self, refund_id: u64, how: Damage, times: Option<u64>) {
        lock(&self.state).damaged.insert(refund_id, (how, times));
    }

    /// Changes the archive age (`None`: archive nothing); see [`SimulatorBuilder::archive_after`].
    pub fn set_archive_after(&self, age: Option<chrono::TimeDelta>) {
        lock(&self.state).archive_after_ms = age.map(|a| a.num_milliseconds());
    }

    /// The ids of the refunds archived now, ascending.
    pub fn archived_ids(&self) -> Vec<u64> {
        lock(&self.state).archived_ids()
    }

    /// Gives refund `refund_id` the status `status` now (its `modified` becomes the server's
    /// clock); false for an unknown id.
    pub fn set_status_now(&self, refund_id: u64, status: u8) -> bool {
        lock(&self.state).set_status_now(refund_id, status)
    }

    /// Modifies `n` refunds (drawn from the whole set) now, as drift does; returns how many
    /// (fewer only when the set is smaller).
    pub fn modify_now(&self, n: usize) -> usize {
        lock(&self.state).drift_now(&[], n)
    }
}
