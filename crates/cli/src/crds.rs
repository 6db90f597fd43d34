//! `capstan crds`: prints the CustomResourceDefinitions Capstan needs, as YAML — the same text
//! `cargo xtask codegen` writes to `deploy/crds/` and `charts/capstan/crds/`, so
//! `capstan crds | kubectl apply --server-side -f -` installs what the controller expects.

use std::process::ExitCode;

use capstan_api::crd::application_crd_yaml;

/// Runs the command.
pub fn run() -> ExitCode {
    match application_crd_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {:#}", anyhow::Error::new(err));
            ExitCode::FAILURE
        }
    }
}
