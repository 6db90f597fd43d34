//! Golden tests: kustomizations as users write them (a web app's base and overlays, an
//! active/standby switch, generators, image bumps, components, plain directories) and the ways
//! they go wrong, each rendered exactly as the `capstan` command line does.
//!
//! Layout (`testdata/golden`, see its README.md): every top-level directory with an `input/` is
//! a case; the filesystem root is `testdata/golden` itself, so an overlay may name a base in
//! another case (`../../webapp-base/input`) and a file just outside its own `input/`. A case
//! expects either `expected.yaml` (the exact [`render_to_yaml`] output; every one was checked
//! against `kubectl kustomize` by `compare-with-kubectl.py`) or `expected-error.txt` (substrings
//! the error message must contain, one a line). An optional `flags.txt` holds kubectl flags
//! (`--reorder none`, `--load-restrictor LoadRestrictionsNone`); the default is the command
//! line's: legacy order, root-only load restrictor.
//!
//! `known-failures.txt` lists cases that fail today with the reason (a reason starting with
//! `skip:` means the case is not even run, because it would hang or crash the test binary).
//! `CAPSTAN_BLESS=1` rewrites every expected.yaml from the current output (not those of listed
//! cases); `CAPSTAN_GOLDEN_CASE=name` runs one case only.
//!
//! Symbolic links cannot be committed portably, so the cases with links are separate tests below,
//! in memory ([`MemFs`]); so are the variations of how a directory's kustomization file is found.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use capstan_render::{
    DiskFs, FileSystem, LoadRestrictor, MemFs, Options, Reorder, render_to_yaml, yaml,
};

/// Longest a case may take (a debug build renders each in milliseconds; hostile inputs must
/// fail fast, not merely eventually).
const TIME_LIMIT: Duration = Duration::from_secs(5);

fn golden_root() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("testdata/golden")
}

fn known_failures() -> BTreeMap<String, String> {
    common::read_expectations(&golden_root().join("known-failures.txt"))
}

fn case_names() -> Vec<String> {
    let only = std::env::var("CAPSTAN_GOLDEN_CASE").ok();
    let mut names: Vec<String> = std::fs::read_dir(golden_root())
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("input").is_dir())
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
        .filter(|n| only.as_ref().is_none_or(|o| o == n))
        .collect();
    names.sort();
    names
}

/// The options a case's `flags.txt` asks for (kubectl's flag syntax).
fn options(case: &Path) -> Options {
    let mut options = Options::default();
    let flags = std::fs::read_to_string(case.join("flags.txt")).unwrap_or_default();
    let words: Vec<&str> = flags.split_whitespace().collect();
    for pair in words.chunks(2) {
        match pair {
            ["--reorder", "none"] => options.reorder = Reorder::None,
            ["--reorder", "legacy"] => options.reorder = Reorder::Legacy,
            ["--load-restrictor", "LoadRestrictionsNone"] => {
                options.load_restrictor = LoadRestrictor::None
            }
            ["--load-restrictor", "LoadRestrictionsRootOnly"] => {
                options.load_restrictor = LoadRestrictor::RootOnly
            }
            other => panic!("{}: unknown flags {other:?}", case.display()),
        }
    }
    options
}

/// Renders `dir` of `fs` on another thread; `None` when it takes longer than [`TIME_LIMIT`].
fn render_in_time<F>(fs: F, dir: String, options: Options) -> Option<Result<String, String>>
where
    F: FileSystem + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = render_to_yaml(&fs, &dir, &options).map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    rx.recv_timeout(TIME_LIMIT).ok()
}

fn render_case(name: &str) -> Result<Result<String, String>, String> {
    let fs = DiskFs::new(golden_root()).expect("golden root");
    render_in_time(
        fs,
        format!("{name}/input"),
        options(&golden_root().join(name)),
    )
    .ok_or_else(|| format!("did not finish within {TIME_LIMIT:?}"))
}

