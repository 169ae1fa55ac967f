//! Connections that can neither hang the process nor go back to the pool in an unknown state.
//!
//! mysql_async returns a dropped [`Conn`] to its pool as it is. One dropped while a statement
//! was in flight (a timeout, an abandoned commit, a caller that stopped polling) may still hold
//! an open transaction or an unread answer, and the next user of the pool would commit the
//! former with its own `START TRANSACTION` and read the latter as its own. So a connection is
//! held as a [`HeldConn`], which goes back to the pool only when [`HeldConn::release`]d after a
//! finished statement; dropped otherwise, it is closed, and the server rolls back whatever
//! transaction was open on it.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use mysql_async::{Conn, Pool};
use tokio::sync::watch;

use crate::error::SinkError;

/// A pooled connection that is closed, not pooled, unless released.
pub(crate) struct HeldConn {
    conn: Option<Conn>,
}

impl HeldConn {
    /// Takes a connection from `pool`.
    pub(crate) async fn get(pool: &Pool) -> Result<HeldConn, SinkError> {
        let conn = pool.get_conn().await.map_err(SinkError::mysql("connecting"))?;
        Ok(HeldConn { conn: Some(conn) })
    }

    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("held until released or dropped")
    }

    /// Returns the connection to the pool: only after a finished statement, outside a
    /// transaction.
    pub(crate) fn release(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // The first poll marks the connection disconnected before anything else, so the
            // pool discards it when the future (and with it the connection) is dropped; the
            // socket closes without waiting for a server that may never answer.
            let _ = conn.disconnect().now_or_never();
        }
    }
}

/// The sink's limits on waiting: the timeout of every MySQL operation, and the switch that
/// abandons them all.
#[derive(Debug)]
pub(crate) struct Bounds {
    /// The longest one operation (a commit attempt, a checkpoint read, the start-up) may take.
    pub timeout: Duration,
    abandon: watch::Sender<bool>,
}

impl Bounds {
    pub(crate) fn new(timeout: Duration) -> Self {
        Bounds {
            timeout,
            abandon: watch::Sender::new(false),
        }
    }

    /// Abandons every operation in flight and every later one.
    pub(crate) fn abandon(&self) {
        self.abandon.send_replace(true);
    }

    /// Resolves once [`abandon`](Self::abandon) was called.
    fn abandoned(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.abandon.subscribe();
        async move {
            let _ = rx.wait_for(|abandoned| *abandoned).await;
        }
    }

    /// Runs `op` within the timeout: [`SinkError::Timeout`] when it runs out, and
    /// [`SinkError::Abandoned`] as soon as the sink is abandoned. Either way `op` is dropped,
    /// and with it any [`HeldConn`] it holds.
    pub(crate) async fn run<T, E: From<SinkError>>(
        &self,
        during: &'static str,
        op: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::select! {
            biased;
            _ = self.abandoned() => Err(SinkError::Abandoned.into()),
            r = tokio::time::timeout(self.timeout, op) => r.unwrap_or_else(|_| {
                Err(SinkError::Timeout { during, after: self.timeout }.into())
            }),
        }
    }

    /// Sleeps before a retry; [`SinkError::Abandoned`] at once when the sink is abandoned.
    pub(crate) async fn pause(&self, pause: Duration) -> Result<(), SinkError> {
        tokio::select! {
            biased;
            _ = self.abandoned() => Err(SinkError::Abandoned),
            _ = tokio::time::sleep(pause) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_operation_that_never_ends_times_out_naming_the_setting() {
        let b = Bounds::new(Duration::from_secs(120));
        let r: Result<(), SinkError> = b.run("committing", std::future::pending()).await;
        let e = r.unwrap_err();
        assert!(matches!(e, SinkError::Timeout { during: "committing", after } if after == Duration::from_secs(120)));
        assert!(e.to_string().contains("MySqlSinkBuilder::timeout"), "{e}");
        assert!(e.is_connection_error());
    }

    #[tokio::test(start_paused = true)]
    async fn abandon_ends_operations_and_pauses_in_flight_and_later() {
        let b = std::sync::Arc::new(Bounds::new(Duration::from_secs(120)));
        let b2 = b.clone();
        let running = tokio::spawn(async move { b2.run::<(), SinkError>("committing", std::future::pending()).await });
        tokio::task::yield_now().await;
        assert!(b.pause(Duration::from_millis(1)).await.is_ok());
        b.abandon();
        assert!(matches!(running.await.unwrap(), Err(SinkError::Abandoned)));
        assert!(matches!(
            b.pause(Duration::from_secs(60)).await,
            Err(SinkError::Abandoned)
        ));
        let later: Result<(), SinkError> = b.run("reading", async { Ok(()) }).await;
        assert!(matches!(later, Err(SinkError::Abandoned)));
    }
}
