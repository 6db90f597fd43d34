//! Checks the generators and the name hash against the kustomize conformance corpus
//! (`$CAPSTAN_KUSTOMIZE_CORPUS`, by default `/work/shared/conformance/kustomize`; skipped with a
//! notice when absent).
//!
//! Two checks: every hashed ConfigMap or Secret in any case's `expected.yaml` carries the suffix
//! `name_hash` computes from its final content; and every case whose kustomizations use only
//! generators (builtin ones under `generators:` too), `resources` that are other such
//! kustomizations or files of ConfigMaps and Secrets, `namePrefix`, `nameSuffix`, `namespace` and
//! `generatorOptions` renders (through a small driver here, which does what the
//! real renderer will: absorb generated objects, merge, rename, hash at the top) exactly its
//! `expected.yaml`, or fails when the case expects an error.

use std::path::{Path, PathBuf};

use capstan_render::generators::{
    self, Behavior, GeneratorArgs, GeneratorOptions, SecretArgs, name_hash,
};
use capstan_render::{DiskFs, EntryKind, FileSystem, LoadRestrictor, Loader};
use serde::Deserialize;
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("CAPSTAN_KUSTOMIZE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/conformance/kustomize"));
    let cases = dir.join("cases");
    if cases.is_dir() {
        Some(cases)
    } else {
        eprintln!("skipped: no kustomize corpus at {}", dir.display());
        None
    }
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("corpus cases")
        .map(|e| e.expect("corpus case").path())
        .collect();
    out.sort();
    out
}

