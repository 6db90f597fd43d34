//! The `capstan` command: parses the command line and hands off to the library crates.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
