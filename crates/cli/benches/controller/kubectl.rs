//! The floor: what kubectl 1.37.1 takes for the same objects on the same cluster, one process
//! per step as a script would run it — `kubectl apply --server-side -R -f TREE` (one request per
//! object, one after the other) and then `kubectl rollout status deployment -l …` (each
//! Deployment watched in turn until its rollout is complete).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::manifests::PART_OF;

/// kubectl's field manager (Capstan's is `capstan`).
const MANAGER: &str = "kubectl-bench";

/// kubectl on one cluster and namespace.
pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub namespace: String,
}

/// How long each step took.
pub struct Floor {
    pub apply: Duration,
    pub rollout: Duration,
}

impl Floor {
    pub fn total(&self) -> Duration {
        self.apply + self.rollout
    }
}

impl Kubectl {
    /// Applies `tree` and waits for every Deployment's rollout; both steps timed.
    pub fn apply_and_roll_out(&self, tree: &Path) -> anyhow::Result<Floor> {
        let start = Instant::now();
        self.apply(tree)?;
        let apply = start.elapsed();
        let rolled = Instant::now();
        self.run(&[
            "rollout",
            "status",
            "deployment",
            "-l",
            &format!("app.kubernetes.io/part-of={PART_OF}"),
            "--timeout=300s",
        ])?;
        Ok(Floor {
            apply,
            rollout: rolled.elapsed(),
        })
    }

    /// `kubectl apply --server-side -R -f tree`.
    pub fn apply(&self, tree: &Path) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let tree = tree.display().to_string();
        let manager = format!("--field-manager={MANAGER}");
        self.run(&["apply", "--server-side", &manager, "-R", "-f", &tree])?;
        Ok(start.elapsed())
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(&self.binary)
            .args(args)
            .args(["-n", &self.namespace, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.binary.display()))?;
        if !output.status.success() {
            bail!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
