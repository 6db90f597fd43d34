//! `buildMetadata: [originAnnotations]`: each object is annotated with where it came from — the
//! file it was read from, or the kustomization (or plugin configuration) whose generator made
//! it — as a path relative to the kustomization that asked for the annotations.

use serde_json::{Map, Value};

use crate::resmap::ResMap;

/// The annotation kustomize uses.
pub const ANNOTATION: &str = "config.kubernetes.io/origin";

/// Where an object came from. Paths are normalized filesystem paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from this file.
    File(String),
    /// Made by a generator configured in this file.
    Generator {
        /// The kustomization or plugin configuration file.
        configured_in: String,
        /// The generator's kind (`ConfigMapGenerator`, ...).
        kind: String,
        /// The plugin configuration's `metadata.name`, if it came from one.
        name: Option<String>,
    },
}

impl Origin {
    /// The annotation's value, paths relative to `dir`.
    pub fn render(&self, dir: &str) -> String {
        match self {
            Origin::File(path) => format!("path: {}\n", relative(dir, path)),
            Origin::Generator {
                configured_in,
                kind,
                name,
            } => {
                let mut out = format!(
                    "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
                    relative(dir, configured_in)
                );
                if let Some(name) = name {
                    out.push_str(&format!("  name: {name}\n"));
                }
                out
            }
        }
    }
}

/// `path` relative to the directory `dir` (both normalized, relative to the same root).
pub fn relative(dir: &str, path: &str) -> String {
    let from: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// Annotates every object that has an origin and no annotation yet, relative to `dir`.
pub fn annotate(res: &mut ResMap, dir: &str) {
    for r in &mut res.items {
        let Some(origin) = &r.origin else { continue };
        let value = origin.render(dir);
        let Some(Value::Object(meta)) = r.obj.get_mut("metadata") else {
            continue;
        };
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = annotations {
            map.entry(ANNOTATION).or_insert(Value::String(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_kustomization() {
        assert_eq!(relative("prod", "base/ns.yaml"), "../base/ns.yaml");
        assert_eq!(relative("prod", "prod/svc.yaml"), "svc.yaml");
        assert_eq!(relative("", "a/b.yaml"), "a/b.yaml");
        assert_eq!(relative("x/y", "x/z/k.yaml"), "../z/k.yaml");
    }
}
