//! The `capstan` command: parses the command line and hands off to the library crates.

mod cli;
mod render;

fn main() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
