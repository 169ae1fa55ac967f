//! One runner per stream: a lease row in `wdt_sync_lease` (owner, heartbeat, expiry,
//! generation), taken in a transaction and renewed while the run lasts.
//!
//! A second copy of the program (an overlapping cron run, a second replica) finds the lease
//! held and skips the stream ([`LeaseOutcome::HeldBy`] says by whom and for how long), or waits
//! for it ([`MySqlSink::lease_wait`]); a lease whose holder died (kill -9, a lost host) expires
//! after its ttl and the next runner takes it over, with the next generation.
//!
//! The lease is a row, not `GET_LOCK`: on a MariaDB Galera cluster a named lock is local to the
//! node that grants it (two nodes both grant the same name), while two nodes writing the same
//! row conflict at `COMMIT` and one of them fails certification (error 1213). A failed `COMMIT`
//! is never taken as acquired: the attempt is made again and reads who holds the row.
//!
//! Every time is the database server's clock (`NOW(6)`, in the sink's Beijing-time session),
//! never the host's, so hosts with skewed clocks agree on when a lease expires. The holder's own
//! view is conservative: it counts the ttl from before it sent the statement that set the
//! expiry, on its monotonic clock, and considers the lease lost once that passes without a
//! renewal ([`Lease::is_held`], [`Lease::lost`]).
//!
//! While a lease taken through a sink is held, every batch that sink commits for the lease's
//! stream checks inside its transaction that the row still names this lease (owner token and
//! generation) and touches its heartbeat, so the write conflicts with a takeover on any node:
//! a runner that stalled past its expiry and was taken over cannot commit
//! ([`SinkError::LeaseLost`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::NaiveDateTime;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use wdt_qimen::sync::StreamId;

use crate::checkpoint::check_stream;
use crate::conn::HeldConn;
use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::quote_ident;
use crate::retried::retried;
use crate::sink::{Inner, MySqlSink};

/// The shortest lease ttl accepted.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// The longest lease ttl accepted.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Who holds (or asks for) a lease: host name, process id, and a random token that tells two
/// acquisitions apart even with the same host and pid (a restarted container is pid 1 again).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseOwner {
    /// The host name (at most 255 characters).
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// A random token (32 hex digits), new for every owner made.
    pub token: String,
}

impl LeaseOwner {
    /// This host and process, with a new token.
    pub fn this_process() -> Self {
        Self::new(host_name(), std::process::id())
    }

    /// An owner with the given host and pid, and a new token.
    pub fn new(host: impl Into<String>, pid: u32) -> Self {
        let host: String = host.into();
        Self {
            host: host.chars().take(255).collect(),
            pid,
            token: format!("{:032x}", fastrand::u128(..)),
        }
    }
}

impl fmt::Display for LeaseOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.pid)
    }
}

/// This machine's host name: the kernel's, `/etc/hostname`, `$HOSTNAME`, or `unknown-host`.
fn host_name() -> String {
    let from_file = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Who holds a lease that was asked for, as the database showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseHolder {
    /// The holder.
    pub owner: LeaseOwner,
    /// Its generation (1 for the first holder of the stream, +1 at every takeover).
    pub generation: u64,
    /// When it took the lease (database time, Beijing).
    pub acquired_at: NaiveDateTime,
    /// Its last renewal or commit (database time, Beijing).
    pub heartbeat_at: NaiveDateTime,
    /// When the lease expires unless renewed (database time, Beijing).
    pub expires_at: NaiveDateTime,
    /// How long until then, by the database's clock.
    pub expires_in: Duration,
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "held by {} (generation {}) until {} database time, {} s from now",
            self.owner,
            self.generation,
            self.expires_at.format("%Y-%m-%d %H:%M:%S"),
            self.expires_in.as_secs_f64().ceil()
        )
    }
}

/// What asking for a lease gave.
#[derive(Debug)]
#[must_use = "a lease that is dropped stops being renewed and expires"]
pub enum LeaseOutcome {
    /// The lease is this runner's.
    Acquired(Lease),
    /// Another runner holds it: skip the stream (or wait).
    HeldBy(LeaseHolder),
}

impl LeaseOutcome {
    /// The lease, when it was acquired.
    pub fn acquired(self) -> Option<Lease> {
        match self {
            LeaseOutcome::Acquired(lease) => Some(lease),
            LeaseOutcome::HeldBy(_) => None,
        }
    }
}

