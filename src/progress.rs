//! Progress of a run: a bar per account on a terminal, else a `progress` log line every few
//! seconds.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wdt_qimen::sync::{Progress, ProgressHook};

/// Where the progress of every account is shown.
#[derive(Clone)]
pub struct ProgressView {
    bars: Option<indicatif::MultiProgress>,
}

impl std::fmt::Debug for ProgressView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressView")
            .field("bars", &self.bars.is_some())
            .finish()
    }
}

impl ProgressView {
    /// Bars when stderr is a terminal, log lines otherwise.
    pub fn detect() -> Self {
        Self {
            bars: std::io::stderr().is_terminal().then(indicatif::MultiProgress::new),
        }
    }

    /// The hook of one account; `name` labels its bar (empty: no label).
    pub fn hook(&self, name: &str) -> ProgressHook {
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(indicatif::ProgressBar::new(0));
                let label = if name.is_empty() {
                    String::new()
                } else {
                    format!("{name} ")
                };
                bar.set_style(
                    indicatif::ProgressStyle::with_template(&format!(
                        "{label}{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} windows  {{msg}}"
                    ))
                    .expect("valid template"),
                );
                Arc::new(move |p: &Progress| {
                    bar.set_length(p.windows_planned);
                    bar.set_position(p.windows_done);
                    bar.set_message(format!(
                        "{} pages, {} refunds, {} commits",
                        p.pages, p.refunds, p.commits
                    ));
                })
            }
            None => {
                // Plain lines: one every 5 seconds at most, and one when the last window is done.
                let last = Mutex::new((0u64, Instant::now()));
                // The account is named by the span its task runs in.
                Arc::new(move |p: &Progress| {
                    let mut l = last.lock().expect("progress lock");
                    let finished = p.windows_done == p.windows_planned && p.windows_done != l.0;
                    if finished || (p.windows_done != l.0 && l.1.elapsed() >= Duration::from_secs(5)) {
                        *l = (p.windows_done, Instant::now());
                        let windows = format!("{}/{}", p.windows_done, p.windows_planned);
                        tracing::info!(windows = %windows, pages = p.pages, refunds = p.refunds, "progress");
                    }
                })
            }
        }
    }
}
