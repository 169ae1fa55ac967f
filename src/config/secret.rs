//! Secrets named by the config file: an env var (`app_secret_env`) or a file (`app_secret_file`),
//! never the secret itself.

use std::path::Path;

use crate::error::AppError;

/// Looks up an env var; blank values count as unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as an [`EnvLookup`] (blank values count as unset).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where one secret comes from, as the file says it.
#[derive(Debug, Clone, Copy)]
pub struct SecretRef<'a> {
    /// The setting's key without the `_env` / `_file` ending, for errors:
    /// `account "shop_a": wdt.app_secret`.
    pub key: &'a str,
    /// The env var named by `…_env`.
    pub env: Option<&'a str>,
    /// The file named by `…_file`.
    pub file: Option<&'a str>,
}

impl SecretRef<'_> {
    /// Reads the secret; `Ok(None)` when neither source is named.
    pub fn read(&self, env: EnvLookup<'_>) -> Result<Option<String>, AppError> {
        let key = self.key;
        match (self.env, self.file) {
            (Some(_), Some(_)) => Err(AppError::Conflict {
                problem: format!("{key}_env and {key}_file are both set"),
                fix: format!("keep one of {key}_env and {key}_file"),
            }),
            (Some(var), None) if !is_env_name(var) => Err(AppError::Secret {
                key: format!("{key}_env = [hidden]"),
                problem: "not an env var name (letters, digits and `_`, not starting with a digit); \
                          it may be the secret itself, so it is not shown"
                    .into(),
                fix: format!("set {key}_env to the name of the env var that holds the secret"),
            }),
            (Some(var), None) => match env(var) {
                Some(v) => Ok(Some(v)),
                None => Err(AppError::Secret {
                    key: format!("{key}_env = {var:?}"),
                    problem: format!("the env var {var} is not set (or blank)"),
                    fix: format!("export {var} with the secret, or name another env var in {key}_env"),
                }),
            },
            (None, Some(path)) if path.contains("://") => Err(AppError::Secret {
                key: format!("{key}_file = [hidden]"),
                problem: "a URL, not a file path; it may hold a password, so it is not shown".into(),
                fix: format!("set {key}_file to the path of a file that holds the value"),
            }),
            (None, Some(path)) => read_file(&format!("{key}_file = {path:?}"), Path::new(path)).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// True for a usable env var name: ASCII letters, digits and `_`, not starting with a digit.
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a secret file, dropping one trailing newline (`\n` or `\r\n`), as editors and
/// `kubectl create secret --from-file` leave one.
pub fn read_file(key: &str, path: &Path) -> Result<String, AppError> {
    let text = std::fs::read_to_string(path).map_err(|e| AppError::Secret {
        key: key.to_owned(),
        problem: format!("cannot read {}: {e}", path.display()),
        fix: "mount or write the secret at that path (readable by this user), or name an env var instead".into(),
    })?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(AppError::Secret {
            key: key.to_owned(),
            problem: format!("{} is empty", path.display()),
            fix: "write the secret into the file".into(),
        });
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_secret_file_loses_one_trailing_newline_only() {
        let dir = std::env::temp_dir().join(format!("wdt-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (written, read) in [
            ("s3cret:salt\n", "s3cret:salt"),
            ("a\r\n", "a"),
            ("b\n\n", "b\n"),
            ("c", "c"),
        ] {
            let path = dir.join("secret");
            std::fs::write(&path, written).unwrap();
            let r = SecretRef {
                key: "wdt.app_secret",
                env: None,
                file: path.to_str(),
            };
            assert_eq!(r.read(&no_env).unwrap().as_deref(), Some(read), "{written:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_source_is_named_with_its_key_and_the_fix() {
        let r = SecretRef {
            key: "account \"a\": wdt.app_secret",
            env: Some("SHOP_A_SECRET"),
            file: None,
        };
        let e = r.read(&no_env).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "account \"a\": wdt.app_secret_env = \"SHOP_A_SECRET\": the env var SHOP_A_SECRET is not set"
            ),
            "{e}"
        );
        assert!(e.contains("export SHOP_A_SECRET"), "{e}");
        let r = SecretRef {
            key: "wdt.app_secret",
            env: None,
            file: Some("/nonexistent/secret"),
        };
        let e = r.read(&no_env).unwrap_err().to_string();
        assert!(
            e.contains("wdt.app_secret_file") && e.contains("/nonexistent/secret"),
            "{e}"
        );
        let both = SecretRef {
            key: "wdt.app_secret",
            env: Some("A"),
            file: Some("/b"),
        };
        assert!(both.read(&|_| Some("x".into())).is_err());
    }
}
