//! How a string is printed: plain, `'single'`, `"double"` quoted or as a `|` literal block, and
//! where long lines fold, following go-yaml v2's emitter. A string with a line break asks for a
//! literal block, one go-yaml v2 would misread asks for double quotes, any other for plain; the
//! emitter then falls back (plain → single → double, literal → double) when the characters do not
//! allow the asked style.
//!
//! One deliberate difference: U+2028 and U+2029 are escaped in double quotes (go-yaml v2 writes
//! them raw and treats them as line breaks, which a YAML 1.2 reader does not read back).

use super::emit::Out;
use super::implicit;

/// Longest line go-yaml v2 aims for: a space after this column becomes a line break.
const BEST_WIDTH: usize = 80;

/// Indentation step, also written as the indentation hint of literal blocks.
const INDENT: usize = 2;

/// Longest key (in bytes) printed as `key: value`; longer ones use `? key` / `: value`.
const MAX_SIMPLE_KEY_BYTES: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What the characters of a string allow.
#[derive(Debug, Default)]
struct Analysis {
    multiline: bool,
    plain: bool,
    single: bool,
    block: bool,
}

/// Whether `text` can be printed as a simple `key:` (short and on one line).
pub(super) fn is_simple_key(text: &str) -> bool {
    text.len() <= MAX_SIMPLE_KEY_BYTES && !analyze(text).multiline
}

/// Writes `text` at the current position; `indent` is where folded and block lines start and
/// `key` says it is a simple key (never folded, never a block).
pub(super) fn write(out: &mut Out, text: &str, indent: usize, key: bool) {
    match style(text, key) {
        Style::Plain => write_folded(out, text, indent, !key, false),
        Style::Single => write_folded(out, text, indent, !key, true),
        Style::Double => write_double(out, text, indent, !key),
        Style::Literal => write_literal(out, text, indent),
    }
}

fn style(text: &str, key: bool) -> Style {
    let analysis = analyze(text);
    let asked = if key && text == "<<" {
        // go-yaml v2 writes a `<<` key plain, which then reads back as a merge key.
        Style::Double
    } else if text.contains('\n') {
        Style::Literal
    } else if implicit::is_non_string(text) {
        Style::Double
    } else {
        Style::Plain
    };
    match asked {
        Style::Plain if analysis.plain => Style::Plain,
        Style::Plain if analysis.single => Style::Single,
        Style::Literal if analysis.block && !key => Style::Literal,
        _ => Style::Double,
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\x20'..='\x7e' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && !matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(c: Option<char>) -> bool {
    c.is_none_or(|c| c == ' ' || c == '\t' || is_break(c))
}

/// go-yaml v2's scalar analysis: which characters and positions rule out which styles.
fn analyze(text: &str) -> Analysis {
    let chars: Vec<char> = text.chars().collect();
    let mut indicators = starts_with_document_marker(text);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let (first, last) = (i == 0, i + 1 == chars.len());
        let followed_by_whitespace = is_blank_or_end(chars.get(i + 1).copied());
        indicators |= if first {
            matches!(
                c,
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>'
            ) || matches!(c, '\'' | '"' | '%' | '@' | '`')
                || (matches!(c, '?' | ':' | '-') && followed_by_whitespace)
        } else {
            (c == ':' && followed_by_whitespace) || (c == '#' && preceded_by_whitespace)
        };
        special |= !is_printable(c);
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            (previous_space, previous_break) = (true, false);
        } else if is_break(c) {
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            (previous_space, previous_break) = (false, true);
        } else {
            (previous_space, previous_break) = (false, false);
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let edges = leading_space || leading_break || trailing_space || trailing_break;
    let hopeless = space_break || special;
    Analysis {
        multiline: line_breaks,
        plain: !text.is_empty()
            && !edges
            && !break_space
            && !hopeless
            && !line_breaks
            && !indicators,
        single: !break_space && !hopeless,
        block: !trailing_space && !hopeless,
    }
}

/// go-yaml v2 never writes `---` or `...` (document markers) at the start of a plain scalar.
fn starts_with_document_marker(text: &str) -> bool {
    text.starts_with("---") || text.starts_with("...")
}

/// Writes a plain (`quoted == false`) or single-quoted scalar, breaking the line at a single
/// space once past the best width, as go-yaml does; a quoted scalar never breaks at its first or
/// last character and doubles its quotes.
fn write_folded(out: &mut Out, text: &str, indent: usize, allow_breaks: bool, quoted: bool) {
    let chars: Vec<char> = text.chars().collect();
    if quoted {
        out.push('\'');
    }
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let inner = !quoted || (i != 0 && i + 1 != chars.len());
            let next_space = chars.get(i + 1) == Some(&' ');
            if allow_breaks && !spaces && out.column > BEST_WIDTH && inner && !next_space {
                out.indent(indent);
            } else {
                out.push(c);
            }
            spaces = true;
        } else {
            out.push(c);
            if quoted && c == '\'' {
                out.push('\'');
            }
            spaces = false;
        }
    }
    if quoted {
        out.push('\'');
    }
}

