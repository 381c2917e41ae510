//! Unix domain sockets, as [`std::os::unix::net`]: [`UnixStream`], [`UnixListener`] and
//! [`UnixDatagram`], whose blocking operations park the calling coroutine.
//!
//! From a plain thread they behave as std's do. Addresses are std's
//! [`SocketAddr`] (re-exported here).
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use goro::net::unix::UnixStream;
//!
//! let (mut a, mut b) = UnixStream::pair()?;
//! let echo = goro::go!(move || -> std::io::Result<()> {
//!     let mut buf = [0; 5];
//!     b.read_exact(&mut buf)?; // parks until the bytes arrive
//!     b.write_all(&buf)
//! });
//! a.write_all(b"hello")?;
//! let mut buf = [0; 5];
//! a.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"hello");
//! echo.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::iter::FusedIterator;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net as std_unix;
use std::path::Path;
use std::time::Duration;

pub use std::os::unix::net::SocketAddr;

use goro_sched::io::Interest;
use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, socket};

use super::socket::{Options, Socket, conversions};
use super::tcp::connected;

/// A Unix stream socket: [`std::os::unix::net::UnixStream`] whose reads, writes and
/// `connect` park the calling coroutine.
///
/// `Read` and `Write` are implemented for `UnixStream` and `&UnixStream`.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use goro::net::unix::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("goro-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("stream.sock");
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let client = goro::go!({
///     let path = path.clone();
///     move || -> std::io::Result<()> { UnixStream::connect(&path)?.write_all(b"hi") }
/// });
/// let (mut conn, _) = listener.accept()?;
/// let mut buf = String::new();
/// conn.read_to_string(&mut buf)?;
/// assert_eq!(buf, "hi");
/// client.join().unwrap()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream(Socket<std_unix::UnixStream>);

/// A Unix socket server: [`std::os::unix::net::UnixListener`] whose `accept` parks the
/// calling coroutine.
///
/// # Examples
///
/// See [`UnixStream`].
pub struct UnixListener(Socket<std_unix::UnixListener>);

/// A Unix datagram socket: [`std::os::unix::net::UnixDatagram`] whose receives (and
/// sends to a full peer) park the calling coroutine.
///
/// # Examples
///
/// ```
/// use goro::net::unix::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// let echo = goro::go!(move || -> std::io::Result<()> {
///     let mut buf = [0; 16];
///     let n = b.recv(&mut buf)?; // parks until a datagram arrives
///     b.send(&buf[..n]).map(drop)
/// });
/// a.send(b"ping")?;
/// let mut buf = [0; 16];
/// let n = a.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// echo.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram(Socket<std_unix::UnixDatagram>);

/// An endless iterator over a [`UnixListener`]'s connections.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

fn wrap<T: AsFd>(io: T) -> Socket<T> {
    Socket::new(io, Options::default())
}

/// A non-blocking connect from a coroutine. A Unix connect completes at once unless the
/// listener's backlog is full (`EAGAIN`): that rare case waits on the blocking pool with
/// std's blocking connect.
fn connect(
    addr: io::Result<UnixAddr>,
    blocking: impl FnOnce() -> io::Result<std_unix::UnixStream> + Send,
) -> io::Result<UnixStream> {
    let addr = addr?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let socket = wrap(std_unix::UnixStream::from(fd));
    let fd = socket.get().as_raw_fd();
    match crate::hook::own_io(|| nix::sys::socket::connect(fd, &addr)) {
        Ok(()) => Ok(UnixStream(socket)),
        Err(Errno::EINPROGRESS | Errno::EINTR) => {
            socket.run_until(Interest::Writable, None, connected)?;
            Ok(UnixStream(socket))
        }
        Err(Errno::EAGAIN) => {
            let stream = crate::blocking(blocking)?;
            stream.set_nonblocking(true)?;
            Ok(UnixStream(wrap(stream)))
        }
        Err(e) => Err(e.into()),
    }
}

/// A non-blocking listening socket on `addr` with the longest accept queue allowed.
fn listen(addr: UnixAddr) -> io::Result<UnixListener> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(fd.as_raw_fd(), &addr)?;
    nix::sys::socket::listen(&fd, Backlog::MAXALLOWABLE)?;
    Ok(UnixListener(wrap(std_unix::UnixListener::from(fd))))
}

fn unix_addr(addr: &SocketAddr) -> io::Result<UnixAddr> {
    if let Some(path) = addr.as_pathname() {
        Ok(UnixAddr::new(path)?)
    } else if let Some(name) = addr.as_abstract_name() {
        Ok(UnixAddr::new_abstract(name)?)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot connect to an unnamed Unix socket address",
        ))
    }
}

