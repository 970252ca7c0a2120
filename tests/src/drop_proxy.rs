//! A loopback TCP proxy in front of the Plaid emulator that can drop connections: the request
//! reaches Plaid, Plaid acts on it (creates, bills a retry), and the connection closes before the
//! answer gets back. The one failure a status-code fault cannot play, and the one that tests
//! whether a caller's retry finds what Plaid already did instead of doing it twice.
//!
//! It can also hold answers: Plaid answers at once (its state as of the call), and the answer
//! reaches the caller only when the test releases it, after a newer read of the same session
//! has been answered and recorded. That is the race a delay fault at the emulator cannot play
//! (it delays before Plaid reads its state). A gate, not a delay: on a loaded machine the newer
//! read may take longer than any fixed delay, and the race would then not happen at all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Armed = Arc<Mutex<HashMap<String, u32>>>;
/// Per endpoint: answers left to hold, and the gate they wait on.
type Held = Arc<Mutex<HashMap<String, (u32, tokio::sync::watch::Receiver<bool>)>>>;

/// Held answers pass once this is released, or dropped (so a failed test never hangs on it).
pub struct AnswerGate(tokio::sync::watch::Sender<bool>);

impl AnswerGate {
    pub fn release(&self) {
        self.0.send_replace(true);
    }
}

pub struct DropProxy {
    addr: SocketAddr,
    armed: Armed,
    held: Held,
    dropped: Arc<Mutex<u32>>,
    task: tokio::task::JoinHandle<()>,
}

impl DropProxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<DropProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let armed: Armed = Arc::default();
        let held: Held = Arc::default();
        let dropped = Arc::new(Mutex::new(0));
        let (a, h, d) = (armed.clone(), held.clone(), dropped.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (a, h, d) = (a.clone(), h.clone(), d.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, a, h, d).await;
                    }
                });
            }
        });
        Ok(DropProxy {
            addr,
            armed,
            held,
            dropped,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`: use as the Plaid base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `count` calls to `endpoint` (e.g. `/identity_verification/retry`) reach Plaid,
    /// but their connections close before the answer is passed on.
    pub fn drop_answers(&self, endpoint: &str, count: u32) {
        *self
            .armed
            .lock()
            .unwrap()
            .entry(endpoint.to_owned())
            .or_default() += count;
    }

    /// The next `count` calls to `endpoint` reach Plaid and are answered there at once, but
    /// their answers are held (a slow network on the way back) until the returned gate is
    /// released: an older answer that arrives after a newer one.
    #[must_use = "the held answers pass when the gate is released or dropped"]
    pub fn hold_answers(&self, endpoint: &str, count: u32) -> AnswerGate {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut held = self.held.lock().unwrap();
        let entry = held.entry(endpoint.to_owned()).or_insert((0, rx.clone()));
        entry.0 += count;
        entry.1 = rx;
        AnswerGate(tx)
    }

    /// Answers dropped so far.
    pub fn dropped(&self) -> u32 {
        *self.dropped.lock().unwrap()
    }
}

impl Drop for DropProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The endpoint of an HTTP/1.1 request that starts in `chunk` (`POST /x HTTP/1.1`).
fn request_path(chunk: &[u8]) -> Option<String> {
    let line = chunk.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    if !matches!(method, "POST" | "GET") {
        return None;
    }
    parts.next().map(str::to_owned)
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    armed: Armed,
    held: Held,
    dropped: Arc<Mutex<u32>>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // The client does not pipeline: the answer being read belongs to the last request sent.
    let current: Arc<Mutex<Option<String>>> = Arc::default();
    let cur = current.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(path) = request_path(&buf[..n]) {
                *cur.lock().unwrap() = Some(path);
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let drop_it = {
            let path = current.lock().unwrap().clone();
            let mut armed = armed.lock().unwrap();
            match path.and_then(|p| armed.get_mut(&p)) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        };
        if drop_it {
            *dropped.lock().unwrap() += 1;
            break;
        }
        // Hold the answer once, at its first bytes (the request's path is then forgotten, so
        // the rest of the answer passes at once).
        let hold = {
            let path = current.lock().unwrap().take();
            let mut held = held.lock().unwrap();
            match path.and_then(|p| held.get_mut(&p)) {
                Some((left, gate)) if *left > 0 => {
                    *left -= 1;
                    Some(gate.clone())
                }
                _ => None,
            }
        };
        if let Some(mut gate) = hold {
            // Err: the gate was dropped, which releases it too.
            let _ = gate.wait_for(|open| *open).await;
        }
        if cw.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    up.abort();
    // Dropping both halves closes the client's connection without an answer.
}
