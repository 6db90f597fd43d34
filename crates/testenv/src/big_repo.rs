//! A big repository for the git benchmarks and tests, written in seconds by `git fast-import`
//! from a stream generated here: `groups` directories of `apps` Application directories of
//! `files` manifests each (`group-03/app-042/manifest-07.yaml`), committed once, then
//! `commits - 1` further commits on `main`, each rewriting one manifest spread over the tree.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The shape of a generated repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigRepo {
    /// Top-level directories.
    pub groups: usize,
    /// Application directories in each group.
    pub apps: usize,
    /// Manifests in each Application directory.
    pub files: usize,
    /// Commits on `main`, the first one adding every file.
    pub commits: usize,
}

impl BigRepo {
    /// 20,000 files (10 groups of 100 Applications of 20 manifests) and 10,000 commits.
    pub const TWENTY_THOUSAND_FILES: BigRepo = BigRepo {
        groups: 10,
        apps: 100,
        files: 20,
        commits: 10_000,
    };

    /// Files in the tree.
    pub fn total_files(&self) -> usize {
        self.groups * self.apps * self.files
    }

    /// The directory of one group (`apps × files` files).
    pub fn group_path(group: usize) -> String {
        format!("group-{group:02}")
    }

    /// The directory of one Application (`files` files).
    pub fn app_path(group: usize, app: usize) -> String {
        format!("group-{group:02}/app-{app:03}")
    }

    /// Every Application directory, group by group.
    pub fn app_paths(&self) -> Vec<String> {
        (0..self.groups)
            .flat_map(|g| (0..self.apps).map(move |a| Self::app_path(g, a)))
            .collect()
    }

    /// The path of the `n`th file of the tree.
    fn file_path(&self, n: usize) -> String {
        let (app, file) = (n / self.files, n % self.files);
        let (group, app) = (app / self.apps, app % self.apps);
        format!("{}/manifest-{file:02}.yaml", Self::app_path(group, app))
    }

    /// The `git fast-import` stream of the whole history.
    pub fn stream(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.total_files() * 400 + self.commits * 400);
        let commit = |out: &mut Vec<u8>, number: usize, changes: &[(String, String)]| {
            let time = 1_700_000_000 + number * 60;
            let message = format!("change {number}\n");
            let who = "Test Author <author@example.test>";
            let _ = write!(
                out,
                "commit refs/heads/main\nauthor {who} {time} +0000\ncommitter {who} {time} +0000\n\
                 data {}\n{message}",
                message.len()
            );
            for (path, text) in changes {
                let _ = write!(out, "M 100644 inline {path}\ndata {}\n{text}\n", text.len());
            }
            out.push(b'\n');
        };
        let manifest = |n: usize, revision: usize| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\ndata:\n  revision: \
                 \"{revision}\"\n  filler: \"{}\"\n",
                "x".repeat(120 + n % 80)
            )
        };
        let all: Vec<(String, String)> = (0..self.total_files())
            .map(|n| (self.file_path(n), manifest(n, 0)))
            .collect();
        commit(&mut out, 0, &all);
        for number in 1..self.commits {
            // A prime stride spreads the changes over every directory.
            let n = (number * 7919) % self.total_files();
            commit(
                &mut out,
                number,
                &[(self.file_path(n), manifest(n, number))],
            );
        }
        out
    }

    /// Writes the history into the (empty) bare repository `repo` with `git fast-import`;
    /// returns the head commit of `main`.
    pub fn write(&self, repo: &Path) -> anyhow::Result<String> {
        let git_dir = format!("--git-dir={}", repo.display());
        let mut child = Command::new("git")
            .args([git_dir.as_str(), "fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let stream = self.stream();
        let writer = std::thread::spawn(move || stdin.write_all(&stream));
        let output = child.wait_with_output()?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("the stream writer panicked"))??;
        anyhow::ensure!(
            output.status.success(),
            "git fast-import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        crate::run_git(repo, &[&git_dir, "rev-parse", "refs/heads/main"])
    }
}

#[cfg(test)]
mod tests {
    use super::BigRepo;

    #[test]
    fn files_fill_every_application_directory_in_order() {
        let shape = BigRepo {
            groups: 2,
            apps: 3,
            files: 4,
            commits: 1,
        };
        assert_eq!(shape.file_path(0), "group-00/app-000/manifest-00.yaml");
        assert_eq!(shape.file_path(5), "group-00/app-001/manifest-01.yaml");
        assert_eq!(shape.file_path(23), "group-01/app-002/manifest-03.yaml");
        assert_eq!(shape.app_paths().len(), 6);
    }
}