/// How a lease was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseLoss {
    /// The row names another holder (or another generation): the lease expired and was taken
    /// over, e.g. after this runner stalled. `None` when the row was released or removed.
    TakenOver(Option<LeaseHolder>),
    /// No renewal succeeded within the ttl (the database was unreachable or too slow): another
    /// runner may take the stream over at any moment.
    Expired,
}

impl fmt::Display for LeaseLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseLoss::TakenOver(Some(holder)) => write!(f, "taken over, now {holder}"),
            LeaseLoss::TakenOver(None) => f.write_str("released or removed by another runner"),
            LeaseLoss::Expired => f.write_str("it expired before a renewal got through"),
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    Held,
    Lost(LeaseLoss),
    Released,
}

/// What a [`Lease`] and its keep-alive task share.
pub(crate) struct Shared {
    inner: Arc<Inner>,
    stream: StreamId,
    owner: LeaseOwner,
    generation: u64,
    ttl: Duration,
    acquired_at: NaiveDateTime,
    /// The local instant by which the lease has certainly expired unless renewed.
    deadline: Mutex<Instant>,
    state: watch::Sender<State>,
}

impl Shared {
    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn extend(&self, sent: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        *d = (*d).max(sent + self.ttl);
    }

    /// Marks the lease lost (only from held: a loss is final, a release stays a release).
    fn mark_lost(&self, loss: LeaseLoss) {
        let changed = self.state.send_if_modified(|s| {
            if matches!(s, State::Held) {
                *s = State::Lost(loss.clone());
                true
            } else {
                false
            }
        });
        if changed {
            tracing::warn!(stream = %self.stream, generation = self.generation, %loss, "stream lease lost");
        }
    }

    /// The error for a lost lease, after checking the local deadline; `None` while held.
    fn loss(&self) -> Option<SinkError> {
        if Instant::now() >= self.deadline() {
            self.mark_lost(LeaseLoss::Expired);
        }
        match &*self.state.borrow() {
            State::Held => None,
            State::Lost(loss) => Some(self.lost_error(loss.clone())),
            State::Released => Some(self.lost_error(LeaseLoss::TakenOver(None))),
        }
    }

    fn lost_error(&self, loss: LeaseLoss) -> SinkError {
        SinkError::LeaseLost {
            stream: self.stream.to_string(),
            loss: Box::new(loss),
        }
    }

    fn key(&self) -> (String, String) {
        (self.stream.account.clone(), self.stream.method.clone())
    }
}

/// A stream's lease, held by this runner until [released](Lease::release), dropped (then it
/// expires after its ttl, as after a crash), or lost.
///
/// Renew it with [`renew`](Lease::renew), or let [`keep_alive`](Lease::keep_alive) do it;
/// watch [`lost`](Lease::lost) or [`is_held`](Lease::is_held) to stop the run when it is gone.
pub struct Lease {
    shared: Arc<Shared>,
    keep_alive: Mutex<Option<AbortHandle>>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("stream", &self.shared.stream)
            .field("owner", &self.shared.owner)
            .field("generation", &self.shared.generation)
            .field("ttl", &self.shared.ttl)
            .field("held", &self.is_held())
            .finish()
    }
}

impl Lease {
    /// The stream.
    pub fn stream(&self) -> &StreamId {
        &self.shared.stream
    }

    /// The owner recorded in the row (its token also marks this runner's run-history rows).
    pub fn owner(&self) -> &LeaseOwner {
        &self.shared.owner
    }

    /// The generation: the fencing token, one more than the previous holder's.
    pub fn generation(&self) -> u64 {
        self.shared.generation
    }

    /// The ttl asked for.
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// When this generation began (database time, Beijing).
    pub fn acquired_at(&self) -> NaiveDateTime {
        self.shared.acquired_at
    }

    /// True while the lease is this runner's as far as it can tell: not lost, not released, and
    /// renewed within the ttl.
    pub fn is_held(&self) -> bool {
        matches!(*self.shared.state.borrow(), State::Held) && Instant::now() < self.shared.deadline()
    }

