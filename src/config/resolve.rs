//! Flags, env vars, the config file and the defaults merged into a checked [`Plan`]: a flag
//! overrides the file, the file overrides the defaults.
//!
//! Without `--config` the single account is described by flags and env vars
//! (`QIMEN_APP_KEY`, `WDT_SID`, …), as before config files existed. With it, the file lists the
//! accounts and names the env var or file of each secret; the credential env vars are then not
//! read, and the flags that describe the single account (`--route`, the URLs, `--table-prefix`,
//! `--sim-*`) are refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::NaiveDateTime;
use refund_sink_mysql::{Layout, WriteMode};
use wdt_qimen::credentials::{DEFAULT_QIMEN_URL, DEFAULT_WDT_URL};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::{QimenCredentials, WdtCredentials};

use super::file::{
    AccountFile, AlertsFile, ConfigFile, HttpFile, MysqlFile, QimenFile, ScheduleFile, SimulatorFile, WdtFile,
};
use super::secret::{EnvLookup, SecretRef};
use super::{
    value, Account, AlertSettings, HttpSettings, MysqlSettings, Plan, RobotSettings, RouteSpec, Schedule, SimSettings,
    VerifySchedule,
};
use crate::alert::RobotKind;
use crate::cli::{LayoutArg, RobotArg, RouteKind, RunArgs, Settings, WriteModeArg};
use crate::error::AppError;

/// The longest account name (it is part of the checkpoint's key).
pub const MAX_NAME_LEN: usize = 64;

/// Resolves the settings of a subcommand; `run` is `run`'s flags (`None` for other subcommands).
pub fn resolve(settings: &Settings, run: Option<&RunArgs>, env: EnvLookup<'_>) -> Result<Plan, AppError> {
    match &settings.config {
        None => from_flags(settings, run, env),
        Some(path) => from_file(path, ConfigFile::load(path)?, settings, run, env),
    }
}

/// Resolves `file` (read from `path`) under the flags.
pub fn from_file(
    path: &Path,
    file: ConfigFile,
    s: &Settings,
    run: Option<&RunArgs>,
    env: EnvLookup<'_>,
) -> Result<Plan, AppError> {
    refuse_single_account_flags(path, s)?;
    if file.defaults.name.is_some() {
        return Err(AppError::setting(
            "defaults.name",
            format!("{:?}", file.defaults.name.as_deref().unwrap_or_default()),
            "every account needs a name of its own",
            "name each [[account]] instead",
        ));
    }
    if file.account.is_empty() {
        return Err(AppError::missing(
            format!("[[account]] in {}", path.display()),
            "add an [[account]] block for each WDT account (see examples/sync.toml)",
        ));
    }
    let mysql = mysql(s, &file.mysql, env)?;
    let schedule = schedule(s, run, &file.schedule)?;
    let given = run.is_some_and(|r| r.max_lag.is_some()) || file.schedule.max_lag.is_some();
    let http = http(run, &file.http, &schedule, given)?;
    let alerts = alerts(run, &file.alerts, env)?;
    let maps = MappingContext {
        base: path.parent().unwrap_or(Path::new(".")).to_owned(),
        inline: crate::mapping::inline(&file),
        inline_key: format!("[[tables]] of {}", path.display()),
    };
    let mut accounts = Vec::with_capacity(file.account.len());
    for (i, a) in file.account.into_iter().enumerate() {
        accounts.push(account(i, a, &file.defaults, s, env, &maps)?);
    }
    check_names(&accounts)?;
    Ok(Plan {
        mysql,
        schedule,
        http,
        dry_run: s.dry_run,
        accounts,
        named: true,
        alerts,
    })
}

fn refuse_single_account_flags(path: &Path, s: &Settings) -> Result<(), AppError> {
    let given = [
        ("--route (or WDT_ROUTE)", "route", s.route.is_some()),
        ("--qimen-url (or QIMEN_URL)", "qimen.url", s.qimen_url.is_some()),
        ("--wdt-url (or WDT_URL)", "wdt.url", s.wdt_url.is_some()),
        ("--table-prefix", "table_prefix", s.table_prefix.is_some()),
        ("--mapping", "mapping", !s.mapping.is_empty()),
        ("--sim-refunds", "simulator.refunds", s.sim_refunds.is_some()),
        ("--sim-seed", "simulator.seed", s.sim_seed.is_some()),
        ("--sim-until", "simulator.until", s.sim_until.is_some()),
        ("--sim-latency", "simulator.latency", s.sim_latency.is_some()),
        (
            "--sim-archive-after",
            "simulator.archive_after",
            s.sim_archive_after.is_some(),
        ),
    ];
    match given.iter().find(|(_, _, set)| *set) {
        Some((flag, key, _)) => Err(AppError::Conflict {
            problem: format!("{flag} describes the single account of a run without --config"),
            fix: format!("set `{key}` in the [[account]] blocks of {} instead", path.display()),
        }),
        None => Ok(()),
    }
}

fn mysql(s: &Settings, f: &MysqlFile, env: EnvLookup<'_>) -> Result<MysqlSettings, AppError> {
    let named = [f.url.is_some(), f.url_env.is_some(), f.url_file.is_some()];
    if named.iter().filter(|n| **n).count() > 1 {
        return Err(AppError::Conflict {
            problem: "more than one of mysql.url, mysql.url_env and mysql.url_file is set".into(),
            fix: "keep one of them".into(),
        });
    }
    let url = match (&s.mysql_url, &f.url) {
        (Some(u), _) => u.clone(),
        (None, Some(u)) => {
            if has_password(u) {
                return Err(AppError::setting(
                    "mysql.url",
                    refund_sink_mysql::redact_url(u),
                    "it holds a password, and secrets are never written in the config file",
                    "put the URL in an env var named by mysql.url_env, or in a file named by mysql.url_file",
                ));
            }
            u.clone()
        }
        (None, None) => SecretRef {
            key: "mysql.url",
            env: f.url_env.as_deref(),
            file: f.url_file.as_deref(),
        }
        .read(env)?
        .unwrap_or_else(|| super::DEFAULT_MYSQL_URL.to_owned()),
    };
    let dur = |flag: Option<Duration>, key: &str, text: &Option<String>, default: Duration| match (flag, text) {
        (Some(d), _) => Ok(d),
        (None, Some(t)) => value::duration(key, t),
        (None, None) => Ok(default),
    };
    Ok(MysqlSettings {
        url,
        timeout: dur(
            s.mysql_timeout,
            "mysql.timeout",
            &f.timeout,
            super::DEFAULT_MYSQL_TIMEOUT,
        )?,
        retry_budget: dur(
            s.mysql_retry_budget,
            "mysql.retry_budget",
            &f.retry_budget,
            super::DEFAULT_MYSQL_RETRY_BUDGET,
        )?,
        create_tables: !s.no_create_tables && f.create_tables.unwrap_or(true),
        pool_size: pool_size(s.mysql_pool_size, f.pool_size)?,
    })
}

/// `--mysql-pool-size`, else `mysql.pool_size`, else the default; 1 to
/// [`MAX_MYSQL_POOL_SIZE`](super::MAX_MYSQL_POOL_SIZE).
fn pool_size(flag: Option<usize>, file: Option<usize>) -> Result<usize, AppError> {
    let (key, n) = match (flag, file) {
        (Some(n), _) => ("--mysql-pool-size", n),
        (None, Some(n)) => ("mysql.pool_size", n),
        (None, None) => return Ok(super::DEFAULT_MYSQL_POOL_SIZE),
    };
    if !(1..=super::MAX_MYSQL_POOL_SIZE).contains(&n) {
        return Err(AppError::setting(
            key,
            n,
            format!("out of range (1 to {})", super::MAX_MYSQL_POOL_SIZE),
            format!(
                "give the most connections the process may hold at once, e.g. {} (below the server's max_connections, \
                 shared by every account)",
                super::DEFAULT_MYSQL_POOL_SIZE
            ),
        ));
    }
    Ok(n)
}

