//! `capstan get applications` and `capstan get application NAME`: Applications as kubectl shows
//! resources — a table (`-o wide` for more columns), a readable detail of one Application
//! (`detail`), or the objects themselves (`-o yaml|json`, without `managedFields`, as kubectl
//! prints them). The formatting is pure; only [`run`] talks to the cluster.

pub(crate) mod detail;

use std::process::ExitCode;

use anyhow::Context;
use capstan_api::Application;
use capstan_api::application::ConditionType;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use crate::connect::{self, ConnectArgs};
use crate::target;

/// What `capstan get` shows.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List Applications: NAME, SYNC, HEALTH, REVISION (short), AGE; with -A, NAMESPACE first;
    /// with -o wide, also REPO, PATH, TARGET and the Ready condition's REASON and MESSAGE.
    Applications(ListArgs),
    /// Show one Application: source, destination, sync and health, conditions, resources, the
    /// pending and the last operation, and the history of syncs.
    Application(ShowArgs),
}

/// Arguments of `capstan get applications`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// List the Applications of every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Output format: `wide` (more columns), `yaml` or `json`.
    #[arg(short = 'o', long, value_enum)]
    output: Option<ListFormat>,
}

/// Arguments of `capstan get application`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The Application's name.
    name: String,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Output format: `yaml` or `json` (default: a readable detail).
    #[arg(short = 'o', long, value_enum)]
    output: Option<ObjectFormat>,
}

/// The output formats of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// The table with more columns.
    Wide,
    /// The objects as a YAML `List`.
    Yaml,
    /// The objects as a JSON `List`.
    Json,
}

/// The output formats of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectFormat {
    /// The object as YAML.
    Yaml,
    /// The object as JSON.
    Json,
}

/// Runs the command.
pub fn run(command: &Command) -> ExitCode {
    let result = target::runtime().and_then(|rt| {
        rt.block_on(async {
            match command {
                Command::Applications(args) => list(args).await,
                Command::Application(args) => show(args).await,
            }
        })
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn list(args: &ListArgs) -> anyhow::Result<String> {
    let cluster = connect::connect(&args.connect).await?;
    let api: Api<Application> = if args.all_namespaces {
        Api::all(cluster.client.clone())
    } else {
        cluster.applications()
    };
    let apps = api
        .list(&ListParams::default())
        .await
        .context("failed to list applications")?
        .items;
    match args.output {
        Some(ListFormat::Json) => json_text(&as_list(&apps)?),
        Some(ListFormat::Yaml) => yaml_text(&as_list(&apps)?),
        _ if apps.is_empty() => {
            // kubectl says so on stderr and exits 0.
            if args.all_namespaces {
                eprintln!("No resources found");
            } else {
                eprintln!("No resources found in {} namespace.", cluster.namespace);
            }
            Ok(String::new())
        }
        wide => Ok(table(
            &list_rows(
                &apps,
                args.all_namespaces,
                wide == Some(ListFormat::Wide),
                Timestamp::now(),
            ),
            "",
        )),
    }
}

async fn show(args: &ShowArgs) -> anyhow::Result<String> {
    let cluster = connect::connect(&args.connect).await?;
    let app = cluster.application(&args.name).await?;
    match args.output {
        Some(ObjectFormat::Json) => json_text(&as_printed(&app)?),
        Some(ObjectFormat::Yaml) => yaml_text(&as_printed(&app)?),
        None => Ok(detail::detail(&app, Timestamp::now())),
    }
}

/// The object as kubectl prints it: without `metadata.managedFields`.
fn as_printed(app: &Application) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(app).context("failed to serialize the application")?;
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    Ok(value)
}

/// The objects as kubectl's `List`.
fn as_list(apps: &[Application]) -> anyhow::Result<Value> {
    let items = apps.iter().map(as_printed).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": items,
        "metadata": { "resourceVersion": "" },
    }))
}

fn json_text(value: &Value) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(value).context("failed to write json")?;
    Ok(format!("{text}\n"))
}

