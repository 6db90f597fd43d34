//! The transformers a kustomization's fields configure, run in kustomize's order: strategic
//! merge patches, patches, namespace, prefix, suffix, labels, annotations, JSON 6902 patches,
//! replicas, images, replacements; then the `transformers:` field's own list.

pub mod config;
pub mod finish;
pub mod generate;
pub mod images;
pub mod labels;
pub mod nameref;
pub mod namespace;
pub mod patch;
pub mod plugins;
pub mod prefix_suffix;
pub mod replacements;
pub mod replicas;
pub mod selector;
pub mod sort;
pub mod vars;

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::smp::Schema;

/// Runs the transformers `k` configures over everything accumulated so far.
pub fn run(
    loader: &Loader<'_>,
    schema: &Schema,
    file: &str,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    unsupported(file, k)?;
    patch::strategic_merge(loader, schema, file, &k.patches_strategic_merge, acc)?;
    patch::patches(loader, schema, file, &k.patches, "patches", acc)?;
    if !k.namespace.is_empty() {
        namespace::apply(
            &mut acc.resources,
            &acc.config,
            &namespace::Settings::new(&k.namespace),
        )?;
    }
    if !k.name_prefix.is_empty() || !k.name_suffix.is_empty() {
        let fields = prefix_suffix::Fields {
            prefix: &acc.config.name_prefix,
            suffix: &acc.config.name_suffix,
        };
        prefix_suffix::apply(&mut acc.resources, &k.name_prefix, &k.name_suffix, &fields)?;
    }
    if !k.common_labels.is_empty() {
        labels::apply(
            &mut acc.resources,
            &k.common_labels,
            &acc.config.common_labels,
        )?;
    }
    for entry in &k.labels {
        let specs = labels::specs_for(entry, &acc.config, file)?;
        labels::apply(&mut acc.resources, &entry.pairs, &specs)?;
    }
    if !k.common_annotations.is_empty() {
        labels::apply(
            &mut acc.resources,
            &k.common_annotations,
            &acc.config.common_annotations,
        )?;
    }
    patch::patches(
        loader,
        schema,
        file,
        &k.patches_json6902,
        "patchesJson6902",
        acc,
    )?;
    if !k.replicas.is_empty() {
        replicas::apply(&mut acc.resources, &k.replicas, &acc.config.replicas, file)?;
    }
    if !k.images.is_empty() {
        images::apply(&mut acc.resources, &k.images, &acc.config.images, file)?;
    }
    replacements::apply(loader, file, &k.replacements, acc)?;
    Ok(())
}

/// Fields that would run code or reach the network are refused rather than silently ignored.
fn unsupported(file: &str, k: &Kustomization) -> Result<(), RenderError> {
    if !k.validators.is_empty() {
        return Err(RenderError::field(
            file,
            "validators",
            "validator plugins are not supported",
        ));
    }
    if !k.helm_charts.is_empty() || k.helm_globals.is_some() {
        return Err(RenderError::field(
            file,
            "helmCharts",
            "Helm charts are not supported; render the chart into the repository",
        ));
    }
    Ok(())
}