/// Whether a `mysql://user:password@host` URL carries a password.
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.rfind('@')
        .is_some_and(|at| rest[..at].split_once(':').is_some_and(|(_, pw)| !pw.is_empty()))
}

fn schedule(s: &Settings, run: Option<&RunArgs>, f: &ScheduleFile) -> Result<Schedule, AppError> {
    let pick = |flag: Option<Duration>, flag_name: &str, key: &str, text: &Option<String>, default: Duration| match (
        flag, text,
    ) {
        (Some(d), _) => Ok((flag_name.to_owned(), d)),
        (None, Some(t)) => value::duration(key, t).map(|d| (key.to_owned(), d)),
        (None, None) => Ok((key.to_owned(), default)),
    };
    let every = match run {
        Some(r) if r.every.is_some() => r.every.map(|d| ("--every".to_owned(), d)),
        Some(r) if r.once => None,
        _ => match &f.every {
            Some(t) => Some(("schedule.every".to_owned(), value::duration("schedule.every", t)?)),
            None => None,
        },
    };
    if let Some((key, d)) = &every {
        if d.is_zero() {
            return Err(AppError::setting(
                key,
                "0s",
                "a run cannot repeat at once",
                "use 1s or more, e.g. 5m",
            ));
        }
    }
    let (_, lag) = pick(s.lag, "--lag", "schedule.lag", &f.lag, super::DEFAULT_LAG)?;
    let (_, overlap) = pick(
        s.overlap,
        "--overlap",
        "schedule.overlap",
        &f.overlap,
        super::DEFAULT_LAG,
    )?;
    let (key, max_window) = pick(
        s.max_window,
        "--max-window",
        "schedule.max_window",
        &f.max_window,
        super::DEFAULT_MAX_WINDOW,
    )?;
    let max_lag = match (run.and_then(|r| r.max_lag), &f.max_lag) {
        (Some(d), _) => Some(("--max-lag", d)),
        (None, Some(t)) => Some(("schedule.max_lag", value::duration("schedule.max_lag", t)?)),
        (None, None) => None,
    };
    if let Some((key, d)) = max_lag.filter(|(_, d)| d.is_zero()) {
        return Err(AppError::setting(
            key,
            humantime::format_duration(d),
            "every stream would count as stalled",
            "use a bound above the interval plus the lag, e.g. 20m",
        ));
    }
    let interval = every.as_ref().map_or(super::ONCE_INTERVAL_FOR_MAX_LAG, |(_, d)| *d);
    let (every_key, history_every) = pick(
        s.history_every,
        "--history-every",
        "schedule.history_every",
        &f.history_every,
        super::DEFAULT_HISTORY_EVERY,
    )?;
    let (horizon_key, archive_horizon) = pick(
        s.archive_horizon,
        "--archive-horizon",
        "schedule.archive_horizon",
        &f.archive_horizon,
        super::DEFAULT_ARCHIVE_HORIZON,
    )?;
    let shown = |d: Duration| {
        if d.as_secs().is_multiple_of(86_400) && d.subsec_nanos() == 0 && !d.is_zero() {
            format!("{}days", d.as_secs() / 86_400)
        } else {
            humantime::format_duration(d).to_string()
        }
    };
    if archive_horizon < Duration::from_secs(3_600) {
        return Err(AppError::setting(
            &horizon_key,
            shown(archive_horizon),
            "too short",
            "reach back at least 1h (the default is 30days)",
        ));
    }
    if history_every < Duration::from_secs(60) || history_every > archive_horizon {
        return Err(AppError::setting(
            &every_key,
            shown(history_every),
            "out of range",
            format!(
                "use 1m or more, at most the archive horizon ({}), so the periodic reads overlap",
                shown(archive_horizon)
            ),
        ));
    }
    let verify = verify_schedule(run, f)?;
    Ok(Schedule {
        verify,
        every: every.map(|(_, d)| d),
        lag,
        overlap,
        max_window: value::max_window(&key, max_window)?,
        max_lag: max_lag.map_or(interval.saturating_mul(3).saturating_add(lag), |(_, d)| d),
        history: !s.no_history && f.history.unwrap_or(true),
        history_every,
        archive_horizon,
    })
}

/// The scheduled verify: `--verify-every`, `--verify-days` and `--verify-repair` over
/// `schedule.verify_every`, `verify_days` and `verify_repair`. Only `run` verifies on a schedule;
/// the days or the repair without an interval are refused (they would do nothing).
fn verify_schedule(run: Option<&RunArgs>, f: &ScheduleFile) -> Result<Option<VerifySchedule>, AppError> {
    let Some(run) = run else { return Ok(None) };
    let every = match (run.verify_every, &f.verify_every) {
        (Some(d), _) => Some(("--verify-every", d)),
        (None, Some(t)) => Some(("schedule.verify_every", value::duration("schedule.verify_every", t)?)),
        (None, None) => None,
    };
    let days = match (run.verify_days, f.verify_days) {
        (Some(n), _) => Some(("--verify-days", n)),
        (None, Some(n)) => Some(("schedule.verify_days", n)),
        (None, None) => None,
    };
    let repair = match (run.verify_repair, f.verify_repair) {
        (true, _) => Some(("--verify-repair", true)),
        (false, Some(b)) => Some(("schedule.verify_repair", b)),
        (false, None) => None,
    };
    let Some((every_key, every)) = every else {
        if let Some((key, value)) = days
            .map(|(k, n)| (k, n.to_string()))
            .or(repair.map(|(k, b)| (k, b.to_string())))
        {
            return Err(AppError::setting(
                key,
                value,
                "there is no scheduled verify to apply it to",
                "set --verify-every (or [schedule] verify_every, e.g. \"1d\"), or remove it",
            ));
        }
        return Ok(None);
    };
    if every < Duration::from_secs(1) {
        return Err(AppError::setting(
            every_key,
            humantime::format_duration(every),
            "a verify cannot repeat at once",
            "use 1s or more, e.g. 1d",
        ));
    }
    let days = match days {
        Some((key, n)) if !(1..=super::MAX_VERIFY_DAYS).contains(&n) => {
            return Err(AppError::setting(
                key,
                n,
                format!("out of range (1 to {})", super::MAX_VERIFY_DAYS),
                format!(
                    "give the days before the live checkpoint to verify, e.g. {}",
                    super::DEFAULT_VERIFY_DAYS
                ),
            ))
        }
        Some((_, n)) => n,
        None => super::DEFAULT_VERIFY_DAYS,
    };
    Ok(Some(VerifySchedule::new(every, days, repair.is_some_and(|(_, b)| b))))
}