    /// Resolves when the lease is lost: taken over (seen by a renewal or a commit) or expired
    /// without a renewal. Never resolves after a release. Independent of `self`, so it can be
    /// raced against the run with `tokio::select!`.
    pub fn lost(&self) -> impl Future<Output = LeaseLoss> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let mut rx = shared.state.subscribe();
            loop {
                let state = rx.borrow_and_update().clone();
                match state {
                    State::Lost(loss) => return loss,
                    State::Released => return std::future::pending().await,
                    State::Held => {}
                }
                let deadline = shared.deadline();
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return std::future::pending().await;
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        if Instant::now() >= shared.deadline() {
                            shared.mark_lost(LeaseLoss::Expired);
                        }
                    }
                }
            }
        }
    }

    /// Renews the lease for another ttl, by the database's clock.
    ///
    /// [`SinkError::LeaseLost`] when it is no longer this runner's (taken over after it
    /// expired, or expired by the local count); other errors (the database unreachable) leave
    /// it held until its deadline, so the caller may try again.
    pub async fn renew(&self) -> Result<(), SinkError> {
        renew(&self.shared).await
    }

    /// Starts a task that renews the lease every ttl/3 until it is released, dropped or lost; a
    /// failed renewal is tried again (every ttl/10) until the lease would expire. The loss is
    /// reported through [`lost`](Self::lost) and [`is_held`](Self::is_held). Calling it again
    /// does nothing. It spawns a task, so it must be called within a Tokio runtime.
    pub fn keep_alive(&self) {
        let mut task = self.keep_alive.lock().unwrap_or_else(|e| e.into_inner());
        if task.is_none() {
            let shared = self.shared.clone();
            *task = Some(tokio::spawn(keep_alive(shared)).abort_handle());
        }
    }

    /// Releases the lease, so the next runner takes it at once (with the next generation).
    /// [`SinkError::LeaseLost`] when it was no longer this runner's.
    pub async fn release(self) -> Result<(), SinkError> {
        self.stop_keep_alive();
        let shared = &self.shared;
        let inner = &shared.inner;
        let sql = release_sql(&inner.names.lease);
        let check = select_sql(&inner.names.lease, false);
        let params = owner_params(shared);
        let released = retried(inner, "releasing a stream lease", None, |mut held: HeldConn| {
            let (sql, check, params) = (&sql, &check, params.clone());
            async move {
                let result = async {
                    let conn = held.conn();
                    if affected(conn, sql, params).await? > 0 {
                        return Ok(None);
                    }
                    // Released already (a retry after a lost answer), or not ours any more.
                    let row = read_row(conn, check, &shared.stream).await?;
                    Ok(match row {
                        Some(r) if r.is(shared) && r.released => None,
                        other => Some(other.map(RowState::holder)),
                    })
                }
                .await;
                (held, result)
            }
        })
        .await;
        let was_held = matches!(*shared.state.borrow(), State::Held);
        shared.state.send_replace(State::Released);
        match released? {
            None => {
                tracing::info!(stream = %shared.stream, generation = shared.generation, "stream lease released");
                Ok(())
            }
            Some(holder) => {
                let loss = LeaseLoss::TakenOver(holder);
                if was_held {
                    tracing::warn!(stream = %shared.stream, %loss, "the stream lease was lost before its release");
                }
                Err(shared.lost_error(loss))
            }
        }
    }

    fn stop_keep_alive(&self) {
        if let Some(task) = self.keep_alive.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_keep_alive();
        self.shared.inner.fences.remove(&self.shared);
    }
}

/// The leases held through one sink, by stream: the batches it commits for those streams are
/// fenced ([`check_fence`]).
#[derive(Default)]
pub(crate) struct Fences(Mutex<HashMap<(String, String), Weak<Shared>>>);

impl Fences {
    fn insert(&self, shared: &Arc<Shared>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(shared.key(), Arc::downgrade(shared));
    }

    fn remove(&self, shared: &Arc<Shared>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = shared.key();
        if map
            .get(&key)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(shared)))
        {
            map.remove(&key);
        }
    }

    fn get(&self, stream: &StreamId) -> Option<Arc<Shared>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(stream.account.clone(), stream.method.clone()))
            .and_then(Weak::upgrade)
    }
}

