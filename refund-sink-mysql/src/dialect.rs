//! SQL that differs between MariaDB and MySQL, chosen from `SELECT VERSION()`.

use crate::error::SinkError;
use crate::names::quote_ident;

/// Which server family the sink talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// MariaDB (10.3 and newer).
    MariaDb,
    /// Oracle MySQL (5.7 and newer).
    MySql,
}

/// The server family and version, and the SQL spelling that goes with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The server family.
    pub kind: ServerKind,
    /// `(major, minor, patch)`.
    pub version: (u16, u16, u16),
}

/// The alias the MySQL 8.0.19+ upsert gives the row being inserted.
const ROW_ALIAS: &str = "`new`";

impl Dialect {
    /// Parses `SELECT VERSION()` (`10.11.6-MariaDB-0+deb12u1`, `8.0.36`, `5.5.5-10.6.12-MariaDB`).
    pub fn from_version_string(version: &str) -> Result<Self, SinkError> {
        let unsupported = |reason| SinkError::UnsupportedServer {
            version: version.to_owned(),
            reason,
        };
        let is_mariadb = version.to_ascii_lowercase().contains("mariadb");
        // Old MariaDB proxies report `5.5.5-10.x.y-MariaDB`: the real version follows the prefix.
        let numeric = if is_mariadb {
            version.strip_prefix("5.5.5-").unwrap_or(version)
        } else {
            version
        };
        let mut parts = numeric
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|p| p.parse::<u16>().ok());
        let (Some(Some(major)), Some(Some(minor)), patch) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unsupported("the version string could not be parsed"));
        };
        let parsed = (major, minor, patch.flatten().unwrap_or(0));
        let dialect = if is_mariadb {
            Dialect::mariadb(parsed)
        } else {
            Dialect::mysql(parsed)
        };
        match dialect.kind {
            ServerKind::MariaDb if parsed < (10, 3, 0) => Err(unsupported("MariaDB 10.3 or newer is needed")),
            ServerKind::MySql if parsed < (5, 7, 0) => Err(unsupported("MySQL 5.7 or newer is needed")),
            _ => Ok(dialect),
        }
    }

    /// A MariaDB dialect.
    pub const fn mariadb(version: (u16, u16, u16)) -> Self {
        Self {
            kind: ServerKind::MariaDb,
            version,
        }
    }

    /// A MySQL dialect.
    pub const fn mysql(version: (u16, u16, u16)) -> Self {
        Self {
            kind: ServerKind::MySql,
            version,
        }
    }

    /// MySQL 8.0.19+ deprecates `VALUES(col)` in upserts in favour of a row alias.
    fn uses_row_alias(&self) -> bool {
        self.kind == ServerKind::MySql && self.version >= (8, 0, 19)
    }

    /// The collation of the tables the sink creates.
    pub fn collation(&self) -> &'static str {
        match self.kind {
            ServerKind::MySql if self.version >= (8, 0, 0) => "utf8mb4_0900_ai_ci",
            _ => "utf8mb4_unicode_ci",
        }
    }

    /// The collation of the bookkeeping keys (stream account and method, data table): binary
    /// and without padding, so ids that differ in case, width or trailing spaces stay apart.
    /// MySQL before 8.0.17 has no such collation for utf8mb4; there it is `utf8mb4_bin`, which
    /// ignores trailing spaces ([`Dialect::key_collation_pads`]).
    pub fn key_collation(&self) -> &'static str {
        match self.kind {
            ServerKind::MariaDb => "utf8mb4_nopad_bin",
            ServerKind::MySql if self.version >= (8, 0, 17) => "utf8mb4_0900_bin",
            ServerKind::MySql => "utf8mb4_bin",
        }
    }

    /// True when [`Dialect::key_collation`] ignores trailing spaces, so the sink refuses stream
    /// ids that end with one.
    pub fn key_collation_pads(&self) -> bool {
        self.key_collation() == "utf8mb4_bin"
    }

    /// The engine of the sink's temporary staging tables: Aria on MariaDB (no undo or redo
    /// logging, so loading a batch into it is cheaper than into InnoDB), InnoDB on MySQL. The
    /// staging table is filled and emptied within one attempt, so it needs no transactions.
    pub fn staging_engine(&self) -> &'static str {
        match self.kind {
            ServerKind::MariaDb => "Aria",
            ServerKind::MySql => "InnoDB",
        }
    }

    /// The tail of an upsert, after the `VALUES` rows: `ON DUPLICATE KEY UPDATE` setting
    /// `update_cols` to the inserted values (`VALUES(c)`, or `new.c` behind a row alias).
    pub fn upsert_tail(&self, update_cols: &[&str]) -> String {
        let mut sql = self.row_alias_clause().to_owned();
        sql.push_str(" ON DUPLICATE KEY UPDATE ");
        for (i, col) in update_cols.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let q = quote_ident(col);
            sql.push_str(&q);
            sql.push_str(" = ");
            sql.push_str(&self.inserted_value(col));
        }
        sql
    }

    /// What follows the `VALUES` rows of an upsert before `ON DUPLICATE KEY UPDATE`: the row
    /// alias ` AS `new`` on MySQL 8.0.19+, nothing elsewhere.
    pub fn row_alias_clause(&self) -> &'static str {
        if self.uses_row_alias() {
            " AS `new`"
        } else {
            ""
        }
    }

    /// How an upsert's update clause names the value being inserted for `col`.
    pub fn inserted_value(&self, col: &str) -> String {
        if self.uses_row_alias() {
            format!("{ROW_ALIAS}.{}", quote_ident(col))
        } else {
            format!("VALUES({})", quote_ident(col))
        }
    }

    /// Statements that pin the session: character set, time zone (Beijing, so DATETIME values
    /// and `NOW()` never shift) and a strict SQL mode without `NO_BACKSLASH_ESCAPES` (the LOAD
    /// DATA encoding and the string literals rely on backslash escapes).
    pub fn session_setup() -> Vec<String> {
        vec![
            "SET NAMES utf8mb4".to_owned(),
            "SET time_zone = '+08:00'".to_owned(),
            "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
             ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"
                .to_owned(),
        ]
    }
}