/// The alert robot: flags and env vars (`--alert-webhook`/`ALERT_WEBHOOK`, `--alert-robot`,
/// `ALERT_SECRET`) override `[alerts]`. Only `run` alerts.
fn alerts(run: Option<&RunArgs>, f: &AlertsFile, env: EnvLookup<'_>) -> Result<AlertSettings, AppError> {
    let Some(run) = run else {
        return Ok(AlertSettings::default());
    };
    for (key, v) in [("alerts.webhook", &f.webhook), ("alerts.secret", &f.secret)] {
        if v.is_some() {
            return Err(AppError::setting(
                key,
                "[hidden]",
                "the webhook carries the robot's token, and secrets are never written in the config file",
                format!("put it in an env var named by {key}_env, or in a file named by {key}_file"),
            ));
        }
    }
    let repeat = match (run.alert_repeat, &f.repeat) {
        (Some(d), _) => ("--alert-repeat", d),
        (None, Some(t)) => ("alerts.repeat", value::duration("alerts.repeat", t)?),
        (None, None) => ("alerts.repeat", super::DEFAULT_ALERT_REPEAT),
    };
    if repeat.1.is_zero() {
        return Err(AppError::setting(
            repeat.0,
            "0s",
            "a broken stream would be alerted at every run",
            "use a reminder interval such as 1h",
        ));
    }
    let (webhook_key, webhook) = match &run.alert_webhook {
        Some(w) if !w.trim().is_empty() => ("--alert-webhook (or ALERT_WEBHOOK)", Some(w.trim().to_owned())),
        _ => (
            "alerts.webhook",
            SecretRef {
                key: "alerts.webhook",
                env: f.webhook_env.as_deref(),
                file: f.webhook_file.as_deref(),
            }
            .read(env)?
            .map(|w| w.trim().to_owned()),
        ),
    };
    let secret = match env("ALERT_SECRET") {
        Some(s) => Some(s),
        None => SecretRef {
            key: "alerts.secret",
            env: f.secret_env.as_deref(),
            file: f.secret_file.as_deref(),
        }
        .read(env)?,
    };
    let named_kind = match (run.alert_robot, &f.robot) {
        (Some(RobotArg::Dingtalk), _) => Some(RobotKind::DingTalk),
        (Some(RobotArg::Wecom), _) => Some(RobotKind::WeCom),
        (None, Some(t)) => Some(value::robot("alerts.robot", t)?),
        (None, None) => None,
    };
    let Some(webhook) = webhook else {
        if named_kind.is_some() || secret.is_some() {
            return Err(AppError::missing(
                "the alert robot's webhook (alerts.webhook_env or alerts.webhook_file, or ALERT_WEBHOOK)",
                "name the env var or file that holds the robot's webhook URL, or remove the other [alerts] settings",
            ));
        }
        return Ok(AlertSettings {
            robot: None,
            repeat: repeat.1,
        });
    };
    match url::Url::parse(&webhook) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => {
            return Err(AppError::setting(
                webhook_key,
                "[hidden]",
                "not an http(s) URL (it may hold the robot's token, so it is not shown)",
                "give the robot's whole webhook URL, e.g. https://oapi.dingtalk.com/robot/send?access_token=…",
            ))
        }
    }
    let kind = match named_kind.or_else(|| RobotKind::of_host(&webhook)) {
        Some(k) => k,
        None => {
            return Err(AppError::missing(
                "the alert robot's kind (alerts.robot, or --alert-robot)",
                "the webhook's host is neither DingTalk's nor WeCom's: set robot = \"dingtalk\" or \"wecom\"",
            ))
        }
    };
    if kind == RobotKind::WeCom && secret.is_some() {
        return Err(AppError::Conflict {
            problem: "a signing secret is set (alerts.secret_env/secret_file or ALERT_SECRET) for a WeCom robot, \
                      which does not sign its messages"
                .into(),
            fix: "remove the secret, or set robot = \"dingtalk\"".into(),
        });
    }
    Ok(AlertSettings {
        robot: Some(RobotSettings { kind, webhook, secret }),
        repeat: repeat.1,
    })
}

/// `--http-addr` (or its old name `--metrics-addr`) and `--max-lag` over `[http]`.
fn http(
    run: Option<&RunArgs>,
    f: &HttpFile,
    schedule: &Schedule,
    given_max_lag: bool,
) -> Result<HttpSettings, AppError> {
    let Some(run) = run else {
        return Ok(HttpSettings::default());
    };
    let addr = match (run.http_addr, run.metrics_addr) {
        (Some(a), Some(m)) if a != m => {
            return Err(AppError::setting(
                "--metrics-addr",
                m,
                format!("differs from --http-addr = {a}; --metrics-addr is the old name of --http-addr (one server)"),
                "give only --http-addr (its /metrics is the Prometheus endpoint)",
            ))
        }
        (Some(a), _) | (None, Some(a)) => Some(a),
        (None, None) => match &f.addr {
            Some(t) => Some(t.trim().parse::<SocketAddr>().map_err(|e| {
                AppError::setting(
                    "http.addr",
                    format!("{t:?}"),
                    e.to_string(),
                    "write an IP address and a port, e.g. \"127.0.0.1:9000\" (\"0.0.0.0:9000\" for every interface)",
                )
            })?),
            None => None,
        },
    };
    // One bound for alerts and `/ready` (`schedule.max_lag`); `/ready` applies it when it was
    // given or when the run repeats (a `--once` run has no lag to keep up).
    let max_lag = (given_max_lag || schedule.every.is_some()).then_some(schedule.max_lag);
    Ok(HttpSettings { addr, max_lag })
}

/// The account-wide settings a flag overrides: start, page size, layout, write mode.
struct Common {
    start: NaiveDateTime,
    page_size: u32,
    layout: Layout,
    write_mode: WriteMode,
}

fn common(s: &Settings, a: &AccountFile, label: &str) -> Result<Common, AppError> {
    let key = |k: &str| format!("{label}: {k}");
    Ok(Common {
        start: match (s.start, &a.start) {
            (Some(t), _) => t,
            (None, Some(t)) => value::time(&key("start"), t)?,
            (None, None) => default_start(),
        },
        page_size: match (s.page_size, a.page_size) {
            (Some(n), _) => n,
            (None, Some(n)) => value::page_size(&key("page_size"), n)?,
            (None, None) => super::DEFAULT_PAGE_SIZE,
        },
        layout: match (s.layout, &a.layout) {
            (Some(l), _) => layout_of(l),
            (None, Some(t)) => value::layout(&key("layout"), t)?,
            (None, None) => Layout::Flat,
        },
        write_mode: match (s.write_mode, &a.write_mode) {
            (Some(m), _) => write_mode_of(m),
            (None, Some(t)) => value::write_mode(&key("write_mode"), t)?,
            (None, None) => WriteMode::Upsert,
        },
    })
}

fn default_start() -> NaiveDateTime {
    wdt_qimen::time::parse_wdt(super::DEFAULT_START).expect("valid literal")
}

fn layout_of(l: LayoutArg) -> Layout {
    match l {
        LayoutArg::Flat => Layout::Flat,
        LayoutArg::Normalized => Layout::Normalized,
        LayoutArg::Both => Layout::Both,
    }
}

fn write_mode_of(m: WriteModeArg) -> WriteMode {
    match m {
        WriteModeArg::Upsert => WriteMode::Upsert,
        WriteModeArg::Replace => WriteMode::Replace,
        WriteModeArg::Insert => WriteMode::Insert,
    }
}

/// Write mode upsert keeps the newer copy, so a mapping written with it needs a version column.
fn needs_version(m: &refund_sink_mysql::Mapping, mode: WriteMode, key: &str) -> Result<(), AppError> {
    if mode == WriteMode::Upsert && !m.has_version() {
        return Err(AppError::setting(
            key,
            "\"upsert\"",
            "upsert keeps the newer copy of a refund, but no table of the mapping has a version column",
            "add a column with source = \"modified\" and type DATETIME(3) (no transforms), or set write_mode = \"replace\"",
        ));
    }
    Ok(())
}

/// Where the mapping files of a config file's accounts are found, and the file's own tables.
struct MappingContext {
    base: std::path::PathBuf,
    inline: refund_sink_mysql::MappingSpec,
    inline_key: String,
}

