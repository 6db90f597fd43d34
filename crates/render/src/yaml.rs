//! YAML in and out, the way kustomize does it.
//!
//! Reading follows go-yaml v3 (what kustomize's kyaml reads manifests with): the YAML 1.2 core
//! schema plus go-yaml's extras (`0777` octals, `1_000` underscores, plain timestamps turned into
//! RFC 3339 strings), anchors, aliases and `<<` merge keys expanded, duplicate and non-string keys
//! refused. Every resource a hostile repository can make the reader spend is bounded by the
//! constants below.
//!
//! Printing follows what `kustomize build` writes for a resource: the object goes through JSON
//! and is printed by go-yaml v2's emitter (keys in its "natural" order, sequences not indented
//! under their key, strings quoted only when needed and folded at 80 columns).
//!
//! Known differences from kustomize, all where its own output is broken or unstable: key sets
//! whose go-yaml v2 order has cycles (`-280`, `-2A`, `-7`) print in one fixed order where
//! kustomize's changes between runs; U+0085, U+2028 and U+2029 are escaped where kustomize
//! mangles them; a `<<` key is quoted so that it does not read back as a merge key; `!!binary`
//! scalars keep their base64 text; Unicode letters and digits in keys are ordered by Rust's
//! character classes, which may differ from Go's for rare scripts.

mod emit;
mod implicit;
mod keys;
mod number;
mod parse;
mod resolve;
mod scalar;
mod timestamp;

use serde_json::Value;

/// Largest YAML text accepted, in bytes (the same bound as the largest file the renderer reads).
pub const MAX_INPUT_BYTES: usize = crate::fs::MAX_FILE_BYTES;

/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 128;

/// Most nodes (scalars, sequences and mappings, counting every copy an alias makes) one text may
/// produce.
pub const MAX_NODES: usize = 2_000_000;

/// Most nodes one text may copy for anchors and aliases together; this is what stops an alias
/// bomb ("billion laughs") long before it exhausts memory.
pub const MAX_ALIAS_NODES: usize = 250_000;

/// Most documents one text may hold.
pub const MAX_DOCUMENTS: usize = 10_000;

/// Why YAML could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is not well-formed YAML.
    #[error("{file}:{line}:{column}: parse yaml: {message}")]
    Syntax {
        /// The file the text came from.
        file: String,
        /// Line of the problem (1-based).
        line: usize,
        /// Column of the problem (1-based).
        column: usize,
        /// What the parser reported.
        message: String,
    },
    /// The text is YAML but its content cannot become a JSON-like object (a duplicate or
    /// non-string key, a bad merge, a value that contradicts its tag, ...).
    #[error("{file}:{line}:{column}: read yaml: {message}")]
    Content {
        /// The file the text came from.
        file: String,
        /// Line of the problem (1-based).
        line: usize,
        /// Column of the problem (1-based).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading the text would exceed one of the bounds of this module.
    #[error("{file}:{line}:{column}: read yaml: more than {max} {what}")]
    Limit {
        /// The file the text came from.
        file: String,
        /// Line where the bound was reached (1-based).
        line: usize,
        /// Column where the bound was reached (1-based).
        column: usize,
        /// Which bound: "nested collections", "nodes", "nodes copied by aliases", ...
        what: &'static str,
        /// The bound.
        max: usize,
    },
    /// The text is larger than [`MAX_INPUT_BYTES`].
    #[error("{file}: read yaml: {size} bytes is more than the {max} allowed")]
    TooLarge {
        /// The file the text came from.
        file: String,
        /// Its size in bytes.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// [`parse_value`] was given more than one document.
    #[error("{file}: read yaml: expected one document, found {count}")]
    NotOneDocument {
        /// The file the text came from.
        file: String,
        /// How many non-empty documents it holds.
        count: usize,
    },
}

/// Reads a multi-document YAML stream (`---` separators, comments, `...` ends) into its
/// documents, skipping empty and `null` ones. `file` only names the text in errors.
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Value>, YamlError> {
    let documents = parse::parse_stream(text, file, parse::Duplicates::Refuse)?;
    Ok(documents.into_iter().filter(|doc| !doc.is_null()).collect())
}

/// Reads a text holding at most one YAML document; an empty (or `null`) text is `Value::Null`.
pub fn parse_value(text: &str, file: &str) -> Result<Value, YamlError> {
    one_document(parse_documents(text, file)?, file)
}

/// Like [`parse_value`], but a key repeated in one mapping takes its last value instead of being
/// an error: kustomization files are read this way, as kustomize does.
pub fn parse_value_last_key_wins(text: &str, file: &str) -> Result<Value, YamlError> {
    let documents = parse::parse_stream(text, file, parse::Duplicates::LastWins)?;
    one_document(
        documents.into_iter().filter(|doc| !doc.is_null()).collect(),
        file,
    )
}

fn one_document(mut documents: Vec<Value>, file: &str) -> Result<Value, YamlError> {
    match documents.len() {
        0 => Ok(Value::Null),
        1 => Ok(documents.remove(0)),
        count => Err(YamlError::NotOneDocument {
            file: file.to_string(),
            count,
        }),
    }
}

/// Prints one document exactly as `kustomize build` prints a resource (always ending in a
/// newline).
pub fn to_yaml(value: &Value) -> String {
    emit::document(value)
}

/// Prints documents as `kustomize build` prints its output: each as [`to_yaml`] does, separated
/// by `---` lines. No documents print as the empty string.
pub fn to_yaml_stream(values: &[Value]) -> String {
    let mut out = String::new();
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(value));
    }
    out
}
