//! `capstan controller`: runs the Application controller — every Application of the cluster
//! reconciled (git → render → compare → sync → status) — and its HTTP endpoints (`/metrics`,
//! `/healthz`, `/readyz`) until SIGTERM or Ctrl-C, then stops gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use capstan_controller::context::Context;
use capstan_controller::election::Election;
use capstan_controller::reconcile;
use capstan_controller::shards::Shards;
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
    /// Fetch only this many commits of a repository's history the first time (a shallow clone,
    /// for long histories); later fetches bring new commits on top (default: whole history).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    git_depth: Option<u32>,
    /// Take part in leader election (`--leader-elect=false`: reconcile everything, alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    leader_elect: bool,
    /// How many shards the Applications are divided over, each held by one replica through a
    /// Lease of its own.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    shards: u32,
    /// How long a Lease lasts without renewal before another replica may take it over (whole
    /// seconds, at least 2s).
    #[arg(long, default_value = "15s", value_parser = parse_lease_duration)]
    lease_duration: std::time::Duration,
    /// The namespace of the Leases (default: $POD_NAMESPACE, else --namespace, else the
    /// client's default namespace: in a pod its own, else the kubeconfig context's).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// This replica's identity in leader election (default: $POD_NAME, else host name and
    /// process id).
    #[arg(long)]
    identity: Option<String>,
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

fn parse_lease_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = parse_interval(text)?;
    if duration.as_secs() < 2 || duration.subsec_nanos() != 0 {
        return Err(format!("{text}: a Lease lasts whole seconds, at least 2s"));
    }
    Ok(duration)
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
    // Every write a reconcile makes obeys the fence of its Application's shard; at most
    // REQUESTS_AT_ONCE requests are in flight.
    let client = capstan_cluster::fence::client(config.clone())
        .context("failed to create the API client")?;
    let client = capstan_cluster::bounded::bounded(client, REQUESTS_AT_ONCE);
    let limits = capstan_controller::context::GitLimits {
        shallow_depth: args.git_depth,
        ..capstan_controller::context::GitLimits::default()
    };
    let mut context = Context::with_git_limits(client.clone(), &args.git_cache, limits)
        .await
        .context("failed to discover the cluster's resources")?;
    context.poll_interval = args.poll_interval;
    let leases = lease_namespace(args, &config);
    context.impersonation = Some(config);
    context.default_service_account = args.default_service_account.clone();
    let election = args.leader_elect.then(|| {
        let shards = Shards::elected(args.shards);
        context.shards = Arc::clone(&shards);
        Election {
            client,
            namespace: leases,
            identity: identity(args),
            duration: args.lease_duration,
            shards,
        }
    });
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
    let electing = election.map(|election| {
        eprintln!(
            "capstan controller: leader election as {} with Leases in namespace {}",
            election.identity, election.namespace
        );
        tokio::spawn(election.run(when_stopped(stopped.clone())))
    });
    let reconciling = tokio::spawn(async move {
        let scope = namespace.as_deref();
        reconcile::run(Arc::new(context), scope, when_stopped(stopped)).await;
    });
    let failed = async {
        match electing {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown_signal() => {}
        result = failed => {
            let _ = stop.send(true);
            let _ = reconciling.await;
            result.context("leader election panicked")??;
            anyhow::bail!("leader election ended");
        }
    }
    eprintln!("capstan controller: stopping");
    let _ = stop.send(true);
    let _ = reconciling.await;
    http.await.context("the HTTP server panicked")??;
    Ok(())
}

/// The namespace of the Leases: `--lease-namespace`, `$POD_NAMESPACE`, `--namespace`, else the
/// client's default namespace (in a pod, its own; else the kubeconfig context's).
fn lease_namespace(args: &Args, config: &kube::Config) -> String {
    args.lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .map(|ns| ns.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .or_else(|| args.namespace.clone())
        .unwrap_or_else(|| config.default_namespace.clone())
}

/// This replica's identity: `--identity`, `$POD_NAME`, else host name and process id.
fn identity(args: &Args) -> String {
    args.identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "capstan".to_owned());
            format!("{host}-{}", std::process::id())
        })
}
