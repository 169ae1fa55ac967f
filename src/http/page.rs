//! The status page: one server-rendered HTML document with inline CSS and inline SVG charts,
//! no script. Every text from the database or the configuration is HTML-escaped.

use std::fmt::Write as _;

use chrono::{NaiveDateTime, TimeDelta};
use wdt_qimen::time::parse_wdt;

use super::data::{RunPoint, Snapshot, StreamView, VerifyView, HISTORY_HOURS};
use super::i18n::{Labels, Lang};
use crate::monitor::Unhealthy;

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;margin:0;\
padding:12px;background:#f5f6f8;color:#1d2330;line-height:1.4}\
h1{font-size:1.3em;margin:0 0 4px}h2{font-size:1.1em;margin:20px 0 8px}\
.muted{color:#667085;font-size:.9em}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}\
.card{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
.card h3{margin:0 0 6px;font-size:1.05em;word-break:break-all}\
.card h3 small{display:block;font-weight:normal;color:#667085;font-size:.8em}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0 0 8px;font-size:.92em}\
dt{color:#667085}dd{margin:0;word-break:break-word}\
.ok{color:#067647}.failed,.abandoned{color:#b42318}.bad{color:#b42318;font-weight:600}\
.warn{background:#fef3f2;border:1px solid #fda29b;border-radius:8px;padding:8px 12px}\
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9em}\
td,th{border-bottom:1px solid #eaecf0;padding:6px;text-align:left;vertical-align:top;word-break:break-word}\
svg.chart{width:100%;height:auto;background:#fafbfc;border:1px solid #eaecf0;border-radius:4px}\
.legend{font-size:.8em;color:#667085}.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 8px}\
footer{margin-top:20px;font-size:.85em;color:#667085}a{color:#175cd3}";

/// The page of `s` in `lang`; `unhealthy` when the run loop is stuck.
pub fn render(s: &Snapshot, lang: Lang, unhealthy: Option<Unhealthy>) -> String {
    let l = lang.labels();
    let now = parse_wdt(&s.generated_at).ok();
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"60\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        lang.tag(),
        escape(l.title)
    );
    let _ = writeln!(
        h,
        "<h1>{}</h1><p class=\"muted\">{} <span id=\"now\">{}</span></p>",
        escape(l.title),
        escape(l.as_of),
        escape(&s.generated_at)
    );
    if unhealthy.is_some() || !s.problems.is_empty() {
        let _ = write!(
            h,
            "<div class=\"warn\" id=\"problems\"><strong>{}</strong><ul>",
            escape(l.problems)
        );
        if let Some(u) = &unhealthy {
            let _ = write!(h, "<li>{}: {}</li>", escape(l.stuck), escape(&u.to_string()));
        }
        for p in &s.problems {
            let _ = write!(h, "<li>{}: {}</li>", escape(&p.account), escape(&p.detail));
        }
        h.push_str("</ul></div>\n");
    }
    let _ = writeln!(h, "<h2>{}</h2><div class=\"cards\">", escape(l.streams));
    for st in &s.streams {
        card(&mut h, st, l, now, s.max_lag_seconds);
    }
    h.push_str("</div>\n");
    let _ = writeln!(h, "<h2>{}</h2>", escape(l.recent_failures));
    if s.recent_failures.is_empty() {
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", escape(l.no_failures));
    } else {
        let _ = write!(
            h,
            "<table id=\"failures\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            escape(l.started),
            escape(l.account),
            escape(l.error)
        );
        for f in &s.recent_failures {
            let who = f.account.clone().unwrap_or_else(|| f.stream_account.clone());
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&f.started_at),
                escape(&who),
                escape(&f.error)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        h,
        "<footer>{} <a href=\"/api/streams\">/api/streams</a> · <a href=\"/health\">/health</a> · \
         <a href=\"/ready\">/ready</a> · <a href=\"/metrics\">/metrics</a></footer></body></html>",
        escape(l.footer)
    );
    h
}

/// A duration in seconds as `1h 2m 3s` (`-5s` when negative).
fn span(secs: i64) -> String {
    let text = humantime::format_duration(std::time::Duration::from_secs(secs.unsigned_abs())).to_string();
    if secs < 0 {
        format!("-{text}")
    } else {
        text
    }
}

fn took(ms: i64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms.max(0) as f64 / 1000.0)
    } else {
        span(ms / 1000)
    }
}

fn card(h: &mut String, st: &StreamView, l: &Labels, now: Option<NaiveDateTime>, max_lag: Option<u64>) {
    let title = st.account.clone().unwrap_or_else(|| st.stream_account.clone());
    let kind = match st.kind {
        "live" => l.live,
        "archive" => l.archive,
        _ => l.backfill,
    };
    let _ = write!(
        h,
        "<section class=\"card stream\"><h3>{} <small>{} · {} · {}</small></h3><dl>",
        escape(&title),
        escape(&st.stream_account),
        escape(&st.method),
        escape(kind)
    );
    let dd = |h: &mut String, dt: &str, dd: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{dd}</dd>", escape(dt));
    };
    let checkpoint = match (&st.checkpoint, &st.backfill_to) {
        (Some(c), Some(to)) => format!("{} (→ {})", escape(c), escape(to)),
        (Some(c), None) => escape(c),
        (None, _) => escape(l.none),
    };
    dd(h, l.checkpoint, checkpoint);
    if st.kind == "live" {
        let lag = match st.lag_seconds {
            Some(s) => {
                let over = max_lag.is_some_and(|m| s > i64::try_from(m).unwrap_or(i64::MAX));
                let clock = if st.now_source == "gateway" {
                    l.gateway_clock
                } else {
                    l.host_clock
                };
                format!(
                    "<span{}>{}</span> <span class=\"muted\">({})</span>",
                    if over { " class=\"bad\"" } else { "" },
                    escape(&span(s)),
                    escape(clock)
                )
            }
            None => escape(l.none),
        };
        dd(h, l.lag, lag);
    }
    let last = match &st.last_run {
        Some(r) => {
            let mut t = format!(
                "<span class=\"outcome {}\">{}</span> {}",
                escape(r.outcome),
                escape(l.outcome(r.outcome)),
                escape(&r.started_at)
            );
            if let Some(ms) = r.duration_ms {
                let _ = write!(t, ", {} {}", escape(l.took), escape(&took(ms)));
            }
            if let Some(n) = r.refunds {
                let _ = write!(t, ", {n} {}", escape(l.refunds));
            }
            if let Some(n) = r.requests {
                let _ = write!(t, ", {n} {}", escape(l.requests));
            }
            t
        }
        None => escape(l.none),
    };
    let last = if st.running {
        format!("{last} <span class=\"muted\">({})</span>", escape(l.running_now))
    } else {
        last
    };
    dd(h, l.last_run, last);
    let streak = if st.failure_streak > 0 {
        let since = st
            .failing_since
            .as_deref()
            .map(|s| format!(" ({} {})", escape(l.since), escape(s)))
            .unwrap_or_default();
        format!("<span class=\"bad\">{}</span>{since}", st.failure_streak)
    } else {
        "0".into()
    };
    dd(h, l.failures, streak);
    let dead = if st.dead_letters > 0 {
        format!("<span class=\"bad\">{}</span>", st.dead_letters)
    } else {
        "0".into()
    };
    dd(h, l.dead_letters, dead);
    let offset = match st.clock_offset_ms {
        Some(ms) => {
            let pm = st
                .clock_uncertainty_ms
                .map(|u| format!(" ±{:.1}s", u as f64 / 1000.0))
                .unwrap_or_default();
            escape(&format!("{:+.1}s{pm}", ms as f64 / 1000.0))
        }
        None => escape(l.none),
    };
    dd(h, l.clock_offset, offset);
    let lease = match &st.lease {
        Some(le) => format!(
            "{} <span class=\"muted\">({}, {})</span>",
            escape(&le.owner),
            escape(if le.held { l.held } else { l.expired }),
            escape(&le.expires_at)
        ),
        None => escape(l.none),
    };
    dd(h, l.lease, lease);
    if let Some(e) = &st.last_error {
        dd(h, l.last_error, format!("<span class=\"bad\">{}</span>", escape(e)));
    }
    if st.kind == "live" {
        let verify = st
            .last_verify
            .as_ref()
            .map_or_else(|| escape(l.none), |v| verify_text(v, l));
        dd(h, l.last_verify, verify);
    }
    h.push_str("</dl>");
    chart(h, &st.runs, l, now);
    h.push_str("</section>\n");
}

/// A verify: its verdict, when, its range and requests, then a line per method with its counts.
fn verify_text(v: &VerifyView, l: &Labels) -> String {
    let (class, verdict) = if v.matches {
        ("ok", l.verify_matches)
    } else {
        ("bad", l.verify_differs)
    };
    let mut t = format!(
        "<span class=\"verify {class}\">{}</span> {} <span class=\"muted\">({} {} .. {}, {} {})</span>",
        escape(verdict),
        escape(&v.started_at),
        escape(l.range),
        escape(&v.range_from),
        escape(&v.range_to),
        v.requests,
        escape(l.requests)
    );
    for m in &v.methods {
        let _ = write!(
            t,
            "<br><span class=\"verify-method\">{}: {} {}, {} {} / {} {}, {} {}, {} {}, {} {}, {} {}",
            escape(&m.method),
            m.windows,
            escape(l.windows),
            escape(l.wdt_count),
            m.wdt_count,
            escape(l.stored_count),
            m.stored_count,
            m.differing_windows,
            escape(l.differing),
            escape(l.missing),
            m.missing,
            escape(l.stale),
            m.stale,
            escape(l.extra),
            m.extra
        );
        if m.repaired_windows > 0 || m.remaining_windows > 0 {
            let _ = write!(
                t,
                ", {} {}, {} {}",
                escape(l.repaired),
                m.repaired_windows,
                escape(l.still_differ),
                m.remaining_windows
            );
        }
        t.push_str("</span>");
    }
    t
}

/// The SVG of `runs` over the last 24 h before `now`: a bar per run (refunds), a line of the
/// lag at the end of each run, a red mark under each failed run.
fn chart(h: &mut String, runs: &[RunPoint], l: &Labels, now: Option<NaiveDateTime>) {
    let (w, ht, pad) = (320.0_f64, 90.0_f64, 12.0_f64);
    let _ = write!(
        h,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        ht + pad * 2.0,
        escape(l.chart),
        escape(l.chart)
    );
    let end = now.or_else(|| runs.last().map(|r| r.start));
    let Some(end) = end.filter(|_| !runs.is_empty()) else {
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#667085\">{}</text></svg>",
            w / 2.0,
            ht / 2.0 + pad,
            escape(l.no_runs)
        );
        return;
    };
    let start = end - TimeDelta::hours(i64::from(HISTORY_HOURS));
    let span_s = (end - start).num_seconds().max(1) as f64;
    let x = |t: NaiveDateTime| ((t - start).num_seconds() as f64 / span_s).clamp(0.0, 1.0) * (w - 4.0) + 2.0;
    let max_refunds = runs.iter().map(|r| r.refunds).max().unwrap_or(0).max(1) as f64;
    let max_lag = runs.iter().filter_map(|r| r.lag_seconds).max().unwrap_or(0).max(1) as f64;
    let base = ht + pad;
    for r in runs {
        let bx = x(r.start);
        let bh = (r.refunds as f64 / max_refunds) * (ht - 4.0);
        let _ = write!(
            h,
            "<rect class=\"run\" x=\"{:.1}\" y=\"{:.1}\" width=\"2\" height=\"{:.1}\" fill=\"#2e90fa\"><title>{} · {} {} · {}</title></rect>",
            bx - 1.0,
            base - bh,
            bh.max(0.5),
            escape(&r.started_at),
            r.refunds,
            escape(l.refunds),
            escape(l.outcome(r.outcome))
        );
        if r.outcome == "failed" || r.outcome == "abandoned" {
            let _ = write!(
                h,
                "<rect class=\"fail\" x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"6\" fill=\"#d92d20\"/>",
                bx - 1.5,
                base + 2.0
            );
        }
    }
    let lag_at: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|r| {
            r.lag_seconds
                .map(|lag| (x(r.start), base - (lag.max(0) as f64 / max_lag) * (ht - 4.0)))
        })
        .collect();
    let points: Vec<String> = lag_at.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    for (x, y) in &lag_at {
        let _ = write!(
            h,
            "<circle class=\"lag\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"1.8\" fill=\"#f79009\"/>"
        );
    }
    if points.len() > 1 {
        let _ = write!(
            h,
            "<polyline class=\"lag\" points=\"{}\" fill=\"none\" stroke=\"#f79009\" stroke-width=\"1.5\"/>",
            points.join(" ")
        );
    }
    let _ = write!(
        h,
        "<line x1=\"0\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\" stroke=\"#d0d5dd\"/>\
         <text x=\"3\" y=\"10\" font-size=\"9\" fill=\"#2e90fa\">{} {}</text>\
         <text x=\"{}\" y=\"10\" font-size=\"9\" fill=\"#f79009\" text-anchor=\"end\">{} {}</text>\
         <text x=\"3\" y=\"{}\" font-size=\"8\" fill=\"#667085\">-{HISTORY_HOURS}h</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"8\" fill=\"#667085\" text-anchor=\"end\">{}</text></svg>",
        max_refunds as u64,
        escape(l.refunds),
        w - 3.0,
        escape(l.lag),
        escape(&span(max_lag as i64)),
        ht + pad * 2.0 - 1.0,
        w - 3.0,
        ht + pad * 2.0 - 1.0,
        escape(&end.format("%H:%M").to_string()),
    );
    let _ = write!(
        h,
        "<div class=\"legend\"><i style=\"background:#2e90fa\"></i>{}<i style=\"background:#f79009\"></i>{}\
         <i style=\"background:#d92d20\"></i>{}</div>",
        escape(l.refunds_per_run),
        escape(l.lag_per_run),
        escape(l.failed_run)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::data::Problem;

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(
            escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn an_empty_status_still_renders_a_page_with_its_problems_escaped() {
        let mut s = Snapshot::empty("2026-01-01 08:00:00");
        s.problems
            .push(Problem::new("mysql", "shop_a", "cannot connect to <db>"));
        let html = render(&s, Lang::En, Some(Unhealthy::Ended));
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("cannot connect to &lt;db&gt;"), "{html}");
        assert!(html.contains("The run loop is stuck: the run loop has ended"), "{html}");
        assert!(html.contains("no failed runs in the last 24 hours"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }
}
