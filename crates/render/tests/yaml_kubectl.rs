//! Parsing a resource and printing it gives exactly what `kubectl kustomize` (kubectl 1.37.1,
//! kustomize v5.8.1) printed for it: tricky scalars (YAML 1.1 look-alikes, Go number syntax,
//! timestamps, quoting, escapes, literal blocks, folding at 80 columns), key order, long and
//! multi-line keys, empty and nested collections, anchors and merge keys. The expected text was
//! captured with `kubectl kustomize --reorder none` on a kustomization listing this resource.

use capstan_render::yaml::{parse_documents, to_yaml_stream};

const INPUT: &str = r##"apiVersion: v1
kind: Foo
metadata:
  name: scalars
  annotations:
    "yes": "no"
    long.annotation/key: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh iiiiiiiiii"
v:
  a01: yes
  a02: on
  a03: y
  a04: True
  a05: 0777
  a06: 0o17
  a07: 0x1F
  a08: 0b101
  a09: 1_000
  a10: +12
  a11: -0
  a12: 1.0
  a13: 1e6
  a14: 1e-7
  a15: .5
  a16: 1.5e300
  a17: 12345678901234567890
  a18: 123456789012345678901234
  a19: 2001-12-14
  a20: 2001-12-14T21:59:43.10-05:00
  a21: ~
  a22:
  a23: "123"
  a24: '1.5'
  a25: 1:20
  a26: 09
  a27: 1__0
  a28: 123456789.123456789
  a29: 1e
  a30: 1e400
  a31: "<<"
  a32: '-'
  a33: 2001-12-14 21:59:43.10
  a34: "2001-12-14"
  a35: 0.0000001
  a36: 18446744073709551616
  a37: -9223372036854775809
  a38: 9223372036854775808.0
  a39: "0x1F"
  a40: "1_000"
  a41: "08"
  a42: "+1"
  a43: ".5"
  a44: "1e3"
  a45: "N"
  a46: "Off"
  a47: "null"
  a48: "~"
  a49: ""
  a50: "1:60"
  a51: "-1:05:00.5"
  a52: " "
strs:
  s01: "a\tb"
  s02: "héllo wörld"
  s03: "a\rb"
  s06: "trailing "
  s07: " leading"
  s08: "multi\nline"
  s09: "multi\nline\n"
  s10: "multi\nline\n\n"
  s11: "\n"
  s12: "\nlead"
  s13: " lead\nx"
  s14: "trail \nx"
  s15: "a\n b"
  s16: "x: y"
  s17: "#x"
  s18: "x #y"
  s19: "x#y"
  s20: "- x"
  s21: "-x"
  s22: "*x"
  s23: "it's"
  s24: "@x"
  s25: "a,b"
  s26: "[x]"
  s27: "x]"
  s28: "?"
  s29: "? x"
  s30: "x:"
  s31: "---"
  s32: "--- x"
  s33: "..."
  s34: "\u00a0x"
  s36: "emoji 😀"
  s39: "a  b"
  s40: "a\\b"
  s41: "a\"b"
  s42: "%x"
  s44: "!x"
  s45: "&x"
  s46: "|"
  s47: ">x"
  s48: "`x"
  s49: "x\u00e9\t"
  s50: "a\n\tb"
  s51: "-"
  s52: ":"
  s53: "a:b"
  s54: "{x"
  s55: "x}"
  s56: "x\n"
  s57: "x\n\n\n"
  s58: "\n\nx"
  s59: "'quoted'"
  s60: "\"dq\""
  s61: "---x"
  s62: "...x"
  s64: "日本語のテキスト"
  s65: "🙂x"
long:
  p1: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
  p2: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hh  hhhhhhhh iiiiiiiiii jjjjjjjjjj: kkkkkkkkkk"
  p3: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg  hhhhhhhhhh  iiiiiiiiii jjjjjjjjjj kkkkkkkkkk\t"
  p4: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhh   hhhh  iiiiiiiiii jjjjjjjjjj kkkkkkkkkk\t"
  p5: "日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト"
  p6: 'aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh '
  p7: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff ggggggggggggg\" hhhhhhhhhh iiii"
  p8: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggggggggggggggg \"hhhhhhhhhh iiii"
  seq:
  - aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
  - - aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
  - k: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
    l: "multi\nline"
shapes:
  empty_map: {}
  empty_seq: []
  nested: [[], {}, [[a]], {a: [], b: {}}, null, "", [1, [2, [3]]]]
  ? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk1
  : [1, [2, 3], {a: b}]
  ? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk2
  : "multi\nline value"
  ? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk3
  : {}
  ? "multi\nkey"
  : {a: 1}
  ? " lead\nkey\n"
  : x
  "tab\tkey": 1
  "😀": 1
  "x: y": 1
  "trailing ": 1
  "true": 1
  "": empty key
  ? ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
  : 65 two-byte chars
anchors:
  base: &b {k1: base1, k2: base2}
  other: &o {k2: other2, k3: other3}
  m1: {k1: explicit, <<: *b}
  m2: {<<: [*o, *b], k4: x}
  list: &l [1, 2]
  again: *l
  s: &s scalar
  t: *s
"##;

const KUBECTL_OUTPUT: &str = r##"anchors:
  again:
  - 1
  - 2
  base:
    k1: base1
    k2: base2
  list:
  - 1
  - 2
  m1:
    k1: explicit
    k2: base2
  m2:
    k1: base1
    k2: other2
    k3: other3
    k4: x
  other:
    k2: other2
    k3: other3
  s: scalar
  t: scalar
