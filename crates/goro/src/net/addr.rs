//! `ToSocketAddrs`: std's set of address types, resolved without blocking a worker.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: what `connect`, `bind` and
/// `send_to` accept, exactly as [`std::net::ToSocketAddrs`] (implemented for the same
/// types: [`SocketAddr`], `(IpAddr, u16)`, `"host:port"` strings, `(&str, u16)`,
/// `&[SocketAddr]`, and references to these).
///
/// The difference is where a host name is looked up. A literal address (`"127.0.0.1:80"`,
/// `("::1", 80)`) is parsed on the spot; a name (`"localhost:80"`) is resolved by the
/// system resolver (`getaddrinfo`, which may block for seconds) on goro's blocking pool,
/// through [`goro::blocking`](crate::blocking), while the calling coroutine parks: a
/// lookup never stalls a worker. From a plain thread the lookup simply runs on that
/// thread, as std's would.
///
/// The trait is sealed: generic code written against `std::net::ToSocketAddrs` must name
/// this trait instead.
///
/// # Examples
///
/// ```
/// use goro::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?; // a literal: parsed, no lookup
/// let port = listener.local_addr()?.port();
/// let client = goro::go!(move || TcpStream::connect(("localhost", port))); // a lookup
/// let _ = listener.accept()?;
/// assert!(client.join().unwrap().is_ok());
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: sealed::Resolve {}

pub(crate) mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// The resolving half of `ToSocketAddrs`, kept out of users' reach.
    // Public in a private module: nameable by the bound, not implementable outside.
    #[allow(unreachable_pub)]
    pub trait Resolve {
        /// Every address this names, looking names up off the worker.
        fn resolve(&self) -> io::Result<Vec<SocketAddr>>;
    }
}

use sealed::Resolve;

/// Looks `host_port` (or `(host, port)`) up on the blocking pool.
fn lookup<A>(addr: &A) -> io::Result<Vec<SocketAddr>>
where
    A: std::net::ToSocketAddrs + Sync + ?Sized,
{
    crate::blocking(|| addr.to_socket_addrs().map(Iterator::collect))
}

macro_rules! literal {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl Resolve for $t {
            fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
                Ok(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}

literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for str {}
impl Resolve for str {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Ok(vec![addr]),
            Err(_) => lookup(self),
        }
    }
}

impl ToSocketAddrs for String {}
impl Resolve for String {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().resolve()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Resolve for (&str, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
            Err(_) => lookup(self),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Resolve for (String, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).resolve()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl Resolve for [SocketAddr] {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).resolve()
    }
}

/// Runs `f` on each address in turn until one succeeds; else the last error, as std.
pub(crate) fn each_addr<A, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T>
where
    A: ToSocketAddrs,
{
    let mut last = None;
    for addr in addr.resolve()? {
        match f(&addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// The first address `addr` names, for `send_to`.
pub(crate) fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    addr.resolve()?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}

/// Every address `addr` names.
pub(crate) fn all_addrs<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    addr.resolve()
}
