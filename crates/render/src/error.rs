//! The renderer's error: what failed, naming the kustomization file, the resource or the field.

use crate::kustomization::KustomizationError;
use crate::loader::LoadError;

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A file could not be read.
    #[error("{context}: {source}")]
    Load {
        /// What was being read, and for what.
        context: String,
        /// The underlying failure.
        #[source]
        source: LoadError,
    },
    /// A file is not valid YAML, or too large or deep to read safely.
    #[error("{file}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A file is not valid YAML, or too large or deep to read safely.
    #[error(transparent)]
    Parse(#[from] crate::yaml::YamlError),
    /// A kustomization file is malformed.
    #[error(transparent)]
    Kustomization(#[from] KustomizationError),
    /// A directory has no kustomization file where one is required.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in \
         directory '{dir}'"
    )]
    MissingKustomization {
        /// The directory.
        dir: String,
    },
    /// A directory has more than one kustomization file (kustomize refuses it too).
    #[error(
        "found multiple kustomization files in directory '{dir}': {}; keep one",
        quoted(.files)
    )]
    MultipleKustomizations {
        /// The directory.
        dir: String,
        /// The kustomization files, in kustomize's order of preference.
        files: Vec<String>,
    },
    /// A directory has no kustomization file but a directory named like one.
    #[error("'{path}' is a directory, not a kustomization file")]
    KustomizationIsADirectory {
        /// The directory named like a kustomization file.
        path: String,
    },
    /// A resource entry could not be accumulated.
    #[error("accumulating resources from '{entry}' in {kustomization}: {message}")]
    Accumulate {
        /// The kustomization file naming it.
        kustomization: String,
        /// The entry as written.
        entry: String,
        /// What went wrong.
        message: String,
    },
    /// Two resources with one identity.
    #[error("may not add resource with an already registered id: {id}")]
    Conflict {
        /// The identity, in kustomize's notation.
        id: String,
    },
    /// A kustomization includes itself.
    #[error("cycle detected: '{dir}' includes itself (through {chain})")]
    Cycle {
        /// The directory seen twice.
        dir: String,
        /// The chain of directories that led back to it.
        chain: String,
    },
    /// A field of a kustomization could not be applied.
    #[error("{kustomization}: {field}: {message}")]
    Field {
        /// The kustomization file.
        kustomization: String,
        /// The field (`patches[2]`, `images`, ...).
        field: String,
        /// What went wrong.
        message: String,
    },
    /// A transformation failed on a resource.
    #[error("{message}")]
    Transform {
        /// What went wrong, naming the resource and field.
        message: String,
    },
}

impl RenderError {
    /// A field error in `kustomization`.
    pub fn field(kustomization: &str, field: impl Into<String>, message: impl ToString) -> Self {
        Self::Field {
            kustomization: kustomization.to_string(),
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// A transformation error.
    pub fn transform(message: impl Into<String>) -> Self {
        Self::Transform {
            message: message.into(),
        }
    }
}

/// `'a', 'b'`: paths as messages show them.
fn quoted(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
