//! UDP: `UdpSocket`.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use super::ToSocketAddrs;
use super::addr::{all_addrs, first_addr};
use super::socket::{Options, Socket, conversions};

/// A UDP socket: [`std::net::UdpSocket`] whose receives (and sends, when the send
/// buffer is full) park the calling coroutine instead of blocking its worker.
///
/// From a plain thread it behaves as std's does. See the [module docs](super).
///
/// # Examples
///
/// ```
/// use goro::net::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1:0")?;
/// let addr = server.local_addr()?;
/// let echo = goro::go!(move || -> std::io::Result<()> {
///     let mut buf = [0; 64];
///     let (n, from) = server.recv_from(&mut buf)?; // parks until a datagram arrives
///     server.send_to(&buf[..n], from).map(drop)
/// });
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.connect(addr)?;
/// client.send(b"ping")?;
/// let mut buf = [0; 64];
/// let n = client.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// echo.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket(Socket<std::net::UdpSocket>);

impl UdpSocket {
    /// Creates a socket bound to `addr` (the first of its addresses that works), as
    /// [`std::net::UdpSocket::bind`].
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = goro::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of the last address tried, or the resolver's.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let addrs = all_addrs(addr)?;
        let socket = std::net::UdpSocket::bind(&addrs[..])?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket(Socket::new(socket, Options::default())))
    }

    /// Receives one datagram, waiting for it, and returns its length and sender. A
    /// datagram longer than `buf` is truncated.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    ///
    /// The OS error of `recvfrom`; `WouldBlock` at the read timeout or when
    /// non-blocking.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.read(|socket| socket.recv_from(buf))
    }

    /// As [`recv_from`](UdpSocket::recv_from), leaving the datagram queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (goro::net::UdpSocket::bind("127.0.0.1:0")?, goro::net::UdpSocket::bind("127.0.0.1:0")?);
    /// a.send_to(b"x", b.local_addr()?)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek_from(&mut buf)?, (1, a.local_addr()?));
    /// assert_eq!(b.recv_from(&mut buf)?, (1, a.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.read(|socket| socket.peek_from(buf))
    }

    /// Sends `buf` to the first address of `addr`, waiting for room in the send buffer if
    /// needed. Returns the number of bytes sent.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`; `InvalidInput` if `addr` names no address.
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = first_addr(addr)?;
        self.0.write(|socket| socket.send_to(buf, addr))
    }

    /// The address this socket is connected to.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = goro::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.peer_addr().is_err());
    /// socket.connect("127.0.0.1:9")?;
    /// assert_eq!(socket.peer_addr()?.port(), 9);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotConnected` if it is not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().peer_addr()
    }

    /// The address this socket is bound to.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }

    /// Another handle to the same socket (a duplicated descriptor, registered on its
    /// own), sharing the blocking mode and timeouts.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = goro::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let clone = socket.try_clone()?;
    /// assert_eq!(clone.local_addr()?, socket.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `dup`.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let socket = self.0.get().try_clone()?;
        Ok(UdpSocket(Socket::shared(socket, self.0.options().clone())))
    }

    /// Sets how long a receive may wait: when it passes, it fails with `WouldBlock`, as
    /// std's does. `None` waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let socket = goro::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = goro::go!(move || socket.recv(&mut [0; 8])).join().unwrap().unwrap_err();
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

    /// Sets how long a send may wait; see [`set_read_timeout`](UdpSocket::set_read_timeout).
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

    /// Sets `SO_BROADCAST`.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = goro::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_broadcast(true)?;
    /// assert!(socket.broadcast()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.0.get().set_broadcast(broadcast)
    }

    /// The value of `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.0.get().broadcast()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.0.get().set_multicast_loop_v4(on)
    }

    /// The value of `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.0.get().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.0.get().set_multicast_ttl_v4(ttl)
    }

    /// The value of `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.0.get().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.0.get().set_multicast_loop_v6(on)
    }

    /// The value of `IPV6_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.0.get().multicast_loop_v6()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0.get().set_ttl(ttl)
    }

    /// The value of `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.get().ttl()
    }

    /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`).
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.0.get().join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`).
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.0.get().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.0.get().leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.0.get().leave_multicast_v6(multiaddr, interface)
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get().take_error()
    }

    /// Connects the socket to `addr` (the first of its addresses that works): `send` and
    /// `recv` then talk to it alone. Never waits.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    ///
    /// The OS error of `connect`, or the resolver's.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = all_addrs(addr)?;
        self.0.get().connect(&addrs[..])
    }

    /// Sends `buf` to the connected peer, waiting for room if needed.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    ///
    /// The OS error of `send`; `NotConnected` (`EDESTADDRREQ`) when not connected.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(|socket| socket.send(buf))
    }

    /// Receives one datagram from the connected peer, waiting for it.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    ///
    /// The OS error of `recv` (`ConnectionRefused` after an ICMP port unreachable, say);
    /// `WouldBlock` at the read timeout or when non-blocking.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(|socket| socket.recv(buf))
    }

    /// As [`recv`](UdpSocket::recv), leaving the datagram queued.
    ///
    /// # Errors
    ///
    /// As [`recv`](UdpSocket::recv).
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(|socket| socket.peek(buf))
    }

    /// In non-blocking mode, sends and receives return `WouldBlock` instead of waiting,
    /// as on a non-blocking std socket. Shared with clones.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = goro::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_nonblocking(true)?;
    /// let err = socket.recv_from(&mut [0; 8]).unwrap_err();
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

impl From<std::net::UdpSocket> for UdpSocket {
    /// Takes a std socket, putting its descriptor in non-blocking mode; its previous
    /// mode and its kernel timeouts become the socket's settings.
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be made non-blocking (only if it is not open).
    fn from(socket: std::net::UdpSocket) -> UdpSocket {
        let options = Options::found(
            socket.as_fd(),
            socket.read_timeout().ok().flatten(),
            socket.write_timeout().ok().flatten(),
        );
        if let Err(e) = socket.set_nonblocking(true) {
            panic!("goro: cannot make a socket non-blocking: {e}");
        }
        UdpSocket(Socket::new(socket, options))
    }
}

conversions!(
    UdpSocket,
    std::net::UdpSocket,
    "std::net::UdpSocket",
    "```
let socket = goro::net::UdpSocket::bind(\"127.0.0.1:0\")?;
let std_socket: std::net::UdpSocket = socket.into_std()?;
# Ok::<(), std::io::Error>(())
```"
);

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.get(), f)
    }
}
