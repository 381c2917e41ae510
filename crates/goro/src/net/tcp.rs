//! TCP: `TcpListener` and `TcpStream`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::iter::FusedIterator;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use goro_sched::io::Interest;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, getsockopt, setsockopt,
    socket, sockopt,
};

use super::ToSocketAddrs;
use super::addr::{all_addrs, each_addr};
use super::socket::{Options, Socket, conversions, zero_timeout};

/// A TCP server socket, listening for connections: [`std::net::TcpListener`] whose
/// `accept` parks the calling coroutine instead of blocking its worker.
///
/// From a plain thread it behaves as std's does. See the [module docs](super) for how.
///
/// # Examples
///
/// An echo server, one coroutine per connection:
///
/// ```no_run
/// use std::io::{Read, Write};
/// use goro::net::TcpListener;
///
/// let listener = TcpListener::bind("127.0.0.1:7000")?;
/// for conn in listener.incoming() {
///     let mut conn = conn?;
///     goro::go!(move || -> std::io::Result<()> {
///         let mut buf = [0; 4096];
///         loop {
///             let n = conn.read(&mut buf)?;
///             if n == 0 {
///                 return Ok(());
///             }
///             conn.write_all(&buf[..n])?;
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener(Socket<std::net::TcpListener>);

/// A TCP connection: [`std::net::TcpStream`] whose reads, writes and `connect` park the
/// calling coroutine instead of blocking its worker.
///
/// `Read` and `Write` are implemented for `TcpStream` and for `&TcpStream`, so one
/// coroutine can read while another writes through a shared reference (or a
/// [`try_clone`](TcpStream::try_clone)). From a plain thread it behaves as std's does.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use goro::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = goro::go!(move || -> std::io::Result<()> {
///     let (mut conn, _) = listener.accept()?;
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf)
/// });
/// let client = goro::go!(move || -> std::io::Result<[u8; 5]> {
///     let mut conn = TcpStream::connect(addr)?;
///     conn.write_all(b"hello")?;
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     Ok(buf)
/// });
/// server.join().unwrap()?;
/// assert_eq!(&client.join().unwrap()?, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream(Socket<std::net::TcpStream>);

/// An endless iterator over a listener's connections, from [`TcpListener::incoming`].
///
/// Each item is [`TcpListener::accept`]'s stream, or its error.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (the first of its addresses that works), as
    /// [`std::net::TcpListener::bind`]. Port 0 asks the system for a free port; see
    /// [`local_addr`](TcpListener::local_addr).
    ///
    /// One difference: the queue of connections waiting for `accept` is as long as the
    /// system allows (`net.core.somaxconn`, 4096 by default), as in Go, where std asks
    /// for 128. A server with thousands of coroutines connecting at once would otherwise
    /// see connections dropped and retried a second later.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of the last address tried (`AddrInUse`, say), or the resolver's.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let listener = each_addr(addr, listen)?;
        Ok(TcpListener(Socket::new(listener, Options::default())))
    }

    /// The address the listener is bound to.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }

    /// Another handle to the same listening socket (a duplicated descriptor, registered
    /// on its own), sharing the blocking mode. Either may accept.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// let clone = listener.try_clone()?;
    /// assert_eq!(clone.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `dup` (`EMFILE`, say).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let listener = self.0.get().try_clone()?;
        Ok(TcpListener(Socket::shared(
            listener,
            self.0.options().clone(),
        )))
    }

    /// Waits for a connection and returns it with the peer's address. A coroutine parks
    /// meanwhile; a plain thread blocks. A non-blocking listener returns `WouldBlock`
    /// instead of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let client = goro::go!(move || TcpStream::connect(addr));
    /// let (conn, peer) = listener.accept()?;
    /// assert_eq!(peer, client.join().unwrap()?.local_addr()?);
    /// assert_eq!(conn.peer_addr()?, peer);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `accept` (`EMFILE` when out of descriptors, say), or `WouldBlock`
    /// on a non-blocking listener with nothing to accept.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.0.read(|listener| listener.accept())?;
        stream.set_nonblocking(true)?;
        Ok((TcpStream(Socket::new(stream, Options::default())), addr))
    }

    /// An endless iterator of [`accept`](TcpListener::accept)'s connections.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// goro::go!(move || (0..3).map(|_| TcpStream::connect(addr)).collect::<Vec<_>>());
    /// let accepted = listener.incoming().take(3).filter(Result::is_ok).count();
    /// assert_eq!(accepted, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets `IP_TTL` for sockets this listener accepts (and itself).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_ttl(64)?;
    /// assert_eq!(listener.ttl()?, 64);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0.get().set_ttl(ttl)
    }

    /// The value of `IP_TTL`; see [`set_ttl`](TcpListener::set_ttl).
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.get().ttl()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get().take_error()
    }

    /// In non-blocking mode, [`accept`](TcpListener::accept) returns `WouldBlock`
    /// instead of waiting, as a non-blocking std listener does. Shared with clones.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_nonblocking(true)?;
    /// let err = listener.accept().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking);
        Ok(())
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Takes a std listener, putting its descriptor in non-blocking mode; whether it was
    /// non-blocking before becomes its [`set_nonblocking`](TcpListener::set_nonblocking)
    /// setting.
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be made non-blocking (only if it is not open).
    fn from(listener: std::net::TcpListener) -> TcpListener {
        let options = Options::found(listener.as_fd(), None, None);
        if let Err(e) = listener.set_nonblocking(true) {
            panic!("goro: cannot make a socket non-blocking: {e}");
        }
        TcpListener(Socket::new(listener, options))
    }
}

