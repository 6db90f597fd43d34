//! Builds `serde_json::Value` documents from the events of serde-saphyr's YAML parser
//! (`granit_parser`), resolving scalars as go-yaml v3 does, expanding aliases and `<<` merge keys,
//! and enforcing the module's bounds on depth, nodes, alias copies and documents.

use std::collections::HashMap;

use serde_json::{Map, Value};
use serde_saphyr::granit_parser::{Event, Marker, Options, Parser, ScalarStyle, ScanError, Tag};

use super::resolve::{self, Resolved, ScalarTag};
use super::{
    MAX_ALIAS_NODES, MAX_DEPTH, MAX_DOCUMENTS, MAX_INPUT_BYTES, MAX_NODES, YamlError, timestamp,
};

/// Where core-schema tags (`!!str`, `!!int`, ...) live.
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Reads every document of `text`, including empty ones (as `Value::Null`).
pub(super) fn parse_stream(
    text: &str,
    file: &str,
    duplicates: Duplicates,
) -> Result<Vec<Value>, YamlError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(YamlError::TooLarge {
            file: file.to_string(),
            size: text.len(),
            max: MAX_INPUT_BYTES,
        });
    }
    let mut options = Options::default();
    options.set_emit_comments(false);
    options.block_nesting_limit = MAX_DEPTH + 1;
    options.flow_nesting_limit = MAX_DEPTH + 1;
    let mut builder = Builder::new(file);
    builder.duplicates = duplicates;
    for item in Parser::new_from_str_with_options(text, options) {
        let (event, span) = item.map_err(|error| syntax_error(file, &error))?;
        builder.event(event, span.start)?;
    }
    Ok(builder.documents)
}

fn syntax_error(file: &str, error: &ScanError) -> YamlError {
    YamlError::Syntax {
        file: file.to_string(),
        line: error.marker().line(),
        column: error.marker().col() + 1,
        message: error.info(),
    }
}

/// A collection being built.
enum Frame {
    Sequence {
        items: Vec<Value>,
        open: Open,
    },
    Mapping {
        entries: Map<String, Value>,
        /// The key waiting for its value.
        key: Option<Key>,
        /// Values of `<<` entries, in order: merged at the end, never over explicit keys.
        merges: Vec<(Value, Marker)>,
        open: Open,
    },
}

/// What is remembered about where a collection started.
struct Open {
    anchor: usize,
    /// The node count before it, to know how many nodes it holds.
    nodes_before: usize,
}

enum Key {
    Name(String, Marker),
    Merge,
}

/// A finished node on its way to its parent.
enum Node {
    Value(Value),
    /// A plain `<<`: a merge key where a key is expected, the string `<<` elsewhere.
    Merge,
}

struct Builder<'f> {
    file: &'f str,
    documents: Vec<Value>,
    stack: Vec<Frame>,
    root: Option<Value>,
    /// Anchored values of the current document, with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    copied: usize,
    duplicates: Duplicates,
}

/// What a key that appears twice in one mapping means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicates {
    /// An error (resources, as kustomize's YAML reader has it).
    Refuse,
    /// The later one wins (kustomization files, which kustomize reads more leniently).
    LastWins,
}

impl<'f> Builder<'f> {
    fn new(file: &'f str) -> Self {
        Builder {
            file,
            documents: Vec::new(),
            stack: Vec::new(),
            root: None,
            anchors: HashMap::new(),
            nodes: 0,
            copied: 0,
            duplicates: Duplicates::Refuse,
        }
    }

