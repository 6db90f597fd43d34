//! Pod health: containers stuck waiting on an error or a back-off (`CrashLoopBackOff`,
//! `ImagePullBackOff`, `ErrImagePull`, `CreateContainerConfigError`, ...) are `Degraded`;
//! otherwise the phase decides, and a running pod's restart policy says whether it should
//! become ready (`Always`) or is simply at work (`OnFailure`, `Never`).

use serde_json::Value;

use super::fields::{self, Read};
use super::{Health, degraded, healthy, progressing, unknown};

const INIT_STATUSES: [&str; 2] = ["status", "initContainerStatuses"];
const STATUSES: [&str; 2] = ["status", "containerStatuses"];

/// The health of a `v1` Pod.
pub(super) fn assess(obj: &Value) -> Read<Health> {
    let stuck = stuck_containers(obj)?;
    if !stuck.is_empty() {
        return Ok(degraded(stuck.join("; ")));
    }
    let message = fields::string(obj, &["status", "message"])?.unwrap_or_default();
    match fields::string(obj, &["status", "phase"])? {
        Some("Pending") => pending(obj, message),
        Some("Succeeded") => Ok(healthy("completed")),
        Some("Failed") => failed(obj, message),
        Some("Running") => running(obj),
        Some(other) => Ok(unknown(format!("pod phase is {other}"))),
        None => Ok(unknown("pod reports no phase")),
    }
}

/// Containers waiting for a reason that will not resolve by itself, as `container "x": Reason:
/// message`. The kubelet only reports these reasons when waiting is an error (image pulls fail
/// whatever the restart policy; crash back-off happens only with a policy that restarts).
fn stuck_containers(obj: &Value) -> Read<Vec<String>> {
    let mut stuck = Vec::new();
    for path in [&INIT_STATUSES, &STATUSES] {
        for (index, status) in fields::list(obj, path)?.iter().enumerate() {
            if let Some(why) = waiting_error(status).map_err(|e| e.under(path, index))? {
                stuck.push(why);
            }
        }
    }
    Ok(stuck)
}

/// Why one container (a `containerStatuses` item) is stuck waiting, if it is.
fn waiting_error(status: &Value) -> Read<Option<String>> {
    let name = fields::string(status, &["name"])?.unwrap_or_default();
    let Some(reason) = fields::string(status, &["state", "waiting", "reason"])? else {
        return Ok(None);
    };
    if !(reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")) {
        return Ok(None);
    }
    Ok(Some(
        match fields::string(status, &["state", "waiting", "message"])? {
            Some(detail) if !detail.is_empty() => format!("container {name:?}: {reason}: {detail}"),
            _ => format!("container {name:?}: {reason}"),
        },
    ))
}

fn pending(obj: &Value, message: &str) -> Read<Health> {
    if !message.is_empty() {
        return Ok(progressing(format!("pending: {message}")));
    }
    let conditions = fields::conditions(obj)?;
    if let Some(cond) = fields::find(&conditions, "PodScheduled")
        && cond.is_false()
    {
        return Ok(progressing(cond.explain("waiting to be scheduled")));
    }
    Ok(progressing("pending"))
}

fn failed(obj: &Value, message: &str) -> Read<Health> {
    if !message.is_empty() {
        return Ok(degraded(format!("pod failed: {message}")));
    }
    for path in [&INIT_STATUSES, &STATUSES] {
        for (index, status) in fields::list(obj, path)?.iter().enumerate() {
            let why = termination(status, "state").map_err(|e| e.under(path, index))?;
            if let Some(why) = why {
                return Ok(degraded(format!("pod failed: {why}")));
            }
        }
    }
    Ok(degraded("pod failed"))
}

/// Why one container (a `containerStatuses` item) terminated unsuccessfully according to its
/// `state` or `lastState`; `None` when it did not terminate, or exited 0 quietly.
fn termination(status: &Value, state: &str) -> Read<Option<String>> {
    let name = fields::string(status, &["name"])?.unwrap_or_default();
    if fields::field(status, &[state, "terminated"])?.is_none() {
        return Ok(None);
    }
    let field = |key| [state, "terminated", key];
    let message = fields::string(status, &field("message"))?.unwrap_or_default();
    let reason = fields::string(status, &field("reason"))?.unwrap_or_default();
    let code = fields::int(status, &field("exitCode"))?.unwrap_or(0);
    Ok(if !message.is_empty() {
        Some(format!("container {name:?} terminated: {message}"))
    } else if reason == "OOMKilled" {
        Some(format!(
            "container {name:?} was killed: out of memory (OOMKilled)"
        ))
    } else if code != 0 {
        Some(format!("container {name:?} exited with code {code}"))
    } else {
        None
    })
}

fn running(obj: &Value) -> Read<Health> {
    let policy = fields::string(obj, &["spec", "restartPolicy"])?.unwrap_or("Always");
    if policy != "Always" {
        return Ok(progressing(format!("running (restart policy {policy})")));
    }
    let conditions = fields::conditions(obj)?;
    let ready = fields::find(&conditions, "Ready");
    if ready.is_some_and(|c| c.is_true()) {
        return Ok(healthy("running and ready"));
    }
    for (index, status) in fields::list(obj, &STATUSES)?.iter().enumerate() {
        if let Some(why) = restarted(status).map_err(|e| e.under(&STATUSES, index))? {
            return Ok(degraded(format!("not ready after a restart: {why}")));
        }
    }
    Ok(match ready {
        Some(cond) => progressing(cond.explain("running, not ready")),
        None => progressing("running, not ready"),
    })
}

/// How one container (a `containerStatuses` item) last terminated, if it ever restarted.
fn restarted(status: &Value) -> Read<Option<String>> {
    if fields::field(status, &["lastState", "terminated"])?.is_none() {
        return Ok(None);
    }
    let name = fields::string(status, &["name"])?.unwrap_or_default();
    let why = termination(status, "lastState")?;
    Ok(Some(why.unwrap_or_else(|| {
        format!("container {name:?} terminated")
    })))
}
