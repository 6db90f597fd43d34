//! The arguments of `configMapGenerator[]`, `secretGenerator[]` and `generatorOptions` as written
//! in a kustomization, and of the builtin `ConfigMapGenerator` / `SecretGenerator` plugin configs.
//!
//! Kustomize decodes a kustomization with Go's `encoding/json` and unknown fields disallowed, so
//! these types deserialize the same way: an unknown field is an error, a field name matches
//! case-insensitively when it does not match exactly (`Literals:` works), and a `null` value
//! counts as absent. Plugin configs are decoded leniently (unknown fields ignored), as kustomize
//! does.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::GeneratorError;
use crate::fields::fold_fields;

/// What a generated object does to an object of the same id accumulated before it (from a base).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// Add a new object; an existing one of the same id is an error. Kustomize treats any
    /// behavior string other than `merge` and `replace` (including none) this way.
    #[default]
    Create,
    /// Merge into the existing object: data keys added or overwritten, labels and annotations
    /// merged.
    Merge,
    /// Replace the existing object's content, keeping its identity.
    Replace,
}

impl Behavior {
    /// Kustomize's reading of a `behavior:` string: exact, lowercase `merge` and `replace`;
    /// anything else is create.
    pub fn parse(s: &str) -> Self {
        match s {
            "merge" => Self::Merge,
            "replace" => Self::Replace,
            _ => Self::Create,
        }
    }
}

impl<'de> Deserialize<'de> for Behavior {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// `generatorOptions`, or a generator's own `options`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOptions {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    disable_name_suffix_hash: bool,
    #[serde(default)]
    immutable: bool,
}

const OPTION_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "disableNameSuffixHash",
    "immutable",
];

/// Options for generated objects: kustomization-wide (`generatorOptions`) or per generator.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorOptions {
    /// Labels added to the generated object.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the generated object.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// No content hash suffix on the name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_name_suffix_hash: bool,
    /// Sets `immutable: true` on the generated object.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
}

impl From<RawOptions> for GeneratorOptions {
    fn from(r: RawOptions) -> Self {
        Self {
            labels: r.labels,
            annotations: r.annotations,
            disable_name_suffix_hash: r.disable_name_suffix_hash,
            immutable: r.immutable,
        }
    }
}

impl<'de> Deserialize<'de> for GeneratorOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        let map = fold_fields(map, OPTION_FIELDS, true).map_err(D::Error::custom)?;
        let raw: RawOptions =
            serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?;
        Ok(raw.into())
    }
}

impl GeneratorOptions {
    /// These (a generator's own options) combined with the kustomization-wide `global` ones:
    /// labels and annotations are the union, the generator's own winning on a shared key; each
    /// flag is on when either sets it (a generator cannot turn off a global `true`).
    pub fn merged_with(local: Option<&Self>, global: Option<&Self>) -> Self {
        let mut out = local.cloned().unwrap_or_default();
        if let Some(global) = global {
            for (k, v) in &global.labels {
                out.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &global.annotations {
                out.annotations
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            out.disable_name_suffix_hash |= global.disable_name_suffix_hash;
            out.immutable |= global.immutable;
        }
        out
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawArgs {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    behavior: Behavior,
    #[serde(default)]
    literals: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    envs: Vec<String>,
    #[serde(default)]
    env: String,
    #[serde(default)]
    options: Option<GeneratorOptions>,
    #[serde(default, rename = "type")]
    type_: String,
}

/// The fields of a `configMapGenerator[]` entry: a Secret generator's without `type`.
const ARG_FIELDS: &[&str] = match SECRET_FIELDS.split_last() {
    Some((_type, common)) => common,
    None => &[],
};

/// One `configMapGenerator[]` entry (and the common part of a `secretGenerator[]` entry).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorArgs {
    /// The object's name before any prefix, suffix or hash.
    pub name: String,
    /// The object's namespace; `None` leaves it unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What to do with an existing object of the same id.
    pub behavior: Behavior,
    /// `key=value` pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub literals: Vec<String>,
    /// `path` or `key=path`: the file's content under its base name or the key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Env files: one `KEY=value` a line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub envs: Vec<String>,
    /// The legacy single env file, read after `envs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// This generator's own options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<GeneratorOptions>,
}

impl GeneratorArgs {
    fn from_raw(r: RawArgs) -> Self {
        Self {
            name: r.name,
            namespace: Some(r.namespace).filter(|s| !s.is_empty()),
            behavior: r.behavior,
            literals: r.literals,
            files: r.files,
            envs: r.envs,
            env: Some(r.env).filter(|s| !s.is_empty()),
            options: r.options,
        }
    }

    /// The env files in the order kustomize reads them: `envs`, then the legacy `env`.
    pub fn env_files(&self) -> impl Iterator<Item = &str> {
        self.envs
            .iter()
            .map(String::as_str)
            .chain(self.env.as_deref())
    }

    /// The arguments of a builtin `ConfigMapGenerator` plugin config (an object with
    /// `metadata.name`/`metadata.namespace` and the generator fields inline), decoded
    /// leniently as kustomize does: unknown fields are ignored, so is the legacy `env` (which
    /// kustomize honours only in a kustomization), and `metadata` supplies the name and namespace
    /// when the inline fields leave them empty.
    pub fn from_plugin_config(config: &Value) -> Result<Self, GeneratorError> {
        Ok(Self::from_raw(raw_from_plugin_config(config, ARG_FIELDS)?))
    }
}

impl<'de> Deserialize<'de> for GeneratorArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(GeneratorArgs::from_raw(raw_from_entry(d, ARG_FIELDS)?))
    }
}

/// One `secretGenerator[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SecretArgs {
    /// The fields shared with ConfigMap generators.
    #[serde(flatten)]
    pub args: GeneratorArgs,
    /// The Secret's `type`; `None` means `Opaque`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// The fields of a `secretGenerator[]` entry; `type` last, see [`ARG_FIELDS`].
const SECRET_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "behavior",
    "literals",
    "files",
    "envs",
    "env",
    "options",
    "type",
];