conversions!(
    TcpListener,
    std::net::TcpListener,
    "std::net::TcpListener",
    "```
let listener = goro::net::TcpListener::bind(\"127.0.0.1:0\")?;
let std_listener: std::net::TcpListener = listener.into_std()?;
# Ok::<(), std::io::Error>(())
```"
);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.get(), f)
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl FusedIterator for Incoming<'_> {}

impl TcpStream {
    /// Opens a connection to `addr`, trying each of its addresses in turn until one
    /// connects, as [`std::net::TcpStream::connect`]. A coroutine parks while the
    /// connection is set up (and while a host name is looked up); a plain thread
    /// blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let stream = goro::go!(move || TcpStream::connect(addr)).join().unwrap()?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The error of the last address tried: `ConnectionRefused` when nothing listens,
    /// say; the resolver's error for a name it cannot resolve.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        if !goro_context::in_coroutine() {
            let addrs = all_addrs(addr)?;
            return TcpStream::from_new(std::net::TcpStream::connect(&addrs[..])?);
        }
        each_addr(addr, |addr| connect(addr, None))
    }

    /// Opens a connection to `addr`, giving up after `timeout`, as
    /// [`std::net::TcpStream::connect_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let stream = goro::go!(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)));
    /// assert!(stream.join().unwrap().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - `TimedOut` ("connection timed out") if `timeout` passes first.
    /// - `InvalidInput` if `timeout` is zero.
    /// - The OS error of the connection otherwise (`ConnectionRefused`...).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(zero_timeout());
        }
        if !goro_context::in_coroutine() {
            return TcpStream::from_new(std::net::TcpStream::connect_timeout(addr, timeout)?);
        }
        connect(addr, Instant::now().checked_add(timeout))
    }

    /// Wraps a std stream that this crate just created (blocking, no timeouts).
    fn from_new(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream(Socket::new(stream, Options::default())))
    }

    /// The remote address.
    ///
    /// # Examples
    ///
    /// See [`connect`](TcpStream::connect).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone; the OS error of `getpeername`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().peer_addr()
    }

    /// The local address.
    ///
    /// # Examples
    ///
    /// See [`TcpListener::accept`].
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }

    /// Shuts down the read half, the write half, or both, as
    /// [`std::net::TcpStream::shutdown`]. Shutting down writing sends the peer an end of
    /// file; shutting down reading (or both) wakes a coroutine parked in `read` on this
    /// socket (or a clone), which then reads 0 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let client = goro::go!(move || -> std::io::Result<()> {
    ///     let stream = TcpStream::connect(addr)?;
    ///     stream.shutdown(Shutdown::Write) // the server reads end of file
    /// });
    /// let (mut conn, _) = listener.accept()?;
    /// let mut rest = Vec::new();
    /// assert_eq!(conn.read_to_end(&mut rest)?, 0);
    /// client.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `shutdown` (`NotConnected`, say).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get().shutdown(how)
    }

    /// Another handle to the same connection, as [`std::net::TcpStream::try_clone`]: a
    /// duplicated descriptor, registered with the poller on its own, sharing the blocking
    /// mode and timeouts (as the kernel shares them between std's clones). Dropping
    /// either leaves the other working.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let echo = goro::go!(move || -> std::io::Result<()> {
    ///     let (conn, _) = listener.accept()?;
    ///     let (mut reader, mut writer) = (conn.try_clone()?, conn);
    ///     std::io::copy(&mut reader, &mut writer).map(drop)
    /// });
    /// let mut client = TcpStream::connect(addr)?;
    /// client.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// client.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// drop(client);
    /// echo.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `dup`.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let stream = self.0.get().try_clone()?;
        Ok(TcpStream(Socket::shared(stream, self.0.options().clone())))
    }

    /// Sets how long a read may wait: when it passes, the read fails with `WouldBlock`
    /// (as std reports an expired `SO_RCVTIMEO` on Unix). `None` waits forever. Other
    /// coroutines run meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = goro::go!(move || stream.read(&mut [0; 8])).join().unwrap().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration, as std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.get().set_read_timeout(timeout)?;
        // As the kernel rounded it (to its clock tick), which std reports too.
        self.0.set_read_timeout(self.0.get().read_timeout()?);
        Ok(())
    }

    /// Sets how long a write may wait for room in the send buffer; see
    /// [`set_read_timeout`](TcpStream::set_read_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = goro::net::TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration, as std.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.get().set_write_timeout(timeout)?;
        // As the kernel rounded it (to its clock tick), which std reports too.
        self.0.set_write_timeout(self.0.get().write_timeout()?);
        Ok(())
    }

    /// The read timeout; see [`set_read_timeout`](TcpStream::set_read_timeout).
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.0.read_timeout())
    }

    /// The write timeout; see [`set_write_timeout`](TcpStream::set_write_timeout).
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.0.write_timeout())
    }

    /// Reads without removing the data from the socket's queue (`MSG_PEEK`), waiting for
    /// some as `read` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use goro::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut conn, _) = listener.accept()?;
    /// client.write_all(b"abc")?;
    /// let mut buf = [0; 3];
    /// let n = goro::go!(move || conn.peek(&mut buf).map(|n| (n, buf))).join().unwrap()?;
    /// assert_eq!(n, (3, *b"abc"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Read::read).
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(|stream| stream.peek(buf))
    }

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting to be
    /// coalesced (Nagle's algorithm off).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = goro::net::TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0.get().set_nodelay(nodelay)
    }

    /// The value of `TCP_NODELAY`; see [`set_nodelay`](TcpStream::set_nodelay).
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.0.get().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = goro::net::TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_ttl(100)?;
    /// assert_eq!(stream.ttl()?, 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0.get().set_ttl(ttl)
    }

    /// The value of `IP_TTL`; see [`set_ttl`](TcpStream::set_ttl).
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.get().ttl()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = goro::net::TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get().take_error()
    }

    /// In non-blocking mode, reads and writes return `WouldBlock` instead of waiting, as
    /// on a non-blocking std stream. Shared with clones.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let listener = goro::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut stream = goro::net::TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nonblocking(true)?;
    /// let err = stream.read(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` is std's signature.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking);
        Ok(())
    }
}

