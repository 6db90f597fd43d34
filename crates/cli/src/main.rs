//! The `capstan` command: parses the command line and hands off to the library crates.

mod apply;
mod cli;
mod connect;
mod controller;
mod crds;
mod diff;
mod get;
mod refresh;
mod render;
mod sync;
mod target;

/// mimalloc rather than the system's malloc: the controller's memory, measured in
/// `docs/benchmarks-controller.md`, is smaller with it — glibc keeps per-thread arenas and
/// rarely gives freed memory back, mimalloc returns it to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
