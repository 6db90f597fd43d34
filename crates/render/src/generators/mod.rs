//! Kustomize's `configMapGenerator` and `secretGenerator` (v5.8.1 semantics): the argument
//! types, the generated objects, merging them into objects from a base, and the content hash
//! appended to their names.
//!
//! # How a caller uses this
//!
//! For each kustomization, after its `resources` (and before its components and transformers),
//! kustomize runs its generators: every `configMapGenerator[]` entry in order, then every
//! `secretGenerator[]` entry, each with the kustomization's `generatorOptions` as `global`
//! ([`config_map`], [`secret`]). Builtin `ConfigMapGenerator` / `SecretGenerator` configs listed
//! under `generators:` run after those, decoded with [`GeneratorArgs::from_plugin_config`] /
//! [`SecretArgs::from_plugin_config`] and *without* `generatorOptions` (kustomize applies them
//! only to the kustomization's own generator lists). Each [`Generated`] object is then absorbed
//! into the objects accumulated so far:
//! - when none of them has the same id, it is appended (with [`Behavior::Merge`] or
//!   [`Behavior::Replace`] that is an error: there is nothing to merge into);
//! - when exactly one has, [`merge_generated`] combines them in place, keeping the existing
//!   object's position and identity ([`Behavior::Create`] is an error there);
//! - when several have, it is an error.
//!
//! "The same id" is kustomize's: same group, version, kind and name, and the same effective
//! namespace (unset and `default` are equal), compared against each accumulated object's
//! current id *and every id it had before* (so an overlay's generator `app` finds the base's
//! object already renamed `prefix-app-suffix`, or moved to a namespace by the base).
//!
//! # When to hash
//!
//! Kustomize appends the hash once, at the very end of the top-level build: after all
//! generators, merges and transformers of every level (name prefixes and suffixes, namespaces,
//! labels, patches, replacements, ...), and before name references to the renamed objects are
//! fixed, before `vars` are substituted (so where a configuration makes ConfigMap data a var
//! target, the `$(VAR)` is hashed unexpanded) and before local-config objects are dropped. Bases do not hash; only the
//! kustomization being built does. For each object still marked `needs_hash` (see
//! [`Generated::needs_hash`] and [`merge_generated`] for how merges combine the mark), the
//! caller renames it `<current name>-<name_hash(object)>` (the current name carrying any prefix
//! and suffix) and records the previous name so references follow.
//!
//! What [`name_hash`] hashes: for a ConfigMap its `data` and `binaryData`, for a Secret its
//! `type`, `data` and `stringData`, and the kind; not the name, labels, annotations, namespace
//! or `immutable` (see [`hash`] for the exact text). Because the name is not hashed, applying
//! prefixes first or not makes no difference to the hash; the content after the last
//! transformer does.

mod args;
mod build;
pub mod hash;
mod merge;
mod sources;

pub use args::{Behavior, GeneratorArgs, GeneratorOptions, SecretArgs};
pub use build::{Generated, config_map, secret};
pub use hash::name_hash;
pub use merge::merge_generated;

use crate::loader::LoadError;

/// Why generating, hashing or merging failed.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// A generator entry has no name.
    #[error("generating a {}: the generator has no name", kind.to_lowercase())]
    MissingName {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
    },
    /// A literal is not `key=value`.
    #[error("generating {id}: invalid literal source {literal:?}, expected key=value")]
    Literal {
        /// The generator.
        id: GeneratorId,
        /// The literal as written.
        literal: String,
    },
    /// A file source is not `path` or `key=path`.
    #[error("generating {id}: invalid file source {source_text:?}: {reason}")]
    FileSource {
        /// The generator.
        id: GeneratorId,
        /// The source as written.
        source_text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file named by a file or env source could not be read.
    #[error("generating {id}: reading {path}: {source}")]
    ReadFile {
        /// The generator.
        id: GeneratorId,
        /// The path as written.
        path: String,
        /// Why.
        source: LoadError,
    },
    /// A file or env source names a directory.
    #[error("generating {id}: reading {path}: must resolve to a file, not a directory")]
    NotAFile {
        /// The generator.
        id: GeneratorId,
        /// The path as written.
        path: String,
    },
    /// An env file line is not UTF-8.
    #[error("generating {id}: reading env file {path}: line {line} is not valid UTF-8")]
    EnvNotUtf8 {
        /// The generator.
        id: GeneratorId,
        /// The env file as written.
        path: String,
        /// The line number, from 1.
        line: usize,
    },
    /// Two sources of one generator give the same key.
    #[error("generating {id}: the key `{key}` comes from both {first} and {second}")]
    DuplicateKey {
        /// The generator.
        id: GeneratorId,
        /// The repeated key.
        key: String,
        /// The first source giving it (`env file <path>`, `literal "<text>"`, `file <path>`).
        first: String,
        /// The second.
        second: String,
    },
    /// A builtin generator plugin config could not be decoded.
    #[error("decoding a generator plugin config: {message}")]
    PluginConfig {
        /// What is wrong with it.
        message: String,
    },
    /// `name_hash` was given a kind it does not hash.
    #[error("hashing the name of a {kind:?}: only ConfigMaps and Secrets are hashed")]
    HashKind {
        /// The object's kind.
        kind: String,
    },
    /// A generator with behavior `create` names an object that exists already.
    #[error(
        "merging generated {name}: an object with that id exists; behavior must be merge or \
         replace"
    )]
    AlreadyExists {
        /// The generated object's name.
        name: String,
    },
    /// The object to merge into, or the generated one, is not a mapping.
    #[error("merging generated {name}: the objects must be mappings")]
    NotAnObject {
        /// The generated object's name.
        name: String,
    },
}

/// Which generator an error is about: shown as `configmap <name>` or `secret <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorId {
    /// `ConfigMap` or `Secret`.
    pub kind: &'static str,
    /// The generator's name.
    pub name: String,
}

impl GeneratorId {
    fn new(kind: &'static str, name: &str) -> Result<Self, GeneratorError> {
        if name.is_empty() {
            return Err(GeneratorError::MissingName { kind });
        }
        Ok(Self {
            kind,
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for GeneratorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.to_lowercase(), self.name)
    }
}