/// A listening socket on `addr`, non-blocking, with std's `SO_REUSEADDR` and the
/// longest accept queue the system allows.
fn listen(addr: &SocketAddr) -> io::Result<std::net::TcpListener> {
    let fd = socket(
        family(addr),
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(*addr))?;
    nix::sys::socket::listen(&fd, Backlog::MAXALLOWABLE)?;
    Ok(std::net::TcpListener::from(fd))
}

fn family(addr: &SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// A non-blocking connect from a coroutine: start it, park until the socket is writable
/// (connected, or failed), read the outcome.
fn connect(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let fd = socket(
        family(addr),
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let socket = Socket::new(std::net::TcpStream::from(fd), Options::default());
    let target = SockaddrStorage::from(*addr);
    let fd = socket.get().as_raw_fd();
    match crate::hook::own_io(|| nix::sys::socket::connect(fd, &target)) {
        Ok(()) => {}
        // EINTR: the connection goes on in the background, as with EINPROGRESS.
        Err(Errno::EINPROGRESS | Errno::EINTR) => {
            match socket.run_until(Interest::Writable, deadline, connected) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out",
                    ));
                }
                result => result?,
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream(socket))
}

/// Whether a non-blocking connect has finished: its error, `WouldBlock` while it is
/// still under way, `Ok` once connected.
pub(crate) fn connected(socket: &impl AsFd) -> io::Result<()> {
    match getsockopt(socket, sockopt::SocketError)? {
        0 => {}
        errno => return Err(io::Error::from_raw_os_error(errno)),
    }
    // Writable with no error means connected; a spurious wakeup finds no peer yet.
    match nix::sys::socket::getpeername::<SockaddrStorage>(socket.as_fd().as_raw_fd()) {
        Ok(_) => Ok(()),
        Err(Errno::ENOTCONN) => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e.into()),
    }
}