/// The account's own mapping, when its layout is `mapping` (said, or implied by a `mapping`
/// key or the file's `[[tables]]` when it names no layout), compiled for `prefix`.
fn account_mapping(
    s: &Settings,
    a: &AccountFile,
    label: &str,
    prefix: &str,
    maps: &MappingContext,
) -> Result<Option<&'static refund_sink_mysql::Mapping>, AppError> {
    let said = a.layout.as_deref().map(str::trim);
    let wants = match (s.layout, said) {
        (Some(_), _) => false,
        (None, Some(t)) => t.eq_ignore_ascii_case("mapping"),
        (None, None) => a.mapping.is_some() || !maps.inline.tables.is_empty(),
    };
    if !wants {
        if let (None, Some(t), Some(_)) = (s.layout, said, &a.mapping) {
            return Err(AppError::Conflict {
                problem: format!("{label} has layout = {t:?} and a mapping"),
                fix: "keep one: layout = \"mapping\" (or no layout) writes the mapping's tables".into(),
            });
        }
        return Ok(None);
    }
    let (spec, key) = match &a.mapping {
        Some(files) => {
            let key = format!("{label}: mapping");
            (crate::mapping::load(&files.entries(), &maps.base, &key)?, key)
        }
        None if !maps.inline.tables.is_empty() => (maps.inline.clone(), maps.inline_key.clone()),
        None => {
            return Err(AppError::missing(
                format!("{label}: mapping"),
                "layout = \"mapping\" needs a mapping: set mapping = \"mappings/my_tables.toml\" (or add [[tables]] to the config file)",
            ))
        }
    };
    crate::mapping::compile(&spec, prefix, &key).map(Some)
}

fn account(
    index: usize,
    own: AccountFile,
    defaults: &AccountFile,
    s: &Settings,
    env: EnvLookup<'_>,
    maps: &MappingContext,
) -> Result<Account, AppError> {
    let Some(name) = own.name.clone() else {
        return Err(AppError::missing(
            format!("name of [[account]] number {}", index + 1),
            "give every account a name (letters, digits, `_`, `-`, `.`), e.g. name = \"shop_a\"",
        ));
    };
    let label = format!("account {name:?}");
    check_name(&label, &name)?;
    let route_text = own.route.clone().or_else(|| defaults.route.clone()).ok_or_else(|| {
        AppError::missing(
            format!("{label}: route"),
            "set route = \"qimen\", \"native\" or \"simulator\" in the account (or in [defaults])",
        )
    })?;
    let kind = value::route(&format!("{label}: route"), &route_text)?;
    for (table, set, fits) in [
        ("qimen", own.qimen.is_some(), kind == RouteKind::Qimen),
        (
            "wdt",
            own.wdt.is_some(),
            matches!(kind, RouteKind::Qimen | RouteKind::Native),
        ),
        ("simulator", own.simulator.is_some(), kind == RouteKind::Simulator),
    ] {
        if set && !fits {
            return Err(AppError::Conflict {
                problem: format!("{label} has route = {route_text:?} and an [account.{table}] table it does not use"),
                fix: format!("remove [account.{table}] from it, or change its route"),
            });
        }
    }
    let mut a = own.with_defaults(defaults);
    let table_prefix = a.table_prefix.clone().unwrap_or_default();
    refund_sink_mysql::names::validate_prefix(&table_prefix).map_err(|e| {
        AppError::setting(
            format!("{label}: table_prefix"),
            format!("{table_prefix:?}"),
            e.to_string(),
            format!(
                "use at most {} letters, digits or `_`",
                refund_sink_mysql::names::MAX_PREFIX_LEN
            ),
        )
    })?;
    let mapped = account_mapping(s, &a, &label, &table_prefix, maps)?;
    if mapped.is_some() {
        a.layout = None;
    }
    let mut common = common(s, &a, &label)?;
    if let Some(m) = mapped {
        common.layout = Layout::Mapped(m);
        needs_version(m, common.write_mode, &format!("{label}: write_mode"))?;
    }
    let route = match kind {
        RouteKind::Qimen => {
            let q = a.qimen.clone().unwrap_or_default();
            let url = q.url.clone().unwrap_or_else(|| DEFAULT_QIMEN_URL.to_owned());
            RouteSpec::Qimen {
                url,
                qimen: qimen_credentials(&label, &q, env)?,
                wdt: wdt_credentials(&label, &a.wdt.clone().unwrap_or_default(), env)?,
            }
        }
        RouteKind::Native => {
            let w = a.wdt.clone().unwrap_or_default();
            RouteSpec::Native {
                url: w.url.clone().unwrap_or_else(|| DEFAULT_WDT_URL.to_owned()),
                wdt: wdt_credentials(&label, &w, env)?,
            }
        }
        RouteKind::Simulator => RouteSpec::Simulator(simulator(&label, &a.simulator.clone().unwrap_or_default())?),
    };
    Ok(Account {
        rate_limit: rate_limit(&label, &a, kind)?,
        stream_account: Some(name.clone()),
        name,
        route,
        start: common.start,
        page_size: common.page_size,
        layout: common.layout,
        write_mode: common.write_mode,
        table_prefix,
    })
}

fn check_name(label: &str, name: &str) -> Result<(), AppError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !ok_chars {
        return Err(AppError::setting(
            format!("{label}: name"),
            format!("{name:?}"),
            "not a usable account name",
            format!("use 1 to {MAX_NAME_LEN} letters, digits, `_`, `-` or `.`"),
        ));
    }
    Ok(())
}

fn refuse_plain_secret(label: &str, key: &str, v: &Option<super::file::Refused>) -> Result<(), AppError> {
    match v {
        Some(_) => Err(AppError::setting(
            format!("{label}: {key}"),
            "[hidden]",
            "a secret is never written in the config file",
            format!("put it in an env var named by {key}_env, or in a file named by {key}_file"),
        )),
        None => Ok(()),
    }
}

fn required(label: &str, key: &str, v: &Option<String>, fix: &str) -> Result<String, AppError> {
    v.clone()
        .ok_or_else(|| AppError::missing(format!("{label}: {key}"), fix.to_owned()))
}

fn secret(
    label: &str,
    key: &str,
    env_var: &Option<String>,
    file: &Option<String>,
    env: EnvLookup<'_>,
) -> Result<String, AppError> {
    let full = format!("{label}: {key}");
    SecretRef {
        key: &full,
        env: env_var.as_deref(),
        file: file.as_deref(),
    }
    .read(env)?
    .ok_or_else(|| {
        AppError::missing(
            format!("{full}_env (or {key}_file)"),
            format!("name the env var that holds it ({key}_env = \"SHOP_SECRET\") or a file ({key}_file = \"/run/secrets/shop\")"),
        )
    })
}

fn wdt_credentials(label: &str, w: &WdtFile, env: EnvLookup<'_>) -> Result<WdtCredentials, AppError> {
    refuse_plain_secret(label, "wdt.app_secret", &w.app_secret)?;
    let sid = required(label, "wdt.sid", &w.sid, "set the seller account (sid) WDT issued")?;
    let app_key = required(label, "wdt.app_key", &w.app_key, "set the app key WDT issued")?;
    let secret = secret(label, "wdt.app_secret", &w.app_secret_env, &w.app_secret_file, env)?;
    WdtCredentials::new(sid, app_key, &secret).map_err(|source| AppError::Sdk {
        context: format!("{label} ([account.wdt])"),
        source: Box::new(source),
    })
}

fn qimen_credentials(label: &str, q: &QimenFile, env: EnvLookup<'_>) -> Result<QimenCredentials, AppError> {
    refuse_plain_secret(label, "qimen.app_secret", &q.app_secret)?;
    let app_key = required(label, "qimen.app_key", &q.app_key, "set the app key of your Qimen app")?;
    let secret = secret(label, "qimen.app_secret", &q.app_secret_env, &q.app_secret_file, env)?;
    let sdk = |source| AppError::Sdk {
        context: format!("{label} ([account.qimen])"),
        source: Box::new(source),
    };
    let mut c = QimenCredentials::new(app_key, secret).map_err(sdk)?;
    if let Some(t) = &q.target_app_key {
        c = c.with_target_app_key(t.clone()).map_err(sdk)?;
    }
    if let Some(m) = &q.sign_method {
        c = c.with_sign_method(m.parse().map_err(|_| {
            AppError::setting(
                format!("{label}: qimen.sign_method"),
                format!("{m:?}"),
                "not a known sign method",
                "use one of \"md5\", \"hmac\", \"hmac-sha256\"",
            )
        })?);
    }
    Ok(c)
}

