//! Freshness of the built-in merge-key schema of `capstan-render`
//! (`crates/render/src/smp/builtin_schema.json`): starts the real kube-apiserver, fetches
//! `/openapi/v2`, regenerates the schema and compares. Regenerate with
//! `CAPSTAN_BLESS=1 cargo test -p capstan-testenv --test openapi_schema_fresh`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use capstan_render::smp::schema_from_openapi;
use capstan_testenv::{Tier, run};

const REGENERATE: &str =
    "CAPSTAN_BLESS=1 cargo test -p capstan-testenv --test openapi_schema_fresh";

fn checked_in_path() -> PathBuf {
    PathBuf::from(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../render/src/smp/builtin_schema.json")
}

/// Where two texts first differ (line, and a window around the first differing character),
/// for the failure message.
fn first_difference(old: &str, new: &str) -> String {
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    for number in 1.. {
        let (a, b) = (old_lines.next(), new_lines.next());
        if a == b {
            if a.is_none() {
                break;
            }
            continue;
        }
        let (a, b) = (a.unwrap_or("<end>"), b.unwrap_or("<end>"));
        let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        let window =
            |s: &str| -> String { s.chars().skip(at.saturating_sub(60)).take(160).collect() };
        return format!(
            "line {number}, column {}:\n  checked in: …{}…\n  generated:  …{}…",
            at + 1,
            window(a),
            window(b)
        );
    }
    "no line differs (line endings?)".to_string()
}

#[tokio::test]
async fn the_checked_in_merge_key_schema_matches_the_api_servers_openapi() -> anyhow::Result<()> {
    run(Tier::ApiServer, "openapi schema fresh", |ctx| async move {
        let request = http::Request::get("/openapi/v2")
            .header("Accept", "application/json")
            .body(Vec::new())?;
        let text = ctx
            .client
            .request_text(request)
            .await
            .context("fetch /openapi/v2")?;
        let doc: serde_json::Value = serde_json::from_str(&text).context("parse /openapi/v2")?;
        let generated = schema_from_openapi(&doc);
        let path = checked_in_path();
        if std::env::var_os("CAPSTAN_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated)
                .with_context(|| format!("write {}", path.display()))?;
            return Ok(());
        }
        let checked_in =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        if checked_in != generated {
            bail!(
                "generated schema is stale; regenerate with `{REGENERATE}`\n{}",
                first_difference(&checked_in, &generated)
            );
        }
        Ok(())
    })
    .await
}
