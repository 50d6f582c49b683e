//! The reader task: drains the PTY master, splits marks from output, updates the state.

use std::sync::Arc;

use crate::marks::MarkParser;
use crate::session::Inner;

const READ_BUFFER: usize = 64 * 1024;

pub(crate) async fn run(inner: Arc<Inner>, mut parser: MarkParser) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut pieces = Vec::new();
    loop {
        let n = match inner.master.readable().await {
            Ok(mut guard) => {
                match guard.try_io(|fd| {
                    nix::unistd::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)
                }) {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // EIO: every process holding the slave side has closed it.
                    Ok(Err(_)) => 0,
                    Err(_would_block) => continue,
                }
            }
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        parser.feed(&buf[..n], &mut pieces);
        let (progress, rc_files_done) = {
            let mut state = inner.state();
            for piece in pieces.drain(..) {
                state.apply(piece);
            }
            (state.progress(), state.rc_files_done.take())
        };
        inner.progress.send_replace(progress);
        // Removed (on drop) only now that waiters have been told about the prompt.
        drop(rc_files_done);
    }
    let progress = {
        let mut state = inner.state();
        state.closed = true;
        state.progress()
    };
    inner.progress.send_replace(progress);
    tracing::debug!(pid = inner.pid, "session output closed");
}
