//! Credentials of the two routes. Secrets and salts live in [`SecretString`]s; every `Debug`
//! here prints `[REDACTED]` in their place.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;
use crate::sign::{is_blank_anywhere, SignMethod};

/// The default Qimen `target_app_key` of WDT Ultimate.
pub const DEFAULT_TARGET_APP_KEY: &str = "21363512";
/// The default Qimen gateway URL (production), as WDT publishes it: plain `http://`.
///
/// Over it travel, in clear: the Qimen app key, `target_app_key`, the WDT `sid` and app key, the
/// timestamps and signs (never the secrets or the salt), the query parameters, and the answers,
/// which hold the refunds' buyer names, phones and addresses as the platform provides them.
/// To encrypt, give an `https://` URL of the gateway instead.
pub const DEFAULT_QIMEN_URL: &str = "http://3ldsmu02o9.api.taobao.com/router/qm";
/// The default native open API URL (production), over TLS. WDT publishes the `http://` form;
/// the same host answers `https://`, which community clients use by default. `http://` URLs
/// are still accepted.
pub const DEFAULT_WDT_URL: &str = "https://wdt.wangdian.cn/openapi";

/// WDT Ultimate credentials: seller account (`sid`), app key, and the app secret issued as
/// `secret:salt`.
#[derive(Clone)]
pub struct WdtCredentials {
    sid: String,
    app_key: String,
    secret: SecretString,
    salt: SecretString,
}

impl WdtCredentials {
    /// Builds the credentials; `app_secret` is `secret:salt` and is split at the first colon.
    /// No part may be blank (empty or only whitespace, [`is_top_blank`](crate::sign::is_top_blank)
    /// or Unicode whitespace): the Qimen gateway leaves blank values out of its sign, so a request
    /// carrying one could never be verified alike on both sides.
    pub fn new(sid: impl Into<String>, app_key: impl Into<String>, app_secret: &str) -> Result<Self, Error> {
        let sid = sid.into();
        let app_key = app_key.into();
        if is_blank_anywhere(&sid) {
            return Err(Error::config(
                "WDT_SID",
                &sid,
                "set the seller account (sid) WDT issued, sent as sid / wdt3_customer_id; it may not be blank",
            ));
        }
        if is_blank_anywhere(&app_key) {
            return Err(Error::config(
                "WDT_APP_KEY",
                &app_key,
                "set the app key WDT issued, sent as key / wdt_appkey; it may not be blank",
            ));
        }
        let Some((secret, salt)) = app_secret.split_once(':') else {
            return Err(Error::config(
                "WDT_APP_SECRET",
                "[REDACTED, no ':' in it]",
                "give the app secret exactly as WDT issued it, in the form secret:salt",
            ));
        };
        if is_blank_anywhere(secret) {
            return Err(Error::config(
                "WDT_APP_SECRET",
                "[REDACTED, blank secret before ':']",
                "give the app secret exactly as WDT issued it: both parts of secret:salt must be non-blank",
            ));
        }
        if is_blank_anywhere(salt) {
            return Err(Error::config(
                "WDT_APP_SECRET",
                "[REDACTED, blank salt after ':']",
                "give the app secret exactly as WDT issued it: the salt after the first ':' (sent as \
                 salt / wdt_salt) may not be blank or only whitespace, which the Qimen gateway leaves \
                 out of its sign",
            ));
        }
        Ok(Self {
            sid,
            app_key,
            secret: SecretString::from(secret.to_owned()),
            salt: SecretString::from(salt.to_owned()),
        })
    }

    /// The seller account (`sid`, Qimen `wdt3_customer_id`).
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The WDT app key (native `key`, Qimen `wdt_appkey`).
    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    pub(crate) fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    pub(crate) fn salt(&self) -> &str {
        self.salt.expose_secret()
    }
}

impl fmt::Debug for WdtCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WdtCredentials")
            .field("sid", &self.sid)
            .field("app_key", &self.app_key)
            .field("secret", &"[REDACTED]")
            .field("salt", &"[REDACTED]")
            .finish()
    }
}