fn simulator(label: &str, f: &SimulatorFile) -> Result<SimSettings, AppError> {
    let d = SimSettings::default();
    Ok(SimSettings {
        refunds: f.refunds.unwrap_or(d.refunds),
        seed: f.seed.unwrap_or(d.seed),
        until: f
            .until
            .as_deref()
            .map(|t| value::time(&format!("{label}: simulator.until"), t))
            .transpose()?,
        latency: f
            .latency
            .as_deref()
            .map(|t| value::duration(&format!("{label}: simulator.latency"), t))
            .transpose()?
            .unwrap_or(d.latency),
        archive_after: f
            .archive_after
            .as_deref()
            .map(|t| value::duration(&format!("{label}: simulator.archive_after"), t))
            .transpose()?,
    })
}

fn rate_limit(label: &str, a: &AccountFile, kind: RouteKind) -> Result<Option<RateLimitConfig>, AppError> {
    if a.rate_limit.is_none() && a.burst.is_none() && a.max_in_flight.is_none() {
        return Ok(None);
    }
    let base = if kind == RouteKind::Simulator {
        RateLimitConfig::unlimited()
    } else {
        RateLimitConfig::default()
    };
    let per_second = a.rate_limit.unwrap_or(base.per_second);
    if per_second.is_nan() || per_second <= 0.0 {
        return Err(AppError::setting(
            format!("{label}: rate_limit"),
            per_second,
            "a rate must be above zero",
            "write requests per second, e.g. rate_limit = 1.0 (or 0.5 for one every 2 s)",
        ));
    }
    let mut cfg = base.with_rate(per_second, a.burst.unwrap_or(1));
    if let Some(n) = a.max_in_flight {
        cfg = cfg.with_max_in_flight(n as usize);
    }
    Ok(Some(cfg))
}

/// Account names must be unique: each names its checkpoint stream, its lease and, in the data
/// tables, its rows. Accounts may share a `table_prefix`: every data table is keyed by account,
/// so equal refund ids of two companies are two rows.
fn check_names(accounts: &[Account]) -> Result<(), AppError> {
    let mut by_name = BTreeMap::new();
    for a in accounts {
        if by_name.insert(a.name.as_str(), ()).is_some() {
            return Err(AppError::Conflict {
                problem: format!("two accounts are named {:?}", a.name),
                fix: "give every [[account]] a name of its own".into(),
            });
        }
    }
    Ok(())
}

