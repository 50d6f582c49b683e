//! The sandbox's network namespace: created on a helper thread of the init while the init
//! builds the filesystem view, then entered before the program starts.
//!
//! A new network namespace is the most expensive namespace to create (every networking
//! subsystem sets up its per-namespace state: ~0.4 ms of a ~3.8 ms launch here) and it
//! depends on nothing the mount work does, so the two run side by side on two CPUs instead
//! of one after the other inside `clone(2)`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use super::{SandboxError, Step, StepContext};

/// `SIOCGSKNS` (`linux/sockios.h`): a descriptor for a socket's network namespace.
const SIOCGSKNS: libc::Ioctl = 0x894C;

/// The network namespace being created on the helper thread.
pub(super) struct PendingNetwork(JoinHandle<Result<OwnedFd, SandboxError>>);

/// Starts creating a private network namespace (with `lo` up when `loopback`). The calling
/// init must be in the sandbox's user namespace, where it has `CAP_SYS_ADMIN`.
pub(super) fn create_in_background(loopback: bool) -> Result<PendingNetwork, SandboxError> {
    std::thread::Builder::new()
        .name("sandbox-netns".into())
        .stack_size(64 << 10)
        .spawn(move || create(loopback))
        .map(PendingNetwork)
        .step(Step::Namespaces, || {
            "starting the thread that creates the network namespace".into()
        })
}

impl PendingNetwork {
    /// Waits for the namespace and moves the calling thread into it; the helper thread has
    /// ended when this returns, so the init is single-threaded again.
    pub(super) fn enter(self) -> Result<(), SandboxError> {
        let namespace = self.0.join().map_err(|_| {
            SandboxError::new(
                Step::Namespaces,
                "the thread creating the network namespace panicked",
            )
        })??;
        nix::sched::setns(&namespace, CloneFlags::CLONE_NEWNET).step(Step::Namespaces, || {
            "setns into the new network namespace".into()
        })
    }
}

fn create(loopback: bool) -> Result<OwnedFd, SandboxError> {
    // Only this thread moves; the init joins through the descriptor below.
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).step(Step::Namespaces, || {
        "unshare(CLONE_NEWNET) in the sandbox's user namespace".into()
    })?;
    if loopback {
        loopback_up().step(Step::Loopback, || "bringing up `lo`".into())?;
    }
    namespace_descriptor().step(Step::Namespaces, || {
        "getting a descriptor for the new network namespace (SIOCGSKNS)".into()
    })
}

/// A descriptor for the calling thread's network namespace, without `/proc` (which the
/// init is replacing meanwhile): `SIOCGSKNS` on a socket created in it.
fn namespace_descriptor() -> Result<OwnedFd, Errno> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor (close-on-exec).
    let fd = Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSKNS) })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets `IFF_UP` on `lo` (a new namespace starts with it down, so even 127.0.0.1 would be
/// unreachable). Needs `CAP_NET_ADMIN` in the namespace's owning user namespace, which the
/// sandbox init has.
fn loopback_up() -> Result<(), Errno> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags member of `request`, a
    // valid, correctly sized ifreq that outlives the call.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) })?;
    // SAFETY: the kernel just initialised the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: as above; SIOCSIFFLAGS only reads `request`.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) })?;
    Ok(())
}
