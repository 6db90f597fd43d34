//! CronJob health. A suspended CronJob is `Suspended`. A CronJob whose last run finished
//! without succeeding is `Degraded`. Everything else is `Healthy`, including a CronJob with
//! jobs running right now: the running Job reports its own progress, and a CronJob that runs
//! often (or always) would otherwise keep its Application `Progressing` forever (Argo CD's
//! code says `Healthy` here, its documentation says `Progressing`; see `docs/health.md`).

use serde_json::Value;

use super::fields::{self, Invalid, Read};
use super::{Health, degraded, healthy, suspended};

const LAST_SCHEDULE: [&str; 2] = ["status", "lastScheduleTime"];
const LAST_SUCCESS: [&str; 2] = ["status", "lastSuccessfulTime"];

/// The health of a `batch/v1` CronJob.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    if fields::flag(obj, &["spec", "suspend"])? {
        return Ok(suspended("cronjob is suspended"));
    }
    let Some(scheduled) = fields::string(obj, &LAST_SCHEDULE)? else {
        return Ok(healthy("not scheduled yet"));
    };
    let active = fields::list(obj, &["status", "active"])?.len();
    if active > 0 {
        return Ok(healthy(format!(
            "{active} jobs running, last scheduled at {scheduled}"
        )));
    }
    let Some(succeeded) = fields::string(obj, &LAST_SUCCESS)? else {
        return Ok(healthy(format!(
            "no run has succeeded yet, last scheduled at {scheduled}"
        )));
    };
    if instant(succeeded, &LAST_SUCCESS)? < instant(scheduled, &LAST_SCHEDULE)? {
        return Ok(degraded(format!(
            "last run did not succeed: scheduled at {scheduled}, last success at {succeeded}"
        )));
    }
    Ok(healthy(format!("last run succeeded at {succeeded}")))
}

/// The comparable part (`YYYY-MM-DDTHH:MM:SS`) of a UTC RFC 3339 timestamp as the API server
/// writes them (`2024-05-01T10:00:00Z`, optionally with fractional seconds).
fn instant<'a>(text: &'a str, path: &[&str]) -> Read<&'a str> {
    let invalid = || Invalid::new(path, "a UTC RFC 3339 timestamp");
    let head = text.get(..19).ok_or_else(invalid)?;
    let shape_ok = head.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    let tail = &text[19..];
    let fraction = tail.strip_prefix('.').unwrap_or(tail);
    let utc = fraction
        .strip_suffix('Z')
        .is_some_and(|f| f.bytes().all(|b| b.is_ascii_digit()));
    if shape_ok && utc {
        Ok(head)
    } else {
        Err(invalid())
    }
}
