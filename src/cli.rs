//! The command line: settings shared by every subcommand, and the subcommands.
//!
//! A setting given as a flag (or its env var) overrides the config file, which overrides the
//! defaults; so the flags here have no clap defaults (`None` = not given), and the defaults
//! live in [`config`](crate::config). Subcommands are variants of [`Command`]; without one,
//! the program runs ([`Command::Run`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDateTime;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Which gateway an account is read through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RouteKind {
    /// Alibaba's Qimen gateway.
    Qimen,
    /// WDT's native open API.
    Native,
    /// The built-in simulator of the gateway (a generated data set).
    Simulator,
}

/// Which tables are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// `aftersales_refund_refund_search`, one row per detail line.
    Flat,
    /// `wdt_refund`, `wdt_refund_detail`, `wdt_refund_amount_detail`.
    Normalized,
    /// Both.
    Both,
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WriteModeArg {
    /// A newer `modified` wins.
    Upsert,
    /// Last write wins.
    Replace,
    /// Fails on any key already stored.
    Insert,
}

/// Sync WangDianTong Ultimate refunds (退换单) into MySQL.
// No `Debug`: the values hold the MySQL password and the webhook token.
#[derive(Parser)]
#[command(version)]
pub struct Cli {
    /// Settings of every subcommand.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do (default `run`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `run`'s own flags, when no subcommand is named.
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// Parses the process's arguments, or prints the error or the help and exits (status 2
    /// for a bad command line).
    pub fn parse_args() -> Self {
        Self::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the first is the program). `run`'s flags given before another
    /// subcommand are refused.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut cmd = Self::command();
        let matches = cmd.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            for id in [
                "once",
                "every",
                "http_addr",
                "max_lag",
                "metrics_addr",
                "alert_webhook",
                "alert_robot",
                "alert_repeat",
                "verify_every",
                "verify_days",
                "verify_repair",
            ] {
                if matches.value_source(id) == Some(ValueSource::CommandLine) {
                    return Err(cmd.error(
                        ErrorKind::ArgumentConflict,
                        format!(
                            "--{} is a flag of `run`: write it after `run`, and not with `{name}`",
                            id.replace('_', "-")
                        ),
                    ));
                }
            }
        }
        Self::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
    }

    /// The subcommand to carry out: `run` when none is named.
    pub fn into_parts(self) -> (Settings, Command) {
        let command = self.command.unwrap_or(Command::Run(self.run));
        (self.settings, command)
    }
}

/// The subcommands.
#[derive(Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Sync every account (the default): once, or every interval until Ctrl-C or SIGTERM.
    Run(RunArgs),
    /// Check the configuration, each account's gateway (one small request) and MySQL, print one
    /// line per check, and exit 0 when all pass (for deploy pipelines).
    Check(CheckArgs),
    /// Re-read a past range (Beijing time) of every account, or of one, under a checkpoint of its
    /// own: resumable, newer-wins like `run`, and it never moves the live checkpoint.
    Backfill(BackfillArgs),
    /// Print each account's live checkpoint and lag, the dead letters waiting and its last runs,
    /// read from MySQL only (no gateway request).
    Status(StatusArgs),
    /// Prove the tables complete against WDT over a range (default: the last 30 days up to the
    /// live checkpoint): one small request per window and method, bisecting the windows that
    /// differ and naming their missing, stale and extra refunds; `--repair` re-syncs them.
    Verify(VerifyArgs),
    /// Your own tables: `mapping check` validates every account's mapping (before any request),
    /// prints its tables' DDL and three sample refunds of the simulator mapped to rows.
    #[command(subcommand)]
    Mapping(MappingCommand),
}

/// `mapping`'s subcommands.
#[derive(Subcommand, Clone)]
pub enum MappingCommand {
    /// Check every account's tables: the DDL, and sample rows mapped from the simulator.
    Check(MappingCheckArgs),
}

/// `mapping check`'s flags.
#[derive(Args, Clone)]
pub struct MappingCheckArgs {
    /// How many sample refunds of the simulator to map.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub samples: usize,
}

/// `verify`'s flags.
#[derive(Args, Clone)]
pub struct VerifyArgs {
    /// Start of the range (Beijing time, yyyy-MM-dd HH:mm:ss) (default: 30 days before --to).
    #[arg(long, value_parser = parse_time, requires = "to")]
    pub from: Option<NaiveDateTime>,
    /// End of the range (Beijing time, yyyy-MM-dd HH:mm:ss) (default: the live checkpoint); never
    /// later than the gateway's time minus the settle lag.
    #[arg(long, value_parser = parse_time, requires = "from")]
    pub to: Option<NaiveDateTime>,
    /// Only this account of the config file (default: every account).
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// How narrow a window that differs is bisected before its refunds are named (default: 1h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub verify_min_window: Option<Duration>,
    /// Re-sync the ranges that differ (as a backfill under their own checkpoint; the live
    /// checkpoint does not move) and count them again. Extra rows are reported, not deleted.
    #[arg(long)]
    pub repair: bool,
}