/// True when a server error code means "LOAD DATA LOCAL is not allowed here".
///
/// MariaDB 10.5+ answers 4166 (`ER_LOAD_INFILE_CAPABILITY_DISABLED`, seen from 10.11 with
/// `local_infile = 0`); older MariaDB and MySQL 5.7 answer 1148 (`ER_NOT_ALLOWED_COMMAND`);
/// MySQL 8 answers 3948 (`ER_CLIENT_LOCAL_FILES_DISABLED`); 2068 is the client-side refusal of
/// MySQL's C client.
pub fn is_local_infile_refusal(code: u16) -> bool {
    matches!(code, 1148 | 3948 | 4166 | 2068)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed_into_dialects() {
        let d = Dialect::from_version_string("10.11.19-MariaDB-0+deb12u1").unwrap();
        assert_eq!(d, Dialect::mariadb((10, 11, 19)));
        let d = Dialect::from_version_string("5.5.5-10.6.12-MariaDB-log").unwrap();
        assert_eq!(d, Dialect::mariadb((10, 6, 12)));
        let d = Dialect::from_version_string("8.0.36").unwrap();
        assert_eq!(d, Dialect::mysql((8, 0, 36)));
        let d = Dialect::from_version_string("8.4.0-commercial").unwrap();
        assert_eq!(d, Dialect::mysql((8, 4, 0)));
        assert!(Dialect::from_version_string("5.6.51").is_err());
        assert!(Dialect::from_version_string("10.1.48-MariaDB").is_err());
        assert!(Dialect::from_version_string("banana").is_err());
    }

    #[test]
    fn mariadb_upserts_use_values() {
        let d = Dialect::mariadb((10, 11, 0));
        assert_eq!(
            d.upsert_tail(&["a", "b"]),
            " ON DUPLICATE KEY UPDATE `a` = VALUES(`a`), `b` = VALUES(`b`)"
        );
        assert_eq!(d.collation(), "utf8mb4_unicode_ci");
        assert_eq!(d.key_collation(), "utf8mb4_nopad_bin");
        assert!(!d.key_collation_pads());
    }

    #[test]
    fn mysql8_upserts_use_a_row_alias() {
        let d = Dialect::mysql((8, 0, 36));
        assert_eq!(
            d.upsert_tail(&["a", "b"]),
            " AS `new` ON DUPLICATE KEY UPDATE `a` = `new`.`a`, `b` = `new`.`b`"
        );
        assert_eq!(d.inserted_value("x"), "`new`.`x`");
        assert_eq!(d.collation(), "utf8mb4_0900_ai_ci");
        // Before 8.0.19 the alias does not exist.
        let old = Dialect::mysql((8, 0, 18));
        assert_eq!(old.inserted_value("x"), "VALUES(`x`)");
        assert_eq!(Dialect::mysql((5, 7, 44)).collation(), "utf8mb4_unicode_ci");
        assert_eq!(d.key_collation(), "utf8mb4_0900_bin");
        assert!(Dialect::mysql((5, 7, 44)).key_collation_pads() && !d.key_collation_pads());
    }

    #[test]
    fn local_infile_refusals_are_recognised() {
        assert!(is_local_infile_refusal(1148));
        assert!(is_local_infile_refusal(4166));
        assert!(is_local_infile_refusal(3948));
        assert!(!is_local_infile_refusal(1064));
    }

    #[test]
    fn session_is_pinned_to_beijing_time() {
        let s = Dialect::session_setup().join(";");
        assert!(s.contains("time_zone = '+08:00'") && s.contains("utf8mb4"), "{s}");
        assert!(!s.contains("NO_BACKSLASH_ESCAPES"));
    }
}
