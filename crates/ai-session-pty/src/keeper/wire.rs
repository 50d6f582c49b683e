//! The keeper's wire format, shared by the keeper and the daemon's client.
//!
//! One message per `SOCK_SEQPACKET` datagram (the kernel keeps the boundaries, so there is no
//! framing to get wrong), descriptors attached with `SCM_RIGHTS`. A message is a kind byte, a
//! request id (`u64`, 0 in events and in requests that want no answer), then the kind's fields:
//! integers little-endian, byte strings and lists prefixed with a `u32` length. Decoding checks
//! every length against what is left, so a short or hostile message is an error, never a panic.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

/// Protocol version; `Hello` carries it.
pub(crate) const VERSION: u32 = 1;
/// Largest message either side sends (a spawn with a big environment fits easily).
pub(crate) const MAX_MESSAGE: usize = 256 * 1024;
/// Most descriptors one message carries (a session: master, memfd, pipe read and write ends).
pub(crate) const MAX_FDS: usize = 4;

/// How a reaped process ended, as the keeper passes it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireStatus {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal killed it.
    pub signal: Option<i32>,
}

/// Daemon to keeper.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// First message: the client's protocol version.
    Hello { version: u32 },
    /// Start a program on the terminal whose master comes with the message (fds: master,
    /// memfd, pipe read end, pipe write end; the keeper keeps them all).
    Spawn {
        executable: Vec<u8>,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        cwd: Option<Vec<u8>>,
        tty: Vec<u8>,
    },
    /// Every session the keeper holds, each as an `Entry` with its four fds, then `ListEnd`.
    List,
    /// Close the keeper's copies of a session's fds and drop it (the daemon ended it).
    Forget { session: u64 },
}

/// Keeper to daemon.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Answer to `Hello`.
    Hello { version: u32, pid: i32 },
    /// Answer to `Spawn`.
    Spawned { session: u64, pid: i32 },
    /// One session of a `List` (fds attached); `status` is set if it has exited.
    Entry {
        session: u64,
        pid: i32,
        status: Option<WireStatus>,
    },
    /// End of a `List`.
    ListEnd { count: u64 },
    /// Answer to `Forget`.
    Forgotten { session: u64 },
    /// A request failed (`errno`, when a system call said why).
    Failed { errno: i32, message: String },
    /// Event (request id 0): the keeper reaped a session's program.
    Exited { session: u64, status: WireStatus },
}

/// A message that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed keeper message: {}", self.0)
    }
}

/// Little-endian encoder.
#[derive(Debug, Default)]
pub(crate) struct Encoder(pub Vec<u8>);

impl Encoder {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(v);
        self
    }
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(v) => self.u8(1).bytes(v),
            None => self.u8(0),
        }
    }
    pub fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.u8(1).u64(v),
            None => self.u8(0),
        }
    }
    pub fn opt_i32(&mut self, v: Option<i32>) -> &mut Self {
        match v {
            Some(v) => self.u8(1).i32(v),
            None => self.u8(0),
        }
    }
    pub fn list<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) -> &mut Self {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            self.bytes(item);
        }
        self
    }
}

/// Bounds-checked little-endian decoder.
#[derive(Debug)]
pub(crate) struct Decoder<'a> {
    data: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.data.len() < n {
            return Err(Malformed(what));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1, "truncated u8")?[0])
    }
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4, "truncated u32")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8, "truncated u64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(self.u32()? as i32)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u32()? as usize;
        self.take(n, "byte string longer than the message")
    }
    fn flag(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed("bad option flag")),
        }
    }
    pub fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        Ok(if self.flag()? {
            Some(self.bytes()?)
        } else {
            None
        })
    }
    pub fn opt_u64(&mut self) -> Result<Option<u64>, Malformed> {
        Ok(if self.flag()? {
            Some(self.u64()?)
        } else {
            None
        })
    }
    pub fn opt_i32(&mut self) -> Result<Option<i32>, Malformed> {
        Ok(if self.flag()? {
            Some(self.i32()?)
        } else {
            None
        })
    }
    pub fn list(&mut self) -> Result<Vec<Vec<u8>>, Malformed> {
        let n = self.u32()? as usize;
        // Each item takes at least its 4-byte length: a count beyond that is a lie.
        if n > self.data.len() / 4 {
            return Err(Malformed("list longer than the message"));
        }
        (0..n).map(|_| self.bytes().map(<[u8]>::to_vec)).collect()
    }
    pub fn finish(&self) -> Result<(), Malformed> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(Malformed("trailing bytes"))
        }
    }
}