/// `status`'s flags.
#[derive(Args, Clone)]
pub struct StatusArgs {
    /// How many of each account's last runs to show.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: u32,
}

/// `backfill`'s flags.
#[derive(Args, Clone)]
pub struct BackfillArgs {
    /// Start of the range (Beijing time, yyyy-MM-dd HH:mm:ss).
    #[arg(long, value_parser = parse_time)]
    pub from: NaiveDateTime,
    /// End of the range (Beijing time, yyyy-MM-dd HH:mm:ss), later than --from; a time the
    /// gateway's clock has not reached yet ends at its time minus the settle lag.
    #[arg(long, value_parser = parse_time)]
    pub to: NaiveDateTime,
    /// Only this account of the config file (default: every account).
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

/// `run`'s flags.
#[derive(Args, Clone, Default)]
pub struct RunArgs {
    /// Run once and exit (the default unless the config file's `[schedule] every` is set).
    #[arg(long, conflicts_with = "every")]
    pub once: bool,
    /// Run every interval (e.g. 5m) until Ctrl-C or SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub every: Option<Duration>,
    /// Serve the status page, /health, /ready, /api/streams and /metrics (Prometheus) on this
    /// address, e.g. 127.0.0.1:9000 (port 0: any free port, printed at start-up)
    /// (default: the config file's `[http] addr`, else off)
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Deprecated: the old name of --http-addr (the same server, /metrics included).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Post alerts to this DingTalk or WeCom robot webhook (its URL carries a token and is
    /// never printed; prefer the env var). A DingTalk robot's signing secret (加签) is read
    /// from the env var ALERT_SECRET.
    #[arg(long, env = "ALERT_WEBHOOK", hide_env_values = true)]
    pub alert_webhook: Option<String>,
    /// The robot's kind (default: from the webhook's host, oapi.dingtalk.com or
    /// qyapi.weixin.qq.com)
    #[arg(long, env = "ALERT_ROBOT", value_enum)]
    pub alert_robot: Option<RobotArg>,
    /// The shortest time between two alerts about one condition of a stream: a stream that stays
    /// broken is reminded at most this often (default: 1h)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub alert_repeat: Option<Duration>,
    /// The lag above which a stream counts as stalled: alerted even without an error, and
    /// `/ready` answers 503 (default: 3 x --every + --lag; without --every, 3h + --lag for
    /// alerts and no lag rule for /ready)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_lag: Option<Duration>,
    /// Verify each account against WDT this often (e.g. 1d), after a live run: the last
    /// --verify-days days up to its live checkpoint, as `verify` does, remembered across restarts
    /// from its last verify in wdt_sync_verify; a difference is alerted
    /// (default: the config file's `[schedule] verify_every`, else never)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub verify_every: Option<Duration>,
    /// How many days before the live checkpoint the scheduled verify covers (default: 7)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub verify_days: Option<u32>,
    /// Re-sync what the scheduled verify finds differing (as `verify --repair` does; extra rows
    /// are reported, not deleted)
    #[arg(long)]
    pub verify_repair: bool,
}

/// An alert robot's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RobotArg {
    /// A DingTalk group robot.
    Dingtalk,
    /// A WeCom (企业微信) group robot.
    Wecom,
}

/// `check`'s flags.
#[derive(Args, Clone, Default)]
pub struct CheckArgs {}

/// Settings shared by every subcommand. With `--config`, these override the file for every
/// account; the ones that describe the single account of a run without a file (`--route`, the
/// URLs, `--table-prefix`, `--sim-*`) are refused with `--config`.
#[derive(Args, Clone, Default)]
pub struct Settings {
    /// A config file (TOML) describing MySQL, the schedule and any number of accounts
    /// (see examples/sync.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Which gateway: qimen, native or simulator (default: qimen when QIMEN_APP_KEY is set, else
    /// native when WDT_SID is set, else simulator)
    #[arg(long, global = true, env = "WDT_ROUTE", value_enum)]
    pub route: Option<RouteKind>,
    /// Qimen gateway URL (default: `http://3ldsmu02o9.api.taobao.com/router/qm`)
    #[arg(long, global = true, env = "QIMEN_URL")]
    pub qimen_url: Option<String>,
    /// Native open API URL (default: `https://wdt.wangdian.cn/openapi`)
    #[arg(long, global = true, env = "WDT_URL")]
    pub wdt_url: Option<String>,
    /// MySQL URL (percent-encode / ? # @ : in the password); TLS with
    /// `?ssl-mode=VERIFY_CA&ssl-ca=/path/ca.pem` (see the README)
    /// (default: mysql://root@127.0.0.1:3306/test)
    #[arg(long, global = true, env = "MYSQL_URL", hide_env_values = true)]
    pub mysql_url: Option<String>,
    /// Longest wait for MySQL per operation (keep it above innodb_lock_wait_timeout)
    /// (default: 120s)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub mysql_timeout: Option<Duration>,
    /// How long a lost MySQL connection (restart, failover) is retried before the run fails
    /// (default: 2m)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub mysql_retry_budget: Option<Duration>,
    /// The most MySQL connections the process holds at once; every account shares them (keep it
    /// below the server's max_connections) (default: 10)
    #[arg(long, global = true, value_name = "N")]
    pub mysql_pool_size: Option<usize>,
    /// Do not create missing tables or apply migrations: a missing table is an error naming it
    /// (for a database user without CREATE/ALTER rights).
    #[arg(long, global = true)]
    pub no_create_tables: bool,
    /// Where the first run starts (Beijing time, yyyy-MM-dd HH:mm:ss) (default: 2024-01-01 00:00:00)
    #[arg(long = "start", global = true, env = "SYNC_START", value_parser = parse_time)]
    pub start: Option<NaiveDateTime>,
    /// Settle lag: the newest part (by the gateway's clock) left for the next run (default: 1m)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub lag: Option<Duration>,
    /// Re-read this much before the checkpoint (default: 1m)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub overlap: Option<Duration>,
    /// Longest window of one query (at most 30 days) (default: 29days)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub max_window: Option<Duration>,
    /// Do not read archived refunds (Refund.searchHistory): neither on a first sync or a
    /// backfill nor periodically (archived refunds are then missing from the tables)
    #[arg(long, global = true)]
    pub no_history: bool,
    /// How often the recent archive is read through Refund.searchHistory (default: 1day)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub history_every: Option<Duration>,
    /// How far back that read reaches; refunds archived later than this after their last
    /// change are found only by a backfill (default: 30days)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub archive_horizon: Option<Duration>,
    /// Page size (1..=200) (default: 100)
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub page_size: Option<u32>,
    /// Table layout (default: flat, or your own tables with --mapping)
    #[arg(long, global = true, value_enum)]
    pub layout: Option<LayoutArg>,
    /// Your own tables: a mapping file (`[[tables]]`, see examples/mappings/), or preset:flat /
    /// preset:normalized; repeat it to write the tables of several (without --config; in a
    /// config file, the accounts' `mapping` key)
    #[arg(long, global = true, value_name = "FILE")]
    pub mapping: Vec<String>,
    /// Write mode: upsert (a newer `modified` wins), replace (last write wins), or insert (fails
    /// on any key already stored: only for a one-off load into empty tables, since every run
    /// re-reads an overlap) (default: upsert)
    #[arg(long, global = true, value_enum)]
    pub write_mode: Option<WriteModeArg>,
    /// A prefix for every table name (letters, digits, `_`) (default: none)
    #[arg(long, global = true)]
    pub table_prefix: Option<String>,
    /// Fetch, map and write in a rolled-back transaction; report what would change.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// How long a stream's lease lasts unless renewed (renewed every third of it while the run
    /// lasts; a crashed runner's stream is taken over this long after its last renewal)
    /// (default: 2m)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub lease_ttl: Option<Duration>,
    /// When another runner holds an account's stream, wait for it (until it ends, or its lease
    /// expires) instead of skipping the stream.
    #[arg(long, global = true)]
    pub wait_for_lease: bool,
    /// Keep this many days of run history (`wdt_sync_run`); older runs are deleted at start-up
    /// and once a day with --every (default: 90)
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_days: Option<u32>,
    /// Refunds the simulator generates (simulator route only) (default: 3000)
    #[arg(long, global = true)]
    pub sim_refunds: Option<usize>,
    /// Seed of the simulator's data set (simulator route only) (default: 42)
    #[arg(long, global = true)]
    pub sim_seed: Option<u64>,
    /// Latest `modified` of the simulator's data (default: one hour ago, on the hour, so reruns
    /// within the hour see the same data) (simulator route only).
    #[arg(long, global = true, value_parser = parse_time)]
    pub sim_until: Option<NaiveDateTime>,
    /// Latency of every simulator answer, e.g. 20ms (simulator route only) (default: 0s)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub sim_latency: Option<Duration>,
    /// Archive the simulator's refunds in a final status once their last change is this old, so
    /// that only Refund.searchHistory returns them (simulator route only) (default: none)
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub sim_archive_after: Option<Duration>,
}

/// Parses Beijing wall time, `yyyy-MM-dd HH:mm:ss`.
pub fn parse_time(s: &str) -> Result<NaiveDateTime, String> {
    wdt_qimen::time::parse_wdt(s).map_err(|_| format!("{s:?} is not Beijing time as yyyy-MM-dd HH:mm:ss"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(Settings, Command), clap::Error> {
        Cli::try_parse_args(std::iter::once("wdt-refund-sync").chain(args.iter().copied())).map(Cli::into_parts)
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_is_the_default_and_settings_go_before_or_after_the_subcommand() {
        let (s, c) = parse(&["--page-size", "7", "--every", "5m"]).unwrap();
        assert_eq!(s.page_size, Some(7));
        assert!(matches!(c, Command::Run(r) if r.every == Some(Duration::from_secs(300))));
        let (s, c) = parse(&["run", "--once", "--page-size", "9"]).unwrap();
        assert_eq!(s.page_size, Some(9));
        assert!(matches!(c, Command::Run(r) if r.once));
        let (s, c) = parse(&["--config", "x.toml", "check"]).unwrap();
        assert_eq!(s.config, Some(PathBuf::from("x.toml")));
        assert!(matches!(c, Command::Check(_)));
        assert!(parse(&["check", "--every", "5m"]).is_err(), "--every is run's");
        let e = parse(&["--once", "check"])
            .err()
            .expect("run's flags before another subcommand");
        assert!(e.to_string().contains("--once is a flag of `run`"), "{e}");
        assert!(parse(&["--once", "--every", "5m"]).is_err());
    }

    #[test]
    fn backfill_takes_a_range_and_an_account() {
        let (_, c) = parse(&[
            "backfill",
            "--from",
            "2024-03-01 00:00:00",
            "--to",
            "2024-04-01 00:00:00",
            "--account",
            "shop_a",
        ])
        .unwrap();
        let Command::Backfill(b) = c else {
            panic!("not backfill")
        };
        assert_eq!(b.from, parse_time("2024-03-01 00:00:00").unwrap());
        assert_eq!(b.to, parse_time("2024-04-01 00:00:00").unwrap());
        assert_eq!(b.account.as_deref(), Some("shop_a"));
        let e = parse(&["backfill", "--from", "2024-03-01", "--to", "2024-04-01 00:00:00"])
            .err()
            .expect("a date without a time");
        assert!(e.to_string().contains("--from"), "{e}");
        assert!(
            parse(&["backfill", "--from", "2024-03-01 00:00:00"]).is_err(),
            "--to is required"
        );
        assert!(parse(&["backfill", "--every", "5m"]).is_err());
    }

    #[test]
    fn verify_takes_an_optional_range_both_ends_together() {
        let (_, c) = parse(&["verify", "--account", "a", "--repair", "--verify-min-window", "10m"]).unwrap();
        let Command::Verify(v) = c else { panic!("not verify") };
        assert!(v.from.is_none() && v.to.is_none() && v.repair);
        assert_eq!(v.verify_min_window, Some(Duration::from_secs(600)));
        assert_eq!(v.account.as_deref(), Some("a"));
        let e = parse(&["verify", "--from", "2024-03-01 00:00:00"])
            .err()
            .expect("--from without --to");
        assert!(e.to_string().contains("--to"), "{e}");
        let (_, c) = parse(&["verify", "--from", "2024-03-01 00:00:00", "--to", "2024-03-02 00:00:00"]).unwrap();
        assert!(matches!(c, Command::Verify(v) if v.to == parse_time("2024-03-02 00:00:00").ok()));
    }

    #[test]
    fn the_scheduled_verify_flags_are_run_s() {
        let (_, c) = parse(&[
            "run",
            "--every",
            "5m",
            "--verify-every",
            "1d",
            "--verify-days",
            "3",
            "--verify-repair",
        ])
        .unwrap();
        let Command::Run(r) = c else { panic!("not run") };
        assert_eq!(r.verify_every, Some(Duration::from_secs(86_400)));
        assert_eq!((r.verify_days, r.verify_repair), (Some(3), true));
        let e = parse(&["--verify-every", "1d", "verify"])
            .err()
            .expect("run's flag before verify");
        assert!(e.to_string().contains("--verify-every is a flag of `run`"), "{e}");
        assert!(parse(&["run", "--verify-days", "0"]).is_err());
    }
}
