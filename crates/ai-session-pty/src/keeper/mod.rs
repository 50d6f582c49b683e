//! The PTY keeper: a small process that owns every session's terminal master and shell, so
//! they outlive the daemon (a `kill -9`, a panic, an upgrade). The daemon borrows the masters
//! over `SCM_RIGHTS` and does all the reading, writing and parsing; the keeper only starts
//! programs, holds descriptors, reaps and reports exit statuses. See `docs/architecture.md`,
//! "The PTY keeper", for why one keeper rather than one holder per session or an fd store.

mod client;
mod server;
pub(crate) mod wire;

use std::path::Path;

pub use client::{Keeper, KeptSession};

/// The argument that selects the keeper mode of a binary: `<binary> __keeper <socket>`.
pub const KEEPER_ARG: &str = "__keeper";

/// Run the keeper on `socket` (blocks until the keeper is done; the calling process forks, and
/// the parent returns 0 as soon as the socket listens). Call it before anything starts a
/// thread. Returns the process exit code.
pub fn keeper_main(socket: &Path) -> i32 {
    server::run(socket)
}

/// If this process was started as `<binary> __keeper <socket>`, run the keeper and return its
/// exit code; otherwise `None`. For a binary's `main`, first thing.
pub fn run_keeper_if_asked() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != KEEPER_ARG {
        return None;
    }
    let Some(socket) = args.next() else {
        eprintln!("usage: {KEEPER_ARG} <socket>");
        return Some(2);
    };
    Some(keeper_main(Path::new(&socket)))
}
