//! Table names: the validated prefix, identifier quoting, and the names of every table.

use crate::error::SinkError;

/// The longest table prefix accepted: the longest table name plus this stays well under
/// MySQL's 64-character identifier limit.
pub const MAX_PREFIX_LEN: usize = 24;

/// Checks a table prefix: ASCII letters, digits and `_`, at most [`MAX_PREFIX_LEN`] characters
/// (empty is allowed and means no prefix).
pub fn validate_prefix(prefix: &str) -> Result<(), SinkError> {
    let fail = |problem| SinkError::InvalidPrefix {
        value: prefix.to_owned(),
        problem,
        max: MAX_PREFIX_LEN,
    };
    if prefix.chars().count() > MAX_PREFIX_LEN {
        return Err(fail("it is too long"));
    }
    if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(fail("it contains a character other than A-Z, a-z, 0-9 and `_`"));
    }
    Ok(())
}

/// Quotes an identifier with backquotes (doubling any backquote inside).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' {
            out.push('`');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// The names (unquoted) of every table the sink uses, with the prefix applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// The prefix the names were built with.
    pub prefix: String,
    /// The flat table, `aftersales_refund_refund_search`.
    pub flat: String,
    /// The normalized parent table, `wdt_refund`.
    pub refund: String,
    /// The normalized detail lines, `wdt_refund_detail`.
    pub refund_detail: String,
    /// The normalized amount lines, `wdt_refund_amount_detail`.
    pub refund_amount_detail: String,
    /// One checkpoint row per stream, `wdt_sync_state`.
    pub sync_state: String,
    /// Records that could not be written, `wdt_sync_dead_letter`.
    pub dead_letter: String,
    /// Applied migrations, `wdt_schema_version`.
    pub schema_version: String,
    /// One lease per stream (one runner at a time), `wdt_sync_lease`.
    pub lease: String,
    /// One row per stream per run, `wdt_sync_run`.
    pub run: String,
}

impl TableNames {
    /// The names for `prefix`, after validating it.
    pub fn new(prefix: &str) -> Result<Self, SinkError> {
        validate_prefix(prefix)?;
        let n = |base: &str| format!("{prefix}{base}");
        Ok(Self {
            prefix: prefix.to_owned(),
            flat: n("aftersales_refund_refund_search"),
            refund: n("wdt_refund"),
            refund_detail: n("wdt_refund_detail"),
            refund_amount_detail: n("wdt_refund_amount_detail"),
            sync_state: n("wdt_sync_state"),
            dead_letter: n("wdt_sync_dead_letter"),
            schema_version: n("wdt_schema_version"),
            lease: n("wdt_sync_lease"),
            run: n("wdt_sync_run"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated_with_a_helpful_error() {
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("shop_1_").is_ok());
        assert!(validate_prefix(&"a".repeat(MAX_PREFIX_LEN)).is_ok());
        let e = validate_prefix("shop-1").unwrap_err().to_string();
        assert!(e.contains("\"shop-1\"") && e.contains("A-Z"), "{e}");
        let e = validate_prefix("x`; DROP TABLE y; --").unwrap_err().to_string();
        assert!(e.contains("invalid table prefix"), "{e}");
        let e = validate_prefix(&"a".repeat(MAX_PREFIX_LEN + 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("too long") && e.contains("24"), "{e}");
        assert!(validate_prefix("表_").is_err());
    }

    #[test]
    fn identifiers_are_backquoted() {
        assert_eq!(quote_ident("a"), "`a`");
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
    }

    #[test]
    fn names_carry_the_prefix_and_fit_mysql_limits() {
        let n = TableNames::new(&"p".repeat(MAX_PREFIX_LEN)).unwrap();
        assert!(n.flat.ends_with("aftersales_refund_refund_search"));
        for name in [
            &n.flat,
            &n.refund,
            &n.refund_detail,
            &n.refund_amount_detail,
            &n.sync_state,
        ] {
            assert!(name.len() <= 64, "{name}");
        }
        assert_eq!(TableNames::new("").unwrap().refund, "wdt_refund");
    }
}
