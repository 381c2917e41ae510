//! Networking: [`std::net`]'s types, with blocking calls that park the calling coroutine
//! instead of its worker thread.
//!
//! [`TcpListener`], [`TcpStream`] and [`UdpSocket`] (and, in [`unix`], `UnixStream`,
//! `UnixListener` and `UnixDatagram`) have std's method names and signatures, so code
//! ports by changing the import. A coroutine that reads from a socket with no data parks;
//! its worker runs other coroutines; the poller (an edge-triggered epoll set, watched by
//! an idle worker, see the runtime's docs/ARCHITECTURE.md §5) makes it runnable again
//! when data arrives. Ten thousand connections cost ten thousand parked coroutines, not
//! ten thousand threads.
//!
//! # Examples
//!
//! An echo server and a client, on loopback:
//!
//! ```
//! use std::io::{Read, Write};
//! use goro::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! goro::go!(move || {
//!     for conn in listener.incoming() {
//!         let Ok(mut conn) = conn else { continue };
//!         goro::go!(move || -> std::io::Result<()> {
//!             let mut buf = [0; 1024];
//!             loop {
//!                 let n = conn.read(&mut buf)?;
//!                 if n == 0 {
//!                     return Ok(());
//!                 }
//!                 conn.write_all(&buf[..n])?;
//!             }
//!         });
//!     }
//! });
//! let clients: Vec<_> = (0..10u8)
//!     .map(|i| goro::go!(move || -> std::io::Result<u8> {
//!         let mut conn = TcpStream::connect(addr)?;
//!         conn.write_all(&[i])?;
//!         let mut byte = [0];
//!         conn.read_exact(&mut byte)?;
//!         Ok(byte[0])
//!     }))
//!     .collect();
//! for (i, client) in clients.into_iter().enumerate() {
//!     assert_eq!(client.join().unwrap()?, i as u8);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Outside a coroutine
//!
//! On a plain thread every type behaves as its std counterpart: calls block the thread,
//! honouring timeouts and the blocking mode. How: the descriptor is always in
//! non-blocking mode; a call that gets `WouldBlock` waits in `poll(2)` on a plain thread
//! (and parks on the poller in a coroutine), then tries again. Connecting from a plain
//! thread is std's own `connect`. So one socket may move between threads and coroutines
//! freely.
//!
//! # Blocking mode and timeouts
//!
//! `set_nonblocking(true)` makes calls return `WouldBlock` instead of waiting, as for a
//! non-blocking std socket. A read or write timeout makes a wait give up with
//! `WouldBlock` (the error a std socket on Unix reports when its `SO_RCVTIMEO` expires);
//! other coroutines run meanwhile. `connect_timeout` reports `TimedOut`, as std's. These
//! settings are kept by goro and shared by a socket's clones (the kernel shares them
//! between std's clones); the timeouts are also set on the kernel socket, so a socket
//! converted back to std keeps them.
//!
//! # Names
//!
//! A host name (`"localhost:80"`) is resolved on goro's blocking pool while the
//! coroutine parks: see [`ToSocketAddrs`]. Literal addresses are parsed on the spot.
//!
//! # Clones, shutdown and closing
//!
//! `try_clone` duplicates the descriptor, as std's, and registers the duplicate with the
//! poller on its own; each handle deregisters its own descriptor (`EPOLL_CTL_DEL`)
//! before closing it when dropped, so a duplicate never leaves a stale entry behind.
//! Dropping one clone leaves the others working, and does not wake a coroutine waiting
//! on another clone, exactly as with std. To wake a coroutine parked in `read` or
//! `accept` from elsewhere, shut the socket down: `shutdown(Shutdown::Read)` (or
//! `Both`) on a clone makes the parked `read` return 0, as it would on a std socket in a
//! blocked thread. A socket cannot be dropped while a call on it runs (it is borrowed),
//! so no coroutine ever waits on a closed descriptor.
//!
//! # Conversions
//!
//! Each type converts from its std counterpart (`From`, putting the descriptor in
//! non-blocking mode and adopting its previous mode and timeouts), back (`into_std`,
//! restoring the blocking mode), and from and into raw and owned descriptors
//! (`FromRawFd`, `IntoRawFd`, `From<OwnedFd>`, `AsFd`, `AsRawFd`).
//!
//! The descriptor must stay in non-blocking mode while goro uses it: the mode belongs to
//! the open socket and is shared by every duplicate (as std's `set_nonblocking` on one
//! clone changes them all). So `into_std` leaves it non-blocking while other goro clones
//! of the socket are alive, and a std duplicate kept aside must not be switched back to
//! blocking mode while goro still uses the socket: goro's calls would then block their
//! worker thread.

mod addr;
mod socket;
mod tcp;
mod udp;
pub mod unix;

pub use addr::ToSocketAddrs;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
