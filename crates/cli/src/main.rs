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

fn main() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
