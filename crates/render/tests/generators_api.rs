//! The generators through their public API, on in-memory files, against what
//! `kubectl kustomize` (kustomize v5.8.1) printed for the same inputs: generated objects, hashed
//! names, and failures that name the generator, the key and the file.

use capstan_render::generators::{self, GeneratorArgs, SecretArgs, name_hash};
use capstan_render::{LoadRestrictor, Loader, MemFs};
use serde_json::{Value, json};

/// The files of the kustomization at `app/`; `shared/` lies outside it.
fn files() -> MemFs {
    MemFs::new()
        .file("app/bin.dat", b"a\x00\xff".to_vec())
        .file("app/d/x", "hi\n")
        .file(
            "app/e.env",
            b"\xef\xbb\xbfA=1\n B = \"q\" \r\n#c\n\nC\n9x=5\n".to_vec(),
        )
        .file("app/bad.env", b"A=1\nB=\xff\n".to_vec())
        .file("app/ctl.txt", b"a\x08\x0c\x01\x7f\x1fz".to_vec())
        .file("app/k.env", "k=<&>\n")
        .file("shared/x", "outside\n")
}

fn config_map(args: Value, restrictor: LoadRestrictor) -> Result<Value, String> {
    let fs = files();
    let loader = Loader::new(&fs, "app", restrictor);
    let args: GeneratorArgs = serde_json::from_value(args).map_err(|e| e.to_string())?;
    let g = generators::config_map(&args, None, &loader).map_err(|e| e.to_string())?;
    Ok(hashed(g))
}

fn secret(args: Value) -> Result<Value, String> {
    let fs = files();
    let loader = Loader::new(&fs, "app", LoadRestrictor::RootOnly);
    let args: SecretArgs = serde_json::from_value(args).map_err(|e| e.to_string())?;
    let g = generators::secret(&args, None, &loader).map_err(|e| e.to_string())?;
    Ok(hashed(g))
}

/// The object named as at the end of a build.
fn hashed(g: generators::Generated) -> Value {
    let mut object = g.object;
    if g.needs_hash {
        let hash = name_hash(&object).expect("generated objects hash");
        let name = object["metadata"]["name"]
            .as_str()
            .expect("named")
            .to_string();
        object["metadata"]["name"] = json!(format!("{name}-{hash}"));
    }
    object
}

#[test]
fn generated_objects_are_what_kubectl_kustomize_printed() {
    let cases = [
        (
            config_map(
                json!({"name": "c", "literals": ["a b=1", "..x=2", "$x=3"], "envs": ["e.env"]}),
                LoadRestrictor::RootOnly,
            ),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c-222dc8m966"},
                "data": {"$x": "3", "..x": "2", "9x": "5", "A": "1", "B ": " \"q\" ", "C": "",
                    "a b": "1"}}),
        ),
        (
            config_map(
                json!({"name": "c", "files": ["bin.dat", "k=d/x", "./d/../d/x"]}),
                LoadRestrictor::RootOnly,
            ),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c-mt54mk9k89"},
                "binaryData": {"bin.dat": "YQD/"}, "data": {"k": "hi\n", "x": "hi\n"}}),
        ),
        (
            secret(
                json!({"name": "s", "type": "kubernetes.io/tls", "files": ["bin.dat"],
                "options": {"immutable": true, "disableNameSuffixHash": true,
                    "labels": {"a": "b"}}}),
            ),
            json!({"apiVersion": "v1", "kind": "Secret", "immutable": true,
                "metadata": {"name": "s", "labels": {"a": "b"}},
                "type": "kubernetes.io/tls", "data": {"bin.dat": "YQD/"}}),
        ),
        (
            // kubectl computed this name, then refused to print the control characters.
            config_map(
                json!({"name": "ctl", "files": ["ctl.txt"], "envs": ["k.env"]}),
                LoadRestrictor::RootOnly,
            ),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ctl-9h8ht2h67k"},
                "data": {"ctl.txt": "a\u{8}\u{c}\u{1}\u{7f}\u{1f}z", "k": "<&>"}}),
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got.unwrap(), want);
    }
}

