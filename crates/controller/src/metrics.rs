//! The controller's Prometheus metrics: one `prometheus-client` registry and the families the
//! controller records into, with typed label sets.
//!
//! **Every label value comes from a bounded enum** (a result, a [`Reason`], a sync or health
//! status, an apply action) and never from an object's name or an error's text, so the number of
//! series is fixed by the code, not by how many Applications there are. Every combination is
//! created at zero when [`Metrics`] is built: a series exists before its first event (a rate over
//! a counter that appears late misses its first increment), and the series count is a constant
//! that a scrape can check. `docs/metrics.md` lists the families for users.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use capstan_api::{HealthStatus, Reason, SyncStatus};
use capstan_core::outcome::Action;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The upper bounds, in seconds, of the reconcile duration histogram: from a no-op reconcile
/// served by caches (milliseconds) to a sync that renders and applies a large application (a
/// minute). Reconciles wait by requeueing, so longer ones are a problem worth seeing as `+Inf`.
const RECONCILE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// How a reconcile ended, as counted by `capstan_reconciles_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconcileResult {
    /// The reconcile finished its work.
    Success,
    /// The reconcile failed; it is retried with backoff.
    Error,
    /// The reconcile stopped to wait (a wave not yet healthy, a sync in progress) and asked to
    /// be run again.
    Requeue,
    /// A periodic re-compare was skipped: nothing it depends on (the Application, the commit,
    /// the objects the watches follow) changed since the last found everything Synced.
    Unchanged,
}

impl ReconcileResult {
    /// Every value, in declaration order.
    pub const ALL: [ReconcileResult; 4] = [
        ReconcileResult::Success,
        ReconcileResult::Error,
        ReconcileResult::Requeue,
        ReconcileResult::Unchanged,
    ];

    /// The label value (`success`, `error`, `requeue`, `unchanged`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Requeue => "requeue",
            ReconcileResult::Unchanged => "unchanged",
        }
    }
}

impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// Whether a git check or fetch worked, as a label value (`success`, `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    Success,
    Error,
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        })
    }
}

/// A [`Reason`] or its absence as a label value: the reason's PascalCase name, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ReasonLabel(Option<Reason>);

impl ReasonLabel {
    /// `none` and then every reason: all the values the label can take.
    fn all() -> impl Iterator<Item = ReasonLabel> {
        std::iter::once(ReasonLabel(None)).chain(Reason::ALL.into_iter().map(Some).map(ReasonLabel))
    }
}

impl EncodeLabelValue for ReasonLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.map_or("none", Reason::as_str))
    }
}

/// A [`SyncStatus`] as a label value (its PascalCase name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SyncLabel(SyncStatus);

impl EncodeLabelValue for SyncLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// A [`HealthStatus`] as a label value (its PascalCase name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct HealthLabel(HealthStatus);

impl EncodeLabelValue for HealthLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// Every [`Action`]. The match in [`ActionLabel::encode`] is exhaustive, so a new action fails
/// to compile there; add it here too, or its series is missing until first recorded.
const ACTIONS: [Action; 7] = [
    Action::Created,
    Action::Configured,
    Action::Unchanged,
    Action::Pruned,
    Action::PruneSkipped,
    Action::PruneRequired,
    Action::Failed,
];

/// An [`Action`] as a label value, in snake case (the CLI's words have spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ActionLabel(Action);

impl EncodeLabelValue for ActionLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self.0 {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Pruned => "pruned",
            Action::PruneSkipped => "prune_skipped",
            Action::PruneRequired => "prune_required",
            Action::Failed => "failed",
        })
    }
}

/// Labels of `capstan_reconciles_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconcileLabels {
    result: ReconcileResult,
    reason: ReasonLabel,
}

/// Labels of `capstan_reconcile_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    result: ReconcileResult,
}

/// Labels of `capstan_applications`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApplicationLabels {
    sync: SyncLabel,
    health: HealthLabel,
}

/// Labels of `capstan_git_checks_total` and `capstan_git_fetches_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GitLabels {
    result: Outcome,
    reason: ReasonLabel,
}

impl GitLabels {
    fn of(result: Result<(), Reason>) -> GitLabels {
        match result {
            Ok(()) => GitLabels {
                result: Outcome::Success,
                reason: ReasonLabel(None),
            },
            Err(reason) => GitLabels {
                result: Outcome::Error,
                reason: ReasonLabel(Some(reason)),
            },
        }
    }

    /// Every label set a git result can produce: `success` with no reason, `error` with each.
    fn all() -> impl Iterator<Item = GitLabels> {
        std::iter::once(Ok(()))
            .chain(Reason::ALL.into_iter().map(Err))
            .map(GitLabels::of)
    }
}

/// Labels of `capstan_apply_results_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApplyLabels {
    action: ActionLabel,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