/// Checks one case; `Err` says how it failed.
fn check_case(name: &str, bless: bool) -> Result<(), String> {
    let dir = golden_root().join(name);
    let result = render_case(name)?;
    let error_file = dir.join("expected-error.txt");
    if error_file.exists() {
        let wanted = std::fs::read_to_string(&error_file).expect("expected-error.txt");
        return check_error(result, &wanted);
    }
    let yaml_file = dir.join("expected.yaml");
    let got = result.map_err(|e| format!("render failed: {e}"))?;
    if bless {
        std::fs::write(&yaml_file, &got).expect("write expected.yaml");
        return Ok(());
    }
    let want = std::fs::read_to_string(&yaml_file)
        .map_err(|_| "no expected.yaml or expected-error.txt (bless with CAPSTAN_BLESS=1)")?;
    compare_yaml(&got, &want)
}

fn check_error(result: Result<String, String>, wanted: &str) -> Result<(), String> {
    let message = match result {
        Ok(yaml) => return Err(format!("expected an error, rendered:\n{yaml}")),
        Err(message) => message,
    };
    let missing: Vec<&str> = wanted
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !message.contains(l))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("error message {message:?} lacks {missing:?}"))
    }
}

fn compare_yaml(got: &str, want: &str) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let parsed_got = yaml::parse_documents(got, "output").map_err(|e| e.to_string())?;
    let parsed_want = yaml::parse_documents(want, "expected.yaml").map_err(|e| e.to_string())?;
    if parsed_got == parsed_want {
        return Err("output parses equal to expected.yaml but its bytes differ".into());
    }
    let first = got
        .lines()
        .zip(want.lines())
        .position(|(g, w)| g != w)
        .unwrap_or(got.lines().count().min(want.lines().count()));
    Err(format!(
        "output differs from expected.yaml from line {}:\n got: {:?}\nwant: {:?}",
        first + 1,
        got.lines().nth(first),
        want.lines().nth(first)
    ))
}