/// Qimen (TOP) credentials of your own Qimen app.
#[derive(Clone)]
pub struct QimenCredentials {
    app_key: String,
    app_secret: SecretString,
    target_app_key: String,
    sign_method: SignMethod,
}

impl QimenCredentials {
    /// Builds the credentials with target app key `21363512` and sign method `md5`. Neither the
    /// app key nor the secret may be blank (see [`WdtCredentials::new`]).
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Result<Self, Error> {
        let app_key = app_key.into();
        let app_secret = app_secret.into();
        if is_blank_anywhere(&app_key) {
            return Err(Error::config(
                "QIMEN_APP_KEY",
                &app_key,
                "set the app key of your Qimen app, sent as app_key; it may not be blank",
            ));
        }
        if is_blank_anywhere(&app_secret) {
            return Err(Error::config(
                "QIMEN_APP_SECRET",
                "[REDACTED, blank]",
                "set the app secret of your Qimen app; it may not be blank",
            ));
        }
        Ok(Self {
            app_key,
            app_secret: SecretString::from(app_secret),
            target_app_key: DEFAULT_TARGET_APP_KEY.to_owned(),
            sign_method: SignMethod::default(),
        })
    }

    /// Sets the `target_app_key` (default `21363512`, WDT Ultimate); a blank one is refused.
    pub fn with_target_app_key(mut self, target: impl Into<String>) -> Result<Self, Error> {
        let target = target.into();
        if is_blank_anywhere(&target) {
            return Err(Error::config(
                "QIMEN_TARGET_APP_KEY",
                &target,
                "set the target_app_key of the WDT app on Qimen (WDT Ultimate: 21363512) or leave it \
                 unset; it may not be blank",
            ));
        }
        self.target_app_key = target;
        Ok(self)
    }

    /// Sets the gateway sign method (default `md5`).
    pub fn with_sign_method(mut self, method: SignMethod) -> Self {
        self.sign_method = method;
        self
    }

    /// Your Qimen app key.
    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    /// The `target_app_key`.
    pub fn target_app_key(&self) -> &str {
        &self.target_app_key
    }

    /// The gateway sign method.
    pub fn sign_method(&self) -> SignMethod {
        self.sign_method
    }

    pub(crate) fn app_secret(&self) -> &str {
        self.app_secret.expose_secret()
    }
}

impl fmt::Debug for QimenCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QimenCredentials")
            .field("app_key", &self.app_key)
            .field("app_secret", &"[REDACTED]")
            .field("target_app_key", &self.target_app_key)
            .field("sign_method", &self.sign_method)
            .finish()
    }
}

/// Which gateway a client talks to, with the credentials it needs.
#[derive(Clone, Debug)]
pub enum Route {
    /// Alibaba's Qimen gateway (`/router/qm`): TOP `sign` outside, `wdt_sign` inside.
    Qimen {
        /// The gateway URL.
        url: String,
        /// Your Qimen app.
        qimen: QimenCredentials,
        /// The WDT account behind it.
        wdt: WdtCredentials,
    },
    /// WDT's native open API (`/openapi`): md5 sign, JSON body.
    Native {
        /// The endpoint URL.
        url: String,
        /// The WDT account.
        wdt: WdtCredentials,
    },
}

impl Route {
    /// The WDT account of this route.
    pub fn wdt(&self) -> &WdtCredentials {
        match self {
            Self::Qimen { wdt, .. } | Self::Native { wdt, .. } => wdt,
        }
    }