apiVersion: v1
kind: Foo
long:
  p1: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
    hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
  p2: 'aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
    hh  hhhhhhhh iiiiiiiiii jjjjjjjjjj: kkkkkkkkkk'
  p3: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
    \ hhhhhhhhhh  iiiiiiiiii jjjjjjjjjj kkkkkkkkkk\t"
  p4: "aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
    hhhhhh   hhhh  iiiiiiiiii jjjjjjjjjj kkkkkkkkkk\t"
  p5: 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト 日本語のテキスト
  p6: 'aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
    hhhhhhhhhh '
  p7: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff ggggggggggggg"
    hhhhhhhhhh iiii
  p8: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggggggggggggggg
    "hhhhhhhhhh iiii
  seq:
  - aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg hhhhhhhhhh
    iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
  - - aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
      hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
  - k: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggggggggg
      hhhhhhhhhh iiiiiiiiii jjjjjjjjjj kkkkkkkkkk
    l: |-
      multi
      line
metadata:
  annotations:
    long.annotation/key: aaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff
      gggggggggg hhhhhhhhhh iiiiiiiiii
    "yes": "no"
  name: scalars
shapes:
  "": empty key
  ? |2
     lead
    key
  : x
  "\U0001F600": 1
  empty_map: {}
  empty_seq: []
  ? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk1
  : - 1
    - - 2
      - 3
    - a: b
  ? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk2
  : |-
    multi
    line value
  ? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk3
  : {}
  ? |-
    multi
    key
  : a: 1
  nested:
  - []
  - {}
  - - - a
  - a: []
    b: {}
  - null
  - ""
  - - 1
    - - 2
      - - 3
  "tab\tkey": 1
  'trailing ': 1
  "true": 1
  'x: y': 1
  ? ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
  : 65 two-byte chars
strs:
  s01: "a\tb"
  s02: héllo wörld
  s03: "a\rb"
  s06: 'trailing '
  s07: ' leading'
  s08: |-
    multi
    line
  s09: |
    multi
    line
  s10: |+
    multi
    line

  s11: |2+

  s12: |2-

    lead
  s13: |2-
     lead
    x
  s14: "trail \nx"
  s15: |-
    a
     b
  s16: 'x: y'
  s17: '#x'
  s18: 'x #y'
  s19: x#y
  s20: '- x'
  s21: -x
  s22: '*x'
  s23: it's
  s24: '@x'
  s25: a,b
  s26: '[x]'
  s27: x]
  s28: '?'
  s29: '? x'
  s30: 'x:'
  s31: '---'
  s32: '--- x'
  s33: '...'
  s34:  x
  s36: "emoji \U0001F600"
  s39: a  b
  s40: a\b
  s41: a"b
  s42: '%x'
  s44: '!x'
  s45: '&x'
  s46: '|'
  s47: '>x'
  s48: '`x'
  s49: "xé\t"
  s50: "a\n\tb"
  s51: '-'
  s52: ':'
  s53: a:b
  s54: '{x'
  s55: x}
  s56: |
    x
  s57: |+
    x


  s58: |2-


    x
  s59: '''quoted'''
  s60: '"dq"'
  s61: '---x'
  s62: '...x'
  s64: 日本語のテキスト
  s65: "\U0001F642x"
v:
  a01: "yes"
  a02: "on"
  a03: "y"
  a04: true
  a05: 511
  a06: 15
  a07: 31
  a08: 5
  a09: 1000
  a10: 12
  a11: 0
  a12: 1
  a13: 1000000
  a14: 1e-07
  a15: 0.5
  a16: 1.5e+300
  a17: 12345678901234567890
  a18: 1.2345678901234569e+23
  a19: "2001-12-14T00:00:00Z"
  a20: "2001-12-14T21:59:43.1-05:00"
  a21: null
  a22: null
  a23: "123"
  a24: "1.5"
  a25: "1:20"
  a26: 9
  a27: 10
  a28: 1.2345678912345679e+08
  a29: 1e
  a30: 1e400
  a31: <<
  a32: '-'
  a33: "2001-12-14T21:59:43.1Z"
  a34: "2001-12-14"
  a35: 1e-07
  a36: 1.8446744073709552e+19
  a37: -9.223372036854776e+18
  a38: 9223372036854776000
  a39: "0x1F"
  a40: "1_000"
  a41: "08"
  a42: "+1"
  a43: ".5"
  a44: "1e3"
  a45: "N"
  a46: "Off"
  a47: "null"
  a48: "~"
  a49: ""
  a50: 1:60
  a51: "-1:05:00.5"
  a52: ' '
"##;

#[test]
fn tricky_values_print_exactly_as_kubectl_kustomize_prints_them() {
    let documents = parse_documents(INPUT, "resource.yaml").expect("parse");
    let printed = to_yaml_stream(&documents);
    for (line, (got, want)) in printed.lines().zip(KUBECTL_OUTPUT.lines()).enumerate() {
        assert_eq!(got, want, "line {}", line + 1);
    }
    assert_eq!(printed, KUBECTL_OUTPUT);
}

#[test]
fn kubectl_output_reads_back_to_the_same_values() {
    let documents = parse_documents(INPUT, "resource.yaml").expect("parse");
    let reread = parse_documents(KUBECTL_OUTPUT, "output.yaml").expect("parse output");
    assert_eq!(reread, documents);
}