const HELLO: u8 = 1;
const SPAWN: u8 = 2;
const LIST: u8 = 3;
const FORGET: u8 = 4;
const R_HELLO: u8 = 101;
const R_SPAWNED: u8 = 102;
const R_ENTRY: u8 = 103;
const R_LIST_END: u8 = 104;
const R_FORGOTTEN: u8 = 105;
const R_FAILED: u8 = 106;
const R_EXITED: u8 = 107;

fn status(e: &mut Encoder, s: WireStatus) {
    e.opt_i32(s.code).opt_i32(s.signal);
}

fn read_status(d: &mut Decoder<'_>) -> Result<WireStatus, Malformed> {
    Ok(WireStatus {
        code: d.opt_i32()?,
        signal: d.opt_i32()?,
    })
}

impl Request {
    pub fn encode(&self, request_id: u64) -> Vec<u8> {
        let mut e = Encoder::default();
        match self {
            Request::Hello { version } => e.u8(HELLO).u64(request_id).u32(*version),
            Request::Spawn {
                executable,
                argv,
                envp,
                cwd,
                tty,
            } => e
                .u8(SPAWN)
                .u64(request_id)
                .bytes(executable)
                .list(argv.iter().map(Vec::as_slice))
                .list(envp.iter().map(Vec::as_slice))
                .opt_bytes(cwd.as_deref())
                .bytes(tty),
            Request::List => e.u8(LIST).u64(request_id),
            Request::Forget { session } => e.u8(FORGET).u64(request_id).u64(*session),
        };
        e.0
    }

    pub fn decode(data: &[u8]) -> Result<(u64, Request), Malformed> {
        let mut d = Decoder::new(data);
        let kind = d.u8()?;
        let id = d.u64()?;
        let request = match kind {
            HELLO => Request::Hello { version: d.u32()? },
            SPAWN => Request::Spawn {
                executable: d.bytes()?.to_vec(),
                argv: d.list()?,
                envp: d.list()?,
                cwd: d.opt_bytes()?.map(<[u8]>::to_vec),
                tty: d.bytes()?.to_vec(),
            },
            LIST => Request::List,
            FORGET => Request::Forget { session: d.u64()? },
            _ => return Err(Malformed("unknown request kind")),
        };
        d.finish()?;
        Ok((id, request))
    }
}

impl Reply {
    pub fn encode(&self, request_id: u64) -> Vec<u8> {
        let mut e = Encoder::default();
        match self {
            Reply::Hello { version, pid } => {
                e.u8(R_HELLO).u64(request_id).u32(*version).i32(*pid);
            }
            Reply::Spawned { session, pid } => {
                e.u8(R_SPAWNED).u64(request_id).u64(*session).i32(*pid);
            }
            Reply::Entry {
                session,
                pid,
                status: st,
            } => {
                e.u8(R_ENTRY).u64(request_id).u64(*session).i32(*pid);
                match st {
                    Some(st) => {
                        e.u8(1);
                        status(&mut e, *st);
                    }
                    None => {
                        e.u8(0);
                    }
                }
            }
            Reply::ListEnd { count } => {
                e.u8(R_LIST_END).u64(request_id).u64(*count);
            }
            Reply::Forgotten { session } => {
                e.u8(R_FORGOTTEN).u64(request_id).u64(*session);
            }
            Reply::Failed { errno, message } => {
                e.u8(R_FAILED)
                    .u64(request_id)
                    .i32(*errno)
                    .bytes(message.as_bytes());
            }
            Reply::Exited {
                session,
                status: st,
            } => {
                e.u8(R_EXITED).u64(request_id).u64(*session);
                status(&mut e, *st);
            }
        }
        e.0
    }

    pub fn decode(data: &[u8]) -> Result<(u64, Reply), Malformed> {
        let mut d = Decoder::new(data);
        let kind = d.u8()?;
        let id = d.u64()?;
        let reply = match kind {
            R_HELLO => Reply::Hello {
                version: d.u32()?,
                pid: d.i32()?,
            },
            R_SPAWNED => Reply::Spawned {
                session: d.u64()?,
                pid: d.i32()?,
            },
            R_ENTRY => Reply::Entry {
                session: d.u64()?,
                pid: d.i32()?,
                status: if d.flag()? {
                    Some(read_status(&mut d)?)
                } else {
                    None
                },
            },
            R_LIST_END => Reply::ListEnd { count: d.u64()? },
            R_FORGOTTEN => Reply::Forgotten { session: d.u64()? },
            R_FAILED => Reply::Failed {
                errno: d.i32()?,
                message: String::from_utf8_lossy(d.bytes()?).into_owned(),
            },
            R_EXITED => Reply::Exited {
                session: d.u64()?,
                status: read_status(&mut d)?,
            },
            _ => return Err(Malformed("unknown reply kind")),
        };
        d.finish()?;
        Ok((id, reply))
    }
}

