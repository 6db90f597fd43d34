//! The sync and health statuses an Application and each of its resources report, with the
//! meanings Argo CD users know.

use std::fmt;

/// The health of one resource or of a whole Application. The order of the variants is the
/// order of severity used to aggregate: an Application is as unhealthy as its worst resource
/// (`Healthy < Suspended < Progressing < Missing < Degraded < Unknown`, as in Argo CD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// The resource is doing what it was asked to do.
    Healthy,
    /// The resource is deliberately paused or suspended (a suspended CronJob or Job, a paused
    /// Deployment).
    Suspended,
    /// The resource is on its way to healthy (a rollout, a pending claim, an address not yet
    /// assigned).
    Progressing,
    /// The resource does not exist in the cluster.
    Missing,
    /// The resource failed or cannot make progress (a rollout past its deadline, a failed Job,
    /// a crash-looping Pod).
    Degraded,
    /// Nothing can be said about the resource's health.
    Unknown,
}

impl HealthStatus {
    /// Every status, from the least to the most severe.
    pub const ALL: [HealthStatus; 6] = [
        HealthStatus::Healthy,
        HealthStatus::Suspended,
        HealthStatus::Progressing,
        HealthStatus::Missing,
        HealthStatus::Degraded,
        HealthStatus::Unknown,
    ];

    /// The PascalCase name used in status, the API and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Suspended => "Suspended",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Missing => "Missing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unknown => "Unknown",
        }
    }

    /// Parses a PascalCase name.
    pub fn parse(name: &str) -> Option<HealthStatus> {
        HealthStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the cluster matches what git says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// Live objects match the desired ones.
    Synced,
    /// At least one object differs, is missing or would be pruned.
    OutOfSync,
    /// The comparison could not be made.
    Unknown,
}

impl SyncStatus {
    /// The PascalCase name used in status, the API and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Synced => "Synced",
            SyncStatus::OutOfSync => "OutOfSync",
            SyncStatus::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::HealthStatus;

    #[test]
    fn health_statuses_order_from_healthy_to_unknown_and_round_trip_their_names() {
        let mut sorted = HealthStatus::ALL;
        sorted.sort();
        assert_eq!(sorted, HealthStatus::ALL);
        assert!(HealthStatus::Degraded > HealthStatus::Missing);
        for status in HealthStatus::ALL {
            assert_eq!(HealthStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(HealthStatus::parse("healthy"), None);
    }
}
