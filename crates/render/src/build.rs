//! The build: reading a kustomization and everything it includes into one set of resources,
//! in kustomize's order — resources (files and other kustomizations, each built fully),
//! components, generators, then transformers — and finishing at the top with content hashes,
//! name references and variables.

use std::borrow::Cow;

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::RenderError;
use crate::fs::{self, EntryKind, FileSystem};
use crate::kustomization::{self, Kustomization};
use crate::loader::{LoadRestrictor, Loader};
use crate::origin::{self, Origin};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::smp::Schema;
use crate::transform::plugins;
use crate::{transform, yaml};

/// How resources are ordered in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reorder {
    /// Kustomize's legacy order: by kind (Namespaces first, webhooks last), then name.
    #[default]
    Legacy,
    /// The order of the input.
    None,
}

/// Render options (kustomize's command-line flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--load-restrictor`.
    pub load_restrictor: LoadRestrictor,
    /// `--reorder`.
    pub reorder: Reorder,
}

/// What one kustomization (with what it includes) has accumulated.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    /// The resources.
    pub resources: ResMap,
    /// Field specs in force (built-in plus `configurations` and `crds`).
    pub config: TransformerConfig,
    /// `vars` declared here and below.
    pub vars: Vec<crate::transform::vars::Var>,
}

/// Walks kustomizations; remembers the chain of directories to detect cycles.
pub struct Builder<'a> {
    pub(crate) fs: &'a dyn FileSystem,
    pub(crate) options: Options,
    stack: Vec<String>,
    /// The merge schema of the build: set by the first kustomization (top first) with `openapi`.
    schema: Option<Cow<'static, Schema>>,
}

/// A kustomization file found in a directory.
pub(crate) struct Found {
    pub(crate) file: String,
    pub(crate) kustomization: Kustomization,
}

impl<'a> Builder<'a> {
    /// A builder reading from `fs`.
    pub fn new(fs: &'a dyn FileSystem, options: Options) -> Self {
        Self {
            fs,
            options,
            stack: Vec::new(),
            schema: None,
        }
    }

    /// Finds and reads the kustomization file of `dir`, if it has one.
    pub(crate) fn find(&self, dir: &str) -> Result<Option<Found>, RenderError> {
        let Some(file) = self.kustomization_file(dir)? else {
            return Ok(None);
        };
        let bytes = self
            .fs
            .read_file(&file)
            .map_err(|e| load_err(&file, e.into()))?;
        let text = String::from_utf8_lossy(&bytes);
        let shown = display(&file);
        let value = yaml::parse_value_last_key_wins(&text, &shown)?;
        let kustomization = Kustomization::from_value(value, &shown)?;
        Ok(Some(Found {
            file: shown,
            kustomization,
        }))
    }

