//! The `check` subcommand: the configuration is valid (it was resolved), each account's gateway
//! answers one small request, and MySQL can be used; one line per check.
//!
//! Nothing is written: the request is a refund search over one second with page size 1, and
//! MySQL is opened without creating tables (a missing table passes when the first run would
//! create it).

use chrono::TimeDelta;
use refund_sink_mysql::SinkError;
use wdt_qimen::RefundSearch;

use crate::config::{Account, Plan};
use crate::error::{explain_api, AppError};
use crate::route;
use crate::sink;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Whether it passed.
    pub ok: bool,
    /// What was checked and what happened.
    pub text: String,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", if self.ok { "ok  " } else { "FAIL" }, self.text)
    }
}

/// Checks every account of `plan` (at the same time) and prints one line per check; fails
/// when any check failed.
pub async fn check(plan: &Plan) -> Result<(), AppError> {
    let source = if plan.named {
        "the config file"
    } else {
        "flags and env vars"
    };
    let mut lines = vec![CheckLine {
        ok: true,
        text: match plan.accounts.len() {
            1 => format!("config: 1 account from {source}"),
            n => format!("config: {n} accounts from {source}"),
        },
    }];
    println!("{}", lines[0]);
    let pool = plan.mysql.shared_pool();
    let checks = plan.accounts.iter().map(|a| check_account(plan, &pool, a));
    let checked = futures::future::join_all(checks).await;
    let _ = pool.disconnect().await;
    for account_lines in checked {
        for l in &account_lines {
            println!("{l}");
        }
        lines.extend(account_lines);
    }
    let failed = lines.iter().filter(|l| !l.ok).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(AppError::ChecksFailed {
            failed,
            total: lines.len(),
        })
    }
}

async fn check_account(plan: &Plan, pool: &refund_sink_mysql::SharedPool, account: &Account) -> Vec<CheckLine> {
    let prefix = if plan.named {
        format!("{}: ", account.name)
    } else {
        String::new()
    };
    let (gateway, mysql) = tokio::join!(gateway(account), mysql(plan, pool, account));
    vec![
        CheckLine {
            ok: gateway.is_ok(),
            text: format!("{prefix}gateway: {}", gateway.unwrap_or_else(|e| e)),
        },
        CheckLine {
            ok: mysql.is_ok(),
            text: format!("{prefix}MySQL: {}", mysql.unwrap_or_else(|e| e)),
        },
    ]
}

async fn gateway(account: &Account) -> Result<String, String> {
    let connected = route::connect(account).await.map_err(|e| e.to_string())?;
    let now = wdt_qimen::time::to_beijing(connected.client.host_time());
    let search = RefundSearch::modified(now - TimeDelta::seconds(1), now)
        .and_then(|s| s.page_size(1))
        .map_err(|e| e.to_string())?;
    match connected.client.refund_page(&search, 1).await {
        Ok(_) => Ok(format!("{} answered a refund search", connected.label)),
        Err(e) => Err(format!("{}: {}", connected.label, explain_api(&e))),
    }
}

async fn mysql(plan: &Plan, pool: &refund_sink_mysql::SharedPool, account: &Account) -> Result<String, String> {
    let url = plan.mysql.redacted_url();
    match sink::open_with(&plan.mysql, pool, account, true, false).await {
        Ok(s) => {
            let _ = s.disconnect().await;
            Ok(format!("{url}: reachable, tables ready"))
        }
        Err(AppError::MysqlStart { source, .. }) if plan.mysql.create_tables && is_missing_table(&source) => Ok(
            format!("{url}: reachable; a table is missing, the first run creates it ({source})"),
        ),
        Err(e) => Err(e.to_string()),
    }
}

fn is_missing_table(e: &SinkError) -> bool {
    matches!(e, SinkError::MissingTable { .. })
}
