//! Generators: `configMapGenerator`, `secretGenerator` and built-in generator plugins. Each
//! generated object is appended, or — with `behavior: merge|replace` — combined with the object
//! of the same identity that a base produced.

use serde_json::Value;

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::generators::{self, Behavior, Generated, GeneratorArgs, GeneratorOptions, SecretArgs};
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::origin::Origin;
use crate::resource::Resource;

/// Runs the generators of `k`, adding or merging their objects into `acc`.
pub fn run(
    loader: &Loader<'_>,
    file: &str,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    let global: Option<GeneratorOptions> = match &k.generator_options {
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| RenderError::field(file, "generatorOptions", e))?,
        ),
        None => None,
    };
    let global = global.as_ref();
    let lists = [
        (
            "configMapGenerator",
            "ConfigMapGenerator",
            &k.config_map_generator,
        ),
        ("secretGenerator", "SecretGenerator", &k.secret_generator),
    ];
    for (field, kind, entries) in lists {
        for (i, entry) in entries.iter().enumerate() {
            let fail = |e: String| RenderError::field(file, format!("{field}[{i}]"), e);
            let generated = if kind == "SecretGenerator" {
                let args: SecretArgs =
                    serde_json::from_value(entry.clone()).map_err(|e| fail(e.to_string()))?;
                generators::secret(&args, global, loader)
            } else {
                let args: GeneratorArgs =
                    serde_json::from_value(entry.clone()).map_err(|e| fail(e.to_string()))?;
                generators::config_map(&args, global, loader)
            }
            .map_err(|e| fail(e.to_string()))?;
            absorb(acc, generated, origin(file, kind, None)).map_err(fail)?;
        }
    }
    Ok(())
}

/// Adds a generated object, or merges it into the object of the same identity.
fn absorb(acc: &mut Accumulator, generated: Generated, origin: Origin) -> Result<(), String> {
    let mut res = Resource::new(generated.object);
    res.origin = Some(origin);
    let id = res.id();
    let found = acc.resources.matching_any_id(&id);
    match (generated.behavior, found.as_slice()) {
        (Behavior::Create, []) => {
            res.needs_hash = generated.needs_hash;
            acc.resources.append(res).map_err(|e| e.to_string())
        }
        (Behavior::Create, [_, ..]) => Err(format!(
            "{id} already exists; behavior must be merge or replace to change it"
        )),
        (_, []) => Err(format!("{id} does not exist; cannot merge or replace")),
        (behavior, [index]) => {
            let existing = &mut acc.resources.items[*index];
            generators::merge_generated(&mut existing.obj, &res.obj, behavior)
                .map_err(|e| e.to_string())?;
            existing.needs_hash = existing.needs_hash && generated.needs_hash;
            if behavior == Behavior::Replace {
                existing.origin = res.origin;
            }
            Ok(())
        }
        (_, _) => Err(format!(
            "{id} matches several objects; cannot merge or replace"
        )),
    }
}

/// Runs a `ConfigMapGenerator` or `SecretGenerator` plugin configuration.
pub fn from_plugin(
    loader: &Loader<'_>,
    file: &str,
    configured_in: &str,
    kind: &str,
    config: &Value,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    let err = |e: String| RenderError::field(file, kind.to_string(), e);
    let generated = if kind == "SecretGenerator" {
        let args = SecretArgs::from_plugin_config(config).map_err(|e| err(e.to_string()))?;
        generators::secret(&args, None, loader)
    } else {
        let args = GeneratorArgs::from_plugin_config(config).map_err(|e| err(e.to_string()))?;
        generators::config_map(&args, None, loader)
    }
    .map_err(|e| err(e.to_string()))?;
    let name = crate::resource::str_at(config, &["metadata", "name"]);
    let name = (!name.is_empty()).then(|| name.to_string());
    absorb(acc, generated, origin(configured_in, kind, name)).map_err(err)
}

fn origin(file: &str, kind: &str, name: Option<String>) -> Origin {
    Origin::Generator {
        configured_in: file.trim_start_matches('/').to_string(),
        kind: kind.to_string(),
        name,
    }
}