    /// `qimen` or `native`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Qimen { .. } => "qimen",
            Self::Native { .. } => "native",
        }
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Qimen { url, .. } | Self::Native { url, .. } => url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_default_is_tls_and_plain_http_is_still_accepted() {
        assert!(DEFAULT_WDT_URL.starts_with("https://"), "{DEFAULT_WDT_URL}");
        for url in [DEFAULT_WDT_URL, "http://47.92.239.46/openapi"] {
            let route = Route::Native {
                url: url.into(),
                wdt: WdtCredentials::new("sid", "key", "secret:salt").unwrap(),
            };
            assert!(crate::Client::builder(route).build().is_ok(), "{url}");
        }
    }

    #[test]
    fn secret_splits_at_the_first_colon() {
        let c = WdtCredentials::new("sid1", "key1", "sec:salt:with:colons").unwrap();
        assert_eq!(c.secret(), "sec");
        assert_eq!(c.salt(), "salt:with:colons");
    }

    #[test]
    fn no_colon_is_a_clear_error_without_the_secret() {
        let e = WdtCredentials::new("sid1", "key1", "onlysecretvalue")
            .unwrap_err()
            .to_string();
        assert!(e.contains("WDT_APP_SECRET") && e.contains("secret:salt"), "{e}");
        assert!(!e.contains("onlysecretvalue"), "{e}");
    }

    /// Blank strings for Java's `Character.isWhitespace` (U+3000 among them) or for Unicode.
    const BLANKS: [&str; 7] = ["", " ", "\t", "\n \r", "\u{3000}", "\u{1f}", "\u{a0}\u{85}"];

    #[test]
    fn blank_credentials_are_refused_naming_the_field() {
        let ok_wdt = ("sid1", "key1", "sec:salt");
        for blank in BLANKS {
            let cases = [
                (
                    WdtCredentials::new(blank, ok_wdt.1, ok_wdt.2).map(|_| ()),
                    "WDT_SID",
                    "sid",
                ),
                (
                    WdtCredentials::new(ok_wdt.0, blank, ok_wdt.2).map(|_| ()),
                    "WDT_APP_KEY",
                    "wdt_appkey",
                ),
                (
                    WdtCredentials::new(ok_wdt.0, ok_wdt.1, &format!("{blank}:salt")).map(|_| ()),
                    "WDT_APP_SECRET",
                    "secret",
                ),
                (
                    WdtCredentials::new(ok_wdt.0, ok_wdt.1, &format!("sec:{blank}")).map(|_| ()),
                    "WDT_APP_SECRET",
                    "wdt_salt",
                ),
                (
                    QimenCredentials::new(blank, "qs").map(|_| ()),
                    "QIMEN_APP_KEY",
                    "app_key",
                ),
                (
                    QimenCredentials::new("qk", blank).map(|_| ()),
                    "QIMEN_APP_SECRET",
                    "secret",
                ),
                (
                    QimenCredentials::new("qk", "qs")
                        .unwrap()
                        .with_target_app_key(blank)
                        .map(|_| ()),
                    "QIMEN_TARGET_APP_KEY",
                    "target_app_key",
                ),
            ];
            for (result, field, names) in cases {
                let e = result.expect_err(&format!("{field} = {blank:?} accepted"));
                assert_eq!(e.kind(), crate::ErrorKind::Config);
                let text = e.to_string();
                assert!(text.contains(field) && text.contains(names), "{text}");
            }
        }
        // Surrounding whitespace is not blank: the value is signed as it is.
        assert_eq!(
            WdtCredentials::new("sid1", "key1", "sec: salt").unwrap().salt(),
            " salt"
        );
        let q = QimenCredentials::new("qk", "qs")
            .unwrap()
            .with_target_app_key("123")
            .unwrap();
        assert_eq!(q.target_app_key(), "123");
    }

    #[test]
    fn debug_is_redacted() {
        let w = WdtCredentials::new("sid1", "key1", "topsecretA:saltyB").unwrap();
        let q = QimenCredentials::new("qk", "qimensecretC").unwrap();
        let r = Route::Qimen {
            url: "http://x".into(),
            qimen: q.clone(),
            wdt: w.clone(),
        };
        for dbg in [format!("{w:?}"), format!("{q:?}"), format!("{r:?}"), format!("{r:#?}")] {
            for secret in ["topsecretA", "saltyB", "qimensecretC"] {
                assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
            }
            assert!(dbg.contains("REDACTED"));
        }
    }
}
