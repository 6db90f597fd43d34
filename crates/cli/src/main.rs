//! The `capstan` command: parses the command line and hands off to the library crates.

mod apply;
mod cli;
mod diff;
mod render;
mod target;

fn main() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