/// go-yaml v2 escapes every character of a string that starts with a byte order mark.
fn write_double(out: &mut Out, text: &str, indent: usize, allow_breaks: bool) {
    let chars: Vec<char> = text.chars().collect();
    let escape_all = text.starts_with('\u{feff}');
    out.push('"');
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if escape_all || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
            out.push_str(&escape(c));
            spaces = false;
        } else if c == ' ' {
            let inner = i != 0 && i + 1 != chars.len();
            if allow_breaks && !spaces && out.column > BEST_WIDTH && inner {
                out.indent(indent);
                if chars.get(i + 1) == Some(&' ') {
                    out.push('\\');
                }
            } else {
                out.push(c);
            }
            spaces = true;
        } else {
            out.push(c);
            spaces = false;
        }
    }
    out.push('"');
}

fn escape(c: char) -> String {
    let short = match c {
        '\0' => '0',
        '\x07' => 'a',
        '\x08' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\x0b' => 'v',
        '\x0c' => 'f',
        '\r' => 'r',
        '\x1b' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{a0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        _ => {
            let code = u32::from(c);
            return match code {
                0..=0xff => format!("\\x{code:02X}"),
                0x100..=0xffff => format!("\\u{code:04X}"),
                _ => format!("\\U{code:08X}"),
            };
        }
    };
    format!("\\{short}")
}

/// `|` with its hints (`2` when the text starts with a space or break; `-` without a final
/// break, `+` with more than one or only one), then the lines at `indent`.
fn write_literal(out: &mut Out, text: &str, indent: usize) {
    out.push('|');
    if text.starts_with([' ', '\n']) {
        out.push_str(&INDENT.to_string());
    }
    let mut reversed = text.chars().rev();
    match (reversed.next(), reversed.next()) {
        (Some('\n'), None) | (Some('\n'), Some('\n')) => out.push('+'),
        (Some('\n'), Some(_)) => {}
        _ => out.push('-'),
    }
    out.newline();
    let mut at_line_start = true;
    for c in text.chars() {
        if c == '\n' {
            out.newline();
            at_line_start = true;
        } else {
            if at_line_start {
                out.indent_from_line_start(indent);
                at_line_start = false;
            }
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_choose_the_style_kubectl_prints_them_in() {
        let cases = [
            ("héllo wörld", Style::Plain),
            ("a\tb", Style::Double),
            ("trailing ", Style::Single),
            ("multi\nline", Style::Literal),
            ("trail \nx", Style::Double),
            ("x: y", Style::Single),
            ("x#y", Style::Plain),
            ("x #y", Style::Single),
            ("- x", Style::Single),
            ("-x", Style::Plain),
            ("it's", Style::Plain),
            ("---", Style::Single),
            ("true", Style::Double),
            ("", Style::Double),
            ("emoji \u{1F600}", Style::Double),
            ("a\n\tb", Style::Double),
        ];
        for (text, want) in cases {
            assert_eq!(style(text, false), want, "{text:?}");
        }
        assert_eq!(style("<<", false), Style::Plain);
        assert_eq!(style("<<", true), Style::Double);
    }

    #[test]
    fn a_leading_byte_order_mark_escapes_the_whole_string_as_kubectl_does() {
        let mut out = Out::new();
        write(&mut out, "\u{feff}xy", 2, false);
        assert_eq!(out.text(), "\"\\uFEFF\\x78\\x79\"");
    }
}