/// The fencing check of a batch's transaction: when this sink holds a lease on `stream`, the
/// lease row must still name it (owner token and generation, not released), and its heartbeat
/// is touched in the same transaction, so that on Galera the batch's write set conflicts with
/// a takeover made through another node (one of them fails certification at `COMMIT`). Without
/// a lease on the stream it does nothing.
///
/// Call it inside the transaction after the batch's writes, right before `COMMIT` (and before
/// the before-commit hook). A lease already known to be lost fails at once.
pub(crate) async fn check_fence(conn: &mut Conn, inner: &Inner, stream: &StreamId) -> Result<(), SinkError> {
    let Some(shared) = inner.fences.get(stream) else {
        return Ok(());
    };
    if let Some(e) = shared.loss() {
        return Err(e);
    }
    let touched = affected(conn, &touch_sql(&inner.names.lease), owner_params(&shared)).await?;
    if touched > 0 {
        return Ok(());
    }
    // Zero rows changed: not ours any more, or a heartbeat within the same microsecond.
    match read_row(conn, &select_sql(&inner.names.lease, true), stream).await? {
        Some(row) if row.is(&shared) && !row.released => Ok(()),
        other => {
            let loss = LeaseLoss::TakenOver(other.map(RowState::holder));
            shared.mark_lost(loss.clone());
            Err(shared.lost_error(loss))
        }
    }
}

impl MySqlSink {
    /// Asks for `stream`'s lease for `ttl` as this host and process (with a new owner token).
    ///
    /// One transaction: the row is inserted, or taken over when it has expired or was
    /// released (generation + 1), and read back to see who holds it. When another runner holds
    /// it, [`LeaseOutcome::HeldBy`] says who and until when (for a "skipped" line). Deadlocks,
    /// Galera certification failures and lost connections are retried (the row is read again;
    /// a failed `COMMIT` is never taken as acquired).
    pub async fn lease(&self, stream: &StreamId, ttl: Duration) -> Result<LeaseOutcome, SinkError> {
        self.lease_as(stream, ttl, &LeaseOwner::this_process()).await
    }

    /// [`lease`](Self::lease) for a given owner. The same owner (same token) asking again
    /// while it holds the lease gets the same generation, with a new expiry.
    pub async fn lease_as(
        &self,
        stream: &StreamId,
        ttl: Duration,
        owner: &LeaseOwner,
    ) -> Result<LeaseOutcome, SinkError> {
        let inner = self.inner();
        check_stream(stream, &inner.dialect)?;
        check_ttl(ttl)?;
        let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        let insert = acquire_sql(&inner.names.lease, &inner.dialect);
        let select = select_sql(&inner.names.lease, true);
        let params: Vec<Value> = vec![
            stream.account.as_str().into(),
            stream.method.as_str().into(),
            owner.host.as_str().into(),
            owner.pid.into(),
            owner.token.as_str().into(),
            ttl_us.into(),
        ];
        let (row, sent) = retried(inner, "taking a stream lease", None, |mut held: HeldConn| {
            let (insert, select, params) = (&insert, &select, params.clone());
            async move {
                let result = async {
                    let conn = held.conn();
                    conn.query_drop("START TRANSACTION")
                        .await
                        .map_err(SinkError::mysql("starting the lease transaction"))?;
                    let sent = Instant::now();
                    conn.exec_drop(insert, params)
                        .await
                        .map_err(SinkError::mysql("taking a stream lease"))?;
                    let row = read_row(conn, select, stream)
                        .await?
                        .ok_or_else(|| SinkError::Inconsistent {
                            table: quote_ident(&inner.names.lease),
                            detail: "the lease row was not there right after it was written".into(),
                        })?;
                    let verb = if row.owner.token == owner.token {
                        "COMMIT"
                    } else {
                        "ROLLBACK"
                    };
                    conn.query_drop(verb)
                        .await
                        .map_err(SinkError::mysql("committing a stream lease"))?;
                    Ok((row, sent))
                }
                .await;
                (held, result)
            }
        })
        .await?;
        if row.owner.token != owner.token {
            tracing::info!(%stream, holder = %row.clone().holder(), "stream lease held by another runner");
            return Ok(LeaseOutcome::HeldBy(row.holder()));
        }
        let shared = Arc::new(Shared {
            inner: inner.clone(),
            stream: stream.clone(),
            owner: owner.clone(),
            generation: row.generation,
            ttl,
            acquired_at: row.acquired_at,
            deadline: Mutex::new(sent + ttl),
            state: watch::Sender::new(State::Held),
        });
        inner.fences.insert(&shared);
        tracing::info!(%stream, generation = row.generation, ?ttl, "stream lease acquired");
        Ok(LeaseOutcome::Acquired(Lease {
            shared,
            keep_alive: Mutex::new(None),
        }))
    }

