//! Model checks, run with `RUSTFLAGS="--cfg loom" cargo test -p goro-sched --lib`.

#[cfg(not(debug_assertions))]
compile_error!("loom models need debug assertions: run them without --release");

mod loom_idle;
mod loom_task;
mod loom_timer;