impl UnixStream {
    /// Connects to the socket at `path`, as std's `connect`. A coroutine parks if the
    /// listener's backlog is full; a plain thread blocks.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    ///
    /// # Errors
    ///
    /// The OS error of `connect`: `NotFound` if nothing is at `path`,
    /// `ConnectionRefused` if nothing listens there.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        if !goro_context::in_coroutine() {
            return UnixStream::from_new(std_unix::UnixStream::connect(path)?);
        }
        connect(UnixAddr::new(path).map_err(io::Error::from), || {
            std_unix::UnixStream::connect(path)
        })
    }

    /// Connects to the socket at `addr` (a path, or an abstract name), as std's
    /// `connect_addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use goro::net::unix::{SocketAddr, UnixListener, UnixStream};
    ///
    /// let name = format!("goro-doc-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// let listener = UnixListener::bind_addr(&addr)?;
    /// let stream = goro::go!(move || UnixStream::connect_addr(&addr)).join().unwrap()?;
    /// assert!(listener.accept().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect`](UnixStream::connect); `InvalidInput` for an unnamed address.
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        if !goro_context::in_coroutine() {
            return UnixStream::from_new(std_unix::UnixStream::connect_addr(addr)?);
        }
        connect(unix_addr(addr), || std_unix::UnixStream::connect_addr(addr))
    }

    /// A pair of connected sockets, as std's `pair`.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((UnixStream::from_new(a)?, UnixStream::from_new(b)?))
    }

    fn from_new(stream: std_unix::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream(wrap(stream)))
    }

    /// Another handle to the same socket (a duplicated descriptor, registered on its
    /// own), sharing the blocking mode and timeouts.
    ///
    /// # Errors
    ///
    /// The OS error of `dup`.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let stream = self.0.get().try_clone()?;
        Ok(UnixStream(Socket::shared(stream, self.0.options().clone())))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The OS error of `getpeername`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().peer_addr()
    }

    /// Sets how long a read may wait before failing with `WouldBlock`, as std.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    ///
    /// let (mut a, _b) = goro::net::unix::UnixStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = goro::go!(move || a.read(&mut [0; 8])).join().unwrap().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.get().set_read_timeout(timeout)?;
        // As the kernel rounded it (to its clock tick), which std reports too.
        self.0.set_read_timeout(self.0.get().read_timeout()?);
        Ok(())
    }

    /// Sets how long a write may wait before failing with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.get().set_write_timeout(timeout)?;
        // As the kernel rounded it (to its clock tick), which std reports too.
        self.0.set_write_timeout(self.0.get().write_timeout()?);
        Ok(())
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.0.read_timeout())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.0.write_timeout())
    }

    /// In non-blocking mode, reads and writes return `WouldBlock` instead of waiting.
    /// Shared with clones.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get().take_error()
    }

    /// Shuts down the read half, the write half, or both; as
    /// [`TcpStream::shutdown`](crate::net::TcpStream::shutdown).
    ///
    /// # Errors
    ///
    /// The OS error of `shutdown`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get().shutdown(how)
    }
}

impl From<std_unix::UnixStream> for UnixStream {
    /// Takes a std stream, putting its descriptor in non-blocking mode; its previous
    /// mode and its kernel timeouts become the stream's settings.
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be made non-blocking (only if it is not open).
    fn from(stream: std_unix::UnixStream) -> UnixStream {
        let options = Options::found(
            stream.as_fd(),
            stream.read_timeout().ok().flatten(),
            stream.write_timeout().ok().flatten(),
        );
        if let Err(e) = stream.set_nonblocking(true) {
            panic!("goro: cannot make a socket non-blocking: {e}");
        }
        UnixStream(Socket::new(stream, options))
    }
}

