//! The sink's choices: [`Layout`] (which tables) and [`WriteMode`] (how rows are written).

use std::fmt;
use std::str::FromStr;

use crate::error::SinkError;

/// Which tables refunds are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `aftersales_refund_refund_search`: one row per detail line (the default).
    #[default]
    Flat,
    /// `wdt_refund` (with the raw JSON), `wdt_refund_detail`, `wdt_refund_amount_detail`.
    Normalized,
    /// Both of the above, in the same transaction.
    Both,
    /// The tables of a [`Mapping`](crate::mapping::Mapping) (build with
    /// [`MySqlSinkBuilder::mapping`](crate::MySqlSinkBuilder::mapping)).
    Mapped(&'static crate::mapping::Mapping),
}

/// How a refund's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Newer wins (the default): a stored refund with a newer `modified` is left alone (and
    /// counted in `skipped_older`); otherwise the refund's whole set of rows is replaced (stored
    /// rows updated in place, new ones inserted, removed ones deleted).
    #[default]
    Upsert,
    /// Last writer wins, as integration platforms do it: every row is written whatever its
    /// `modified`; the refund's rows that are no longer in it are still deleted. Stored rows are
    /// updated in place as in `upsert` (not `REPLACE INTO`), so columns the user added keep their
    /// values and no delete cascades or delete trigger runs for them.
    Replace,
    /// Plain inserts: a refund already stored fails the batch with [`SinkError::Duplicate`].
    Insert,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }, $what:literal) => {
        impl $ty {
            /// The lower-case name (`flat`, `upsert`, …).
            pub fn as_str(&self) -> &'static str {
                #[allow(unreachable_patterns)]
                match self {
                    $($ty::$variant => $text,)+
                    _ => "mapping",
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = SinkError;

            fn from_str(s: &str) -> Result<Self, SinkError> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(SinkError::InvalidConfig {
                        problem: format!(concat!("unknown ", $what, " {:?}"), s),
                        fix: concat!("use one of: ", $($text, " "),+).trim_end().to_owned(),
                    }),
                }
            }
        }
    };
}

text_enum!(Layout { Flat => "flat", Normalized => "normalized", Both => "both" }, "layout");
text_enum!(WriteMode { Upsert => "upsert", Replace => "replace", Insert => "insert" }, "write mode");

impl Layout {
    /// True when the flat table is written.
    pub fn has_flat(&self) -> bool {
        matches!(self, Layout::Flat | Layout::Both)
    }

    /// The data tables written, parents first: a built-in layout's through its preset mapping
    /// under `prefix` ([`presets`](crate::mapping::presets)), or the mapping's own.
    pub(crate) fn data_tables(self, prefix: &str) -> &'static [crate::schema::Table] {
        self.mapping(prefix).data_tables()
    }

    /// The mapping written: a built-in layout's preset under `prefix`
    /// ([`presets`](crate::mapping::presets)), or the layout's own mapping.
    pub fn mapping(self, prefix: &str) -> &'static crate::mapping::Mapping {
        match self {
            Layout::Mapped(m) => m,
            builtin => crate::mapping::presets::mapping(builtin, prefix).expect("a built-in layout has a preset"),
        }
    }

    /// True when the normalized tables are written.
    pub fn has_normalized(&self) -> bool {
        matches!(self, Layout::Normalized | Layout::Both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for l in [Layout::Flat, Layout::Normalized, Layout::Both] {
            assert_eq!(l.as_str().parse::<Layout>().unwrap(), l);
        }
        for m in [WriteMode::Upsert, WriteMode::Replace, WriteMode::Insert] {
            assert_eq!(m.to_string().parse::<WriteMode>().unwrap(), m);
        }
        assert_eq!(Layout::default(), Layout::Flat);
        assert_eq!(WriteMode::default(), WriteMode::Upsert);
        let e = "merge".parse::<WriteMode>().unwrap_err().to_string();
        assert!(e.contains("\"merge\"") && e.contains("upsert replace insert"), "{e}");
    }
}