    fn event(&mut self, event: Event<'_>, at: Marker) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(..) => {
                self.root = None;
                self.anchors.clear();
            }
            Event::DocumentEnd => {
                if self.documents.len() >= MAX_DOCUMENTS {
                    return Err(self.limit(at, "documents", MAX_DOCUMENTS));
                }
                self.documents.push(self.root.take().unwrap_or(Value::Null));
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(&text, style, anchor, tag, at)?
            }
            Event::Alias(id) => self.alias(id, at)?,
            Event::SequenceStart(_, anchor, _) => {
                let open = self.open(at, anchor)?;
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    open,
                });
            }
            Event::MappingStart(_, anchor, _) => {
                let open = self.open(at, anchor)?;
                self.stack.push(Frame::Mapping {
                    entries: Map::new(),
                    key: None,
                    merges: Vec::new(),
                    open,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(at)?,
            _ => {}
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<std::borrow::Cow<'_, Tag>>,
        at: Marker,
    ) -> Result<(), YamlError> {
        self.count(at, 1)?;
        let tag = scalar_tag(tag.as_deref());
        let plain = style == ScalarStyle::Plain;
        let node = if self.expecting_key() {
            self.key_scalar(text, plain, tag, at)?
        } else {
            match resolve::scalar(text, plain, tag) {
                Ok(Resolved::Value(value)) => Node::Value(value),
                Ok(Resolved::Merge) => Node::Merge,
                Err(message) => return Err(self.content(at, message)),
            }
        };
        if anchor != 0 {
            let value = match &node {
                Node::Value(value) => value.clone(),
                Node::Merge => Value::String("<<".into()),
            };
            self.remember(anchor, value, 1, at)?;
        }
        self.attach(node, at)
    }

    /// A scalar in key position: only strings (and the merge key) are keys.
    fn key_scalar(
        &self,
        text: &str,
        plain: bool,
        tag: ScalarTag<'_>,
        at: Marker,
    ) -> Result<Node, YamlError> {
        if plain && tag == ScalarTag::None && timestamp::is_timestamp(text) {
            return Err(self.content(at, format!("mapping key {text:?} is not a string")));
        }
        match resolve::scalar(text, plain, tag) {
            Ok(Resolved::Value(Value::String(name))) => Ok(Node::Value(Value::String(name))),
            Ok(Resolved::Merge) => Ok(Node::Merge),
            Ok(_) => Err(self.content(at, format!("mapping key {text:?} is not a string"))),
            Err(message) => Err(self.content(at, message)),
        }
    }

    fn alias(&mut self, id: usize, at: Marker) -> Result<(), YamlError> {
        let Some(nodes) = self.anchors.get(&id).map(|(_, nodes)| *nodes) else {
            return Err(self.content(at, "alias to an unknown anchor".to_string()));
        };
        self.copy(at, nodes)?;
        self.count(at, nodes)?;
        let value = self
            .anchors
            .get(&id)
            .map(|(value, _)| value.clone())
            .unwrap_or_default();
        if self.expecting_key() && !value.is_string() {
            return Err(self.content(at, "mapping key is not a string".to_string()));
        }
        self.attach(Node::Value(value), at)
    }

    fn open(&mut self, at: Marker, anchor: usize) -> Result<Open, YamlError> {
        if self.expecting_key() {
            return Err(self.content(at, "mapping key is not a string".to_string()));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.limit(at, "nested collections", MAX_DEPTH));
        }
        self.count(at, 1)?;
        Ok(Open {
            anchor,
            nodes_before: self.nodes - 1,
        })
    }

    fn close(&mut self, at: Marker) -> Result<(), YamlError> {
        let (value, open) = match self.stack.pop() {
            Some(Frame::Sequence { items, open }) => (Value::Array(items), open),
            Some(Frame::Mapping {
                mut entries,
                merges,
                open,
                ..
            }) => {
                for (source, marker) in merges {
                    self.merge(&mut entries, source, marker)?;
                }
                (Value::Object(entries), open)
            }
            None => return Err(self.content(at, "unbalanced collection end".to_string())),
        };
        if open.anchor != 0 {
            let nodes = self.nodes - open.nodes_before;
            self.remember(open.anchor, value.clone(), nodes, at)?;
        }
        self.attach(Node::Value(value), at)
    }

    /// Adds the entries of a `<<` value (a mapping or a sequence of mappings, earlier ones
    /// winning) that the mapping does not already have.
    fn merge(
        &self,
        entries: &mut Map<String, Value>,
        source: Value,
        at: Marker,
    ) -> Result<(), YamlError> {
        let sources = match source {
            Value::Object(map) => vec![map],
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(self.content(at, "a merge list may only hold mappings".to_string())),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                let message = "a merge key needs a mapping or a list of mappings".to_string();
                return Err(self.content(at, message));
            }
        };
        for map in sources {
            for (key, value) in map {
                entries.entry(key).or_insert(value);
            }
        }
        Ok(())
    }

    /// Hands a finished node to its parent, or makes it the document.
    fn attach(&mut self, node: Node, at: Marker) -> Result<(), YamlError> {
        let file = self.file;
        match self.stack.last_mut() {
            None => self.root = Some(node_value(node)),
            Some(Frame::Sequence { items, .. }) => items.push(node_value(node)),
            Some(Frame::Mapping {
                entries,
                key,
                merges,
                ..
            }) => match (key.take(), node) {
                (None, Node::Merge) => *key = Some(Key::Merge),
                (None, Node::Value(Value::String(name))) => *key = Some(Key::Name(name, at)),
                (None, Node::Value(_)) => {
                    return Err(content(file, at, "mapping key is not a string".to_string()));
                }
                (Some(Key::Merge), node) => merges.push((node_value(node), at)),
                (Some(Key::Name(name, key_at)), node) => {
                    if entries.contains_key(&name) && self.duplicates == Duplicates::Refuse {
                        let message = format!("mapping key {name:?} already defined");
                        return Err(content(file, key_at, message));
                    }
                    entries.insert(name, node_value(node));
                }
            },
        }
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn remember(
        &mut self,
        anchor: usize,
        value: Value,
        nodes: usize,
        at: Marker,
    ) -> Result<(), YamlError> {
        self.copy(at, nodes)?;
        self.anchors.insert(anchor, (value, nodes));
        Ok(())
    }

    fn count(&mut self, at: Marker, nodes: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(self.limit(at, "nodes", MAX_NODES));
        }
        Ok(())
    }

    fn copy(&mut self, at: Marker, nodes: usize) -> Result<(), YamlError> {
        self.copied = self.copied.saturating_add(nodes);
        if self.copied > MAX_ALIAS_NODES {
            return Err(self.limit(at, "nodes copied for anchors and aliases", MAX_ALIAS_NODES));
        }
        Ok(())
    }

    fn content(&self, at: Marker, message: String) -> YamlError {
        content(self.file, at, message)
    }

    fn limit(&self, at: Marker, what: &'static str, max: usize) -> YamlError {
        YamlError::Limit {
            file: self.file.to_string(),
            line: at.line(),
            column: at.col() + 1,
            what,
            max,
        }
    }
}

fn content(file: &str, at: Marker, message: String) -> YamlError {
    YamlError::Content {
        file: file.to_string(),
        line: at.line(),
        column: at.col() + 1,
        message,
    }
}

fn node_value(node: Node) -> Value {
    match node {
        Node::Value(value) => value,
        Node::Merge => Value::String("<<".into()),
    }
}

fn scalar_tag(tag: Option<&Tag>) -> ScalarTag<'_> {
    let Some(tag) = tag else {
        return ScalarTag::None;
    };
    match tag.suffix_in_namespace(CORE_TAG_PREFIX) {
        Some(std::borrow::Cow::Borrowed(name)) => ScalarTag::Core(name),
        _ => ScalarTag::Other,
    }
}
