//! Serving the router on a TCP listener with limits a slow or hostile
//! client cannot get around: a connection must send its request headers
//! within [`ConnLimits::header_read`] (slowloris), at most
//! [`ConnLimits::max_connections`] are served at once (beyond that a
//! connection gets an immediate 503 and is closed, instead of exhausting
//! file descriptors; `GET /healthz` is still answered there, by up to
//! [`OVERFLOW`] short-lived handlers, so a full server still says it is
//! alive), and a request's handling — body included — is bounded by the
//! 30 s limit of [`crate::layers`]. The binary derives the cap from the
//! process's descriptor limit (`koudai serve`'s descriptor budget).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// How long a client may take to send a request's headers (also the
    /// longest a kept-alive connection may sit between requests).
    pub header_read: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        // 900 leaves room under the common 1024 file-descriptor limit for
        // the database, logs and the callback client.
        ConnLimits { header_read: Duration::from_secs(10), max_connections: 900 }
    }
}

/// The answer to a connection over the limit: written at once, then closed.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";
/// The answer to `GET /healthz` over the limit: the process is alive.
const ALIVE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
/// Connections over the limit answered at once (each holds a descriptor
/// for at most [`OVERFLOW_READ`]); beyond that they are closed unanswered.
pub const OVERFLOW: usize = 16;
/// How long a connection over the limit has to send its request line.
const OVERFLOW_READ: Duration = Duration::from_millis(200);

/// Serves `router` until `stop` is cancelled, then lets requests in flight
/// finish.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnLimits, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Arc::new(Semaphore::new(OVERFLOW));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors or similar: say so, breathe, go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Over the cap: answer and close at once, unless even the
            // overflow is full (then just close).
            if let Ok(permit) = Arc::clone(&overflow).try_acquire_owned() {
                connections.spawn(async move {
                    let _permit = permit;
                    answer_over_the_cap(stream).await;
                });
            }
            continue;
        };
        // The client's address, for limits per address (`ConnectInfo`).
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read).keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    while connections.join_next().await.is_some() {}
}

/// `GET /healthz` gets "ok", anything else (or nothing within
/// [`OVERFLOW_READ`]) the 503.
async fn answer_over_the_cap(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt as _;
    const HEALTHZ: &[u8] = b"GET /healthz ";
    let mut head = [0u8; HEALTHZ.len()];
    let mut got = 0;
    // Read until the request line is known to be, or not to be, a health
    // check.
    let _ = tokio::time::timeout(OVERFLOW_READ, async {
        while got < head.len() && head[..got] == HEALTHZ[..got] {
            match stream.read(&mut head[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    let answer = if head == HEALTHZ { ALIVE } else { BUSY };
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}