#[test]
fn hashes_of_transformed_objects_are_what_kubectl_kustomize_computed() {
    // Objects as they stood when kustomize hashed them, after patches added fields of other
    // types; the names are kubectl's.
    let cases = [
        (
            json!({"kind": "ConfigMap", "metadata": {"name": "esc"}, "data": {
                "ctl": "\u{2028}\u{2029}é ☃ 😀", "html": "<a href=\"x\">&amp;</a>"}}),
            "44h5m4ht7g",
        ),
        (
            json!({"kind": "ConfigMap", "metadata": {"name": "nums"}, "data": {"a": "1",
                "big": 1e21, "e": 1e22, "f": 1.5, "i": 12, "small": 1e-7, "t": true}}),
            "979khdc729",
        ),
        (
            json!({"kind": "Secret", "metadata": {"name": "sd"}, "type": "kubernetes.io/tls",
                "data": {"a": "MQ=="}, "stringData": {"x": "y"}}),
            "kkkfm9kf46",
        ),
        (
            // A var in ConfigMap data is substituted after hashing: `u: svc` got this hash.
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"u": "$(SVC)"}}),
            "b98b97g2cc",
        ),
    ];
    for (object, want) in cases {
        assert_eq!(name_hash(&object).unwrap(), want, "{object}");
    }
}

#[test]
fn files_outside_the_kustomization_follow_the_load_restrictor() {
    let args = json!({"name": "c", "files": ["../shared/x"]});
    let err = config_map(args.clone(), LoadRestrictor::RootOnly).unwrap_err();
    assert!(
        err.contains("configmap c") && err.contains("../shared/x"),
        "{err}"
    );
    let ok = config_map(args, LoadRestrictor::None).unwrap();
    assert_eq!(ok["data"], json!({"x": "outside\n"}));
}

#[test]
fn failures_name_the_generator_and_what_was_wrong_with_it() {
    let cases = [
        (json!({"literals": ["a=1"]}), vec!["configmap", "no name"]),
        (
            json!({"name": "c", "files": ["nothere"]}),
            vec!["configmap c", "nothere"],
        ),
        (
            json!({"name": "c", "envs": ["nothere.env"]}),
            vec!["configmap c", "nothere.env"],
        ),
        (
            json!({"name": "c", "files": ["d"]}),
            vec!["configmap c", "d", "not a directory"],
        ),
        (
            json!({"name": "c", "files": ["a=b=c"]}),
            vec!["configmap c", "a=b=c"],
        ),
        (
            json!({"name": "c", "files": ["=d/x"]}),
            vec!["configmap c", "missing key"],
        ),
        (
            json!({"name": "c", "literals": ["noeq"]}),
            vec!["configmap c", "noeq"],
        ),
        (
            json!({"name": "c", "literals": ["A=2"], "envs": ["e.env"]}),
            vec!["configmap c", "`A`", "env file e.env", "literal \"A=2\""],
        ),
        (
            json!({"name": "c", "literals": ["x=1"], "files": ["d/x"]}),
            vec!["configmap c", "`x`", "file d/x"],
        ),
        (
            json!({"name": "c", "envs": ["bad.env"]}),
            vec!["configmap c", "bad.env", "line 2"],
        ),
        (
            json!({"name": "c", "bogus": 1}),
            vec!["unknown field \"bogus\""],
        ),
    ];
    for (args, words) in cases {
        let err = config_map(args.clone(), LoadRestrictor::RootOnly).unwrap_err();
        for word in words {
            assert!(err.contains(word), "{args}: {err:?} lacks {word:?}");
        }
    }
    let err = secret(json!({"name": "s", "literals": ["k=1", "k=2"]})).unwrap_err();
    assert!(err.contains("secret s") && err.contains("`k`"), "{err}");
}

#[test]
fn global_options_apply_under_the_generators_own() {
    let fs = files();
    let loader = Loader::new(&fs, "app", LoadRestrictor::RootOnly);
    let args: GeneratorArgs = serde_json::from_value(json!({"name": "c", "literals": ["a=1"],
        "behavior": "merge", "options": {"labels": {"l": "own"}}}))
    .unwrap();
    let global = serde_json::from_value(json!({"labels": {"l": "global", "g": "global"},
        "annotations": {"n": "global"}, "disableNameSuffixHash": true, "immutable": true}))
    .unwrap();
    let g = generators::config_map(&args, Some(&global), &loader).unwrap();
    assert_eq!(g.behavior, generators::Behavior::Merge);
    assert!(!g.needs_hash);
    assert_eq!(
        g.object,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true,
            "metadata": {"name": "c", "labels": {"l": "own", "g": "global"},
                "annotations": {"n": "global"}},
            "data": {"a": "1"}})
    );
}