    /// The path of the one kustomization file of `dir`; `None` when nothing in `dir` is named
    /// like one. Several files, or only a directory named like one, are refused: guessing
    /// would render the wrong kustomization, or a plain directory, without a word.
    fn kustomization_file(&self, dir: &str) -> Result<Option<String>, RenderError> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for name in kustomization::FILE_NAMES {
            let path = fs::join(dir, name).unwrap_or_default();
            match self.fs.kind(&path).map_err(|e| load_err(&path, e.into()))? {
                Some(EntryKind::File) => files.push(path),
                Some(EntryKind::Dir) => dirs.push(path),
                None => {}
            }
        }
        match (files.len(), dirs.first()) {
            (0, None) => Ok(None),
            (0, Some(path)) => Err(RenderError::KustomizationIsADirectory {
                path: display(path),
            }),
            (1, _) => Ok(files.pop()),
            _ => Err(RenderError::MultipleKustomizations {
                dir: display(dir),
                files: files.iter().map(|f| display(f)).collect(),
            }),
        }
    }

    /// Builds the kustomization in `dir` (not yet finished: no hashes, references or vars).
    pub fn build_dir(&mut self, dir: &str) -> Result<Accumulator, RenderError> {
        let found = self
            .find(dir)?
            .ok_or_else(|| RenderError::MissingKustomization { dir: display(dir) })?;
        self.build_found(dir, &found)
    }

    /// Builds the kustomization `found` in `dir`, already read.
    pub(crate) fn build_found(
        &mut self,
        dir: &str,
        found: &Found,
    ) -> Result<Accumulator, RenderError> {
        self.enter(dir)?;
        let mut acc = Accumulator {
            config: TransformerConfig::builtin().clone(),
            ..Accumulator::default()
        };
        let result = self.accumulate(dir, found, &mut acc);
        self.stack.pop();
        result.map(|()| acc)
    }

    fn enter(&mut self, dir: &str) -> Result<(), RenderError> {
        let real = self
            .fs
            .real_path(dir)
            .map_err(|e| load_err(dir, e.into()))?;
        if self.stack.contains(&real) {
            return Err(RenderError::Cycle {
                dir: display(dir),
                chain: self
                    .stack
                    .iter()
                    .map(|d| display(d))
                    .collect::<Vec<_>>()
                    .join(" -> "),
            });
        }
        self.stack.push(real);
        Ok(())
    }

    /// Adds what the kustomization (or component) `found` in `dir` contributes to `acc`.
    pub(crate) fn accumulate(
        &mut self,
        dir: &str,
        found: &Found,
        acc: &mut Accumulator,
    ) -> Result<(), RenderError> {
        let k = &found.kustomization;
        let loader = Loader::new(self.fs, dir, self.options.load_restrictor);
        if self.schema.is_none() && !k.openapi.is_empty() {
            self.schema = Some(load_schema(&loader, &found.file, k)?);
        }
        let schema = match &self.schema {
            Some(schema) => schema.clone(),
            None => {
                Cow::Borrowed(Schema::builtin().map_err(|e| RenderError::transform(e.to_string()))?)
            }
        };
        transform::config::load_configurations(&loader, &found.file, k, &mut acc.config)?;
        transform::config::load_crds(&loader, &found.file, k, &mut acc.config)?;
        for entry in &k.resources {
            let added = self.accumulate_resource(&loader, &found.file, entry)?;
            acc.config.merge(&added.config);
            for var in added.vars {
                transform::vars::add(&mut acc.vars, var, &found.file, "resources")?;
            }
            acc.resources
                .append_all(added.resources)
                .map_err(|e| RenderError::Accumulate {
                    kustomization: found.file.clone(),
                    entry: entry.clone(),
                    message: format!("merging resources: {e}"),
                })?;
        }
        for entry in &k.components {
            self.accumulate_component(&loader, &found.file, entry, acc)?;
        }
        transform::generate::run(&loader, &found.file, k, acc)?;
        let generators =
            plugins::load_configs(self, &loader, &found.file, "generators", &k.generators)?;
        for config in &generators {
            plugins::generate_one(&loader, &found.file, config, acc)?;
        }
        transform::run(&loader, &schema, &found.file, k, acc)?;
        let transformers =
            plugins::load_configs(self, &loader, &found.file, "transformers", &k.transformers)?;
        for (config, _) in &transformers {
            plugins::transform(&loader, &schema, &found.file, config, acc)?;
        }
        transform::vars::declare(&found.file, k, acc)?;
        for entry in &k.build_metadata {
            match entry.as_str() {
                "originAnnotations" => origin::annotate(&mut acc.resources, dir),
                "transformerAnnotations" | "managedByLabel" => {}
                other => {
                    return Err(RenderError::field(
                        &found.file,
                        "buildMetadata",
                        format!("unknown option '{other}'"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The kustomization in `path`, named by an entry of another; a directory without one is an
    /// error of that entry.
    fn find_entry(
        &self,
        path: &str,
        fail: &impl Fn(String) -> RenderError,
    ) -> Result<Found, RenderError> {
        self.find(path)?.ok_or_else(|| {
            fail(RenderError::MissingKustomization { dir: display(path) }.to_string())
        })
    }

    fn accumulate_resource(
        &mut self,
        loader: &Loader<'_>,
        file: &str,
        entry: &str,
    ) -> Result<Accumulator, RenderError> {
        let fail = entry_error(file, entry);
        if is_remote(entry) {
            return Err(fail(
                "remote resources are not supported; vendor them into the repository".into(),
            ));
        }
        let path = loader.resolve(entry).map_err(|e| fail(e.to_string()))?;
        match self.fs.kind(&path).map_err(|e| fail(e.to_string()))? {
            Some(EntryKind::Dir) => {
                let found = self.find_entry(&path, &fail)?;
                if found.kustomization.is_component() {
                    return Err(fail(format!(
                        "expected kind != 'Component' for path '{}'",
                        display(&path)
                    )));
                }
                self.build_found(&path, &found)
            }
            Some(EntryKind::File) => {
                loader.check(&path).map_err(|e| fail(e.to_string()))?;
                let text = loader.read_text(entry).map_err(|e| fail(e.to_string()))?;
                let mut resources = ResMap::default();
                resources.append_all(ResMap {
                    items: read_resources(&text, &display(&path))?,
                })?;
                Ok(Accumulator {
                    resources,
                    ..Accumulator::default()
                })
            }
            None => Err(fail(format!("'{}' does not exist", display(&path)))),
        }
    }

    fn accumulate_component(
        &mut self,
        loader: &Loader<'_>,
        file: &str,
        entry: &str,
        acc: &mut Accumulator,
    ) -> Result<(), RenderError> {
        let fail = entry_error(file, entry);
        let path = loader.resolve(entry).map_err(|e| fail(e.to_string()))?;
        if self.fs.kind(&path).map_err(|e| fail(e.to_string()))? != Some(EntryKind::Dir) {
            return Err(fail(format!(
                "component '{}' must be a directory",
                display(&path)
            )));
        }
        let found = self.find_entry(&path, &fail)?;
        let k = &found.kustomization;
        if !k.is_component() {
            return Err(fail(format!(
                "'{}' is not a kind: Component",
                display(&path)
            )));
        }
        if !k.api_version.is_empty() && k.api_version != kustomization::COMPONENT_API_VERSION {
            return Err(fail(format!(
                "apiVersion for Component should be {}",
                kustomization::COMPONENT_API_VERSION
            )));
        }
        self.enter(&path)?;
        let result = self.accumulate(&path, &found, acc);
        self.stack.pop();
        result
    }
}

/// The schema a kustomization's `openapi` field names (a built-in version or a file).
fn load_schema(
    loader: &Loader<'_>,
    file: &str,
    k: &Kustomization,
) -> Result<Cow<'static, Schema>, RenderError> {
    let err = |e: String| RenderError::field(file, "openapi", e);
    let custom = match k.openapi.get("path") {
        Some(path) => {
            let text = loader.read_text(path).map_err(|e| err(e.to_string()))?;
            Some(yaml::parse_value(&text, path)?)
        }
        None => None,
    };
    Schema::for_kustomization(
        k.openapi.get("version").map(String::as_str),
        custom.as_ref(),
    )
    .map_err(|e| err(e.to_string()))
}

/// Parses the objects of a resource file; `List` kinds are expanded into their items.
pub fn read_resources(text: &str, file: &str) -> Result<Vec<Resource>, RenderError> {
    let mut out = Vec::new();
    for doc in yaml::parse_documents(text, file)? {
        for obj in expand_lists(doc) {
            check_object(&obj, file)?;
            let mut res = Resource::new(stringify_metadata(obj));
            res.origin = Some(Origin::File(file.trim_start_matches('/').to_string()));
            out.push(res);
        }
    }
    Ok(out)
}

fn expand_lists(doc: Value) -> Vec<Value> {
    let is_list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && doc.get("items").is_some_and(Value::is_array);
    if !is_list {
        return vec![doc];
    }
    match doc {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items.into_iter().flat_map(expand_lists).collect(),
            _ => Vec::new(),
        },
        other => vec![other],
    }
}

/// Label and annotation values are strings in Kubernetes; kustomize turns numbers and booleans
/// written without quotes into strings, and so does Capstan.
fn stringify_metadata(mut obj: Value) -> Value {
    for key in ["labels", "annotations"] {
        let Some(Value::Object(map)) = obj.get_mut("metadata").and_then(|m| m.get_mut(key)) else {
            continue;
        };
        for value in map.values_mut() {
            match value {
                Value::Number(n) => *value = Value::String(n.to_string()),
                Value::Bool(b) => *value = Value::String(b.to_string()),
                _ => {}
            }
        }
    }
    obj
}

fn check_object(obj: &Value, file: &str) -> Result<(), RenderError> {
    let invalid = |message: &str| RenderError::Yaml {
        file: file.to_string(),
        message: message.to_string(),
    };
    if !obj.is_object() {
        return Err(invalid("a resource must be a mapping"));
    }
    if obj
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid("missing kind in object"));
    }
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str);
    let generate_name = obj.get("metadata").and_then(|m| m.get("generateName"));
    if name.is_none_or(str::is_empty) && generate_name.is_none() {
        return Err(invalid("missing metadata.name in object"));
    }
    Ok(())
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@")
}

/// A path as users see it: from the repository root, `/` for the root itself.
pub fn display(path: &str) -> String {
    format!("/{path}")
}

pub(crate) fn load_err(context: &str, source: crate::loader::LoadError) -> RenderError {
    RenderError::Load {
        context: display(context),
        source,
    }
}

/// The error of entry `entry` (a resource or component) of the kustomization `file`.
fn entry_error<'a>(file: &'a str, entry: &'a str) -> impl Fn(String) -> RenderError + 'a {
    move |message| RenderError::Accumulate {
        kustomization: file.to_string(),
        entry: entry.to_string(),
        message,
    }
}