/// The single account described by flags and env vars (no config file).
fn from_flags(s: &Settings, run: Option<&RunArgs>, env: EnvLookup<'_>) -> Result<Plan, AppError> {
    let mysql = mysql(s, &MysqlFile::default(), env)?;
    let schedule = schedule(s, run, &ScheduleFile::default())?;
    let http = http(
        run,
        &HttpFile::default(),
        &schedule,
        run.is_some_and(|r| r.max_lag.is_some()),
    )?;
    let alerts = alerts(run, &AlertsFile::default(), env)?;
    let common = common(s, &AccountFile::default(), "settings")?;
    let kind = s.route.unwrap_or(if env("QIMEN_APP_KEY").is_some() {
        RouteKind::Qimen
    } else if env("WDT_SID").is_some() {
        RouteKind::Native
    } else {
        RouteKind::Simulator
    });
    let required = |name: &str| {
        env(name).ok_or_else(|| AppError::missing(name, "set it, or unset the other credentials to use the simulator"))
    };
    let sdk = |source| AppError::Sdk {
        context: "settings".into(),
        source: Box::new(source),
    };
    let wdt = || -> Result<WdtCredentials, AppError> {
        WdtCredentials::new(
            required("WDT_SID")?,
            required("WDT_APP_KEY")?,
            &required("WDT_APP_SECRET")?,
        )
        .map_err(sdk)
    };
    let (route, stream_account) = match kind {
        RouteKind::Simulator => {
            let d = SimSettings::default();
            let sim = SimSettings {
                refunds: s.sim_refunds.unwrap_or(d.refunds),
                seed: s.sim_seed.unwrap_or(d.seed),
                until: s.sim_until,
                latency: s.sim_latency.unwrap_or(d.latency),
                archive_after: s.sim_archive_after,
            };
            // Each simulated data set keeps a checkpoint of its own.
            let stream = format!("simulator-seed{}-n{}", sim.seed, sim.refunds);
            (RouteSpec::Simulator(sim), Some(stream))
        }
        RouteKind::Qimen => {
            let mut q =
                QimenCredentials::new(required("QIMEN_APP_KEY")?, required("QIMEN_APP_SECRET")?).map_err(sdk)?;
            if let Some(t) = env("QIMEN_TARGET_APP_KEY") {
                q = q.with_target_app_key(t).map_err(sdk)?;
            }
            if let Some(m) = env("QIMEN_SIGN_METHOD") {
                q = q.with_sign_method(m.parse().map_err(sdk)?);
            }
            let url = s.qimen_url.clone().unwrap_or_else(|| DEFAULT_QIMEN_URL.to_owned());
            (
                RouteSpec::Qimen {
                    url,
                    qimen: q,
                    wdt: wdt()?,
                },
                None,
            )
        }
        RouteKind::Native => {
            let url = s.wdt_url.clone().unwrap_or_else(|| DEFAULT_WDT_URL.to_owned());
            (RouteSpec::Native { url, wdt: wdt()? }, None)
        }
    };
    let table_prefix = s.table_prefix.clone().unwrap_or_default();
    let mut common = common;
    if !s.mapping.is_empty() && s.layout.is_none() {
        let spec = crate::mapping::load(&s.mapping, Path::new("."), "--mapping")?;
        let m = crate::mapping::compile(&spec, &table_prefix, "--mapping")?;
        needs_version(m, common.write_mode, "--write-mode")?;
        common.layout = Layout::Mapped(m);
    }
    refund_sink_mysql::names::validate_prefix(&table_prefix).map_err(|e| {
        AppError::setting(
            "--table-prefix",
            format!("{table_prefix:?}"),
            e.to_string(),
            format!(
                "use at most {} letters, digits or `_`",
                refund_sink_mysql::names::MAX_PREFIX_LEN
            ),
        )
    })?;
    Ok(Plan {
        mysql,
        schedule,
        http,
        dry_run: s.dry_run,
        accounts: vec![Account {
            name: "default".into(),
            route,
            rate_limit: None,
            start: common.start,
            page_size: common.page_size,
            layout: common.layout,
            write_mode: common.write_mode,
            table_prefix,
            stream_account,
        }],
        named: false,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
[defaults]
page_size = 50
route = "simulator"

[[account]]
name = "a"
page_size = 20
table_prefix = "a_"

[[account]]
name = "b"
table_prefix = "b_"
"#;

    fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn plan(text: &str, s: &Settings, run: Option<&RunArgs>) -> Result<Plan, String> {
        plan_env(text, s, run, &env_with(&[]))
    }

    fn plan_env(text: &str, s: &Settings, run: Option<&RunArgs>, env: EnvLookup<'_>) -> Result<Plan, String> {
        let path = Path::new("sync.toml");
        let file = ConfigFile::parse(path, text).map_err(|e| e.to_string())?;
        from_file(path, file, s, run, env).map_err(|e| e.to_string())
    }

    #[test]
    fn a_flag_overrides_the_file_and_the_file_overrides_the_defaults() {
        let p = plan(TWO, &Settings::default(), None).unwrap();
        let sizes: Vec<u32> = p.accounts.iter().map(|a| a.page_size).collect();
        assert_eq!(sizes, [20, 50]);
        assert_eq!(p.accounts[0].layout, Layout::Flat, "the built-in default");
        assert_eq!(p.accounts[1].stream_account.as_deref(), Some("b"));
        assert!(p.named);
        let flags = Settings {
            page_size: Some(7),
            ..Settings::default()
        };
        let p = plan(TWO, &flags, None).unwrap();
        assert!(p.accounts.iter().all(|a| a.page_size == 7));

        let text = format!("[schedule]\nevery = \"5m\"\nlag = \"2m\"\n{TWO}");
        let p = plan(&text, &Settings::default(), Some(&RunArgs::default())).unwrap();
        assert_eq!(p.schedule.every, Some(Duration::from_secs(300)));
        assert_eq!(p.schedule.lag, Duration::from_secs(120));
        let once = RunArgs {
            once: true,
            ..RunArgs::default()
        };
        assert_eq!(
            plan(&text, &Settings::default(), Some(&once)).unwrap().schedule.every,
            None
        );
    }

    #[test]
    fn the_http_address_and_max_lag_come_from_the_flags_the_file_or_the_schedule() {
        let run = RunArgs::default();
        let text = format!("[schedule]\nevery = \"5m\"\nlag = \"2m\"\n[http]\naddr = \"127.0.0.1:9000\"\n{TWO}");
        let p = plan(&text, &Settings::default(), Some(&run)).unwrap();
        assert_eq!(p.http.addr, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(
            p.http.max_lag,
            Some(Duration::from_secs(3 * 300 + 120)),
            "3 x every + lag"
        );
        let flags = RunArgs {
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            max_lag: Some(Duration::from_secs(60)),
            ..RunArgs::default()
        };
        let p = plan(&text, &Settings::default(), Some(&flags)).unwrap();
        assert_eq!(p.http.addr, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(p.http.max_lag, Some(Duration::from_secs(60)));
        // The old flag is the same server.
        let old = RunArgs {
            metrics_addr: Some("127.0.0.1:9200".parse().unwrap()),
            ..RunArgs::default()
        };
        let p = plan(TWO, &Settings::default(), Some(&old)).unwrap();
        assert_eq!(p.http.addr, Some("127.0.0.1:9200".parse().unwrap()));
        assert_eq!(p.http.max_lag, None, "no interval, no lag rule");
        let both = RunArgs {
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            ..old.clone()
        };
        let e = plan(TWO, &Settings::default(), Some(&both)).unwrap_err();
        assert!(
            e.starts_with("--metrics-addr = 127.0.0.1:9200: differs from --http-addr"),
            "{e}"
        );
        let e = plan(
            &format!("[http]\naddr = \"localhost:9000\"\n{TWO}"),
            &Settings::default(),
            Some(&run),
        )
        .unwrap_err();
        assert!(
            e.starts_with("http.addr = \"localhost:9000\": invalid socket address"),
            "{e}"
        );
        // The bound is the schedule's (alerts use it too).
        let e = plan(
            &format!("[http]\nmax_lag = \"20m\"\n{TWO}"),
            &Settings::default(),
            Some(&run),
        )
        .unwrap_err();
        assert!(e.contains("unknown field `max_lag`"), "{e}");
        let p = plan(
            &format!("[schedule]\nmax_lag = \"20m\"\n{TWO}"),
            &Settings::default(),
            Some(&run),
        )
        .unwrap();
        assert_eq!(p.http.max_lag, Some(Duration::from_secs(1200)), "given without --every");
        let e = plan(&format!("[http]\nport = 9000\n{TWO}"), &Settings::default(), Some(&run)).unwrap_err();
        assert!(e.contains("unknown field `port`"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let e = plan(
            &format!("[schedule]\nevery = \"five minutes\"\n{TWO}"),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.starts_with("schedule.every = \"five minutes\": not a duration"),
            "{e}"
        );
        let e = plan(
            &TWO.replace("page_size = 20", "page_size = 500"),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("account \"a\": page_size = 500: out of range"), "{e}");
        let e = plan(
            &TWO.replace("name = \"b\"", "name = \"b\"\nroute = \"qimne\""),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.starts_with("account \"b\": route = \"qimne\": not a known value") && e.contains("\"qimen\""),
            "{e}"
        );
        let e = plan(
            &TWO.replace("name = \"b\"", "name = \"shop b\""),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("account \"shop b\": name = \"shop b\""), "{e}");
        let e = plan(&TWO.replace("\"b_\"", "\"b-\""), &Settings::default(), None).unwrap_err();
        assert!(e.starts_with("account \"b\": table_prefix = \"b-\""), "{e}");
        let e = plan("[[account]]\nroute = \"simulator\"\n", &Settings::default(), None).unwrap_err();
        assert!(e.starts_with("name of [[account]] number 1 is not set"), "{e}");
    }

    #[test]
    fn history_settings_come_from_the_file_or_flags_and_bad_ones_are_refused() {
        let p = plan(TWO, &Settings::default(), None).unwrap();
        assert!(p.schedule.history);
        assert_eq!(p.schedule.history_every, Duration::from_secs(86_400));
        assert_eq!(p.schedule.archive_horizon, Duration::from_secs(30 * 86_400));
        let text = format!("[schedule]\nhistory = false\nhistory_every = \"12h\"\narchive_horizon = \"60days\"\n{TWO}");
        let p = plan(&text, &Settings::default(), None).unwrap();
        assert!(!p.schedule.history);
        assert_eq!(p.schedule.history_every, Duration::from_secs(12 * 3_600));
        assert_eq!(p.schedule.archive_horizon, Duration::from_secs(60 * 86_400));
        let flags = Settings {
            no_history: true,
            history_every: Some(Duration::from_secs(3_600)),
            ..Settings::default()
        };
        let p = plan(TWO, &flags, None).unwrap();
        assert!(!p.schedule.history);
        assert_eq!(p.schedule.history_every, Duration::from_secs(3_600));
        let e = plan(
            &format!("[schedule]\nhistory_every = \"40days\"\n{TWO}"),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.starts_with("schedule.history_every = 40days: out of range") && e.contains("at most the archive horizon"),
            "{e}"
        );
        let short = Settings {
            archive_horizon: Some(Duration::from_secs(60)),
            ..Settings::default()
        };
        let e = plan(TWO, &short, None).unwrap_err();
        assert!(e.starts_with("--archive-horizon = 1m: too short"), "{e}");
    }

    #[test]
    fn the_scheduled_verify_comes_from_the_flags_or_the_file_and_needs_an_interval() {
        let run = RunArgs::default();
        assert_eq!(
            plan(TWO, &Settings::default(), Some(&run)).unwrap().schedule.verify,
            None
        );
        let text = format!("[schedule]\nevery = \"5m\"\nverify_every = \"1d\"\n{TWO}");
        let p = plan(&text, &Settings::default(), Some(&run)).unwrap();
        assert_eq!(
            p.schedule.verify,
            Some(VerifySchedule::new(Duration::from_secs(86_400), 7, false))
        );
        let text = format!("[schedule]\nverify_every = \"12h\"\nverify_days = 3\nverify_repair = true\n{TWO}");
        let p = plan(&text, &Settings::default(), Some(&run)).unwrap();
        assert_eq!(
            p.schedule.verify,
            Some(VerifySchedule::new(Duration::from_secs(12 * 3_600), 3, true))
        );
        // The flags override the file.
        let flags = RunArgs {
            verify_every: Some(Duration::from_secs(3_600)),
            verify_days: Some(2),
            ..RunArgs::default()
        };
        let p = plan(&text, &Settings::default(), Some(&flags)).unwrap();
        assert_eq!(
            p.schedule.verify,
            Some(VerifySchedule::new(Duration::from_secs(3_600), 2, true))
        );
        // Only `run` verifies on a schedule.
        assert_eq!(plan(&text, &Settings::default(), None).unwrap().schedule.verify, None);
        let e = plan(
            &format!("[schedule]\nverify_days = 3\n{TWO}"),
            &Settings::default(),
            Some(&run),
        )
        .unwrap_err();
        assert!(
            e.starts_with("schedule.verify_days = 3: there is no scheduled verify") && e.contains("verify_every"),
            "{e}"
        );
        let e = plan(
            &format!("[schedule]\nverify_every = \"1d\"\nverify_days = 0\n{TWO}"),
            &Settings::default(),
            Some(&run),
        )
        .unwrap_err();
        assert!(e.starts_with("schedule.verify_days = 0: out of range"), "{e}");
        let e = plan(
            &format!("[schedule]\nverify_every = \"0s\"\n{TWO}"),
            &Settings::default(),
            Some(&run),
        )
        .unwrap_err();
        assert!(
            e.starts_with("schedule.verify_every = 0s: a verify cannot repeat at once"),
            "{e}"
        );
    }

    const QIMEN: &str = r#"
[[account]]
name = "shop_a"
route = "qimen"
[account.qimen]
app_key = "qk"
app_secret_env = "SHOP_A_QIMEN"
[account.wdt]
sid = "sid_a"
app_key = "wk"
app_secret_env = "SHOP_A_WDT"
"#;

    #[test]
    fn secrets_come_from_the_env_vars_the_file_names_and_a_missing_one_is_named() {
        let env = env_with(&[("SHOP_A_QIMEN", "qsecret"), ("SHOP_A_WDT", "wsecret:salt")]);
        let p = plan_env(QIMEN, &Settings::default(), None, &env).unwrap();
        let RouteSpec::Qimen { url, qimen, wdt } = &p.accounts[0].route else {
            panic!("{:?}", p.accounts[0].route)
        };
        assert_eq!(
            (url.as_str(), qimen.app_key(), wdt.sid()),
            (DEFAULT_QIMEN_URL, "qk", "sid_a")
        );
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("qsecret") && !debug.contains("wsecret"),
            "no secret in Debug: {debug}"
        );

        let e = plan_env(QIMEN, &Settings::default(), None, &env_with(&[("SHOP_A_QIMEN", "q")])).unwrap_err();
        assert!(
            e.starts_with("account \"shop_a\": wdt.app_secret_env = \"SHOP_A_WDT\": the env var SHOP_A_WDT is not set"),
            "{e}"
        );
        let e = plan_env(
            &QIMEN.replace("app_secret_env = \"SHOP_A_WDT\"\n", ""),
            &Settings::default(),
            None,
            &env,
        )
        .unwrap_err();
        assert!(
            e.starts_with("account \"shop_a\": wdt.app_secret_env (or wdt.app_secret_file) is not set"),
            "{e}"
        );
        let plain = QIMEN.replace("app_secret_env = \"SHOP_A_QIMEN\"", "app_secret = \"hunter2\"");
        let e = plan_env(&plain, &Settings::default(), None, &env).unwrap_err();
        assert!(
            e.starts_with("account \"shop_a\": qimen.app_secret = [hidden]: a secret is never written"),
            "{e}"
        );
        assert!(!e.contains("hunter2") && e.contains("qimen.app_secret_env"), "{e}");
    }

    #[test]
    fn the_pool_size_comes_from_the_flag_the_file_or_the_default_and_is_bounded() {
        let p = plan(TWO, &Settings::default(), None).unwrap();
        assert_eq!(p.mysql.pool_size, crate::config::DEFAULT_MYSQL_POOL_SIZE);
        let text = format!("[mysql]\npool_size = 3\n{TWO}");
        assert_eq!(plan(&text, &Settings::default(), None).unwrap().mysql.pool_size, 3);
        let flag = Settings {
            mysql_pool_size: Some(7),
            ..Settings::default()
        };
        assert_eq!(plan(&text, &flag, None).unwrap().mysql.pool_size, 7);
        let e = plan(&format!("[mysql]\npool_size = 0\n{TWO}"), &Settings::default(), None).unwrap_err();
        assert!(e.starts_with("mysql.pool_size = 0: out of range (1 to 1000)"), "{e}");
        let flag = Settings {
            mysql_pool_size: Some(5000),
            ..Settings::default()
        };
        let e = plan(TWO, &flag, None).unwrap_err();
        assert!(e.starts_with("--mysql-pool-size = 5000: out of range"), "{e}");
    }

    #[test]
    fn the_mysql_url_is_never_a_plain_password_and_a_flag_or_its_env_var_overrides_it() {
        let e = plan(
            &format!("[mysql]\nurl = \"mysql://app:pw@db/erp\"\n{TWO}"),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.starts_with("mysql.url = mysql://***@db/erp: it holds a password"),
            "{e}"
        );
        assert!(!e.contains("pw"), "{e}");
        let env = env_with(&[("DB_URL", "mysql://app:pw@db/erp")]);
        let text = format!("[mysql]\nurl_env = \"DB_URL\"\ntimeout = \"30s\"\n{TWO}");
        let p = plan_env(&text, &Settings::default(), None, &env).unwrap();
        assert_eq!(p.mysql.url, "mysql://app:pw@db/erp");
        assert_eq!(p.mysql.timeout, Duration::from_secs(30));
        assert!(!format!("{:?}", p.mysql).contains("pw"));
        let flag = Settings {
            mysql_url: Some("mysql://root@other/db".into()),
            no_create_tables: true,
            ..Settings::default()
        };
        let p = plan_env(&text, &flag, None, &env).unwrap();
        assert_eq!(p.mysql.url, "mysql://root@other/db");
        assert!(!p.mysql.create_tables);
    }

    #[test]
    fn accounts_may_share_tables_but_not_a_name() {
        let p = plan(&TWO.replace("\"b_\"", "\"a_\""), &Settings::default(), None).unwrap();
        assert_eq!(p.accounts.len(), 2);
        assert!(p.accounts.iter().all(|a| a.table_prefix == "a_"));
        let p = plan(
            &TWO.replace("table_prefix = \"a_\"\n", "")
                .replace("table_prefix = \"b_\"\n", ""),
            &Settings::default(),
            None,
        )
        .unwrap();
        assert!(p.accounts.iter().all(|a| a.table_prefix.is_empty()));
        let e = plan(&TWO.replace("name = \"b\"", "name = \"a\""), &Settings::default(), None).unwrap_err();
        assert!(e.starts_with("two accounts are named \"a\""), "{e}");
    }

    #[test]
    fn flags_of_the_single_account_are_refused_with_a_config_file() {
        let s = Settings {
            route: Some(RouteKind::Native),
            ..Settings::default()
        };
        let e = plan(TWO, &s, None).unwrap_err();
        assert!(
            e.starts_with("--route (or WDT_ROUTE) describes the single account"),
            "{e}"
        );
        let e = plan(
            &TWO.replace(
                "table_prefix = \"a_\"",
                "table_prefix = \"a_\"\n[account.qimen]\napp_key = \"k\"",
            ),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(e.contains("[account.qimen] table it does not use"), "{e}");
    }

    #[test]
    fn the_readme_config_resolves_up_to_its_secret_file() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("a TOML example in the README") + 8;
        let text = &readme[start..start + readme[start..].find("```").unwrap()];
        let env = env_with(&[
            ("MYSQL_URL", "mysql://u:p@db/erp"),
            ("QIMEN_APP_SECRET", "q"),
            ("SHOP_A_SECRET", "s:salt"),
        ]);
        let e = plan_env(text, &Settings::default(), None, &env).unwrap_err();
        assert!(
            e.starts_with("account \"shop_b\": wdt.app_secret_file = \"/run/secrets/shop_b\": cannot read"),
            "{e}"
        );
        let path = std::env::temp_dir().join(format!("wdt-readme-secret-{}", std::process::id()));
        std::fs::write(&path, "b:salt\n").unwrap();
        let text = text.replace("/run/secrets/shop_b", path.to_str().unwrap());
        let p = plan_env(&text, &Settings::default(), None, &env).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(p.schedule.every, Some(Duration::from_secs(300)));
        assert!(matches!(p.accounts[0].route, RouteSpec::Qimen { .. }));
        assert!(matches!(p.accounts[1].route, RouteSpec::Native { .. }));
        assert_eq!(p.accounts[1].page_size, 200);
        assert_eq!(p.accounts[0].rate_limit.as_ref().map(|r| r.per_second), Some(1.0));
    }

    #[test]
    fn the_alert_robot_comes_from_the_env_vars_alerts_names_and_is_never_shown() {
        let run = RunArgs::default();
        let env = env_with(&[
            ("DT_HOOK", "https://oapi.dingtalk.com/robot/send?access_token=tok987"),
            ("DT_SECRET", "SECabc123"),
            ("WX_HOOK", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k987"),
            ("LOCAL_HOOK", "http://127.0.0.1:9/robot"),
            ("NOT_A_URL", "tok987"),
        ]);
        let text = format!("[alerts]\nwebhook_env = \"DT_HOOK\"\nsecret_env = \"DT_SECRET\"\nrepeat = \"30m\"\n{TWO}");
        let p = plan_env(&text, &Settings::default(), Some(&run), &env).unwrap();
        let robot = p.alerts.robot.as_ref().expect("a robot");
        assert_eq!(robot.kind, RobotKind::DingTalk, "from the host");
        assert_eq!(robot.secret.as_deref(), Some("SECabc123"));
        assert_eq!(p.alerts.repeat, Duration::from_secs(1800));
        let debug = format!("{p:?}");
        assert!(!debug.contains("tok987") && !debug.contains("SECabc"), "{debug}");
        // Only `run` alerts.
        assert!(plan_env(&text, &Settings::default(), None, &env)
            .unwrap()
            .alerts
            .robot
            .is_none());

        let wecom = format!("[alerts]\nwebhook_env = \"WX_HOOK\"\n{TWO}");
        let p = plan_env(&wecom, &Settings::default(), Some(&run), &env).unwrap();
        assert_eq!(p.alerts.robot.unwrap().kind, RobotKind::WeCom);
        assert_eq!(p.alerts.repeat, Duration::from_secs(3600), "the default");

        let refused = [
            (
                format!("[alerts]\nwebhook = \"https://oapi.dingtalk.com/robot/send?access_token=tok987\"\n{TWO}"),
                "alerts.webhook = [hidden]: the webhook carries the robot's token",
            ),
            (
                format!("[alerts]\nwebhook_env = \"WX_HOOK\"\nsecret_env = \"DT_SECRET\"\n{TWO}"),
                "a signing secret is set",
            ),
            (
                format!("[alerts]\nwebhook_env = \"LOCAL_HOOK\"\n{TWO}"),
                "the alert robot's kind (alerts.robot, or --alert-robot) is not set",
            ),
            (
                format!("[alerts]\nwebhook_env = \"NOT_A_URL\"\nrobot = \"dingtalk\"\n{TWO}"),
                "alerts.webhook = [hidden]: not an http(s) URL",
            ),
            (
                format!("[alerts]\nwebhook_env = \"LOCAL_HOOK\"\nrobot = \"slack\"\n{TWO}"),
                "alerts.robot = \"slack\": not a known value",
            ),
            (
                format!("[alerts]\nrobot = \"wecom\"\n{TWO}"),
                "the alert robot's webhook",
            ),
            (format!("[alerts]\nrepeat = \"0s\"\n{TWO}"), "alerts.repeat = 0s"),
        ];
        for (text, want) in refused {
            let e = plan_env(&text, &Settings::default(), Some(&run), &env).unwrap_err();
            assert!(e.starts_with(want), "{want:?}: {e}");
            assert!(!e.contains("tok987") && !e.contains("SECabc"), "{e}");
        }

        // The flags (and their env vars) override the file.
        let flags = RunArgs {
            alert_webhook: Some("http://127.0.0.1:9/robot?access_token=t".into()),
            alert_robot: Some(RobotArg::Wecom),
            alert_repeat: Some(Duration::from_secs(600)),
            ..RunArgs::default()
        };
        let p = plan_env(&wecom, &Settings::default(), Some(&flags), &env).unwrap();
        let robot = p.alerts.robot.unwrap();
        assert_eq!(
            (robot.kind, robot.webhook.as_str()),
            (RobotKind::WeCom, "http://127.0.0.1:9/robot?access_token=t")
        );
        assert_eq!(p.alerts.repeat, Duration::from_secs(600));
    }

    #[test]
    fn max_lag_defaults_to_three_intervals_and_the_lag() {
        let every = RunArgs {
            every: Some(Duration::from_secs(300)),
            ..RunArgs::default()
        };
        let p = plan(TWO, &Settings::default(), Some(&every)).unwrap();
        assert_eq!(p.schedule.max_lag, Duration::from_secs(3 * 300 + 60));
        let p = plan(TWO, &Settings::default(), None).unwrap();
        assert_eq!(
            p.schedule.max_lag,
            Duration::from_secs(3 * 3600 + 60),
            "a run without --every"
        );
        let text = format!("[schedule]\nmax_lag = \"45m\"\n{TWO}");
        assert_eq!(
            plan(&text, &Settings::default(), Some(&every))
                .unwrap()
                .schedule
                .max_lag,
            Duration::from_secs(45 * 60)
        );
        let flag = RunArgs {
            max_lag: Some(Duration::from_secs(60)),
            ..every.clone()
        };
        assert_eq!(
            plan(&text, &Settings::default(), Some(&flag)).unwrap().schedule.max_lag,
            Duration::from_secs(60)
        );
        let e = plan(&text.replace("45m", "0s"), &Settings::default(), None).unwrap_err();
        assert!(e.starts_with("schedule.max_lag = 0s"), "{e}");
    }

    #[test]
    fn the_files_own_tables_are_the_mapping_of_accounts_without_a_layout() {
        let text = format!(
            "{TWO}\n[[tables]]\nname = \"{{prefix}}bi\"\ngrain = \"refund\"\ncolumns = [\n  \
             {{ name = \"id\", type = \"BIGINT\", source = \"refund_id\" }},\n  \
             {{ name = \"modified\", type = \"DATETIME(3)\", source = \"modified\" }},\n]\n"
        );
        let p = plan(&text, &Settings::default(), None).unwrap();
        for a in &p.accounts {
            let Layout::Mapped(m) = a.layout else {
                panic!("{} writes the file's tables", a.name)
            };
            assert_eq!(m.tables()[0].name(), format!("{}bi", a.table_prefix));
        }
        // A layout on the command line wins over the file's tables.
        let s = Settings {
            layout: Some(LayoutArg::Normalized),
            ..Settings::default()
        };
        let p = plan(&text, &s, None).unwrap();
        assert!(p.accounts.iter().all(|a| a.layout == Layout::Normalized));
        // A broken table is refused naming where it is written.
        let e = plan(
            &text.replace("refund_id\" }", "refund_idd\" }"),
            &Settings::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.starts_with("[[tables]] of sync.toml: table \"a_bi\", column \"id\""),
            "{e}"
        );
        assert!(e.contains("did you mean \"refund_id\""), "{e}");
    }

    #[test]
    fn the_shipped_example_config_resolves() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sync.toml"));
        let file = ConfigFile::load(path).unwrap();
        let p = from_file(path, file, &Settings::default(), None, &env_with(&[])).unwrap();
        let names: Vec<&str> = p.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["shop_a", "shop_b"]);
        assert_eq!(p.accounts[0].layout, Layout::Flat);
        // shop_b's mapping: the flat preset and the BI table, its file relative to the config.
        let Layout::Mapped(m) = p.accounts[1].layout else {
            panic!("shop_b writes its mapping")
        };
        let tables: Vec<&str> = m.tables().iter().map(|t| t.name()).collect();
        assert_eq!(tables, ["shop_b_aftersales_refund_refund_search", "bi_aftersales"]);
        assert!(p.accounts.iter().all(|a| matches!(a.route, RouteSpec::Simulator(_))));
        assert_eq!(p.mysql.url, crate::config::DEFAULT_MYSQL_URL);
    }
}