    /// [`lease`](Self::lease), waiting up to `max_wait` while another runner holds it: tried
    /// again when the holder's lease would expire, and at least every 5 s (and every ttl/3), as
    /// a release ends it early. [`LeaseOutcome::HeldBy`] when it is still held after `max_wait`.
    pub async fn lease_wait(
        &self,
        stream: &StreamId,
        ttl: Duration,
        max_wait: Duration,
    ) -> Result<LeaseOutcome, SinkError> {
        let owner = LeaseOwner::this_process();
        let give_up = Instant::now() + max_wait;
        loop {
            let holder = match self.lease_as(stream, ttl, &owner).await? {
                LeaseOutcome::HeldBy(holder) => holder,
                acquired => return Ok(acquired),
            };
            let now = Instant::now();
            if now >= give_up {
                return Ok(LeaseOutcome::HeldBy(holder));
            }
            let poll = (ttl / 3).min(Duration::from_secs(5));
            let pause = (holder.expires_in + Duration::from_millis(10))
                .min(poll)
                .min(give_up - now);
            tracing::info!(%stream, %holder, ?pause, "waiting for the stream lease");
            self.inner().bounds.pause(pause).await?;
        }
    }
}

/// Renews once (retried within the lease's deadline).
async fn renew(shared: &Arc<Shared>) -> Result<(), SinkError> {
    if let Some(e) = shared.loss() {
        return Err(e);
    }
    let inner = &shared.inner;
    let (sql, check) = (renew_sql(&inner.names.lease), select_sql(&inner.names.lease, false));
    let mut params = vec![Value::from(i64::try_from(shared.ttl.as_micros()).unwrap_or(i64::MAX))];
    params.extend(owner_params(shared));
    let deadline = shared.deadline();
    let attempt_limit = shared.ttl.min(inner.bounds.timeout);
    let renewal = retried(
        inner,
        "renewing a stream lease",
        Some(attempt_limit),
        |mut held: HeldConn| {
            let (sql, check, params) = (&sql, &check, params.clone());
            async move {
                let result = async {
                    let conn = held.conn();
                    let sent = Instant::now();
                    if affected(conn, sql, params).await? > 0 {
                        return Ok(Ok(sent));
                    }
                    match read_row(conn, check, &shared.stream).await? {
                        Some(row) if row.is(shared) && !row.released => Ok(Ok(sent)),
                        other => Ok(Err(other.map(RowState::holder))),
                    }
                }
                .await;
                (held, result)
            }
        },
    );
    match tokio::time::timeout_at(deadline, renewal).await {
        Ok(Ok(Ok(sent))) => {
            shared.extend(sent);
            Ok(())
        }
        Ok(Ok(Err(holder))) => {
            let loss = LeaseLoss::TakenOver(holder);
            shared.mark_lost(loss.clone());
            Err(shared.lost_error(loss))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            shared.mark_lost(LeaseLoss::Expired);
            Err(shared.lost_error(LeaseLoss::Expired))
        }
    }
}

/// The keep-alive task: renew every ttl/3; after a failure, every ttl/10 until the deadline.
async fn keep_alive(shared: Arc<Shared>) {
    let period = shared.ttl / 3;
    let retry = (shared.ttl / 10).max(Duration::from_millis(50));
    let mut next = Instant::now() + period;
    loop {
        tokio::time::sleep_until(next).await;
        if !matches!(*shared.state.borrow(), State::Held) {
            return;
        }
        match renew(&shared).await {
            Ok(()) => next = Instant::now() + period,
            Err(e) if e.is_lease_lost() => return,
            Err(SinkError::Abandoned) => return,
            Err(e) => {
                tracing::warn!(stream = %shared.stream, error = %e, "renewing the stream lease failed; trying again");
                next = Instant::now() + retry;
            }
        }
    }
}

/// The lease row as read.
#[derive(Debug, Clone)]
struct RowState {
    owner: LeaseOwner,
    generation: u64,
    acquired_at: NaiveDateTime,
    heartbeat_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    released: bool,
    expires_in_us: i64,
}

impl RowState {
    fn is(&self, shared: &Shared) -> bool {
        self.owner.token == shared.owner.token && self.generation == shared.generation
    }

    fn holder(self) -> LeaseHolder {
        LeaseHolder {
            owner: self.owner,
            generation: self.generation,
            acquired_at: self.acquired_at,
            heartbeat_at: self.heartbeat_at,
            expires_at: self.expires_at,
            expires_in: Duration::from_micros(u64::try_from(self.expires_in_us).unwrap_or(0)),
        }
    }
}

