//! `capstan controller`: runs the Application controller — every Application of the cluster
//! reconciled (git → render → compare → sync → status) — and its HTTP endpoints (`/metrics`,
//! `/healthz`, `/readyz`) until SIGTERM or Ctrl-C, then stops gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use capstan_controller::context::Context;
use capstan_controller::reconcile;
use capstan_server::{AppState, Readiness, serve, shutdown_signal};

/// Arguments of `capstan controller`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path to the kubeconfig file (default: in-cluster configuration, then $KUBECONFIG and
    /// ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// Where the HTTP endpoints listen.
    #[arg(long, default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Reconcile only the Applications of this namespace (default: every namespace).
    #[arg(long)]
    namespace: Option<String>,
    /// How often each repository in use is checked for new commits (Go syntax: 15s, 1m).
    #[arg(long, default_value = "15s", value_parser = parse_interval)]
    poll_interval: std::time::Duration,
    /// The service account (in each Application's namespace) that writes an Application's
    /// objects when it names none in `destination.serviceAccountName` (default: the controller's
    /// own identity, which the least-privilege RBAC of deploy/rbac/ does not let write).
    #[arg(long)]
    default_service_account: Option<String>,
    /// Where the git cache keeps its repositories.
    #[arg(long, default_value = "/var/cache/capstan/git")]
    git_cache: PathBuf,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let result = crate::target::runtime().and_then(|rt| rt.block_on(controller(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    capstan_api::duration::parse_duration(text).map_err(|e| e.to_string())
}

/// How many API requests the controller has in flight at most (see `capstan_cluster::bounded`).
const REQUESTS_AT_ONCE: usize = 32;

async fn controller(args: &Args) -> anyhow::Result<()> {
    // Logs on stderr, filtered by `RUST_LOG` (default: warnings, and Capstan's info).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,capstan=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let config =
        crate::connect::load_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let client =
        kube::Client::try_from(config.clone()).context("failed to create the API client")?;
    let client = capstan_cluster::bounded::bounded(client, REQUESTS_AT_ONCE);
    let mut context = Context::new(client, &args.git_cache)
        .await
        .context("failed to discover the cluster's resources")?;
    context.poll_interval = args.poll_interval;
    context.impersonation = Some(config);
    context.default_service_account = args.default_service_account.clone();
    let readiness = Readiness::new();
    let state = AppState::new(Arc::clone(&context.metrics), readiness.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let when_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let http = tokio::spawn(serve(args.http_addr, state, when_stopped(stopped.clone())));
    eprintln!("capstan controller: serving on {}", args.http_addr);
    readiness.set_ready();
    let namespace = args.namespace.clone();
    let reconciling = tokio::spawn(async move {
        let scope = namespace.as_deref();
        reconcile::run(Arc::new(context), scope, when_stopped(stopped)).await;
    });
    shutdown_signal().await;
    eprintln!("capstan controller: stopping");
    let _ = stop.send(true);
    let _ = reconciling.await;
    http.await.context("the HTTP server panicked")??;
    Ok(())
}
