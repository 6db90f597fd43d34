//! The sync and health statuses an Application and each of its resources report, with the
//! meanings Argo CD users know.

use crate::names::named_enum;

named_enum! {
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
}

named_enum! {
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
}

#[cfg(test)]
mod tests {
    use super::{HealthStatus, SyncStatus};

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

    #[test]
    fn sync_statuses_round_trip_their_names_and_serialize_as_them() {
        for status in SyncStatus::ALL {
            assert_eq!(SyncStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, serde_json::Value::from(status.as_str()));
        }
        assert_eq!(SyncStatus::OutOfSync.to_string(), "OutOfSync");
    }
}
