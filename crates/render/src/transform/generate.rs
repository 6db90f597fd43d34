//! Generators: `configMapGenerator`, `secretGenerator` and the `generators:` field.

use crate::build::Accumulator;
use crate::error::RenderError;
use crate::kustomization::Kustomization;
use crate::loader::Loader;

/// Runs the generators of `k`, adding or merging their objects into `acc`.
pub fn run(
    loader: &Loader<'_>,
    file: &str,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    let _ = (loader, acc);
    if !k.config_map_generator.is_empty() || !k.secret_generator.is_empty() {
        return Err(RenderError::field(
            file,
            "configMapGenerator",
            "not supported yet",
        ));
    }
    Ok(())
}

/// Runs a `ConfigMapGenerator` or `SecretGenerator` plugin configuration.
pub fn from_plugin(
    loader: &Loader<'_>,
    file: &str,
    kind: &str,
    config: &serde_json::Value,
    acc: &mut Accumulator,
) -> Result<(), RenderError> {
    let _ = (loader, config, acc);
    Err(RenderError::field(file, kind, "not supported yet"))
}