type LeaseRow = (
    String,
    i64,
    String,
    i64,
    NaiveDateTime,
    NaiveDateTime,
    NaiveDateTime,
    i64,
    i64,
);

async fn read_row(conn: &mut Conn, sql: &str, stream: &StreamId) -> Result<Option<RowState>, SinkError> {
    let row: Option<LeaseRow> = conn
        .exec_first(sql, (stream.account.as_str(), stream.method.as_str()))
        .await
        .map_err(SinkError::mysql("reading a stream lease"))?;
    Ok(row.map(
        |(host, pid, token, generation, acquired_at, heartbeat_at, expires_at, released, expires_in_us)| RowState {
            owner: LeaseOwner {
                host,
                pid: u32::try_from(pid).unwrap_or(0),
                token,
            },
            generation: u64::try_from(generation).unwrap_or(0),
            acquired_at,
            heartbeat_at,
            expires_at,
            released: released != 0,
            expires_in_us,
        },
    ))
}

async fn affected(conn: &mut Conn, sql: &str, params: Vec<Value>) -> Result<u64, SinkError> {
    conn.exec_drop(sql, params)
        .await
        .map_err(SinkError::mysql("writing a stream lease"))?;
    Ok(conn.affected_rows())
}

/// `stream`, token and generation: the parameters that name one holder's row.
fn owner_params(shared: &Shared) -> Vec<Value> {
    vec![
        shared.stream.account.as_str().into(),
        shared.stream.method.as_str().into(),
        shared.owner.token.as_str().into(),
        shared.generation.into(),
    ]
}

const HOLDER_WHERE: &str = "`account` = ? AND `method` = ? AND `owner_token` = ? AND `generation` = ? \
     AND `released_at` IS NULL";

/// The acquiring upsert. Its assignments are ordered so that each sees the columns its
/// condition reads unchanged, or changed only by a takeover that already made the condition
/// true: a live lease of another owner is left exactly as it was.
pub(crate) fn acquire_sql(table: &str, dialect: &Dialect) -> String {
    let live = "(`released_at` IS NULL AND `expires_at` > NOW(6))";
    let new = |c: &str| dialect.inserted_value(c);
    let take = format!("(NOT {live} OR `owner_token` = {})", new("owner_token"));
    format!(
        "INSERT INTO {} (`account`, `method`, `owner_host`, `owner_pid`, `owner_token`, `generation`, \
         `acquired_at`, `heartbeat_at`, `expires_at`, `released_at`) \
         VALUES (?, ?, ?, ?, ?, 1, NOW(6), NOW(6), NOW(6) + INTERVAL ? MICROSECOND, NULL){} \
         ON DUPLICATE KEY UPDATE \
         `generation` = IF({live}, `generation`, `generation` + 1), \
         `acquired_at` = IF({live}, `acquired_at`, {}), \
         `owner_host` = IF({take}, {}, `owner_host`), \
         `owner_pid` = IF({take}, {}, `owner_pid`), \
         `heartbeat_at` = IF({take}, {}, `heartbeat_at`), \
         `owner_token` = IF({take}, {}, `owner_token`), \
         `expires_at` = IF({take}, {}, `expires_at`), \
         `released_at` = IF({take}, NULL, `released_at`)",
        quote_ident(table),
        dialect.row_alias_clause(),
        new("acquired_at"),
        new("owner_host"),
        new("owner_pid"),
        new("heartbeat_at"),
        new("owner_token"),
        new("expires_at"),
    )
}

/// The renewal: a new expiry, only for the same owner and generation.
pub(crate) fn renew_sql(table: &str) -> String {
    format!(
        "UPDATE {} SET `heartbeat_at` = NOW(6), `expires_at` = NOW(6) + INTERVAL ? MICROSECOND WHERE {HOLDER_WHERE}",
        quote_ident(table)
    )
}

/// The fence's heartbeat inside a batch's transaction (the expiry stays: the batch may still
/// roll back).
pub(crate) fn touch_sql(table: &str) -> String {
    format!(
        "UPDATE {} SET `heartbeat_at` = NOW(6) WHERE {HOLDER_WHERE}",
        quote_ident(table)
    )
}

