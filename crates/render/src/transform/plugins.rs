//! The `transformers:` and `generators:` fields: kustomize's built-in plugins configured by
//! objects (`apiVersion: builtin`, `kind: PatchTransformer`, ...) given inline, in files, or as
//! the output of a kustomization directory. Exec, Go and KRM-function plugins are refused: a
//! repository must not be able to run code in the controller.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::build::{Accumulator, Builder};
use crate::error::RenderError;
use crate::fieldspec::FieldSpec;
use crate::fs::EntryKind;
use crate::kustomization::{Image, Patch, Replica, Target};
use crate::loader::Loader;
use crate::smp::Schema;
use crate::transform::sort::Order;
use crate::transform::{
    generate, images, labels, namespace, patch, prefix_suffix, replacements, replicas,
};
use crate::{resource, yaml};

/// A plugin configuration and the file it was written in.
pub type Config = (Value, String);

/// Reads the plugin configuration objects an entry list names.
pub fn load_configs(
    builder: &mut Builder<'_>,
    loader: &Loader<'_>,
    file: &str,
    field: &str,
    entries: &[String],
) -> Result<Vec<Config>, RenderError> {
    let mut configs = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let what = format!("{field}[{i}]");
        let err = |e: String| RenderError::field(file, what.clone(), e);
        if entry.contains('\n') {
            let docs = yaml::parse_documents(entry, &format!("{file}: {what}"))?;
            configs.extend(docs.into_iter().map(|d| (d, file.to_string())));
            continue;
        }
        let path = loader.resolve(entry).map_err(|e| err(e.to_string()))?;
        match loader.kind(entry).map_err(|e| err(e.to_string()))? {
            Some(EntryKind::Dir) => {
                let acc = builder.build_dir(&path)?;
                let docs = crate::transform::finish::finish(acc, &Order::Fifo)?;
                configs.extend(docs.into_iter().map(|d| (d, crate::build::display(&path))));
            }
            Some(EntryKind::File) => {
                let text = loader.read_text(entry).map_err(|e| err(e.to_string()))?;
                let docs = yaml::parse_documents(&text, entry)?;
                configs.extend(docs.into_iter().map(|d| (d, crate::build::display(&path))));
            }
            None => return Err(err(format!("'{entry}' does not exist"))),
        }
    }
    Ok(configs)
}

fn parse<T: DeserializeOwned>(config: &Value, file: &str, kind: &str) -> Result<T, RenderError> {
    // The plugin's own identity is not part of its settings.
    let mut settings = config.clone();
    if let Value::Object(map) = &mut settings {
        for key in ["apiVersion", "kind", "metadata"] {
            map.remove(key);
        }
    }
    serde_json::from_value(settings).map_err(|e| RenderError::field(file, kind, e))
}

