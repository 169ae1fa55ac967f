//! Values of the config file read from their text, each error naming the key, the value and
//! the fix.

use std::time::Duration;

use chrono::NaiveDateTime;
use refund_sink_mysql::{Layout, WriteMode};

use crate::cli::RouteKind;
use crate::error::AppError;

/// A duration written `0s`, `90s`, `5m`, `1h`, `29days`.
pub fn duration(key: &str, text: &str) -> Result<Duration, AppError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        AppError::setting(
            key,
            format!("{text:?}"),
            format!("not a duration ({e})"),
            "write it as a number and a unit, e.g. 0s, 90s, 5m, 1h, 29days",
        )
    })
}

/// An alert robot's kind: `dingtalk` or `wecom`.
pub fn robot(key: &str, text: &str) -> Result<crate::alert::RobotKind, AppError> {
    use crate::alert::RobotKind;
    one_of(
        key,
        text,
        &[("dingtalk", RobotKind::DingTalk), ("wecom", RobotKind::WeCom)],
    )
}

/// Beijing wall time, `yyyy-MM-dd HH:mm:ss`.
pub fn time(key: &str, text: &str) -> Result<NaiveDateTime, AppError> {
    wdt_qimen::time::parse_wdt(text).map_err(|_| {
        AppError::setting(
            key,
            format!("{text:?}"),
            "not a time",
            "write Beijing time as yyyy-MM-dd HH:mm:ss, e.g. \"2024-01-01 00:00:00\"",
        )
    })
}

/// One of a few names.
fn one_of<T: Copy>(key: &str, text: &str, choices: &[(&str, T)]) -> Result<T, AppError> {
    let want = text.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(n, _)| *n == want)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<_> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            AppError::setting(
                key,
                format!("{text:?}"),
                "not a known value",
                format!("use one of {}", names.join(", ")),
            )
        })
}

/// `qimen`, `native` or `simulator`.
pub fn route(key: &str, text: &str) -> Result<RouteKind, AppError> {
    one_of(
        key,
        text,
        &[
            ("qimen", RouteKind::Qimen),
            ("native", RouteKind::Native),
            ("simulator", RouteKind::Simulator),
        ],
    )
}

/// `flat`, `normalized` or `both`.
pub fn layout(key: &str, text: &str) -> Result<Layout, AppError> {
    one_of(
        key,
        text,
        &[
            ("flat", Layout::Flat),
            ("normalized", Layout::Normalized),
            ("both", Layout::Both),
        ],
    )
}

/// `upsert`, `replace` or `insert`.
pub fn write_mode(key: &str, text: &str) -> Result<WriteMode, AppError> {
    one_of(
        key,
        text,
        &[
            ("upsert", WriteMode::Upsert),
            ("replace", WriteMode::Replace),
            ("insert", WriteMode::Insert),
        ],
    )
}

/// A page size, 1..=200.
pub fn page_size(key: &str, n: u32) -> Result<u32, AppError> {
    if (1..=wdt_qimen::api::aftersales::MAX_PAGE_SIZE).contains(&n) {
        Ok(n)
    } else {
        Err(AppError::setting(
            key,
            n,
            "out of range",
            "use a page size from 1 to 200",
        ))
    }
}

/// The longest window: 2 seconds to 30 days.
pub fn max_window(key: &str, d: Duration) -> Result<Duration, AppError> {
    if (Duration::from_secs(2)..=Duration::from_secs(30 * 86_400)).contains(&d) {
        Ok(d)
    } else {
        let shown = if d.as_secs().is_multiple_of(86_400) && d.subsec_nanos() == 0 {
            format!("{}days", d.as_secs() / 86_400)
        } else {
            humantime::format_duration(d).to_string()
        };
        Err(AppError::setting(
            key,
            shown,
            "out of range",
            "use a window from 2s to 30days (the API's limit)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_key_the_value_and_the_fix() {
        let e = duration("schedule.every", "5 minutes please").unwrap_err().to_string();
        assert!(
            e.starts_with("schedule.every = \"5 minutes please\": not a duration"),
            "{e}"
        );
        assert!(e.contains("5m"), "{e}");
        let e = time("account \"a\": start", "2024-13-01").unwrap_err().to_string();
        assert!(
            e.starts_with("account \"a\": start = \"2024-13-01\": not a time"),
            "{e}"
        );
        let e = layout("defaults.layout", "wide").unwrap_err().to_string();
        assert!(e.contains("\"wide\"") && e.contains("\"normalized\""), "{e}");
        assert_eq!(write_mode("k", " Replace ").unwrap(), WriteMode::Replace);
        let e = page_size("account \"a\": page_size", 500).unwrap_err().to_string();
        assert!(e.starts_with("account \"a\": page_size = 500"), "{e}");
        let e = max_window("--max-window", Duration::from_secs(31 * 86_400))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--max-window = 31days") && e.contains("30days"), "{e}");
    }
}
