//! Credentials of the two routes. Secrets and salts live in [`SecretString`]s; every `Debug`
//! here prints `[REDACTED]` in their place.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;
use crate::sign::SignMethod;

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
    pub fn new(sid: impl Into<String>, app_key: impl Into<String>, app_secret: &str) -> Result<Self, Error> {
        let sid = sid.into();
        let app_key = app_key.into();
        if sid.trim().is_empty() {
            return Err(Error::config("WDT_SID", "", "set the seller account (sid) WDT issued"));
        }
        if app_key.trim().is_empty() {
            return Err(Error::config("WDT_APP_KEY", "", "set the app key WDT issued"));
        }
        let Some((secret, salt)) = app_secret.split_once(':') else {
            return Err(Error::config(
                "WDT_APP_SECRET",
                "[REDACTED, no ':' in it]",
                "give the app secret exactly as WDT issued it, in the form secret:salt",
            ));
        };
        if secret.is_empty() || salt.is_empty() {
            return Err(Error::config(
                "WDT_APP_SECRET",
                "[REDACTED, empty part]",
                "both parts of secret:salt must be non-empty",
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
    /// Builds the credentials with target app key `21363512` and sign method `md5`.
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Result<Self, Error> {
        let app_key = app_key.into();
        let app_secret = app_secret.into();
        if app_key.trim().is_empty() {
            return Err(Error::config("QIMEN_APP_KEY", "", "set the app key of your Qimen app"));
        }
        if app_secret.is_empty() {
            return Err(Error::config(
                "QIMEN_APP_SECRET",
                "",
                "set the app secret of your Qimen app",
            ));
        }
        Ok(Self {
            app_key,
            app_secret: SecretString::from(app_secret),
            target_app_key: DEFAULT_TARGET_APP_KEY.to_owned(),
            sign_method: SignMethod::default(),
        })
    }

    /// Sets the `target_app_key` (default `21363512`, WDT Ultimate).
    pub fn with_target_app_key(mut self, target: impl Into<String>) -> Self {
        self.target_app_key = target.into();
        self
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
