//! Model checks, run with `RUSTFLAGS="--cfg loom" cargo test -p goro --lib`.

#[cfg(not(debug_assertions))]
compile_error!("loom models need debug assertions: run them without --release");

mod loom_chan;
mod loom_waiter;
