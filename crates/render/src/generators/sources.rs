//! Reading a generator's key/value pairs from its sources, in kustomize's order: env files
//! (`envs`, then the legacy `env`), then `literals`, then `files`.
//!
//! - A literal is `key=value`, split at the first `=`; a value wrapped in a matching pair of
//!   single or double quotes loses them. A missing or leading `=` is an error.
//! - A file source is `path` (the key is the path's base name) or `key=path`; more than one `=`
//!   is an error. The content is taken as bytes: it may be binary.
//! - An env file holds one `KEY=value` a line: leading white space is dropped, blank lines and
//!   `#` comments are skipped, `KEY` alone means an empty value, the value is kept verbatim
//!   (quotes included), a line with no key is skipped, a UTF-8 byte order mark is dropped from
//!   the first line only, `\r\n` endings are accepted, and invalid UTF-8 is an error. Like
//!   kustomize (whose line scanner stops silently there), reading stops at the first line of
//!   64 KiB or more.
//!
//! Keys are not validated (kustomize's validator accepts any key); a key repeated across all
//! sources of one generator is an error.

use std::collections::BTreeMap;

use super::{GeneratorArgs, GeneratorError, GeneratorId};
use crate::fs::EntryKind;
use crate::loader::Loader;

/// The longest env file line kustomize reads; its scanner gives up at the first longer one.
const MAX_ENV_LINE: usize = 64 * 1024 - 1;

const BOM: &str = "\u{feff}";

/// The pairs of `args`, keyed, each value as bytes.
pub(super) fn load_pairs(
    id: &GeneratorId,
    args: &GeneratorArgs,
    loader: &Loader,
) -> Result<BTreeMap<String, Vec<u8>>, GeneratorError> {
    // Each pair with the source it came from, for errors.
    let mut pairs: Vec<(String, Vec<u8>, String)> = Vec::new();
    for path in args.env_files() {
        let from = format!("env file {path}");
        for (k, v) in env_file_pairs(id, path, loader)? {
            pairs.push((k, v, from.clone()));
        }
    }
    for literal in &args.literals {
        let (k, v) = parse_literal(id, literal)?;
        pairs.push((k, v.into_bytes(), format!("literal {literal:?}")));
    }
    for source in &args.files {
        let (key, path) = parse_file_source(id, source)?;
        let value = read_file(id, &path, loader)?;
        pairs.push((key, value, format!("file {path}")));
    }
    let mut out: BTreeMap<String, (Vec<u8>, String)> = BTreeMap::new();
    for (key, value, from) in pairs {
        if let Some((_, first)) = out.get(&key) {
            return Err(GeneratorError::DuplicateKey {
                id: id.clone(),
                key,
                first: first.clone(),
                second: from,
            });
        }
        out.insert(key, (value, from));
    }
    Ok(out.into_iter().map(|(k, (v, _))| (k, v)).collect())
}

fn parse_literal(id: &GeneratorId, literal: &str) -> Result<(String, String), GeneratorError> {
    match literal.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), unquote(value).into())),
        _ => Err(GeneratorError::Literal {
            id: id.clone(),
            literal: literal.to_string(),
        }),
    }
}

/// A value wrapped in a matching pair of `'` or `"` without them.
fn unquote(value: &str) -> &str {
    let b = value.as_bytes();
    match (b.first(), b.last()) {
        (Some(&q @ (b'"' | b'\'')), Some(&last)) if b.len() >= 2 && q == last => {
            &value[1..value.len() - 1]
        }
        _ => value,
    }
}

/// `(key, path)` of a file source.
fn parse_file_source(id: &GeneratorId, source: &str) -> Result<(String, String), GeneratorError> {
    let invalid = |reason: &str| GeneratorError::FileSource {
        id: id.clone(),
        source_text: source.to_string(),
        reason: reason.to_string(),
    };
    match source.matches('=').count() {
        0 => Ok((base_name(source), source.to_string())),
        1 => match source.split_once('=') {
            Some(("", _)) => Err(invalid("missing key name before '='")),
            Some((_, "")) => Err(invalid("missing file path after '='")),
            Some((key, path)) => Ok((key.to_string(), path.to_string())),
            None => Err(invalid("expected key=path")),
        },
        _ => Err(invalid("key name or file path contains '='")),
    }
}

/// The last element of a `/`-separated path, trailing slashes ignored (`.` for an empty path).
fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" }.to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