impl SecretArgs {
    fn from_raw(mut r: RawArgs) -> Self {
        let type_ = Some(std::mem::take(&mut r.type_)).filter(|s| !s.is_empty());
        Self {
            args: GeneratorArgs::from_raw(r),
            type_,
        }
    }

    /// The arguments of a builtin `SecretGenerator` plugin config, decoded like
    /// [`GeneratorArgs::from_plugin_config`].
    pub fn from_plugin_config(config: &Value) -> Result<Self, GeneratorError> {
        Ok(Self::from_raw(raw_from_plugin_config(
            config,
            SECRET_FIELDS,
        )?))
    }
}

impl<'de> Deserialize<'de> for SecretArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SecretArgs::from_raw(raw_from_entry(d, SECRET_FIELDS)?))
    }
}

/// Reads a generator entry of a kustomization, its field names matched as kustomize does.
fn raw_from_entry<'de, D: Deserializer<'de>>(d: D, fields: &[&str]) -> Result<RawArgs, D::Error> {
    let map = Map::<String, Value>::deserialize(d)?;
    let map = fold_fields(map, fields, true).map_err(D::Error::custom)?;
    serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)
}

fn raw_from_plugin_config(config: &Value, fields: &[&str]) -> Result<RawArgs, GeneratorError> {
    let invalid = |message: String| GeneratorError::PluginConfig { message };
    let Value::Object(map) = config else {
        return Err(invalid("not a mapping".to_string()));
    };
    let mut with_meta: Vec<&str> = fields.to_vec();
    with_meta.push("metadata");
    let mut map =
        fold_fields(map.clone(), &with_meta, false).map_err(|e| invalid(e.to_string()))?;
    let metadata = map.remove("metadata");
    // Kustomize folds the legacy `env` into `envs` only for kustomization entries.
    map.remove("env");
    if let Some(Value::Object(options)) = map.remove("options") {
        let options =
            fold_fields(options, OPTION_FIELDS, false).map_err(|e| invalid(e.to_string()))?;
        map.insert("options".to_string(), Value::Object(options));
    }
    let mut raw: RawArgs =
        serde_json::from_value(Value::Object(map)).map_err(|e| invalid(e.to_string()))?;
    if let Some(Value::Object(meta)) = metadata {
        let meta =
            fold_fields(meta, &["name", "namespace"], false).map_err(|e| invalid(e.to_string()))?;
        let text = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if raw.name.is_empty() {
            raw.name = text("name");
        }
        if raw.namespace.is_empty() {
            raw.namespace = text("namespace");
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::fold_eq;
    use serde_json::json;

    fn args(v: Value) -> Result<GeneratorArgs, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn a_full_entry_deserializes_with_defaults_for_what_is_missing() {
        let a = args(json!({
            "name": "app", "namespace": "ns", "behavior": "merge",
            "literals": ["a=1"], "files": ["f.txt"], "envs": ["e.env"], "env": "legacy.env",
            "options": {"labels": {"l": "v"}, "disableNameSuffixHash": true, "immutable": true}
        }))
        .unwrap();
        assert_eq!(a.name, "app");
        assert_eq!(a.namespace.as_deref(), Some("ns"));
        assert_eq!(a.behavior, Behavior::Merge);
        assert_eq!(a.env_files().collect::<Vec<_>>(), ["e.env", "legacy.env"]);
        let o = a.options.unwrap();
        assert!(o.disable_name_suffix_hash && o.immutable);
        assert_eq!(o.labels["l"], "v");
        let empty = args(json!({"name": "x"})).unwrap();
        assert_eq!(empty.behavior, Behavior::Create);
        assert!(empty.namespace.is_none() && empty.options.is_none());
    }

    #[test]
    fn unknown_fields_are_errors_but_case_and_nulls_are_forgiven_as_in_kustomize() {
        let err = args(json!({"name": "x", "foo": 1})).unwrap_err();
        assert!(err.to_string().contains("unknown field \"foo\""), "{err}");
        let err = args(json!({"name": "x", "options": {"label": {}}})).unwrap_err();
        assert!(err.to_string().contains("unknown field \"label\""), "{err}");
        let a =
            args(json!({"Name": "x", "LITERALS": ["a=1"], "env": null, "options": null})).unwrap();
        assert_eq!((a.name.as_str(), a.literals.len()), ("x", 1));
        assert!(
            fold_eq("kind", "\u{212a}ind"),
            "the Kelvin sign folds onto k as in Go"
        );
        assert!(
            args(json!({"name": 12})).is_err(),
            "a number is not a string"
        );
        assert!(args(json!({"name": "x", "type": "Opaque"})).is_err());
    }

    #[test]
    fn any_behavior_other_than_merge_or_replace_means_create() {
        for (text, want) in [
            ("merge", Behavior::Merge),
            ("replace", Behavior::Replace),
            ("create", Behavior::Create),
            ("Merge", Behavior::Create),
            ("bogus", Behavior::Create),
        ] {
            assert_eq!(Behavior::parse(text), want, "{text}");
        }
    }

    #[test]
    fn secret_args_take_a_type_and_reject_what_config_maps_reject() {
        let s: SecretArgs =
            serde_json::from_value(json!({"name": "s", "type": "kubernetes.io/tls"})).unwrap();
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(s.args.name, "s");
        assert!(serde_json::from_value::<SecretArgs>(json!({"name": "s", "x": 1})).is_err());
    }

    #[test]
    fn yaml_entries_deserialize_through_serde_saphyr() {
        let yaml = "name: app\nliterals:\n- a=1\noptions:\n  immutable: true\n";
        let a: GeneratorArgs = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(a.literals, ["a=1"]);
        assert!(a.options.unwrap().immutable);
    }

    #[test]
    fn plugin_configs_ignore_unknown_fields_and_take_the_name_from_metadata() {
        let config = json!({
            "apiVersion": "builtin", "kind": "SecretGenerator",
            "metadata": {"name": "s", "namespace": "ns"},
            "literals": ["a=1"], "type": "x", "options": {"immutable": true, "other": 1},
            "env": "ignored.env"
        });
        let s = SecretArgs::from_plugin_config(&config).unwrap();
        assert_eq!(s.args.env_files().count(), 0);
        assert_eq!((s.args.name.as_str(), s.type_.as_deref()), ("s", Some("x")));
        assert_eq!(s.args.namespace.as_deref(), Some("ns"));
        assert!(s.args.options.unwrap().immutable);
        let named = json!({"metadata": {"name": "m"}, "name": "own"});
        assert_eq!(
            GeneratorArgs::from_plugin_config(&named).unwrap().name,
            "own"
        );
    }

    #[test]
    fn local_options_win_on_shared_keys_and_global_flags_cannot_be_turned_off() {
        let local = GeneratorOptions {
            labels: BTreeMap::from([("a".into(), "local".into())]),
            ..Default::default()
        };
        let global = GeneratorOptions {
            labels: BTreeMap::from([("a".into(), "g".into()), ("b".into(), "g".into())]),
            annotations: BTreeMap::from([("n".into(), "g".into())]),
            disable_name_suffix_hash: true,
            immutable: false,
        };
        let m = GeneratorOptions::merged_with(Some(&local), Some(&global));
        assert_eq!(m.labels["a"], "local");
        assert_eq!(m.labels["b"], "g");
        assert_eq!(m.annotations["n"], "g");
        assert!(m.disable_name_suffix_hash && !m.immutable);
        assert_eq!(
            GeneratorOptions::merged_with(None, None),
            GeneratorOptions::default()
        );
    }
}
