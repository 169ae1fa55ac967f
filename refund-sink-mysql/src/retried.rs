//! Small bookkeeping operations (a lease statement, a run-history row): each attempt on a
//! connection of its own within the sink's timeout, retried like a commit (lost lock races by
//! count, lost connections for the budget), ended at once when the sink is abandoned.

use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::conn::HeldConn;
use crate::error::SinkError;
use crate::retry::Retries;
use crate::sink::Inner;

/// Runs `op` on a pooled connection until it succeeds or its error is final.
///
/// `op` gets the connection (and hands it back with its result); it may open a transaction.
/// When it fails, the transaction is rolled back and the connection pooled again only if that
/// works (else it is closed, and the server rolls back). An attempt cut off by the timeout or
/// by [`abandon`](crate::MySqlSink::abandon) closes its connection. `limit` bounds each attempt
/// below the sink's timeout (a lease renewal must end before the lease does).
pub(crate) async fn retried<T, F, Fut>(
    inner: &Inner,
    during: &'static str,
    limit: Option<Duration>,
    mut op: F,
) -> Result<T, SinkError>
where
    F: FnMut(HeldConn) -> Fut,
    Fut: Future<Output = (HeldConn, Result<T, SinkError>)>,
{
    let mut retries = Retries::new(&inner.retry);
    loop {
        let attempt = async {
            let held = HeldConn::get(&inner.pool).await?;
            let (mut held, result) = op(held).await;
            if result.is_ok() || held.conn().query_drop("ROLLBACK").await.is_ok() {
                held.release();
            }
            result
        };
        let result = match limit {
            Some(limit) => inner.bounds.run(during, within(limit, during, attempt)).await,
            None => inner.bounds.run(during, attempt).await,
        };
        match result {
            Ok(value) => return Ok(value),
            Err(e) => {
                let (error, code) = (e.to_string(), e.server_code());
                let pause = retries.after(e)?;
                tracing::warn!(%error, ?code, retry = retries.count(), ?pause, "{during} failed; retrying");
                inner.bounds.pause(pause).await?;
            }
        }
    }
}

/// `op` within `limit`, as [`SinkError::Timeout`] when it runs out.
async fn within<T>(
    limit: Duration,
    during: &'static str,
    op: impl Future<Output = Result<T, SinkError>>,
) -> Result<T, SinkError> {
    tokio::time::timeout(limit, op)
        .await
        .unwrap_or(Err(SinkError::Timeout { during, after: limit }))
}