fn read_file(id: &GeneratorId, path: &str, loader: &Loader) -> Result<Vec<u8>, GeneratorError> {
    let failed = |source| GeneratorError::ReadFile {
        id: id.clone(),
        path: path.to_string(),
        source,
    };
    if loader.kind(path).map_err(failed)? == Some(EntryKind::Dir) {
        return Err(GeneratorError::NotAFile {
            id: id.clone(),
            path: path.to_string(),
        });
    }
    loader.read(path).map_err(failed)
}

fn env_file_pairs(
    id: &GeneratorId,
    path: &str,
    loader: &Loader,
) -> Result<Vec<(String, Vec<u8>)>, GeneratorError> {
    let content = read_file(id, path, loader)?;
    parse_env(&content).map_err(|line| GeneratorError::EnvNotUtf8 {
        id: id.clone(),
        path: path.to_string(),
        line,
    })
}

/// The pairs of an env file; `Err(line number)` (1-based) on a line that is not UTF-8.
fn parse_env(content: &[u8]) -> Result<Vec<(String, Vec<u8>)>, usize> {
    let mut lines: Vec<&[u8]> = content.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut pairs = Vec::new();
    for (index, raw) in lines.into_iter().enumerate() {
        if raw.len() > MAX_ENV_LINE {
            break;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|_| index + 1)?;
        let line = if index == 0 {
            line.strip_prefix(BOM).unwrap_or(line)
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if !key.is_empty() {
            pairs.push((key.to_string(), value.as_bytes().to_vec()));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> GeneratorId {
        GeneratorId {
            kind: "ConfigMap",
            name: "app".into(),
        }
    }

    fn env(content: &[u8]) -> Vec<(String, String)> {
        parse_env(content)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn literals_split_at_the_first_equals_and_lose_one_pair_of_matching_quotes() {
        for (literal, key, value) in [
            ("a=b", "a", "b"),
            ("a=b=c", "a", "b=c"),
            ("a=", "a", ""),
            ("a='q'", "a", "q"),
            ("a=\"q\"", "a", "q"),
            ("a='", "a", "'"),
            ("a=''", "a", ""),
            ("a='q\"", "a", "'q\""),
            ("a=x'y'", "a", "x'y'"),
            ("a b=multi\nline\n", "a b", "multi\nline\n"),
        ] {
            let (k, v) = parse_literal(&id(), literal).unwrap();
            assert_eq!((k.as_str(), v.as_str()), (key, value), "{literal:?}");
        }
        for bad in ["novalue", "=x", ""] {
            let err = parse_literal(&id(), bad).unwrap_err().to_string();
            assert!(err.contains("configmap app") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn file_sources_name_the_key_after_the_base_name_unless_given() {
        for (source, key, path) in [
            ("f.txt", "f.txt", "f.txt"),
            ("dir/sub/f.txt", "f.txt", "dir/sub/f.txt"),
            ("dir/sub/", "sub", "dir/sub/"),
            ("k=dir/f.txt", "k", "dir/f.txt"),
        ] {
            let (k, p) = parse_file_source(&id(), source).unwrap();
            assert_eq!((k.as_str(), p.as_str()), (key, path), "{source}");
        }
        for bad in ["=f", "k=", "a=b=c"] {
            let err = parse_file_source(&id(), bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn env_files_follow_kustomizes_line_rules() {
        let content = b"\xef\xbb\xbfA=1\r\n  # comment\n\n\tB = \"q\" \nC\n=skipped\nD=x=y\r\r\n\xef\xbb\xbfE=5";
        assert_eq!(
            env(content),
            pairs(&[
                ("A", "1"),
                ("B ", " \"q\" "),
                ("C", ""),
                ("D", "x=y\r"),
                ("\u{feff}E", "5"),
            ])
        );
        assert_eq!(env(b"A=1\nA=2\n"), pairs(&[("A", "1"), ("A", "2")]));
        assert_eq!(parse_env(b"A=1\n# \xff\n"), Err(2));
    }

    #[test]
    fn env_files_stop_at_the_first_line_kustomizes_scanner_cannot_hold() {
        let mut fits = b"L=".to_vec();
        fits.extend(std::iter::repeat_n(b'x', MAX_ENV_LINE - 2));
        let mut content = fits.clone();
        content.extend(b"\nM=after\n");
        assert_eq!(env(&content).len(), 2);
        let mut too_long = fits;
        too_long.extend(b"x\nM=after\n");
        assert_eq!(env(&too_long), pairs(&[]));
    }
}
