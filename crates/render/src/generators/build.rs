//! Building the ConfigMap or Secret object a generator describes.
//!
//! The object is `apiVersion: v1`, the kind, `metadata` (name, namespace when given, labels and
//! annotations from the merged options when any), then the data:
//! - ConfigMap: UTF-8 values under `data`, other values base64-encoded under `binaryData`; each
//!   field only when it has keys.
//! - Secret: every value base64-encoded under `data` (present even when empty), and `type`
//!   (`Opaque` unless given).
//!
//! `immutable: true` is set when the options ask for it. Base64 is wrapped as kustomize wraps it:
//! an encoding of 70 characters or more is cut into lines of 70, each ending in a newline.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{
    Behavior, GeneratorArgs, GeneratorError, GeneratorId, GeneratorOptions, SecretArgs, sources,
};
use crate::loader::Loader;

/// A generated object and what the caller must do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The ConfigMap or Secret, named after the generator (no prefix, suffix or hash yet).
    pub object: Value,
    /// How it combines with an object of the same id from a base (see
    /// [`merge_generated`](super::merge_generated)).
    pub behavior: Behavior,
    /// Whether a content hash is to be appended to its name at the end of the build (see
    /// [`name_hash`](super::name_hash)): unless `disableNameSuffixHash`.
    pub needs_hash: bool,
}

/// Generates the ConfigMap of one `configMapGenerator[]` entry. `global` is the
/// kustomization's `generatorOptions`; files are read through `loader`, relative to its root.
pub fn config_map(
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    loader: &Loader,
) -> Result<Generated, GeneratorError> {
    let id = GeneratorId::new("ConfigMap", &args.name)?;
    let pairs = sources::load_pairs(&id, args, loader)?;
    let options = GeneratorOptions::merged_with(args.options.as_ref(), global);
    let mut object = base_object(&id, args, &options);
    let (mut data, mut binary) = (Map::new(), Map::new());
    for (key, value) in pairs {
        match String::from_utf8(value) {
            Ok(text) => data.insert(key, Value::String(text)),
            Err(e) => binary.insert(key, Value::String(base64_wrapped(e.as_bytes()))),
        };
    }
    if !data.is_empty() {
        object.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        object.insert("binaryData".into(), Value::Object(binary));
    }
    Ok(finish(object, args, &options))
}

/// Generates the Secret of one `secretGenerator[]` entry, like [`config_map`].
pub fn secret(
    args: &SecretArgs,
    global: Option<&GeneratorOptions>,
    loader: &Loader,
) -> Result<Generated, GeneratorError> {
    let id = GeneratorId::new("Secret", &args.args.name)?;
    let pairs = sources::load_pairs(&id, &args.args, loader)?;
    let options = GeneratorOptions::merged_with(args.args.options.as_ref(), global);
    let mut object = base_object(&id, &args.args, &options);
    let type_ = args.type_.as_deref().unwrap_or("Opaque");
    object.insert("type".into(), Value::String(type_.to_string()));
    let data: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(base64_wrapped(&v))))
        .collect();
    object.insert("data".into(), Value::Object(data));
    Ok(finish(object, &args.args, &options))
}

fn base_object(
    id: &GeneratorId,
    args: &GeneratorArgs,
    options: &GeneratorOptions,
) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(id.name.clone()));
    if let Some(ns) = &args.namespace {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    if let Some(labels) = string_map(&options.labels) {
        meta.insert("labels".into(), labels);
    }
    if let Some(annotations) = string_map(&options.annotations) {
        meta.insert("annotations".into(), annotations);
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String("v1".into()));
    object.insert("kind".into(), Value::String(id.kind.to_string()));
    object.insert("metadata".into(), Value::Object(meta));
    object
}

fn finish(
    mut object: Map<String, Value>,
    args: &GeneratorArgs,
    options: &GeneratorOptions,
) -> Generated {
    if options.immutable {
        object.insert("immutable".into(), Value::Bool(true));
    }
    Generated {
        object: Value::Object(object),
        behavior: args.behavior,
        needs_hash: !options.disable_name_suffix_hash,
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Option<Value> {
    (!m.is_empty()).then(|| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    })
}

/// Standard base64 cut as kustomize cuts it: when the encoding is 70 characters or longer,
/// into lines of 70 characters each followed by a newline (the last one too).
pub(crate) fn base64_wrapped(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    let mut rest = encoded.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(LINE));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_cut_into_lines_of_seventy_from_seventy_characters_on() {
        assert_eq!(base64_wrapped(b""), "");
        assert_eq!(base64_wrapped(b"apple"), "YXBwbGU=");
        let b69 = base64_wrapped(&[0u8; 51]);
        assert_eq!((b69.len(), b69.contains('\n')), (68, false));
        let b70 = base64_wrapped(&[0u8; 52]);
        assert_eq!(b70, format!("{}\n==\n", "A".repeat(70)));
        let exactly = base64_wrapped(&[0u8; 105]);
        assert_eq!(exactly, format!("{}\n{}\n", "A".repeat(70), "A".repeat(70)));
        let two = base64_wrapped(&[0u8; 54]);
        assert_eq!(two, format!("{}\n{}\n", "A".repeat(70), "AA"));
    }
}
