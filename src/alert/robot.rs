//! The robots alerts are posted to: DingTalk group robots (with 加签, the signing secret) and
//! WeCom (企业微信) group robots, both with Markdown messages.
//!
//! A robot answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}` when it took the message; any
//! other `errcode` (310000: a wrong signature, a missing keyword; 300001: a bad token; 45009:
//! too many messages) means it was refused, and counts as a failed alert, as does an HTTP error
//! or an answer that is not the robot's JSON. The webhook's URL (it carries the robot's token)
//! and the secret never appear in an error, a log line or `Debug`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use wdt_qimen::time::Clock;

/// Which kind of robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RobotKind {
    /// A DingTalk group robot (`https://oapi.dingtalk.com/robot/send?access_token=…`).
    DingTalk,
    /// A WeCom group robot (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`).
    WeCom,
}

impl RobotKind {
    /// The kind's name as written in the config file (`dingtalk`, `wecom`).
    pub fn name(self) -> &'static str {
        match self {
            Self::DingTalk => "dingtalk",
            Self::WeCom => "wecom",
        }
    }

    /// The kind a webhook's host says (DingTalk's or WeCom's own host), if any.
    pub fn of_host(webhook: &str) -> Option<Self> {
        match url::Url::parse(webhook).ok()?.host_str()? {
            "oapi.dingtalk.com" => Some(Self::DingTalk),
            "qyapi.weixin.qq.com" => Some(Self::WeCom),
            _ => None,
        }
    }
}

/// Why a robot did not take an alert. Never shows the webhook's URL or the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RobotError {
    /// The robot answered, and refused the message.
    #[error("the {robot} robot refused the alert: errcode {errcode}, errmsg {errmsg:?}")]
    Refused {
        /// `dingtalk` or `wecom`.
        robot: &'static str,
        /// The robot's `errcode` (not 0).
        errcode: i64,
        /// The robot's `errmsg`.
        errmsg: String,
    },
    /// The robot answered with an HTTP error status.
    #[error("the {robot} robot answered HTTP {status}")]
    Http {
        /// `dingtalk` or `wecom`.
        robot: &'static str,
        /// The status.
        status: u16,
    },
    /// The answer was not the robot's JSON (`{"errcode": …}`).
    #[error("the {robot} robot's answer is not its JSON ({detail})")]
    Answer {
        /// `dingtalk` or `wecom`.
        robot: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The request did not get an answer.
    #[error("posting to the {robot} robot failed: {detail}")]
    Transport {
        /// `dingtalk` or `wecom`.
        robot: &'static str,
        /// The error, without the URL.
        detail: String,
    },
}

/// A robot: its kind, its webhook and, for DingTalk, its signing secret. `Debug` hides the
/// webhook and the secret.
#[derive(Clone)]
pub struct Robot {
    kind: RobotKind,
    webhook: String,
    secret: Option<String>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

impl fmt::Debug for Robot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Robot")
            .field("kind", &self.kind)
            .field("webhook", &"[hidden]")
            .field("secret", &self.secret.as_ref().map(|_| "[hidden]"))
            .finish()
    }
}

/// The `sign` of DingTalk's 加签: HmacSHA256 keyed by `secret` over `timestamp + "\n" + secret`
/// (`timestamp` in milliseconds since the Unix epoch), in standard base64. It still has to be
/// URL-encoded as a query parameter ([`Robot::url`] does).
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Robot {
    /// A robot of `kind` at `webhook`; `secret` is a DingTalk robot's signing secret (`SEC…`).
    pub fn new(kind: RobotKind, webhook: impl Into<String>, secret: Option<String>) -> Self {
        Self {
            kind,
            webhook: webhook.into(),
            secret,
            clock: Arc::new(wdt_qimen::time::SystemClock),
            http: reqwest::Client::new(),
        }
    }

    /// Uses `clock` for the signature's timestamp (default the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The kind.
    pub fn kind(&self) -> RobotKind {
        self.kind
    }

    /// The URL to post to now: the webhook, and for a DingTalk robot with a secret its
    /// `timestamp` and URL-encoded `sign` appended. It holds the token: never print it.
    pub fn url(&self) -> String {
        match (&self.secret, self.kind) {
            (Some(secret), RobotKind::DingTalk) => {
                let ts = self.clock.now().timestamp_millis();
                let sign = dingtalk_sign(ts, secret);
                match url::Url::parse(&self.webhook) {
                    Ok(mut u) => {
                        u.query_pairs_mut()
                            .append_pair("timestamp", &ts.to_string())
                            .append_pair("sign", &sign);
                        u.to_string()
                    }
                    // Checked when the settings were read; posting to it fails, without it shown.
                    Err(_) => self.webhook.clone(),
                }
            }
            _ => self.webhook.clone(),
        }
    }

    /// The message's JSON body for this robot.
    pub fn body(&self, title: &str, markdown: &str) -> serde_json::Value {
        match self.kind {
            RobotKind::DingTalk => serde_json::json!({
                "msgtype": "markdown",
                "markdown": {"title": title, "text": markdown},
            }),
            RobotKind::WeCom => serde_json::json!({
                "msgtype": "markdown",
                "markdown": {"content": markdown},
            }),
        }
    }

    /// Posts one message, once; `Ok` only when the robot answered `errcode` 0.
    pub async fn post(&self, title: &str, markdown: &str) -> Result<(), RobotError> {
        let robot = self.kind.name();
        let resp = self
            .http
            .post(self.url())
            .json(&self.body(title, markdown))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| RobotError::Transport {
                robot,
                detail: e.without_url().to_string(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(RobotError::Http {
                robot,
                status: status.as_u16(),
            });
        }
        let body = resp.bytes().await.map_err(|e| RobotError::Transport {
            robot,
            detail: e.without_url().to_string(),
        })?;
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| RobotError::Answer {
            robot,
            detail: e.to_string(),
        })?;
        let Some(errcode) = answer.get("errcode").and_then(errcode_of) else {
            return Err(RobotError::Answer {
                robot,
                detail: "no errcode".into(),
            });
        };
        if errcode != 0 {
            let errmsg = answer.get("errmsg").and_then(|m| m.as_str()).unwrap_or_default();
            return Err(RobotError::Refused {
                robot,
                errcode,
                errmsg: errmsg.chars().take(200).collect(),
            });
        }
        Ok(())
    }

    /// Posts one message, and once more if the first post failed; each failure is logged (with
    /// the robot's code and message, never the URL). Returns the last failure, if both failed.
    pub async fn send(&self, title: &str, markdown: &str) -> Result<(), RobotError> {
        match self.post(title, markdown).await {
            Ok(()) => Ok(()),
            Err(first) => {
                tracing::warn!(alert = %title, error = %first, "alert not delivered; posting it once more");
                let again = self.post(title, markdown).await;
                if let Err(e) = &again {
                    tracing::error!(alert = %title, error = %e, "alert not delivered (posted twice)");
                }
                again
            }
        }
    }
}

/// An `errcode` as a number (some proxies answer it as a string).
fn errcode_of(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}
