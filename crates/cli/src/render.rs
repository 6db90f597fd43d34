//! `capstan render DIR`: the renderer on a directory on disk. The YAML stream goes to stdout;
//! an error goes to stderr with exit status 1 and nothing on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capstan_render::{DiskFs, LoadRestrictor, Options, Reorder};

/// Arguments of `capstan render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kustomization directory (or a plain directory of YAML).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Output order: `legacy` (by kind, then name) or `none` (input order).
    #[arg(long, default_value = "legacy", value_parser = ["legacy", "none"])]
    reorder: String,
    /// Whether files outside the kustomization directory may be read.
    #[arg(
        long,
        default_value = "LoadRestrictionsRootOnly",
        value_parser = ["LoadRestrictionsRootOnly", "LoadRestrictionsNone"]
    )]
    load_restrictor: String,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    match render(args) {
        Ok(yaml) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(yaml.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::from(1)
        }
    }
}

fn render(args: &Args) -> Result<String, String> {
    let options = Options {
        load_restrictor: match args.load_restrictor.as_str() {
            "LoadRestrictionsNone" => LoadRestrictor::None,
            _ => LoadRestrictor::RootOnly,
        },
        reorder: match args.reorder.as_str() {
            "none" => Reorder::None,
            _ => Reorder::Legacy,
        },
    };
    let (fs, rel) = disk(&args.dir)?;
    capstan_render::render_to_yaml(&fs, &rel, &options).map_err(|e| e.to_string())
}

/// Renders `dir` with the default options (legacy order, root-only load restrictor), as
/// `capstan diff` and `capstan apply` do.
pub fn objects(dir: &Path) -> Result<Vec<serde_json::Value>, String> {
    let (fs, rel) = disk(dir)?;
    let options = Options {
        load_restrictor: LoadRestrictor::RootOnly,
        reorder: Reorder::Legacy,
    };
    capstan_render::render(&fs, &rel, &options).map_err(|e| e.to_string())
}

/// The filesystem and path the renderer reads `dir` through. Bases may live anywhere on disk,
/// as with `kubectl kustomize`; files named by a kustomization are still confined to its
/// directory by the load restrictor.
fn disk(dir: &Path) -> Result<(DiskFs, String), String> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let fs = DiskFs::new("/").map_err(|e| e.to_string())?;
    Ok((
        fs,
        canonical
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string(),
    ))
}
