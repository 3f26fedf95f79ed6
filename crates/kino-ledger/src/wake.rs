//! Wake-ups for workers: a worker sleeps until another process records work (a new job, a lease
//! given back, a job finished and its provider's room freed) instead of scanning the ledger.
//! PostgreSQL carries them with LISTEN/NOTIFY; an SQLite ledger, which has no such channel,
//! with one Unix datagram socket per listener in a directory beside the ledger file.

use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The in-process side: every ledger handle of a process shares one counter.
#[derive(Clone, Debug)]
pub(crate) struct Signal(watch::Sender<u64>);

impl Default for Signal {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Signal {
    pub(crate) fn raise(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn listen(&self, remote: Option<Remote>) -> Wakeups {
        Wakeups {
            rx: self.0.subscribe(),
            remote,
        }
    }
}

/// What keeps a cross-process listener alive; dropping it stops the listener and, for a
/// socket, removes its file.
#[derive(Debug)]
pub(crate) struct Remote {
    task: JoinHandle<()>,
    socket: Option<PathBuf>,
}

impl Remote {
    pub(crate) fn task(task: JoinHandle<()>) -> Self {
        Self { task, socket: None }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A worker's subscription to wake-ups.
#[derive(Debug)]
pub struct Wakeups {
    rx: watch::Receiver<u64>,
    remote: Option<Remote>,
}

impl Wakeups {
    /// Resolves at the next wake-up after the last one seen. Wake-ups that came meanwhile are
    /// folded into one.
    pub async fn next(&mut self) {
        if self.rx.changed().await.is_err() {
            // The ledger is gone: nothing will ever wake this worker again.
            std::future::pending::<()>().await;
        }
    }

    /// False when other processes cannot reach this listener (an in-memory ledger, or a socket
    /// that could not be bound): the worker then also wakes on a timer.
    pub fn crosses_processes(&self) -> bool {
        self.remote.is_some()
    }
}

/// The directory of an SQLite ledger's wake sockets.
pub(crate) fn socket_dir(ledger: &Path) -> PathBuf {
    let mut name = ledger.as_os_str().to_owned();
    name.push(".wake");
    PathBuf::from(name)
}

/// Binds a socket in `dir` whose datagrams raise `signal`.
pub(crate) fn bind_socket(dir: &Path, signal: Signal) -> std::io::Result<Remote> {
    std::fs::create_dir_all(dir)?;
    let nonce = uuid_like();
    let path = dir.join(format!("{}-{nonce}.sock", std::process::id()));
    let socket = tokio::net::UnixDatagram::bind(&path)?;
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        loop {
            match socket.recv(&mut buf).await {
                Ok(_) => signal.raise(),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    });
    Ok(Remote {
        task,
        socket: Some(path),
    })
}

/// Sends one datagram to every listener in `dir`; a socket nobody listens on any more (its
/// process died) is removed.
pub(crate) fn poke_sockets(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let Ok(sender) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    // A listener whose buffer is full has a wake-up pending already.
    let _ = sender.set_nonblocking(true);
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "sock") {
            continue;
        }
        if let Err(e) = sender.send_to(b"w", &path)
            && matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            )
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn uuid_like() -> String {
    let id = kino_core::JobId::new().to_string().replace('-', "");
    id[id.len() - 12..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poke_from_another_handle_wakes_a_listener_and_a_dead_socket_is_swept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signal = Signal::default();
        let remote = bind_socket(dir.path(), signal.clone()).expect("bind");
        let mut wake = signal.listen(Some(remote));
        assert!(wake.crosses_processes());
        // A socket file without a listener, as a killed worker leaves behind.
        let stale = dir.path().join("1-dead.sock");
        drop(std::os::unix::net::UnixDatagram::bind(&stale).expect("bind stale"));
        poke_sockets(dir.path());
        tokio::time::timeout(std::time::Duration::from_secs(5), wake.next())
            .await
            .expect("woken");
        assert!(!stale.exists(), "the dead listener's socket is removed");
        drop(wake);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(left.is_empty(), "a dropped listener removes its socket");
    }
}
