//! An account's [`Client`], built from its route; for the simulator route, the simulator is
//! started first.
//!
//! Every account has a client of its own (its limiter, retries, clock offset, counters), but
//! they share one HTTP client ([`http_client`]): its connection pool and its TLS set-up (the
//! root certificates) are made once per process, not once per account.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{TimeDelta, Timelike};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::{Client, Route};

use crate::config::{Account, RouteSpec, SimSettings};
use crate::error::AppError;

/// An account's client, and what keeps it answering.
pub struct Connected {
    /// The client (its own limiter).
    pub client: Client,
    /// How the route is described in the report: `qimen (URL)`, `simulator (…)`.
    pub label: String,
    /// The simulator serving this account, kept alive as long as the client is used.
    #[cfg(feature = "simulator")]
    pub simulator: Option<wdt_qimen::simulator::Simulator>,
}

/// The connect timeout of the shared HTTP client (the SDK's default).
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The timeout of one whole exchange of the shared HTTP client (the SDK's default).
pub const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client every account of the process shares; `None` when it cannot be built (each
/// client then builds its own, and reports why it cannot).
pub fn http_client() -> Option<reqwest::Client> {
    static HTTP: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(HTTP_CONNECT_TIMEOUT)
            .timeout(HTTP_REQUEST_TIMEOUT)
            .user_agent(concat!("wdt-refund-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok()
    })
    .clone()
}

/// Builds the client of `account` (starting the simulator for the simulator route).
pub async fn connect(account: &Account) -> Result<Connected, AppError> {
    let sdk = |source| AppError::Sdk {
        context: format!("the client of account {:?}", account.name),
        source: Box::new(source),
    };
    let limited = |b: wdt_qimen::ClientBuilder, default: Option<RateLimitConfig>| {
        let b = b.metric_labels(crate::telemetry::account_labels(&account.name));
        let b = match http_client() {
            Some(http) => b.http_client(http),
            None => b,
        };
        match account.rate_limit.clone().or(default) {
            Some(r) => b.rate_limit(r),
            None => b,
        }
    };
    match &account.route {
        RouteSpec::Qimen { url, qimen, wdt } => {
            let route = Route::Qimen {
                url: url.clone(),
                qimen: qimen.clone(),
                wdt: wdt.clone(),
            };
            Ok(Connected {
                client: limited(Client::builder(route), None).build().map_err(sdk)?,
                label: format!("qimen ({url})"),
                #[cfg(feature = "simulator")]
                simulator: None,
            })
        }
        RouteSpec::Native { url, wdt } => {
            let route = Route::Native {
                url: url.clone(),
                wdt: wdt.clone(),
            };
            Ok(Connected {
                client: limited(Client::builder(route), None).build().map_err(sdk)?,
                label: format!("native ({url})"),
                #[cfg(feature = "simulator")]
                simulator: None,
            })
        }
        RouteSpec::Simulator(sim) => simulated(account, sim, limited).await,
    }
}

#[cfg(feature = "simulator")]
async fn simulated(
    account: &Account,
    s: &SimSettings,
    limited: impl Fn(wdt_qimen::ClientBuilder, Option<RateLimitConfig>) -> wdt_qimen::ClientBuilder,
) -> Result<Connected, AppError> {
    let until = s.until.unwrap_or_else(an_hour_ago_on_the_hour);
    let mut builder = wdt_qimen::simulator::Simulator::builder()
        .seed(s.seed)
        .refunds(s.refunds)
        .time_range(account.start, until)
        .latency(s.latency);
    if let Some(age) = s.archive_after.and_then(|a| TimeDelta::from_std(a).ok()) {
        builder = builder.archive_after(age);
    }
    let sim = builder.start().await;
    let route = Route::Qimen {
        url: sim.qimen_url(),
        qimen: sim.qimen_credentials(),
        wdt: sim.wdt_credentials(),
    };
    let client = limited(Client::builder(route), Some(RateLimitConfig::unlimited()))
        .build()
        .map_err(|source| AppError::Sdk {
            context: format!("the simulator's client of account {:?}", account.name),
            source: Box::new(source),
        })?;
    Ok(Connected {
        client,
        label: format!(
            "simulator ({} refunds, qimen protocol on {})",
            s.refunds,
            sim.qimen_url()
        ),
        simulator: Some(sim),
    })
}

#[cfg(not(feature = "simulator"))]
async fn simulated(
    _account: &Account,
    _s: &SimSettings,
    _limited: impl Fn(wdt_qimen::ClientBuilder, Option<RateLimitConfig>) -> wdt_qimen::ClientBuilder,
) -> Result<Connected, AppError> {
    Err(AppError::NoSimulator)
}

/// One hour ago (Beijing time), on the hour: reruns within the hour see the same data.
#[cfg_attr(not(feature = "simulator"), allow(dead_code))]
fn an_hour_ago_on_the_hour() -> chrono::NaiveDateTime {
    let t = wdt_qimen::time::to_beijing(chrono::Utc::now()) - TimeDelta::hours(1);
    t.date().and_hms_opt(t.hour(), 0, 0).expect("valid hour")
}