fn kind_of(config: &Value, file: &str) -> Result<String, RenderError> {
    let api_version = resource::str_at(config, &["apiVersion"]);
    let kind = resource::str_at(config, &["kind"]).to_string();
    if api_version != "builtin" {
        return Err(RenderError::field(
            file,
            kind.clone(),
            format!(
                "unable to load plugin {api_version}/{kind}: only kustomize's built-in plugins \
                 (apiVersion: builtin) are supported; exec, Go and function plugins are not"
            ),
        ));
    }
    Ok(kind)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WithSpecs {
    field_specs: Vec<FieldSpec>,
    prefix: String,
    suffix: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    image_tag: Option<Image>,
    replica: Option<Replica>,
    unset_only: bool,
    set_role_binding_subjects: Option<String>,
    replacements: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Json6902 {
    target: Option<Target>,
    path: Option<String>,
    json_op: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StrategicMerge {
    paths: Vec<String>,
    patches: Option<String>,
}

/// Runs one built-in transformer plugin.
pub fn transform(
    loader: &Loader<'_>,
    schema: &Schema,
    file: &str,
    config: &Value,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    let kind = kind_of(config, file)?;
    let res = &mut acc.resources;
    match kind.as_str() {
        "PatchTransformer" => {
            let p: Patch = parse(config, file, &kind)?;
            patch::patches(loader, schema, file, &[p], &kind, acc)
        }
        "PatchJson6902Transformer" => {
            let p: Json6902 = parse(config, file, &kind)?;
            let entry = Patch {
                path: p.path,
                patch: p.json_op,
                target: p.target,
                ..Patch::default()
            };
            patch::patches(loader, schema, file, &[entry], &kind, acc)
        }
        "PatchStrategicMergeTransformer" => {
            let p: StrategicMerge = parse(config, file, &kind)?;
            let mut entries: Vec<Value> = p.paths.into_iter().map(Value::String).collect();
            entries.extend(p.patches.map(Value::String));
            patch::strategic_merge(loader, schema, file, &entries, acc)
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            let fields = prefix_suffix::Fields {
                prefix: &c.field_specs,
                suffix: &c.field_specs,
            };
            prefix_suffix::apply(res, &c.prefix, &c.suffix, &fields)
        }
        "LabelTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            labels::apply(res, &c.labels, &c.field_specs)
        }
        "AnnotationsTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            labels::apply(res, &c.annotations, &c.field_specs)
        }
        "NamespaceTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            let settings = namespace::Settings {
                namespace: resource::str_at(config, &["metadata", "namespace"]).to_string(),
                unset_only: c.unset_only,
                subjects: match c.set_role_binding_subjects.as_deref() {
                    Some("allServiceAccounts") => namespace::Subjects::AllServiceAccounts,
                    Some("none") => namespace::Subjects::None,
                    _ => namespace::Subjects::DefaultOnly,
                },
                field_specs: Some(c.field_specs),
            };
            namespace::apply(res, &acc.config, &settings)
        }
        "ImageTagTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            let image = c.image_tag.into_iter().collect::<Vec<_>>();
            images::apply(res, &image, &c.field_specs, file)
        }
        "ReplicaCountTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            let replica = c.replica.into_iter().collect::<Vec<_>>();
            replicas::apply(res, &replica, &c.field_specs, file)
        }
        "ReplacementTransformer" => {
            let c: WithSpecs = parse(config, file, &kind)?;
            replacements::apply(loader, file, &c.replacements, acc)
        }
        other => Err(RenderError::field(
            file,
            "transformers",
            format!("unable to load builtin {other}"),
        )),
    }
}

/// Runs one built-in generator plugin.
pub fn generate_one(
    loader: &Loader<'_>,
    file: &str,
    (config, configured_in): &Config,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    let kind = kind_of(config, file)?;
    match kind.as_str() {
        "IAMPolicyGenerator" => iam_policy(file, config, acc),
        "ConfigMapGenerator" | "SecretGenerator" => {
            generate::from_plugin(loader, file, configured_in, &kind, config, acc)
        }
        other => Err(RenderError::field(
            file,
            "generators",
            format!("unable to load builtin {other}"),
        )),
    }
}

/// `IAMPolicyGenerator` (GKE workload identity): a ServiceAccount annotated with the Google
/// service account it acts as.
fn iam_policy(file: &str, config: &Value, acc: &mut Accumulator) -> Result<(), RenderError> {
    let text = |path: &[&str]| resource::str_at(config, path).to_string();
    if text(&["cloud"]) != "gke" {
        return Err(RenderError::field(
            file,
            "IAMPolicyGenerator",
            "only cloud: gke is supported",
        ));
    }
    let (name, project) = (
        text(&["serviceAccount", "name"]),
        text(&["serviceAccount", "projectId"]),
    );
    let mut metadata = serde_json::json!({
        "name": text(&["kubernetesService", "name"]),
        "annotations": {"iam.gke.io/gcp-service-account": format!("{name}@{project}.iam.gserviceaccount.com")},
    });
    let namespace = text(&["kubernetesService", "namespace"]);
    if !namespace.is_empty() {
        metadata["namespace"] = Value::String(namespace);
    }
    let obj =
        serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata});
    acc.resources.append(crate::resource::Resource::new(obj))
}
