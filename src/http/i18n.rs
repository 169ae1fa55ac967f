//! The status page's labels in English and Chinese, chosen by `Accept-Language`.

/// The page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// The language an `Accept-Language` header prefers: Chinese when a `zh` tag comes before
    /// (by weight, then order) any `en` tag, else English.
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = bits
                .filter_map(|b| b.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "zh" => Lang::Zh,
                "en" => Lang::En,
                _ => continue,
            };
            if q <= 0.0 {
                continue;
            }
            if best.is_none_or(|(bq, _, _)| q > bq) {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }

    /// Its language tag (`en`, `zh-CN`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// Its labels.
    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }
}

/// Every text of the page that is not data.
#[derive(Debug)]
#[non_exhaustive]
pub struct Labels {
    /// Page title.
    pub title: &'static str,
    /// "as of" (before the trusted now).
    pub as_of: &'static str,
    /// The streams section.
    pub streams: &'static str,
    /// Column: account.
    pub account: &'static str,
    /// Column: stream.
    pub stream: &'static str,
    /// Live stream.
    pub live: &'static str,
    /// Backfill stream.
    pub backfill: &'static str,
    /// The periodic read of the recent archive.
    pub archive: &'static str,
    /// Column: checkpoint.
    pub checkpoint: &'static str,
    /// Column: lag.
    pub lag: &'static str,
    /// Column: last run.
    pub last_run: &'static str,
    /// Column: failure streak.
    pub failures: &'static str,
    /// Column: dead letters.
    pub dead_letters: &'static str,
    /// Column: clock offset.
    pub clock_offset: &'static str,
    /// Column: lease owner.
    pub lease: &'static str,
    /// None / not yet.
    pub none: &'static str,
    /// A run is running now.
    pub running_now: &'static str,
    /// "refunds".
    pub refunds: &'static str,
    /// "requests".
    pub requests: &'static str,
    /// "took".
    pub took: &'static str,
    /// "since".
    pub since: &'static str,
    /// "held" (lease live).
    pub held: &'static str,
    /// "expired".
    pub expired: &'static str,
    /// Lag measured against the gateway's clock.
    pub gateway_clock: &'static str,
    /// Lag measured against this host's clock.
    pub host_clock: &'static str,
    /// The chart section.
    pub chart: &'static str,
    /// Chart legend: refunds per run.
    pub refunds_per_run: &'static str,
    /// Chart legend: lag at the end of each run.
    pub lag_per_run: &'static str,
    /// Chart legend: failed run.
    pub failed_run: &'static str,
    /// No runs in the last 24 h.
    pub no_runs: &'static str,
    /// The failed-runs section.
    pub recent_failures: &'static str,
    /// Column: started.
    pub started: &'static str,
    /// Column: error.
    pub error: &'static str,
    /// No failed runs.
    pub no_failures: &'static str,
    /// The problems section.
    pub problems: &'static str,
    /// The loop is stuck.
    pub stuck: &'static str,
    /// This process's last error.
    pub last_error: &'static str,
    /// Row: the last verify against WDT.
    pub last_verify: &'static str,
    /// A verify found the range matching WDT.
    pub verify_matches: &'static str,
    /// A verify left differences.
    pub verify_differs: &'static str,
    /// "range" (of a verify).
    pub range: &'static str,
    /// "windows".
    pub windows: &'static str,
    /// WDT's count.
    pub wdt_count: &'static str,
    /// The stored count.
    pub stored_count: &'static str,
    /// Windows that differed.
    pub differing: &'static str,
    /// Refunds missing.
    pub missing: &'static str,
    /// Refunds stale.
    pub stale: &'static str,
    /// Refunds extra.
    pub extra: &'static str,
    /// Ranges repaired.
    pub repaired: &'static str,
    /// Ranges still differing.
    pub still_differ: &'static str,
    /// Outcome names: ok, failed, interrupted, skipped_lease, abandoned, running.
    pub outcomes: [&'static str; 6],
    /// The footer (links to the other endpoints).
    pub footer: &'static str,
}

impl Labels {
    /// The name of `outcome` (as stored: `ok`, `failed`, …).
    pub fn outcome(&self, outcome: &str) -> &'static str {
        let i = ["ok", "failed", "interrupted", "skipped_lease", "abandoned", "running"]
            .iter()
            .position(|o| *o == outcome);
        i.map_or("?", |i| self.outcomes[i])
    }
}

