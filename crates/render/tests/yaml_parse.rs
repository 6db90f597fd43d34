//! Reading YAML streams: documents, errors that name the file and position, and the bounds that
//! keep a hostile repository from exhausting the renderer.

use std::time::{Duration, Instant};

use capstan_render::yaml::{
    MAX_ALIAS_NODES, MAX_DEPTH, MAX_INPUT_BYTES, YamlError, parse_documents, parse_value,
};
use serde_json::json;

#[test]
fn a_stream_yields_its_non_empty_documents_in_order() {
    let text =
        "# leading comment\n---\na: 1\n---\n---\n# only a comment\n---\nnull\n...\n---\n- b\n...\n";
    let documents = parse_documents(text, "stream.yaml").expect("parse");
    assert_eq!(documents, vec![json!({"a": 1}), json!(["b"])]);
}

#[test]
fn a_single_value_is_read_whole_and_an_empty_text_is_null() {
    assert_eq!(
        parse_value("a: [1, x]\n", "f.yaml"),
        Ok(json!({"a": [1, "x"]}))
    );
    assert_eq!(parse_value("", "f.yaml"), Ok(json!(null)));
    assert_eq!(parse_value("# nothing\n", "f.yaml"), Ok(json!(null)));
    let two = parse_value("a: 1\n---\nb: 2\n", "f.yaml");
    assert!(
        matches!(two, Err(YamlError::NotOneDocument { count: 2, .. })),
        "{two:?}"
    );
}

#[test]
fn anchors_aliases_and_merge_keys_are_expanded_as_kustomize_reads_them() {
    // Explicit keys win over merged ones wherever they stand; earlier merge sources win.
    let text = "base: &b {k1: b1, k2: b2}\nother: &o {k2: o2, k3: o3}\n\
                m1: {k1: explicit, <<: *b}\nm2: {<<: [*o, *b], k4: x}\nm3: {<<: *b, k1: late}\n\
                list: &l [1, 2]\nagain: *l\n";
    let value = parse_value(text, "f.yaml").expect("parse");
    assert_eq!(value["m1"], json!({"k1": "explicit", "k2": "b2"}));
    assert_eq!(
        value["m2"],
        json!({"k1": "b1", "k2": "o2", "k3": "o3", "k4": "x"})
    );
    assert_eq!(value["m3"], json!({"k1": "late", "k2": "b2"}));
    assert_eq!(value["again"], json!([1, 2]));
}

#[test]
fn content_kustomize_refuses_is_an_error_naming_file_line_and_column() {
    let cases = [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", 4, "already defined"),
        ("a:\n  1: one\n", 2, "not a string"),
        ("a:\n  true: t\n", 2, "not a string"),
        ("a:\n  [x]: y\n", 2, "not a string"),
        ("a: .inf\n", 1, "non-finite"),
        ("a: !!int x\n", 1, "!!int"),
        ("a: {<<: 1}\n", 1, "merge"),
    ];
    for (text, line, needle) in cases {
        let error = parse_documents(text, "dir/res.yaml").expect_err(text);
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("dir/res.yaml:{line}:")),
            "{text:?}: {message}"
        );
        assert!(message.contains(needle), "{text:?}: {message}");
    }
}

#[test]
fn malformed_yaml_is_a_syntax_error_with_its_position() {
    let cases = [
        "a: [1, 2\n",
        "a: b: c\n",
        "a: *missing\n",
        "a:\n\t- x\n",
        "\"unterminated\n",
    ];
    for text in cases {
        match parse_documents(text, "bad.yaml") {
            Err(YamlError::Syntax { file, line, .. } | YamlError::Content { file, line, .. }) => {
                assert_eq!(file, "bad.yaml");
                assert!(line >= 1, "{text:?}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

/// Nine levels, each a list of nine aliases of the level before: 9^9 (387 million) strings.
fn billion_laughs() -> String {
    let mut text = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..=9 {
        let previous = format!("*a{}", level - 1);
        let items = [previous.as_str(); 9].join(",");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    text
}

#[test]
fn an_alias_bomb_fails_fast_instead_of_exhausting_memory() {
    let started = Instant::now();
    let result = parse_documents(&billion_laughs(), "bomb.yaml");
    let elapsed = started.elapsed();
    match result {
        Err(YamlError::Limit { max, file, .. }) => {
            assert_eq!(max, MAX_ALIAS_NODES);
            assert_eq!(file, "bomb.yaml");
        }
        other => panic!("expected the alias bound, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn nesting_deeper_than_the_bound_is_refused() {
    let within = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
    assert!(parse_value(&within, "deep.yaml").is_ok());
    for text in [
        "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1),
        "[".repeat(100_000),
        (0..MAX_DEPTH + 1)
            .map(|depth| format!("{}k:\n", " ".repeat(depth)))
            .collect(),
    ] {
        let error = parse_value(&text, "deep.yaml").expect_err("too deep");
        assert!(
            matches!(error, YamlError::Limit { .. } | YamlError::Syntax { .. }),
            "{error:?}"
        );
    }
}

#[test]
fn input_larger_than_the_bound_is_refused_before_parsing() {
    let text = "#".repeat(MAX_INPUT_BYTES + 1);
    let error = parse_documents(&text, "big.yaml").expect_err("too large");
    assert!(matches!(error, YamlError::TooLarge { .. }), "{error:?}");
}
