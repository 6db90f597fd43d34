//! Where a sync stands in its plan, and what comes after each stage — pure, so that a sync can
//! run one stage per call, requeue instead of waiting, and resume from a cursor kept in the
//! Application's operation state.
//!
//! A wave runs its apply steps one after the other (a step of Namespaces or CRDs is followed by
//! waiting until they are established), then its prunes, then — unless it is the last wave and
//! nothing is pruned last — waits until everything it applied is healthy. After the last wave
//! come the `PruneLast` prunes.

use crate::plan::Plan;

/// One stage of a wave, or of the sync as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Create the destination namespace (`CreateNamespace=true`), before everything else.
    CreateNamespace,
    /// Apply step `n` of the wave.
    Apply(usize),
    /// Wait until the objects of step `n` (Namespaces, CRDs) are established; then discovery is
    /// refreshed so that the next steps can use the kinds a CRD declares.
    Established(usize),
    /// Prune the objects the wave prunes.
    Prune,
    /// Wait until every object the wave applied is healthy.
    Healthy,
    /// Prune the `PruneLast` objects, after every wave.
    PruneLast,
    /// Nothing is left to do.
    Done,
}

impl Stage {
    /// Whether the stage waits for the cluster (and so may ask to be called again later).
    pub fn waits(self) -> bool {
        matches!(self, Stage::Established(_) | Stage::Healthy)
    }
}

/// A position in a plan: the index of the wave (into `Plan::waves`) and the stage in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Index into `Plan::waves` (equal to its length once the waves are done).
    pub wave: usize,
    /// The stage.
    pub stage: Stage,
}

impl Cursor {
    /// The first stage of a sync of `plan`.
    pub fn start(plan: &Plan, create_namespace: bool) -> Cursor {
        if create_namespace {
            return Cursor {
                wave: 0,
                stage: Stage::CreateNamespace,
            };
        }
        wave_start(plan, 0)
    }

    /// The cursor once the current stage is complete. `established` says whether the step just
    /// applied holds Namespaces or CRDs that must be established before the next step (it is
    /// only read after an `Apply` stage).
    pub fn after(self, plan: &Plan, established: bool) -> Cursor {
        let at = |stage| Cursor {
            wave: self.wave,
            stage,
        };
        let steps = plan.waves.get(self.wave).map_or(0, |w| w.apply.len());
        let last_wave = self.wave + 1 >= plan.waves.len();
        match self.stage {
            Stage::CreateNamespace => wave_start(plan, 0),
            Stage::Apply(n) if established => at(Stage::Established(n)),
            Stage::Apply(n) | Stage::Established(n) if n + 1 < steps => at(Stage::Apply(n + 1)),
            Stage::Apply(_) | Stage::Established(_) => at(Stage::Prune),
            Stage::Prune if !last_wave || !plan.prune_last.is_empty() => at(Stage::Healthy),
            Stage::Prune => at(Stage::Done),
            Stage::Healthy => wave_start(plan, self.wave + 1),
            Stage::PruneLast | Stage::Done => at(Stage::Done),
        }
    }
}

/// The first stage of wave `index`, or what follows the waves when there is none.
fn wave_start(plan: &Plan, index: usize) -> Cursor {
    let stage = match plan.waves.get(index) {
        Some(wave) if wave.apply.is_empty() => Stage::Prune,
        Some(_) => Stage::Apply(0),
        None if plan.prune_last.is_empty() => Stage::Done,
        None => Stage::PruneLast,
    };
    Cursor { wave: index, stage }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Wave;

    fn plan(waves: &[(usize, usize)], prune_last: usize) -> Plan {
        Plan {
            waves: waves
                .iter()
                .enumerate()
                .map(|(i, &(steps, prunes))| Wave {
                    wave: i as i64,
                    apply: vec![vec![0]; steps],
                    prune: vec![0; prunes],
                    held: Vec::new(),
                })
                .collect(),
            prune_last: vec![0; prune_last],
            ..Plan::default()
        }
    }

    /// Every stage from the start to `Done`; `established` marks the steps (wave, step) that
    /// hold Namespaces or CRDs.
    fn walk(plan: &Plan, create_namespace: bool, established: &[(usize, usize)]) -> Vec<String> {
        let mut cursor = Cursor::start(plan, create_namespace);
        let mut seen = Vec::new();
        while cursor.stage != Stage::Done {
            seen.push(format!("{}:{:?}", cursor.wave, cursor.stage));
            let waits =
                matches!(cursor.stage, Stage::Apply(n) if established.contains(&(cursor.wave, n)));
            cursor = cursor.after(plan, waits);
            assert!(seen.len() < 100, "no end: {seen:?}");
        }
        seen
    }

    /// A plan, whether the namespace is created, which steps establish, and the stages walked.
    type Case = (
        Plan,
        bool,
        &'static [(usize, usize)],
        &'static [&'static str],
    );

    #[test]
    fn stages_follow_waves_steps_prunes_and_health_in_order() {
        let cases: Vec<(&str, Case)> = vec![
            ("nothing to do", (plan(&[], 0), false, &[], &[])),
            (
                "one wave: no health wait after the last one",
                (
                    plan(&[(2, 1)], 0),
                    false,
                    &[],
                    &["0:Apply(0)", "0:Apply(1)", "0:Prune"],
                ),
            ),
            (
                "a CRD step is followed by waiting until it is established",
                (
                    plan(&[(2, 0)], 0),
                    false,
                    &[(0, 0)],
                    &["0:Apply(0)", "0:Established(0)", "0:Apply(1)", "0:Prune"],
                ),
            ),
            (
                "two waves: the first must be healthy before the second",
                (
                    plan(&[(1, 0), (1, 0)], 0),
                    false,
                    &[],
                    &[
                        "0:Apply(0)",
                        "0:Prune",
                        "0:Healthy",
                        "1:Apply(0)",
                        "1:Prune",
                    ],
                ),
            ),
            (
                "PruneLast waits for the last wave's health, then prunes",
                (
                    plan(&[(1, 0)], 2),
                    true,
                    &[],
                    &[
                        "0:CreateNamespace",
                        "0:Apply(0)",
                        "0:Prune",
                        "0:Healthy",
                        "1:PruneLast",
                    ],
                ),
            ),
            (
                "a wave that only prunes",
                (
                    plan(&[(0, 1), (1, 0)], 0),
                    false,
                    &[],
                    &["0:Prune", "0:Healthy", "1:Apply(0)", "1:Prune"],
                ),
            ),
            (
                "only PruneLast objects",
                (plan(&[], 1), false, &[], &["0:PruneLast"]),
            ),
        ];
        for (name, (plan, create_namespace, established, expected)) in cases {
            assert_eq!(
                walk(&plan, create_namespace, established),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn only_established_and_healthy_stages_wait() {
        assert!(Stage::Established(0).waits() && Stage::Healthy.waits());
        assert!(!Stage::Apply(0).waits() && !Stage::Prune.waits() && !Stage::Done.waits());
    }
}
