//! A TCP proxy in front of a server that can turn into a black hole: once frozen, it forwards
//! nothing in either direction but keeps every connection open, as a dead network path or a
//! hung server does. A client that closes its side still closes the proxy's upstream side.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The proxy; stops accepting when dropped.
pub struct Proxy {
    port: u16,
    frozen: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = watch::Sender::new(false);
        let rx = frozen.subscribe();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pipe(client, upstream, rx.clone()));
            }
        });
        Proxy { port, frozen, task }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that freezes and thaws the proxy (for a hook).
    pub fn switch(&self) -> watch::Sender<bool> {
        self.frozen.clone()
    }

    /// Stops forwarding: bytes sent by either side are swallowed from now on.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Forwards again.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut frozen: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_rx, mut client_tx) = client.split();
    let (mut server_rx, mut server_tx) = server.split();
    let (mut up, mut down) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let is_frozen = *frozen.borrow_and_update();
        tokio::select! {
            r = client_rx.read(&mut up) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) if !is_frozen => {
                    if server_tx.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {} // swallowed
            },
            r = server_rx.read(&mut down), if !is_frozen => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if client_tx.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = frozen.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
