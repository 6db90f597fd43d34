//! `configurations:` and `crds:`: extra field specs for a kustomization's transformers.

use crate::config::TransformerConfig;
use crate::error::RenderError;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::yamlio;

/// Adds the field specs of `k`'s `configurations` files to `config`.
pub fn load_configurations(
    loader: &Loader<'_>,
    file: &str,
    k: &Kustomization,
    config: &mut TransformerConfig,
) -> Result<(), RenderError> {
    for (i, entry) in k.configurations.iter().enumerate() {
        let field = format!("configurations[{i}]");
        let text = loader
            .read_text(entry)
            .map_err(|e| RenderError::field(file, field.clone(), e))?;
        for doc in yamlio::parse_documents(&text, entry)? {
            let extra = TransformerConfig::from_value(doc)
                .map_err(|e| RenderError::field(file, field.clone(), format!("{entry}: {e}")))?;
            config.merge(&extra);
        }
    }
    Ok(())
}