impl From<std::net::TcpStream> for TcpStream {
    /// Takes a std stream, putting its descriptor in non-blocking mode; its previous
    /// mode and its kernel timeouts become the stream's settings.
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be made non-blocking (only if it is not open).
    fn from(stream: std::net::TcpStream) -> TcpStream {
        let options = Options::found(
            stream.as_fd(),
            stream.read_timeout().ok().flatten(),
            stream.write_timeout().ok().flatten(),
        );
        if let Err(e) = stream.set_nonblocking(true) {
            panic!("goro: cannot make a socket non-blocking: {e}");
        }
        TcpStream(Socket::new(stream, options))
    }
}

conversions!(
    TcpStream,
    std::net::TcpStream,
    "std::net::TcpStream",
    "```
use std::time::Duration;

let listener = goro::net::TcpListener::bind(\"127.0.0.1:0\")?;
let stream = goro::net::TcpStream::connect(listener.local_addr()?)?;
stream.set_read_timeout(Some(Duration::from_secs(3)))?;
let std_stream: std::net::TcpStream = stream.into_std()?;
assert_eq!(std_stream.read_timeout()?, Some(Duration::from_secs(3)));
# Ok::<(), std::io::Error>(())
```"
);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.get(), f)
    }
}

// Reads and writes use `read_stream`/`write_stream`: on TCP a short transfer means the
// kernel's buffer was emptied (or filled), so the next call waits for readiness before
// trying (one system call saved per message in a request-response exchange).
impl Read for &TcpStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.0.read_stream(len, |mut stream| stream.read(buf))
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = vectored_len(bufs.iter().map(|b| b.len()), bufs.len());
        self.0
            .read_stream(len, |mut stream| stream.read_vectored(bufs))
    }
}

/// What a vectored transfer asks for, as `read_stream`/`write_stream` take it: the
/// sum of the lengths, or 0 (never "short") for more buffers than one `readv`/`writev`
/// takes. std passes at most `IOV_MAX` (1024 on Linux) and ignores the rest, so with more
/// a transfer comes back short while data (or room) remains, and no edge would follow.
fn vectored_len(lens: impl Iterator<Item = usize>, count: usize) -> usize {
    const IOV_MAX: usize = 1024;
    if count > IOV_MAX {
        return 0;
    }
    lens.fold(0, usize::saturating_add)
}

impl Read for TcpStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for &TcpStream {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .write_stream(buf.len(), |mut stream| stream.write(buf))
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = vectored_len(bufs.iter().map(|b| b.len()), bufs.len());
        self.0
            .write_stream(len, |mut stream| stream.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // TCP has no user-space buffer to flush
    }
}

impl Write for TcpStream {
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