#[test]
fn every_golden_case_renders_as_its_expectation_says() {
    let bless = std::env::var_os("CAPSTAN_BLESS").is_some();
    let known = known_failures();
    let names = case_names();
    assert!(!names.is_empty(), "no golden cases found");
    let mut problems = Vec::new();
    for name in &names {
        let listed = known.get(name);
        if listed.is_some_and(|reason| reason.starts_with("skip:")) {
            println!("{name}: skipped ({})", listed.map_or("", String::as_str));
            continue;
        }
        let outcome = check_case(name, bless && listed.is_none());
        println!("{name}: {outcome:?}");
        match (outcome, listed) {
            (Err(why), None) => problems.push(format!("{name}: {why}")),
            (Ok(()), Some(_)) => problems.push(format!(
                "{name} now passes: remove it from known-failures.txt"
            )),
            _ => {}
        }
    }
    for name in known.keys() {
        if !golden_root().join(name).join("input").is_dir() {
            problems.push(format!(
                "{name} is listed in known-failures.txt but is no case"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A kustomization in `apps/web` naming `manifest` (a file or directory entry) as a resource.
fn repository_with(manifest: &str) -> MemFs {
    MemFs::new()
        .file(
            "apps/web/kustomization.yaml",
            format!("resources:\n  - service.yaml\n  - {manifest}\n"),
        )
        .file(
            "apps/web/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
        )
        .file(
            "apps/other/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
        )
}

fn render_error(fs: MemFs, dir: &str) -> String {
    match render_in_time(fs, dir.to_string(), Options::default()) {
        Some(Ok(yaml)) => panic!("expected an error, rendered:\n{yaml}"),
        Some(Err(message)) => message,
        None => panic!("did not finish within {TIME_LIMIT:?}"),
    }
}

/// The names of the objects `dir` renders to, in output order.
fn rendered_names(fs: MemFs, dir: &str) -> Vec<String> {
    let yaml = render_in_time(fs, dir.to_string(), Options::default())
        .expect("finishes in time")
        .unwrap_or_else(|e| panic!("render failed: {e}"));
    yaml::parse_documents(&yaml, "output")
        .expect("parses")
        .iter()
        .map(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn symbolic_links_out_of_the_repository_are_refused_naming_the_link() {
    let cases = [
        ("a file link", "passwd.yaml", "../../../etc/passwd"),
        ("a directory link", "host", "../../../etc/kubernetes"),
        (
            "an absolute link climbing out",
            "abs.yaml",
            "/../etc/shadow",
        ),
    ];
    for (what, entry, target) in cases {
        let fs = repository_with(entry).link(&format!("apps/web/{entry}"), target);
        let message = render_error(fs, "apps/web");
        for needle in [
            "/apps/web/kustomization.yaml",
            &format!("apps/web/{entry}"),
            "outside the root",
        ] {
            assert!(
                message.contains(needle),
                "{what}: {message:?} lacks {needle:?}"
            );
        }
    }
}

#[test]
fn a_symbolic_link_to_a_file_elsewhere_in_the_repository_is_refused_by_the_load_restrictor() {
    let fs = repository_with("other.yaml").link("apps/web/other.yaml", "../other/configmap.yaml");
    let message = render_error(fs, "apps/web");
    for needle in [
        "/apps/web/kustomization.yaml",
        "'other.yaml'",
        "apps/other/configmap.yaml",
        "security",
    ] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[test]
fn a_symbolic_link_to_a_directory_elsewhere_in_the_repository_is_followed() {
    let fs = repository_with("other")
        .file(
            "apps/other/kustomization.yaml",
            "resources:\n  - configmap.yaml\n",
        )
        .link("apps/web/other", "../other");
    assert_eq!(rendered_names(fs, "apps/web"), ["other", "web"]);
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_on_disk_out_of_the_repository_is_refused() {
    let root = std::env::temp_dir().join(format!("capstan-golden-link-{}", std::process::id()));
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("app")).expect("mkdir");
    std::fs::write(
        root.join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: host-secret\n",
    )
    .expect("write secret");
    std::fs::write(
        repo.join("app/kustomization.yaml"),
        "resources:\n  - secret.yaml\n",
    )
    .expect("write kustomization");
    std::os::unix::fs::symlink("../../secret.yaml", repo.join("app/secret.yaml")).expect("link");
    let fs = DiskFs::new(&repo).expect("repo");
    let result = render_in_time(fs, "app".into(), Options::default()).expect("finishes in time");
    std::fs::remove_dir_all(&root).expect("clean up");
    let message = result.expect_err("the link is refused");
    for needle in [
        "/app/kustomization.yaml",
        "app/secret.yaml",
        "outside the root",
    ] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

/// A ConfigMap manifest named `name`.
fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

/// Asserts that `message` contains every one of `needles`.
fn assert_names(what: &str, message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn a_directory_with_several_kustomization_files_is_refused_naming_them_not_rendered() {
    let sets: [&[&str]; 4] = [
        &["kustomization.yaml", "kustomization.yml"],
        &["kustomization.yaml", "Kustomization"],
        &["kustomization.yml", "Kustomization"],
        &["kustomization.yaml", "kustomization.yml", "Kustomization"],
    ];
    for names in sets {
        let mut fs = MemFs::new().file("apps/web/cm.yaml", config_map("web"));
        for name in names {
            fs.insert(&format!("apps/web/{name}"), "resources:\n  - cm.yaml\n");
        }
        let files: Vec<String> = names.iter().map(|n| format!("'/apps/web/{n}'")).collect();
        let mut needles = vec!["multiple kustomization files", "directory '/apps/web'"];
        needles.extend(files.iter().map(String::as_str));
        let what = names.join(" and ");
        assert_names(&what, &render_error(fs.clone(), "apps/web"), &needles);
        // The same directory as the base of an overlay.
        fs.insert("apps/prod/kustomization.yaml", "resources:\n  - ../web\n");
        assert_names(
            &format!("{what} in a base"),
            &render_error(fs, "apps/prod"),
            &needles,
        );
    }
}

#[test]
fn a_directory_named_like_a_kustomization_file_is_refused_not_rendered_as_an_empty_plain_directory()
{
    for name in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
        let fs = MemFs::new().file(&format!("apps/web/{name}/cm.yaml"), config_map("web"));
        assert_names(
            name,
            &render_error(fs, "apps/web"),
            &[&format!("'/apps/web/{name}'"), "is a directory"],
        );
    }
}

#[test]
fn a_plain_directory_renders_what_lies_in_a_subdirectory_named_like_a_kustomization_file() {
    let fs = MemFs::new()
        .file("plain/a.yaml", config_map("a"))
        .file("plain/sub/kustomization.yaml", config_map("skipped"))
        .file("plain/sub/Kustomization/b.yaml", config_map("b"));
    assert_eq!(rendered_names(fs, "plain"), ["a", "b"]);
}
