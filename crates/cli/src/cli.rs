//! Command-line definition (clap) and dispatch to one module per command.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{apply, controller, crds, diff, get, refresh, render, sync};

/// Capstan: a pull-based GitOps continuous-delivery controller for Kubernetes.
///
/// Runs inside the cluster, pulls a manifest repository, renders kustomize overlays natively,
/// diffs them against live objects and applies them with server-side apply.
#[derive(Debug, Parser)]
#[command(
    name = "capstan",
    version,
    about,
    long_about,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Application controller: reconcile every Application of the cluster and serve
    /// /metrics, /healthz and /readyz, until SIGTERM.
    Controller(controller::Args),
    /// Render a kustomization (or a plain directory of YAML) and print the YAML stream, like
    /// `kubectl kustomize DIR`.
    Render(render::Args),
    /// Show what applying DIR — or syncing the Application `--app NAME` — would change, from
    /// server-side-apply dry-runs (exit 0: no difference, 1: differences, 2: error). Secrets
    /// are masked.
    Diff(diff::Args),
    /// Apply DIR with server-side apply (field manager `capstan`), wave by wave; with --prune,
    /// delete what left DIR since the last apply of the same application.
    Apply(apply::Args),
    /// Show Applications: `get applications [-n NS | -A] [-o wide|yaml|json]`, or
    /// `get application NAME [-n NS] [-o yaml|json]`.
    #[command(subcommand)]
    Get(get::Command),
    /// Request a sync of an Application (writes its `operation`); with --wait, wait for the
    /// result (exit 0: Succeeded, 1: Failed, Error or timeout).
    Sync(sync::Args),
    /// Ask the controller to look at an Application's source now (sets its
    /// `capstan.dev/refresh` annotation to the current time).
    Refresh(refresh::Args),
    /// Print the CustomResourceDefinitions Capstan needs, as YAML (for `kubectl apply -f -`).
    Crds,
}

/// Parses `args` and runs the chosen command, returning the process exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(Cli { command: None }) => ExitCode::SUCCESS,
        Ok(Cli {
            command: Some(Command::Controller(args)),
        }) => controller::run(&args),
        Ok(Cli {
            command: Some(Command::Render(args)),
        }) => render::run(&args),
        Ok(Cli {
            command: Some(Command::Diff(args)),
        }) => diff::run(&args),
        Ok(Cli {
            command: Some(Command::Apply(args)),
        }) => apply::run(&args),
        Ok(Cli {
            command: Some(Command::Get(command)),
        }) => get::run(&command),
        Ok(Cli {
            command: Some(Command::Sync(args)),
        }) => sync::run(&args),
        Ok(Cli {
            command: Some(Command::Refresh(args)),
        }) => refresh::run(&args),
        Ok(Cli {
            command: Some(Command::Crds),
        }) => crds::run(),
        Err(err) => {
            // clap prints help and version to stdout with exit code 0, usage errors to stderr with 2.
            let code = err.exit_code();
            let _ = err.print();
            ExitCode::from(u8::try_from(code).unwrap_or(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_flag_reports_the_package_version() {
        let err = Cli::command()
            .try_get_matches_from(["capstan", "--version"])
            .expect_err("--version stops parsing");
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(err.to_string().contains(env!("CARGO_PKG_VERSION")));
    }
}
