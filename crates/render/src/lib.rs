//! Native kustomize-compatible renderer: turns a kustomization (or a plain directory of YAML)
//! into an ordered list of objects. Pure: reads files through a small filesystem trait only.
