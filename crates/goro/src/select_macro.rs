//! The `select!` macro: parses the arms, then hands the cases to
//! `goro::chan`'s select engine.

/// Waits on several channel operations at once and completes exactly one, as Go's
/// `select` statement does, with crossbeam-channel's syntax:
///
/// - `recv(r) -> msg => body`: `msg` is a `Result<T, RecvError>` (`Err` once `r` is
///   closed and drained, which counts as ready, as in Go).
/// - `send(s, value) -> res => body`: `res` is a `Result<(), SendError<T>>`.
/// - `default => body`: taken at once if no case is ready.
/// - `default(timeout) => body`: taken if no case becomes ready within `timeout`.
///
/// If several cases are ready, one is chosen uniformly at random. Otherwise the caller
/// parks on all of them at once and the first to become ready completes; the others
/// are left untouched (their messages stay in their channels). A select never
/// rendezvouses with itself: sending and receiving on the same unbuffered channel in
/// one select waits for somebody else. Channels may appear more than once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (tx, rx) = goro::chan::bounded::<u32>(1);
/// let (_quit_tx, quit) = goro::chan::bounded::<()>(0);
/// tx.send(5).unwrap();
/// let got = goro::select! {
///     recv(rx) -> msg => msg.unwrap(),
///     recv(quit) -> _ => 0,
///     default(Duration::from_secs(1)) => panic!("nothing arrived"),
/// };
/// assert_eq!(got, 5);
///
/// // Nothing ready: the default arm.
/// let idle = goro::select! {
///     recv(rx) -> _ => false,
///     default => true,
/// };
/// assert!(idle);
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_parse!(__select () () $($tokens)*)
    };
}

/// [`select!`](crate::select) without the random choice: when several cases are ready,
/// the first of them (in the order written) wins, and when it waits, the first case to
/// become ready wins, as crossbeam-channel's `select_biased!`. For priorities ("always
/// drain `urgent` before `normal`"); a biased select can starve its later cases.
///
/// # Examples
///
/// ```
/// let (urgent_tx, urgent) = goro::chan::unbounded();
/// let (normal_tx, normal) = goro::chan::unbounded();
/// normal_tx.send("normal").unwrap();
/// urgent_tx.send("urgent").unwrap();
/// let first = goro::select_biased! {
///     recv(urgent) -> m => m.unwrap(),
///     recv(normal) -> m => m.unwrap(),
/// };
/// assert_eq!(first, "urgent");
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($tokens:tt)*) => {
        $crate::__select_parse!(__select_biased () () $($tokens)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv($r:expr $(,)?) -> $p:pat => body
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) recv($r:expr $(,)?) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)* [case recv ($r) $p => $body]) ($($default)*) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) recv($r:expr $(,)?) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)* [case recv ($r) $p => $body]) ($($default)*) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) recv($r:expr $(,)?) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)* [case recv ($r) $p => $body]) ($($default)*) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) recv($r:expr $(,)?) -> $p:pat => $body:expr) => {
        $crate::__select_parse!($mode ($($cases)* [case recv ($r) $p => $body]) ($($default)*))
    };
    // send($s:expr, $v:expr $(,)?) -> $p:pat => body
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) send($s:expr, $v:expr $(,)?) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)* [case send ($s, $v) $p => $body]) ($($default)*) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) send($s:expr, $v:expr $(,)?) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)* [case send ($s, $v) $p => $body]) ($($default)*) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) send($s:expr, $v:expr $(,)?) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)* [case send ($s, $v) $p => $body]) ($($default)*) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) ($($default:tt)*) send($s:expr, $v:expr $(,)?) -> $p:pat => $body:expr) => {
        $crate::__select_parse!($mode ($($cases)* [case send ($s, $v) $p => $body]) ($($default)*))
    };
    // default() => body, as default => body
    ($mode:ident ($($cases:tt)*) () default() => $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) () default => $($rest)*)
    };
    // default($t:expr) => body
    ($mode:ident ($($cases:tt)*) () default($t:expr $(,)?) => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) ((Timeout($t)) $body) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) () default($t:expr $(,)?) => $body:block $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) ((Timeout($t)) $body) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) () default($t:expr $(,)?) => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) ((Timeout($t)) $body) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) () default($t:expr $(,)?) => $body:expr) => {
        $crate::__select_parse!($mode ($($cases)*) ((Timeout($t)) $body))
    };
    // default => body
    ($mode:ident ($($cases:tt)*) () default => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) ((Default) $body) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) () default => $body:block $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) ((Default) $body) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) () default => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!($mode ($($cases)*) ((Default) $body) $($rest)*)
    };
    ($mode:ident ($($cases:tt)*) () default => $body:expr) => {
        $crate::__select_parse!($mode ($($cases)*) ((Default) $body))
    };
    // All arms parsed.
    ($mode:ident ($([$case:ident $kind:ident ($($args:tt)*) $p:pat => $body:expr])*) ($($default:tt)*)) => {
        $crate::__select_run!($mode ($([$case $kind ($($args)*) $p => $body])*) ($($default)*))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_run {
    ($mode:ident ($([$case:ident $kind:ident ($($args:tt)*) $p:pat => $body:expr])*) ()) => {
        $crate::__select_run!($mode ($([$case $kind ($($args)*) $p => $body])*)
            ((Wait) ::core::unreachable!("a select without default completes a case")))
    };
    ($mode:ident ($([$case:ident $kind:ident ($($args:tt)*) $p:pat => $body:expr])*) $default:tt) => {
        $crate::__select_bind!(
            $mode
            ($([$case $kind ($($args)*)])*)
            ($([$case $kind ($($args)*) $p => $body])*)
            $default
        )
    };
}

/// Evaluates each case's channel (and value) in order, each in a `match` of its own, so
/// that temporaries in those expressions (`recv(r.unwrap_or(&never()))`) live until the
/// select is over; then runs the select.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_bind {
    ($mode:ident ([$case:ident recv ($r:expr)] $($more:tt)*) $all:tt $default:tt) => {
        match &$r {
            $case => {
                #[allow(unused_mut)]
                let mut $case = $crate::chan::__RecvCase::new($case);
                $crate::__select_bind!($mode ($($more)*) $all $default)
            }
        }
    };
    ($mode:ident ([$case:ident send ($s:expr, $v:expr)] $($more:tt)*) $all:tt $default:tt) => {
        match (&$s, $v) {
            ($case, value) => {
                #[allow(unused_mut)]
                let mut $case = $crate::chan::__SendCase::new($case, value);
                $crate::__select_bind!($mode ($($more)*) $all $default)
            }
        }
    };
    ($mode:ident () ($([$case:ident $kind:ident ($($args:tt)*) $p:pat => $body:expr])*) (($($otherwise:tt)*) $default:expr)) => {
        {
            $crate::chan::$mode(
                &[$( &$case as &dyn $crate::chan::__Case ),*],
                $crate::chan::__Otherwise::$($otherwise)*,
            );
            // Only the completed case holds a result. The arms run here, in the
            // caller's own block (no labelled block or closure around them), so
            // `break`, `continue`, `return` and `?` in an arm mean what they would
            // outside the select.
            $(
                if $case.is_selected() {
                    let $p = $case.take();
                    $body
                } else
            )*
            { $default }
        }
    };
}
