//! Failure alerts posted to a DingTalk or WeCom robot webhook (text message).

use std::time::Duration;

/// Every alert's text starts with this tag (use it as the robot's keyword).
pub const TAG: &str = "[refund_sync]";

/// Where alerts go. `Debug` hides the webhook URL: it carries the robot's token.
#[derive(Clone)]
pub struct Alerts {
    webhook: Option<String>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("webhook", &self.webhook.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Alerts {
    /// Alerts to `webhook`, or none.
    pub fn new(webhook: Option<String>) -> Self {
        Self { webhook }
    }

    /// Posts `text` (after the tag) when a webhook is set. A failure to post is printed to
    /// stderr without the webhook's URL, and never fails the run.
    pub async fn post(&self, text: &str) {
        let Some(webhook) = &self.webhook else { return };
        let body = serde_json::json!({"msgtype": "text", "text": {"content": format!("{TAG} {text}")}});
        match reqwest::Client::new()
            .post(webhook)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!("alert webhook answered HTTP {}", r.status()),
            Err(e) => eprintln!("alert webhook failed: {}", e.without_url()),
        }
    }
}