/// The controller's metrics: one registry and every family in it. Share it with `Arc`; every
/// method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: HistogramFamily<DurationLabels>,
    applications: Family<ApplicationLabels, Gauge>,
    git_checks: Family<GitLabels, Counter>,
    git_fetches: Family<GitLabels, Counter>,
    apply_results: Family<ApplyLabels, Counter>,
    /// Held while the applications gauge is rewritten and while the registry is encoded, so a
    /// scrape never sees half of a recount.
    recount: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every family, with every label combination at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("capstan");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_duration = HistogramFamily::new_with_constructor(reconcile_histogram as _);
        let applications = Family::<ApplicationLabels, Gauge>::default();
        let git_checks = Family::<GitLabels, Counter>::default();
        let git_fetches = Family::<GitLabels, Counter>::default();
        let apply_results = Family::<ApplyLabels, Counter>::default();

        registry.register(
            "reconciles",
            "Application reconciles, by how they ended and why",
            reconciles.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Time an Application reconcile took, by how it ended",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register(
            "applications",
            "Applications, by sync and health status",
            applications.clone(),
        );
        registry.register(
            "git_checks",
            "Remote git checks (ref listings), by result and, for errors, reason",
            git_checks.clone(),
        );
        registry.register(
            "git_fetches",
            "Git fetches, by result and, for errors, reason",
            git_fetches.clone(),
        );
        registry.register(
            "apply_results",
            "Objects applied or pruned by syncs, by what happened to them",
            apply_results.clone(),
        );

        let metrics = Metrics {
            registry,
            reconciles,
            reconcile_duration,
            applications,
            git_checks,
            git_fetches,
            apply_results,
            recount: Mutex::new(()),
        };
        metrics.create_every_series();
        metrics
    }

    /// Creates every label combination of every family, at zero.
    fn create_every_series(&self) {
        for result in ReconcileResult::ALL {
            create(&self.reconcile_duration, &DurationLabels { result });
            for reason in ReasonLabel::all() {
                if let Some(labels) = reconcile_labels(result, reason.0) {
                    create(&self.reconciles, &labels);
                }
            }
        }
        self.set_applications(&[]);
        for labels in GitLabels::all() {
            create(&self.git_checks, &labels);
            create(&self.git_fetches, &labels);
        }
        for action in ACTIONS {
            let action = ActionLabel(action);
            create(&self.apply_results, &ApplyLabels { action });
        }
    }

    /// Records one reconcile: how it ended, why (for an error or a requeue; a success has no
    /// reason, and one given is ignored), and how long it took.
    pub fn record_reconcile(
        &self,
        result: ReconcileResult,
        reason: Option<Reason>,
        duration: Duration,
    ) {
        let reason = if result == ReconcileResult::Success {
            None
        } else {
            reason
        };
        if let Some(labels) = reconcile_labels(result, reason) {
            self.reconciles.get_or_create(&labels).inc();
        }
        self.reconcile_duration
            .get_or_create(&DurationLabels { result })
            .observe(duration.as_secs_f64());
    }

    /// Sets `capstan_applications` from a full recount: one `(sync, health)` pair per
    /// Application. Every combination is set, so one no Application has any more reads 0.
    pub fn set_applications(&self, statuses: &[(SyncStatus, HealthStatus)]) {
        let _recount = self.recount.lock().unwrap_or_else(PoisonError::into_inner);
        for sync in SyncStatus::ALL {
            for health in HealthStatus::ALL {
                let count = statuses
                    .iter()
                    .filter(|&&pair| pair == (sync, health))
                    .count();
                self.applications
                    .get_or_create(&ApplicationLabels {
                        sync: SyncLabel(sync),
                        health: HealthLabel(health),
                    })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    /// Records one remote git check (a ref listing): `Ok` or the reason it failed.
    pub fn record_git_check(&self, result: Result<(), Reason>) {
        self.git_checks.get_or_create(&GitLabels::of(result)).inc();
    }

    /// Records one git fetch: `Ok` or the reason it failed.
    pub fn record_git_fetch(&self, result: Result<(), Reason>) {
        self.git_fetches.get_or_create(&GitLabels::of(result)).inc();
    }

    /// Records what a sync did to one object.
    pub fn record_apply(&self, action: Action) {
        self.apply_results
            .get_or_create(&ApplyLabels {
                action: ActionLabel(action),
            })
            .inc();
    }

    /// The registry in the OpenMetrics text format (ending with `# EOF`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let _recount = self.recount.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Creates the series of `labels` in `family` (at zero), releasing the family's lock at once.
fn create<S, M, C>(family: &Family<S, M, C>, labels: &S)
where
    S: Clone + Eq + std::hash::Hash,
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    drop(family.get_or_create(labels));
}

/// The labels a reconcile is counted under, or `None` for a success with a reason, which is
/// never counted (so its series is never created).
fn reconcile_labels(result: ReconcileResult, reason: Option<Reason>) -> Option<ReconcileLabels> {
    let reasoned = matches!(result, ReconcileResult::Error | ReconcileResult::Requeue);
    (reasoned || reason.is_none()).then_some(ReconcileLabels {
        result,
        reason: ReasonLabel(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a scrape that are samples (not `# HELP`, `# TYPE`, `# UNIT`, `# EOF`).
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|line| !line.starts_with('#')).collect()
    }

    fn value(text: &str, series: &str) -> String {
        let line = text
            .lines()
            .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"));
        line[series.len() + 1..].to_string()
    }

    #[test]
    fn every_series_exists_at_zero_before_anything_is_recorded() {
        let text = Metrics::new().encode().unwrap();
        // Reconciles: success/none and unchanged/none, then error and requeue each with none and
        // every reason.
        let reconciles = 2 + 2 * (1 + Reason::ALL.len());
        // Durations: per result, a bucket per bound and +Inf, a sum and a count.
        let durations = 4 * (RECONCILE_BUCKETS.len() + 1 + 2);
        let applications = SyncStatus::ALL.len() * HealthStatus::ALL.len();
        let git = 2 * (1 + Reason::ALL.len());
        let applies = ACTIONS.len();
        assert_eq!(
            samples(&text).len(),
            reconciles + durations + applications + git + applies,
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(
            value(
                &text,
                r#"capstan_reconciles_total{result="error",reason="FetchFailed"}"#
            ),
            "0"
        );
        assert_eq!(
            value(
                &text,
                r#"capstan_apply_results_total{action="prune_skipped"}"#
            ),
            "0"
        );
    }

    #[test]
    fn a_success_is_counted_without_its_reason_and_an_error_with_it() {
        let metrics = Metrics::new();
        let second = Duration::from_secs(1);
        metrics.record_reconcile(ReconcileResult::Success, Some(Reason::Conflict), second);
        metrics.record_reconcile(ReconcileResult::Error, Some(Reason::Forbidden), second);
        metrics.record_reconcile(ReconcileResult::Requeue, None, second);
        let text = metrics.encode().unwrap();
        let count = |labels: &str| value(&text, &format!("capstan_reconciles_total{{{labels}}}"));
        assert_eq!(count(r#"result="success",reason="none""#), "1");
        assert_eq!(count(r#"result="error",reason="Forbidden""#), "1");
        assert_eq!(count(r#"result="requeue",reason="none""#), "1");
        assert!(!text.contains(r#"result="success",reason="Conflict""#));
        assert_eq!(
            value(
                &text,
                r#"capstan_reconcile_duration_seconds_count{result="success"}"#
            ),
            "1"
        );
    }

    #[test]
    fn a_recount_of_applications_sets_stale_combinations_back_to_zero() {
        let metrics = Metrics::new();
        let series = |sync: &str, health: &str| {
            format!(r#"capstan_applications{{sync="{sync}",health="{health}"}}"#)
        };
        metrics.set_applications(&[
            (SyncStatus::OutOfSync, HealthStatus::Progressing),
            (SyncStatus::OutOfSync, HealthStatus::Progressing),
            (SyncStatus::Synced, HealthStatus::Healthy),
        ]);
        let text = metrics.encode().unwrap();
        assert_eq!(value(&text, &series("OutOfSync", "Progressing")), "2");
        assert_eq!(value(&text, &series("Synced", "Healthy")), "1");

        metrics.set_applications(&[(SyncStatus::Synced, HealthStatus::Healthy)]);
        let text = metrics.encode().unwrap();
        assert_eq!(value(&text, &series("OutOfSync", "Progressing")), "0");
        assert_eq!(value(&text, &series("Synced", "Healthy")), "1");
    }

    #[test]
    fn git_results_and_apply_actions_are_counted_under_their_labels() {
        let metrics = Metrics::new();
        metrics.record_git_check(Ok(()));
        metrics.record_git_check(Err(Reason::AuthenticationFailed));
        metrics.record_git_fetch(Err(Reason::Timeout));
        metrics.record_apply(Action::PruneRequired);
        metrics.record_apply(Action::PruneRequired);
        let text = metrics.encode().unwrap();
        assert_eq!(
            value(
                &text,
                r#"capstan_git_checks_total{result="success",reason="none"}"#
            ),
            "1"
        );
        assert_eq!(
            value(
                &text,
                r#"capstan_git_checks_total{result="error",reason="AuthenticationFailed"}"#
            ),
            "1"
        );
        assert_eq!(
            value(
                &text,
                r#"capstan_git_fetches_total{result="error",reason="Timeout"}"#
            ),
            "1"
        );
        assert_eq!(
            value(
                &text,
                r#"capstan_apply_results_total{action="prune_required"}"#
            ),
            "2"
        );
    }
}
