//! Ctrl-C and SIGTERM: the first stops every account after the commit in progress; the second
//! abandons those commits too (each is rolled back, and the next run does it again).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

type AbandonHook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Abandon {
    done: AtomicBool,
    hooks: Mutex<Vec<AbandonHook>>,
}

impl Abandon {
    fn fire(&self) {
        self.done.store(true, Ordering::SeqCst);
        for hook in self.hooks.lock().expect("abandon hooks").iter() {
            hook();
        }
    }
}

/// The shutdown state shared by every account's task. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    stop: watch::Receiver<bool>,
    abandon: Arc<Abandon>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("stopped", &self.is_stopped())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

impl Shutdown {
    /// Listens for Ctrl-C and SIGTERM.
    pub fn on_signals() -> Self {
        Self::from_source(shutdown_signal)
    }

    /// Listens to `next_signal`, whose every completion counts as one signal.
    pub fn from_source<S, F>(mut next_signal: S) -> Self
    where
        S: FnMut() -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let (tx, stop) = watch::channel(false);
        let abandon = Arc::new(Abandon::default());
        let on_second = abandon.clone();
        tokio::spawn(async move {
            next_signal().await;
            let _ = tx.send(true);
            next_signal().await;
            eprintln!("second signal: abandoning the commit in progress (it is rolled back)");
            on_second.fire();
        });
        Self { stop, abandon }
    }

    /// True once the first signal came.
    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// True once the second signal came.
    pub fn is_abandoned(&self) -> bool {
        self.abandon.done.load(Ordering::SeqCst)
    }

    /// Completes at the first signal.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Calls `hook` at the second signal (at once, if it already came).
    pub fn on_abandon(&self, hook: impl Fn() + Send + Sync + 'static) {
        let mut hooks = self.abandon.hooks.lock().expect("abandon hooks");
        if self.is_abandoned() {
            hook();
        }
        hooks.push(Box::new(hook));
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn the_first_signal_stops_and_the_second_abandons_every_registered_sink() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let shutdown = Shutdown::from_source(move || {
            let rx = rx.clone();
            async move {
                rx.lock().await.recv().await;
            }
        });
        let abandoned = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let a = abandoned.clone();
            shutdown.on_abandon(move || {
                a.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert!(!shutdown.is_stopped());
        tx.send(()).unwrap();
        shutdown.stopped().await;
        assert!(shutdown.is_stopped());
        assert_eq!(abandoned.load(Ordering::SeqCst), 0, "the first signal abandons nothing");
        tx.send(()).unwrap();
        while !shutdown.is_abandoned() {
            tokio::task::yield_now().await;
        }
        assert_eq!(abandoned.load(Ordering::SeqCst), 2);
        // A sink opened after the second signal is abandoned at once.
        let a = abandoned.clone();
        shutdown.on_abandon(move || {
            a.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(abandoned.load(Ordering::SeqCst), 3);
    }
}
