//! A connection's outgoing lines. A line is written straight to the socket by the task that
//! sends it when nothing is queued ahead of it and the socket takes it whole; only the rest
//! goes through the connection's writer task. Handing every answer to the writer task cost an
//! extra task wake-up, often on the other runtime thread, per answer and per notification.
//!
//! Lines never interleave or split: a direct write and the writer's writes happen under one
//! lock, and a line is queued whole (or its unwritten rest is) before the lock is released.
//! `send` awaits only for room in the queue, before anything is written, so a sender that is
//! cancelled (an aborted attach stream) never leaves half a line behind.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};

use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// What the direct writers and the writer task share.
#[derive(Debug)]
struct Socket {
    half: OwnedWriteHalf,
    /// Lines queued for (or being written by) the writer task; `None` once the client is gone.
    queued: Mutex<Option<usize>>,
    gone: watch::Sender<bool>,
}

impl Socket {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<usize>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close(&self, queued: &mut Option<usize>) {
        *queued = None;
        self.gone.send_replace(true);
    }
}

/// A queued line and the queue room it holds.
struct Queued {
    line: Vec<u8>,
    _room: OwnedSemaphorePermit,
}

/// The sending side, shared by a connection's request tasks.
#[derive(Debug)]
pub(super) struct Outbox {
    socket: Arc<Socket>,
    queue: mpsc::UnboundedSender<Queued>,
    room: Arc<Semaphore>,
}

impl Outbox {
    /// An outbox writing to `half`, with room for `capacity` queued lines, and its writer
    /// task (which ends once the outbox is dropped and what it queued is written).
    pub(super) fn new(
        half: OwnedWriteHalf,
        capacity: usize,
    ) -> (Outbox, impl Future<Output = ()> + Send + 'static) {
        let socket = Arc::new(Socket {
            half,
            queued: Mutex::new(Some(0)),
            gone: watch::Sender::new(false),
        });
        let (queue, lines) = mpsc::unbounded_channel();
        let outbox = Outbox {
            socket: socket.clone(),
            queue,
            room: Arc::new(Semaphore::new(capacity)),
        };
        (outbox, write_queued(socket, lines))
    }

    /// Sends one line; false once the client is gone.
    pub(super) async fn send(&self, line: Vec<u8>) -> bool {
        let Ok(room) = self.room.clone().acquire_owned().await else {
            return false;
        };
        let socket = &self.socket;
        let mut queued = socket.lock();
        let Some(count) = queued.as_mut() else {
            return false;
        };
        let mut rest = line;
        if *count == 0 {
            match socket.half.try_write(&rest) {
                Ok(n) if n == rest.len() => return true,
                Ok(n) => drop(rest.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    socket.close(&mut queued);
                    return false;
                }
            }
        }
        *count += 1;
        self.queue
            .send(Queued {
                line: rest,
                _room: room,
            })
            .is_ok()
    }

    /// Resolves once the client is gone (a write failed).
    pub(super) async fn closed(&self) {
        let mut gone = self.socket.gone.subscribe();
        let _ = gone.wait_for(|gone| *gone).await;
    }
}

/// How one write of the writer task went.
enum Attempt {
    Wrote(usize),
    /// The socket's buffer is full: wait until it takes more.
    Full,
    Gone,
}

/// The writer task: writes queued lines in order, each whole, as the socket takes them.
async fn write_queued(socket: Arc<Socket>, mut lines: mpsc::UnboundedReceiver<Queued>) {
    while let Some(Queued { line, _room }) = lines.recv().await {
        let mut written = 0;
        while written < line.len() {
            let attempt = {
                let mut queued = socket.lock();
                if queued.is_none() {
                    return;
                }
                match socket.half.try_write(&line[written..]) {
                    Ok(n) if n > 0 => Attempt::Wrote(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Attempt::Full,
                    Ok(_) | Err(_) => {
                        socket.close(&mut queued);
                        Attempt::Gone
                    }
                }
            };
            match attempt {
                Attempt::Wrote(n) => written += n,
                Attempt::Full => {
                    if socket.half.writable().await.is_err() {
                        socket.close(&mut socket.lock());
                        return;
                    }
                }
                Attempt::Gone => return,
            }
        }
        if let Some(count) = socket.lock().as_mut() {
            *count -= 1;
        }
    }
}