fn yaml_text(value: &Value) -> anyhow::Result<String> {
    serde_saphyr::to_string(value).context("failed to write yaml")
}

/// The rows of `capstan get applications`, the header first.
pub fn list_rows(
    apps: &[Application],
    all_namespaces: bool,
    wide: bool,
    now: Timestamp,
) -> Vec<Vec<String>> {
    let mut header = vec!["NAME", "SYNC", "HEALTH", "REVISION", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.extend(["REPO", "PATH", "TARGET", "REASON", "MESSAGE"]);
    }
    let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    for app in apps {
        let status = app.status.as_ref();
        let sync = status.and_then(|s| s.sync.as_ref());
        let mut row = vec![
            or_none(app.metadata.name.as_deref()),
            or_none(sync.map(|s| s.status.as_str())),
            or_none(
                status
                    .and_then(|s| s.health.as_ref())
                    .map(|h| h.status.as_str()),
            ),
            or_none(sync.and_then(|s| s.revision.as_deref()).map(short_revision)),
            age(app.metadata.creation_timestamp.as_ref(), now),
        ];
        if all_namespaces {
            row.insert(0, or_none(app.metadata.namespace.as_deref()));
        }
        if wide {
            let source = &app.spec.source;
            let ready = status.and_then(|s| s.condition(ConditionType::Ready));
            row.extend([
                source.repo_url.clone(),
                source.path.clone().unwrap_or_else(|| ".".into()),
                source.target_revision().to_owned(),
                or_none(ready.map(|c| c.reason.as_str())),
                ready.map(|c| one_line(&c.message)).unwrap_or_default(),
            ]);
        }
        rows.push(row);
    }
    rows
}

/// `text`, or kubectl's `<none>`.
pub fn or_none(text: Option<&str>) -> String {
    match text {
        Some(text) if !text.is_empty() => text.to_owned(),
        _ => "<none>".to_owned(),
    }
}

/// A commit's first seven characters (as git abbreviates it); anything else unchanged.
pub fn short_revision(revision: &str) -> &str {
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_commit { &revision[..7] } else { revision }
}

/// `text` on one line: newlines and tabs become spaces, so a table keeps its rows.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Aligned columns, as kubectl prints them: three spaces between columns, each line starting
/// with `indent`, no trailing spaces.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(index) {
                Some(max) => *max = (*max).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_owned();
        for (index, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if index + 1 < row.len() {
                let pad = widths[index] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago `time` was, as kubectl's AGE column says it (`45s`, `5m10s`, `3h`, `2d5h`, …).
pub fn age(time: Option<&Time>, now: Timestamp) -> String {
    let Some(time) = time else {
        return "<unknown>".to_owned();
    };
    human_duration(now.duration_since(time.0).as_secs())
}

/// Kubernetes' `HumanDuration`.
fn human_duration(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;
    let with = |major: i64, unit: &str, minor: i64, minor_unit: &str| {
        if minor == 0 {
            format!("{major}{unit}")
        } else {
            format!("{major}{unit}{minor}{minor_unit}")
        }
    };
    match seconds {
        s if s < -1 => "<invalid>".to_owned(),
        s if s < 0 => "0s".to_owned(),
        s if s < 2 * MINUTE => format!("{s}s"),
        s if s < 10 * MINUTE => with(s / MINUTE, "m", s % MINUTE, "s"),
        s if s < 3 * HOUR => format!("{}m", s / MINUTE),
        s if s < 8 * HOUR => with(s / HOUR, "h", s % HOUR / MINUTE, "m"),
        s if s < 2 * DAY => format!("{}h", s / HOUR),
        s if s < 8 * DAY => with(s / DAY, "d", s % DAY / HOUR, "h"),
        s if s < 2 * YEAR => format!("{}d", s / DAY),
        s if s < 8 * YEAR => with(s / YEAR, "y", s % YEAR / DAY, "d"),
        s => format!("{}y", s / YEAR),
    }
}

#[cfg(test)]
mod tests;