conversions!(
    UnixStream,
    std_unix::UnixStream,
    "std::os::unix::net::UnixStream",
    "```
let (a, _b) = goro::net::unix::UnixStream::pair()?;
let a: std::os::unix::net::UnixStream = a.into_std()?;
# Ok::<(), std::io::Error>(())
```"
);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.get(), f)
    }
}

impl Read for &UnixStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(|mut stream| stream.read(buf))
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.read(|mut stream| stream.read_vectored(bufs))
    }
}

impl Read for UnixStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for &UnixStream {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(|mut stream| stream.write(buf))
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write(|mut stream| stream.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for UnixStream {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl UnixListener {
    /// Creates a listener bound to `path`, as std's `bind`. The socket file stays after
    /// the listener is dropped, as with std. The accept queue is as long as the system
    /// allows, as for [`TcpListener::bind`](crate::net::TcpListener::bind).
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    ///
    /// # Errors
    ///
    /// The OS error of `bind` (`AddrInUse` if the file exists).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        listen(UnixAddr::new(path.as_ref())?)
    }

    /// Creates a listener bound to `addr` (a path, or an abstract name).
    ///
    /// # Examples
    ///
    /// See [`UnixStream::connect_addr`].
    ///
    /// # Errors
    ///
    /// The OS error of `bind`.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        listen(unix_addr(addr)?)
    }

    /// Waits for a connection and returns it with the peer's address. A coroutine parks
    /// meanwhile; a non-blocking listener returns `WouldBlock` instead.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    ///
    /// # Errors
    ///
    /// The OS error of `accept`.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.0.read(|listener| listener.accept())?;
        Ok((UnixStream::from_new(stream)?, addr))
    }

    /// An endless iterator of [`accept`](UnixListener::accept)'s connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Another handle to the same listener, sharing the blocking mode.
    ///
    /// # Errors
    ///
    /// The OS error of `dup`.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let listener = self.0.get().try_clone()?;
        Ok(UnixListener(Socket::shared(
            listener,
            self.0.options().clone(),
        )))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }

    /// In non-blocking mode, `accept` returns `WouldBlock` instead of waiting. Shared
    /// with clones.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get().take_error()
    }
}

impl From<std_unix::UnixListener> for UnixListener {
    /// Takes a std listener, putting its descriptor in non-blocking mode; whether it was
    /// non-blocking before becomes its setting.
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be made non-blocking (only if it is not open).
    fn from(listener: std_unix::UnixListener) -> UnixListener {
        let options = Options::found(listener.as_fd(), None, None);
        if let Err(e) = listener.set_nonblocking(true) {
            panic!("goro: cannot make a socket non-blocking: {e}");
        }
        UnixListener(Socket::new(listener, options))
    }
}

conversions!(
    UnixListener,
    std_unix::UnixListener,
    "std::os::unix::net::UnixListener",
    "```
use std::os::linux::net::SocketAddrExt;

let addr = goro::net::unix::SocketAddr::from_abstract_name(b\"goro-doc-into-std\")?;
let listener = goro::net::unix::UnixListener::bind_addr(&addr)?;
let listener: std::os::unix::net::UnixListener = listener.into_std()?;
# Ok::<(), std::io::Error>(())
```"
);

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.get(), f)
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl FusedIterator for Incoming<'_> {}

impl UnixDatagram {
    /// Creates a datagram socket bound to `path`.
    ///
    /// # Errors
    ///
    /// The OS error of `bind`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_new(std_unix::UnixDatagram::bind(path)?)
    }

    /// Creates a datagram socket bound to `addr` (a path, or an abstract name).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use goro::net::unix::{SocketAddr, UnixDatagram};
    ///
    /// let name = format!("goro-doc-dgram-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// let server = UnixDatagram::bind_addr(&addr)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.send_to_addr(b"hi", &addr)?;
    /// let mut buf = [0; 8];
    /// let n = goro::go!(move || server.recv(&mut buf)).join().unwrap()?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `bind`.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_new(std_unix::UnixDatagram::bind_addr(addr)?)
    }

    /// Creates a datagram socket bound to no address.
    ///
    /// # Errors
    ///
    /// The OS error of `socket`.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_new(std_unix::UnixDatagram::unbound()?)
    }

    /// A pair of connected datagram sockets.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram`].
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair`.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std_unix::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_new(a)?, UnixDatagram::from_new(b)?))
    }

    fn from_new(socket: std_unix::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram(wrap(socket)))
    }

    /// Connects the socket to `path`: `send` and `recv` then talk to it alone. Never
    /// waits.
    ///
    /// # Errors
    ///
    /// The OS error of `connect`.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.0.get().connect(path)
    }

    /// Connects the socket to `addr`.
    ///
    /// # Errors
    ///
    /// The OS error of `connect`.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.0.get().connect_addr(addr)
    }

    /// Another handle to the same socket, sharing the blocking mode and timeouts.
    ///
    /// # Errors
    ///
    /// The OS error of `dup`.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        let socket = self.0.get().try_clone()?;
        Ok(UnixDatagram(Socket::shared(
            socket,
            self.0.options().clone(),
        )))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().peer_addr()
    }

    /// Receives one datagram, waiting for it; returns its length and sender.
    ///
    /// # Errors
    ///
    /// The OS error of `recvfrom`; `WouldBlock` at the read timeout or when
    /// non-blocking.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.read(|socket| socket.recv_from(buf))
    }

    /// Receives one datagram, waiting for it.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram`].
    ///
    /// # Errors
    ///
    /// As [`recv_from`](UnixDatagram::recv_from).
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(|socket| socket.recv(buf))
    }

    /// Sends `buf` to the socket at `path`, waiting if the receiver's queue is full.
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.0.write(|socket| socket.send_to(buf, path))
    }

    /// Sends `buf` to `addr`, waiting if the receiver's queue is full.
    ///
    /// # Examples
    ///
    /// See [`bind_addr`](UnixDatagram::bind_addr).
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`.
    #[track_caller]
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.0.write(|socket| socket.send_to_addr(buf, addr))
    }

    /// Sends `buf` to the connected peer, waiting if its queue is full.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram`].
    ///
    /// # Errors
    ///
    /// The OS error of `send`.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(|socket| socket.send(buf))
    }

    /// Sets how long a receive may wait before failing with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.get().set_read_timeout(timeout)?;
        // As the kernel rounded it (to its clock tick), which std reports too.
        self.0.set_read_timeout(self.0.get().read_timeout()?);
        Ok(())
    }

    /// Sets how long a send may wait before failing with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.get().set_write_timeout(timeout)?;
        // As the kernel rounded it (to its clock tick), which std reports too.
        self.0.set_write_timeout(self.0.get().write_timeout()?);
        Ok(())
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.0.read_timeout())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.0.write_timeout())
    }

    /// In non-blocking mode, sends and receives return `WouldBlock` instead of waiting.
    /// Shared with clones.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get().take_error()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// The OS error of `shutdown`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get().shutdown(how)
    }
}

impl From<std_unix::UnixDatagram> for UnixDatagram {
    /// Takes a std socket, putting its descriptor in non-blocking mode; its previous
    /// mode and its kernel timeouts become the socket's settings.
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be made non-blocking (only if it is not open).
    fn from(socket: std_unix::UnixDatagram) -> UnixDatagram {
        let options = Options::found(
            socket.as_fd(),
            socket.read_timeout().ok().flatten(),
            socket.write_timeout().ok().flatten(),
        );
        if let Err(e) = socket.set_nonblocking(true) {
            panic!("goro: cannot make a socket non-blocking: {e}");
        }
        UnixDatagram(Socket::new(socket, options))
    }
}

conversions!(
    UnixDatagram,
    std_unix::UnixDatagram,
    "std::os::unix::net::UnixDatagram",
    "```
let socket = goro::net::unix::UnixDatagram::unbound()?;
let socket: std::os::unix::net::UnixDatagram = socket.into_std()?;
# Ok::<(), std::io::Error>(())
```"
);

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.get(), f)
    }
}