/// The release: marked released (the next runner takes it at once), expiry kept for the record.
pub(crate) fn release_sql(table: &str) -> String {
    format!(
        "UPDATE {} SET `released_at` = NOW(6) WHERE {HOLDER_WHERE}",
        quote_ident(table)
    )
}

/// The read-back of a stream's lease row, locking it when `lock`.
pub(crate) fn select_sql(table: &str, lock: bool) -> String {
    format!(
        "SELECT `owner_host`, `owner_pid`, `owner_token`, `generation`, `acquired_at`, `heartbeat_at`, \
         `expires_at`, `released_at` IS NOT NULL, TIMESTAMPDIFF(MICROSECOND, NOW(6), `expires_at`) \
         FROM {} WHERE `account` = ? AND `method` = ?{}",
        quote_ident(table),
        if lock { " FOR UPDATE" } else { "" }
    )
}

fn check_ttl(ttl: Duration) -> Result<(), SinkError> {
    if (MIN_TTL..=MAX_TTL).contains(&ttl) {
        return Ok(());
    }
    Err(SinkError::InvalidConfig {
        problem: format!("the lease ttl {ttl:?} is out of range"),
        fix: format!(
            "use a ttl from {} s to {} s (e.g. 60 s); the holder renews it every ttl/3",
            MIN_TTL.as_secs(),
            MAX_TTL.as_secs()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acquire_upsert_only_takes_a_lease_that_is_not_live_or_is_ours() {
        let sql = acquire_sql("p_wdt_sync_lease", &Dialect::mariadb((10, 11, 0)));
        assert!(sql.starts_with("INSERT INTO `p_wdt_sync_lease` ("), "{sql}");
        assert!(
            sql.contains("NOW(6) + INTERVAL ? MICROSECOND, NULL) ON DUPLICATE KEY UPDATE"),
            "{sql}"
        );
        let live = "(`released_at` IS NULL AND `expires_at` > NOW(6))";
        let take = format!("(NOT {live} OR `owner_token` = VALUES(`owner_token`))");
        assert!(
            sql.contains(&format!("`generation` = IF({live}, `generation`, `generation` + 1)")),
            "{sql}"
        );
        assert!(sql.contains(&format!(
            "`owner_token` = IF({take}, VALUES(`owner_token`), `owner_token`)"
        )));
        // The columns the condition reads are assigned last, the token before the expiry.
        let pos = |c: &str| sql.find(&format!("{c} = IF(")).unwrap();
        assert!(pos("`owner_host`") < pos("`owner_token`"));
        assert!(pos("`owner_token`") < pos("`expires_at`"));
        assert!(pos("`expires_at`") < pos("`released_at`"));
        let my = acquire_sql("l", &Dialect::mysql((8, 0, 36)));
        assert!(my.contains("NULL) AS `new` ON DUPLICATE KEY UPDATE"), "{my}");
        assert!(my.contains("`owner_token` = `new`.`owner_token`"), "{my}");
    }

    #[test]
    fn renewals_and_releases_name_the_owner_and_generation() {
        let tail =
            "WHERE `account` = ? AND `method` = ? AND `owner_token` = ? AND `generation` = ? AND `released_at` IS NULL";
        assert!(renew_sql("l").ends_with(tail));
        assert!(touch_sql("l").ends_with(tail) && !touch_sql("l").contains("expires_at"));
        assert!(release_sql("l").starts_with("UPDATE `l` SET `released_at` = NOW(6) WHERE"));
        assert!(select_sql("l", true).ends_with("FOR UPDATE"));
        assert!(!select_sql("l", false).contains("FOR UPDATE"));
    }

    #[test]
    fn bad_ttls_are_refused_naming_the_value() {
        let e = check_ttl(Duration::from_millis(500)).unwrap_err().to_string();
        assert!(e.contains("500ms") && e.contains("from 1 s to 86400 s"), "{e}");
        assert!(check_ttl(Duration::from_secs(2)).is_ok());
        assert!(check_ttl(MAX_TTL + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn owners_get_new_tokens_and_show_host_and_pid() {
        let a = LeaseOwner::new("h".repeat(300), 7);
        let b = LeaseOwner::new("host", 7);
        assert_eq!(a.host.chars().count(), 255);
        assert_ne!(a.token, b.token);
        assert_eq!(b.token.len(), 32);
        assert_eq!(b.to_string(), "host:7");
        assert!(!LeaseOwner::this_process().host.is_empty());
    }
}