static EN: Labels = Labels {
    title: "Refund sync status",
    as_of: "as of",
    streams: "Streams",
    account: "Account",
    stream: "Stream",
    live: "live",
    backfill: "backfill",
    archive: "archive read",
    checkpoint: "Checkpoint",
    lag: "Lag",
    last_run: "Last run",
    failures: "Failure streak",
    dead_letters: "Dead letters",
    clock_offset: "Clock offset",
    lease: "Lease owner",
    none: "none",
    running_now: "running now",
    refunds: "refunds",
    requests: "requests",
    took: "took",
    since: "since",
    held: "held",
    expired: "not held",
    gateway_clock: "by the gateway's clock",
    host_clock: "by this host's clock",
    chart: "Runs in the last 24 hours",
    refunds_per_run: "refunds per run",
    lag_per_run: "lag at the end of the run",
    failed_run: "failed run",
    no_runs: "no runs in the last 24 hours",
    recent_failures: "Recent failed runs",
    started: "Started",
    error: "Error",
    no_failures: "no failed runs in the last 24 hours",
    problems: "Problems",
    stuck: "The run loop is stuck",
    last_error: "last error",
    last_verify: "Last verify",
    verify_matches: "matches WDT",
    verify_differs: "differs from WDT",
    range: "range",
    windows: "windows",
    wdt_count: "WDT",
    stored_count: "stored",
    differing: "windows differ",
    missing: "missing",
    stale: "stale",
    extra: "extra",
    repaired: "repaired",
    still_differ: "still differ",
    outcomes: [
        "ok",
        "failed",
        "interrupted",
        "skipped (lease held)",
        "abandoned",
        "running",
    ],
    footer: "Times are Beijing time. Also:",
};

static ZH: Labels = Labels {
    title: "退款同步状态",
    as_of: "截至",
    streams: "同步流",
    account: "账号",
    stream: "同步流",
    live: "实时",
    backfill: "补数",
    archive: "归档读取",
    checkpoint: "检查点",
    lag: "延迟",
    last_run: "最近一次运行",
    failures: "连续失败",
    dead_letters: "死信",
    clock_offset: "时钟偏差",
    lease: "租约持有者",
    none: "无",
    running_now: "正在运行",
    refunds: "条退款",
    requests: "次请求",
    took: "耗时",
    since: "始于",
    held: "持有中",
    expired: "未持有",
    gateway_clock: "按网关时钟",
    host_clock: "按本机时钟",
    chart: "最近 24 小时的运行",
    refunds_per_run: "每次运行的退款数",
    lag_per_run: "运行结束时的延迟",
    failed_run: "失败的运行",
    no_runs: "最近 24 小时没有运行",
    recent_failures: "最近失败的运行",
    started: "开始时间",
    error: "错误",
    no_failures: "最近 24 小时没有失败的运行",
    problems: "问题",
    stuck: "运行循环卡住了",
    last_error: "最近错误",
    last_verify: "最近一次核对",
    verify_matches: "与旺店通一致",
    verify_differs: "与旺店通不一致",
    range: "范围",
    windows: "个窗口",
    wdt_count: "旺店通",
    stored_count: "已入库",
    differing: "个窗口不一致",
    missing: "缺失",
    stale: "过期",
    extra: "多余",
    repaired: "已修复",
    still_differ: "仍不一致",
    outcomes: ["成功", "失败", "已中断", "已跳过（租约被占用）", "已放弃", "运行中"],
    footer: "时间均为北京时间。其他接口：",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_when_the_browser_prefers_it_else_english() {
        for (header, lang) in [
            ("", Lang::En),
            ("zh-CN,zh;q=0.9,en;q=0.8", Lang::Zh),
            ("zh", Lang::Zh),
            ("ZH-tw", Lang::Zh),
            ("en-US,en;q=0.9,zh-CN;q=0.8", Lang::En),
            ("en;q=0.5, zh;q=0.8", Lang::Zh),
            ("fr-FR, de", Lang::En),
            ("fr, zh-CN;q=0.4", Lang::Zh),
            ("zh;q=0", Lang::En),
        ] {
            assert_eq!(Lang::from_accept_language(header), lang, "{header:?}");
        }
        assert_eq!(EN.outcome("skipped_lease"), "skipped (lease held)");
        assert_eq!(ZH.outcome("ok"), "成功");
    }
}
