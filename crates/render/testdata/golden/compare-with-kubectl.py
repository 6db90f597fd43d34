#!/usr/bin/env python3
"""Checks the golden cases against the reference, `kubectl kustomize` (kustomize v5.8.1).

For every case with an expected.yaml, renders the case's input with kubectl (with the flags in
its flags.txt) and says whether kubectl's output is byte-identical to expected.yaml, equal once
both are parsed (formatting differs), or different (a renderer bug: list the case in
known-failures.txt and, with --write, take kubectl's output as the expectation). A plain
directory (no kustomization file in input/) is rendered through a temporary kustomization that
lists its manifest files in the order Capstan reads them (each directory's entries sorted, dot
files skipped). Error cases must make kubectl fail too; its message is shown for comparison.

Usage: compare-with-kubectl.py [--write] [CASE...]
Needs PyYAML and KUBECTL (default /root/.cache/capstan/venv/bin/kubectl); exits non-zero when
any case differs semantically or an error case succeeds under kubectl.
"""

import difflib
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.abspath(__file__))
KUBECTL = os.environ.get("KUBECTL", "/root/.cache/capstan/venv/bin/kubectl")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
TIMEOUT = 30


def manifest_files(top, rel=""):
    """The manifest files under top/rel in the order of Capstan's plain-directory walk."""
    out = []
    for name in sorted(os.listdir(os.path.join(top, rel))):
        if name.startswith(".") or name in KUSTOMIZATION_NAMES:
            continue
        path = os.path.join(rel, name) if rel else name
        if os.path.isdir(os.path.join(top, path)):
            out.extend(manifest_files(top, path))
        elif name.endswith((".yaml", ".yml", ".json")):
            out.append(path)
    return out


def kubectl(case):
    """kubectl's (exit code, stdout, stderr) for the case."""
    flags = []
    flags_file = os.path.join(ROOT, case, "flags.txt")
    if os.path.exists(flags_file):
        with open(flags_file) as f:
            flags = f.read().split()
    target = os.path.join(ROOT, case, "input")
    tmp = None
    if not any(os.path.exists(os.path.join(target, n)) for n in KUSTOMIZATION_NAMES):
        tmp = tempfile.mkdtemp(prefix="golden-plain-")
        copy = os.path.join(tmp, "input")
        shutil.copytree(target, copy)
        with open(os.path.join(copy, "kustomization.yaml"), "w") as f:
            f.write("resources:\n")
            for path in manifest_files(target):
                f.write(f"  - {path}\n")
        target = copy
    try:
        run = subprocess.run(
            [KUBECTL, "kustomize", *flags, target],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return run.returncode, run.stdout, run.stderr
    except subprocess.TimeoutExpired:
        return None, "", f"kubectl did not finish within {TIMEOUT}s"
    finally:
        if tmp:
            shutil.rmtree(tmp)


def check_success(case, write):
    with open(os.path.join(ROOT, case, "expected.yaml")) as f:
        ours = f.read()
    code, out, err = kubectl(case)
    if code != 0:
        return "KUBECTL FAILED", err.strip()
    if out == ours:
        return "identical", ""
    if list(yaml.safe_load_all(out)) == list(yaml.safe_load_all(ours)):
        diff = difflib.unified_diff(
            out.splitlines(), ours.splitlines(), "kubectl", "ours", n=0, lineterm=""
        )
        return "equal (bytes differ)", "\n".join(list(diff)[:12])
    diff = difflib.unified_diff(
        out.splitlines(), ours.splitlines(), "kubectl", "ours", n=2, lineterm=""
    )
    if write:
        with open(os.path.join(ROOT, case, "expected.yaml"), "w") as f:
            f.write(out)
    return "DIFFERENT", "\n".join(diff)


def check_error(case):
    code, _, err = kubectl(case)
    if code == 0:
        return "KUBECTL SUCCEEDED", ""
    first = err.strip().splitlines()[0] if err.strip() else ""
    return "error (kubectl fails too)", first[:400]


def main(argv):
    write = "--write" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    cases = sorted(
        d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d, "input"))
    )
    bad = 0
    for case in cases:
        if wanted and case not in wanted:
            continue
        if os.path.exists(os.path.join(ROOT, case, "expected-error.txt")):
            verdict, detail = check_error(case)
        else:
            verdict, detail = check_success(case, write)
        bad += verdict in ("DIFFERENT", "KUBECTL FAILED", "KUBECTL SUCCEEDED")
        print(f"{case}: {verdict}")
        if detail:
            print("    " + detail.replace("\n", "\n    "))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