fn expected_docs(case: &Path) -> Option<Vec<Value>> {
    let text = std::fs::read_to_string(case.join("expected.yaml")).ok()?;
    Some(serde_saphyr::from_multiple::<Value>(&text).expect("expected.yaml parses"))
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The hash-looking suffix of a name: 10 characters of kustomize's hash alphabet after a `-`.
fn hash_suffix(name: &str) -> Option<&str> {
    let (_, suffix) = name.rsplit_once('-')?;
    let alphabet = |c: char| c.is_ascii_digit() || c.is_ascii_lowercase();
    (suffix.len() == 10 && suffix.chars().all(alphabet)).then_some(suffix)
}

/// Corpus objects whose name ends like a hash but that kustomize did not hash, and why.
const NOT_HASHED: &[(&str, &str)] = &[(
    "diamonds__TestBasicDiamond: ConfigMap prod-t-federation",
    "a plain ConfigMap whose name happens to end in ten letters",
)];

#[test]
fn every_hashed_config_map_and_secret_in_the_corpus_carries_the_hash_of_its_content() {
    let Some(root) = corpus() else { return };
    let (mut checked, mut wrong) = (0, Vec::new());
    for case in cases(&root) {
        let case_name = case.file_name().unwrap().to_string_lossy().into_owned();
        for doc in expected_docs(&case).unwrap_or_default() {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let Some(suffix) = hash_suffix(name_of(&doc)) else {
                continue;
            };
            if !matches!(kind, "ConfigMap" | "Secret") {
                continue;
            }
            let id = format!("{case_name}: {kind} {}", name_of(&doc));
            if NOT_HASHED.iter().any(|(n, _)| id == *n) {
                continue;
            }
            checked += 1;
            let got = name_hash(&doc).unwrap();
            if got != suffix {
                wrong.push(format!("{id}: computed {got}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked >= 76, "only {checked} hashed objects found");
}

/// An accumulated object: the object, whether it still needs a hash, and every id it has had.
struct Obj {
    value: Value,
    needs_hash: bool,
    ids: Vec<(String, String, String)>,
}

fn effective_ns(ns: &str) -> String {
    if ns.is_empty() { "default" } else { ns }.to_string()
}

fn current_id(v: &Value) -> (String, String, String) {
    let text = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        text("/kind"),
        effective_ns(&text("/metadata/namespace")),
        text("/metadata/name"),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Kustomization {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    namespace: Option<String>,
    generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    secret_generator: Vec<SecretArgs>,
    #[serde(default)]
    generators: Vec<String>,
}

enum Outcome {
    /// The case uses something this driver does not do.
    Unsupported,
    /// The build failed (as kustomize's would).
    Failed(String),
}

fn kustomization(fs: &DiskFs, dir: &str) -> Result<Kustomization, Outcome> {
    for name in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
        let path = capstan_render::fs::join(dir, name).ok_or(Outcome::Unsupported)?;
        if let Ok(bytes) = fs.read_file(&path) {
            let text = String::from_utf8(bytes).map_err(|_| Outcome::Unsupported)?;
            return serde_saphyr::from_str(&text).map_err(|_| Outcome::Unsupported);
        }
    }
    Err(Outcome::Unsupported)
}

fn accumulate(fs: &DiskFs, dir: &str, restrictor: LoadRestrictor) -> Result<Vec<Obj>, Outcome> {
    let k = kustomization(fs, dir)?;
    let mut objs = Vec::new();
    for r in &k.resources {
        let sub = capstan_render::fs::join(dir, r).ok_or(Outcome::Unsupported)?;
        match fs.kind(&sub).ok().flatten() {
            Some(EntryKind::Dir) => objs.extend(accumulate(fs, &sub, restrictor)?),
            Some(EntryKind::File) => {
                for value in yaml_docs(fs, &sub)? {
                    if !matches!(value["kind"].as_str(), Some("ConfigMap" | "Secret")) {
                        // Other kinds may refer to these by name: not this driver's business.
                        return Err(Outcome::Unsupported);
                    }
                    let ids = vec![current_id(&value)];
                    objs.push(Obj {
                        value,
                        needs_hash: false,
                        ids,
                    });
                }
            }
            None => return Err(Outcome::Unsupported),
        }
    }
    let loader = Loader::new(fs, dir, restrictor);
    let global = k.generator_options.as_ref();
    let mut generated = Vec::new();
    for args in &k.config_map_generator {
        generated.push(generators::config_map(args, global, &loader));
    }
    for args in &k.secret_generator {
        generated.push(generators::secret(args, global, &loader));
    }
    for entry in &k.generators {
        generated.push(plugin_generator(fs, dir, entry, &loader)?);
    }
    for g in generated {
        let g = g.map_err(|e| Outcome::Failed(e.to_string()))?;
        absorb(&mut objs, g)?;
    }
    for obj in &mut objs {
        transform(obj, &k);
    }
    Ok(objs)
}

fn yaml_docs(fs: &DiskFs, path: &str) -> Result<Vec<Value>, Outcome> {
    let bytes = fs.read_file(path).map_err(|_| Outcome::Unsupported)?;
    let text = String::from_utf8(bytes).map_err(|_| Outcome::Unsupported)?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|_| Outcome::Unsupported)?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// A `generators:` entry naming (or inlining) a builtin ConfigMap or Secret generator config.
/// These do not take the kustomization's `generatorOptions`.
fn plugin_generator(
    fs: &DiskFs,
    dir: &str,
    entry: &str,
    loader: &Loader,
) -> Result<Result<generators::Generated, generators::GeneratorError>, Outcome> {
    let configs = match serde_saphyr::from_str::<Value>(entry) {
        Ok(inline @ Value::Object(_)) => vec![inline],
        _ => {
            let path = capstan_render::fs::join(dir, entry).ok_or(Outcome::Unsupported)?;
            yaml_docs(fs, &path)?
        }
    };
    let [config] = configs.as_slice() else {
        return Err(Outcome::Unsupported);
    };
    Ok(match config["kind"].as_str() {
        Some("ConfigMapGenerator") => GeneratorArgs::from_plugin_config(config)
            .and_then(|args| generators::config_map(&args, None, loader)),
        Some("SecretGenerator") => SecretArgs::from_plugin_config(config)
            .and_then(|args| generators::secret(&args, None, loader)),
        _ => return Err(Outcome::Unsupported),
    })
}

fn absorb(objs: &mut Vec<Obj>, g: generators::Generated) -> Result<(), Outcome> {
    let id = current_id(&g.object);
    let matches: Vec<usize> = (0..objs.len())
        .filter(|i| objs[*i].ids.contains(&id))
        .collect();
    match (matches.as_slice(), g.behavior) {
        ([], Behavior::Create) => objs.push(Obj {
            ids: vec![id],
            value: g.object,
            needs_hash: g.needs_hash,
        }),
        ([], _) => return Err(Outcome::Failed(format!("{id:?} does not exist"))),
        ([i], behavior) => {
            let old = &mut objs[*i];
            generators::merge_generated(&mut old.value, &g.object, behavior)
                .map_err(|e| Outcome::Failed(e.to_string()))?;
            old.needs_hash &= g.needs_hash;
        }
        _ => return Err(Outcome::Failed(format!("{id:?} matches several"))),
    }
    Ok(())
}

fn transform(obj: &mut Obj, k: &Kustomization) {
    let meta = obj.value["metadata"]
        .as_object_mut()
        .expect("generated objects have metadata");
    if let Some(ns) = &k.namespace {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    let name = meta["name"].as_str().unwrap_or("").to_string();
    let prefix = k.name_prefix.as_deref().unwrap_or("");
    let suffix = k.name_suffix.as_deref().unwrap_or("");
    meta.insert(
        "name".into(),
        Value::String(format!("{prefix}{name}{suffix}")),
    );
    let id = current_id(&obj.value);
    if !obj.ids.contains(&id) {
        obj.ids.push(id);
    }
}

fn build(case: &Path, meta: &Value) -> Result<Vec<Value>, Outcome> {
    let fs = DiskFs::new(case.join("input")).expect("case input");
    let run_dir = meta["run_dir"].as_str().unwrap_or(".");
    let dir = capstan_render::fs::join("", run_dir).ok_or(Outcome::Unsupported)?;
    let restrictor = match meta
        .pointer("/options/load_restrictions")
        .and_then(Value::as_str)
    {
        Some("LoadRestrictionsNone") => LoadRestrictor::None,
        _ => LoadRestrictor::RootOnly,
    };
    let mut out = Vec::new();
    for mut obj in accumulate(&fs, &dir, restrictor)? {
        if obj.needs_hash {
            let hash = name_hash(&obj.value).map_err(|e| Outcome::Failed(e.to_string()))?;
            let name = format!("{}-{hash}", name_of(&obj.value));
            obj.value["metadata"]["name"] = Value::String(name);
        }
        out.push(obj.value);
    }
    Ok(out)
}

/// Cases that must be among those the driver handles, so the filter cannot silently drop them.
const MUST_RUN: &[&str] = &[
    "configmaps__TestGeneratorBasics",
    "configmaps__TestConfigMapGeneratorLiteralNewline",
    "configmaps__TestIssue3393",
    "inlinetransformer__TestInlineGenerator",
    "configmaps__TestGeneratorOverlays",
    "configmaps__TestGeneratorOverlaysBinaryData",
    "configmaps__TestGeneratorIntVsStringWithMerge",
    "configmaps__TestGeneratorFromProperties",
    "configmaps__TestDataIsSingleQuote",
    "configmaps__TestConfigMapGeneratorMergeNamePrefix",
    "generatoroptions__TestGeneratorOptionsOverlayDisableNameSuffixHash",
    "generatoroptions__TestGeneratorOptionsWithBases",
    "generatormergeandreplace__TestGeneratingIntoNamespaces",
    "namespacedgenerators__TestNamespacedGenerator",
    "namespacedgenerators__TestNamespacedGeneratorWithOverlays",
];

#[test]
fn generator_only_corpus_cases_render_their_expected_objects() {
    let Some(root) = corpus() else { return };
    let (mut ran, mut failures) = (Vec::new(), Vec::new());
    for case in cases(&root) {
        let case_name = case.file_name().unwrap().to_string_lossy().into_owned();
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("meta.json")).unwrap())
                .unwrap();
        let expect_error = meta["expect_error"].as_bool().unwrap_or(false);
        let result = match build(&case, &meta) {
            Err(Outcome::Unsupported) => continue,
            Err(Outcome::Failed(e)) => Err(e),
            Ok(docs) => Ok(docs),
        };
        ran.push(case_name.clone());
        match (result, expect_error) {
            (Ok(docs), false) if Some(&docs) == expected_docs(&case).as_ref() => {}
            (Ok(docs), false) => failures.push(format!(
                "{case_name}: got\n{}",
                serde_json::to_string_pretty(&docs).unwrap()
            )),
            (Ok(_), true) => failures.push(format!("{case_name}: expected an error")),
            (Err(e), false) => failures.push(format!("{case_name}: {e}")),
            (Err(_), true) => {}
        }
    }
    eprintln!("ran {} cases: {}", ran.len(), ran.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for name in MUST_RUN {
        assert!(ran.iter().any(|r| r == name), "{name} was not run");
    }
}
