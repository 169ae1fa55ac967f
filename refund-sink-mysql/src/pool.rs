//! [`SharedPool`]: one bounded connection pool for many sinks of one server.
//!
//! Each [`MySqlSink`](crate::MySqlSink) built without one opens a pool of its own (up to
//! [`max_connections`](crate::MySqlSinkBuilder::max_connections), 4 by default). A process that
//! syncs many accounts into the same database would then hold up to four connections per
//! account, and a thousand accounts would need thousands, far past a server's
//! `max_connections` (151 by default). Sinks built with
//! [`MySqlSinkBuilder::pool`](crate::MySqlSinkBuilder::pool) instead share one pool of a fixed
//! size: every statement of every sink (batches, checkpoints, leases, run history) waits for one
//! of its connections.

use std::fmt;
use std::sync::Arc;

use mysql_async::Pool;
use tokio::sync::OnceCell;

use crate::error::SinkError;
use crate::sink::redact_url;

/// The default size of a [`SharedPool`].
pub const DEFAULT_POOL_SIZE: usize = 10;

/// One bounded MySQL connection pool shared by every sink built with it
/// ([`MySqlSinkBuilder::pool`](crate::MySqlSinkBuilder::pool)); cheap to clone.
///
/// It opens no connection until the first sink is built; that sink's settings (the URL's TLS
/// parameters, with the `ssl-mode=PREFERRED` fallback) make the pool, and every later sink uses
/// it as it is. It never holds more than [`size`](Self::size) connections at once; a statement
/// waits for a free one (within its sink's timeout). The sinks' own
/// [`max_connections`](crate::MySqlSinkBuilder::max_connections) is not used, and
/// [`MySqlSink::disconnect`](crate::MySqlSink::disconnect) leaves a shared pool open: close it
/// with [`disconnect`](Self::disconnect) once every sink is done.
///
/// Size it so that the work in flight at once fits: each sink uses one connection at a time
/// while it commits a batch or keeps its run history, and a lease renewal waits for a
/// connection like any statement (it must get one within a third of the lease's ttl).
/// `Debug` shows the URL without its password.
#[derive(Clone)]
pub struct SharedPool {
    inner: Arc<Shared>,
}

struct Shared {
    url: String,
    size: usize,
    pool: OnceCell<Pool>,
}

impl fmt::Debug for SharedPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPool")
            .field("url", &redact_url(&self.inner.url))
            .field("size", &self.inner.size)
            .field("connected", &self.inner.pool.initialized())
            .finish()
    }
}

impl SharedPool {
    /// A pool of at most `size` connections (at least 1) to the server at `url`, opened by the
    /// first sink built with it. Every sink built with it must be given the same URL.
    pub fn new(url: impl Into<String>, size: usize) -> Self {
        Self {
            inner: Arc::new(Shared {
                url: url.into(),
                size: size.max(1),
                pool: OnceCell::new(),
            }),
        }
    }

    /// The most connections it holds at once.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// The URL it connects to (it may hold a password: print [`redact_url`] of it).
    pub(crate) fn url(&self) -> &str {
        &self.inner.url
    }

    /// The pool, made by `make` the first time (a failure leaves it unmade, for the next sink
    /// to try again).
    pub(crate) async fn get_or_make<F, Fut>(&self, make: F) -> Result<Pool, SinkError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Pool, SinkError>>,
    {
        self.inner.pool.get_or_try_init(make).await.cloned()
    }

    /// Closes its connections; sinks that still use it fail from then on. Does nothing when no
    /// sink was ever built with it.
    pub async fn disconnect(&self) -> Result<(), SinkError> {
        match self.inner.pool.get() {
            Some(pool) => pool
                .clone()
                .disconnect()
                .await
                .map_err(SinkError::mysql("disconnecting")),
            None => Ok(()),
        }
    }
}