/// Send one message with `fds` attached.
pub(crate) fn send(
    socket: BorrowedFd<'_>,
    message: &[u8],
    fds: &[BorrowedFd<'_>],
) -> nix::Result<()> {
    let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let cmsgs: Vec<ControlMessage<'_>> = if raw.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&raw)]
    };
    let iov = [IoSlice::new(message)];
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            // SEQPACKET sends all or nothing.
            Ok(_) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}

/// What one `recv` got.
#[derive(Debug)]
pub(crate) enum Received {
    /// A message and the descriptors attached to it (close-on-exec).
    Message(Vec<u8>, Vec<OwnedFd>),
    /// The peer closed the connection.
    Closed,
}

/// Receive one message. A message with more fds than [`MAX_FDS`] or longer than
/// [`MAX_MESSAGE`] is an error (its fds are closed).
pub(crate) fn recv(socket: BorrowedFd<'_>, buffer: &mut [u8]) -> nix::Result<Received> {
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; MAX_FDS]);
    let (len, truncated, fds) = loop {
        let mut iov = [IoSliceMut::new(buffer)];
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::Error::EINTR) => continue,
            Err(error) => return Err(error),
            Ok(msg) => {
                let mut fds = Vec::new();
                for cmsg in msg.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(received) = cmsg {
                        for fd in received {
                            // SAFETY: the kernel installed these descriptors for us just now;
                            // nothing else owns them.
                            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                        }
                    }
                }
                let truncated = msg
                    .flags
                    .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
                break (msg.bytes, truncated, fds);
            }
        }
    };
    if truncated {
        return Err(nix::Error::EMSGSIZE);
    }
    if len == 0 && fds.is_empty() {
        return Ok(Received::Closed);
    }
    Ok(Received::Message(buffer[..len].to_vec(), fds))
}

/// Borrow a slice of owned fds.
pub(crate) fn borrow_all(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(AsFd::as_fd).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let requests = [
            Request::Hello { version: VERSION },
            Request::Spawn {
                executable: b"/bin/bash".to_vec(),
                argv: vec![b"bash".to_vec(), b"-i".to_vec()],
                envp: vec![b"A=1".to_vec()],
                cwd: Some(b"/tmp".to_vec()),
                tty: b"/dev/pts/3".to_vec(),
            },
            Request::List,
            Request::Forget { session: 9 },
        ];
        for (i, request) in requests.into_iter().enumerate() {
            let bytes = request.encode(i as u64);
            assert_eq!(Request::decode(&bytes).unwrap(), (i as u64, request));
        }
        let status = WireStatus {
            code: Some(3),
            signal: None,
        };
        let replies = [
            Reply::Hello { version: 1, pid: 7 },
            Reply::Spawned { session: 1, pid: 8 },
            Reply::Entry {
                session: 2,
                pid: 9,
                status: Some(status),
            },
            Reply::Entry {
                session: 2,
                pid: 9,
                status: None,
            },
            Reply::ListEnd { count: 2 },
            Reply::Forgotten { session: 2 },
            Reply::Failed {
                errno: 2,
                message: "no such file".into(),
            },
            Reply::Exited { session: 2, status },
        ];
        for (i, reply) in replies.into_iter().enumerate() {
            let bytes = reply.encode(i as u64);
            assert_eq!(Reply::decode(&bytes).unwrap(), (i as u64, reply));
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = Request::Spawn {
            executable: b"/bin/sh".to_vec(),
            argv: vec![b"sh".to_vec()],
            envp: vec![b"X=y".to_vec(), b"Z=w".to_vec()],
            cwd: None,
            tty: b"/dev/pts/1".to_vec(),
        }
        .encode(5);
        for cut in 0..bytes.len() {
            assert!(Request::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Request::decode(&long).is_err());
        // A list count far beyond the message is refused before allocating.
        let mut lie = Encoder::default();
        lie.u8(SPAWN).u64(1).bytes(b"x").u32(u32::MAX);
        assert!(Request::decode(&lie.0).is_err());
    }
}
