"""Every Python example of README.md and docs/*.md runs, so that examples
cannot rot (the shell examples run in crates/cli/tests/integration/examples.rs).

Each document's ```python blocks run in order in one namespace, and its
```bash blocks marked `<!-- examples: python -->` run with this
interpreter as `python`/`python3`, in a scratch directory that links the
repository's top-level folders (so `data/...` paths work as from a clone).
The same HTML comments as for the shell examples apply: `replace: OLD =>
NEW` (reduced sizes, marked as such), `before: COMMAND` (a shell command run
first), `file: NAME` (the block is written to NAME), `skip: REASON`.
`pip install ./python` lines are left out: the package under test is the
one this suite imports.
"""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCS = ["README.md"] + sorted(
    str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")
)


def blocks(md):
    """(line, lang, text, directives) for each fenced block."""
    out, pending, cur = [], [], None
    for i, line in enumerate(md.splitlines()):
        t = line.lstrip()
        if cur is not None:
            if t.startswith("```"):
                out.append(cur)
                cur = None
            else:
                cur[2].append(line)
            continue
        if t.startswith("```"):
            cur = (i + 1, t[3:].strip(), [], pending)
            pending = []
        elif t.startswith("<!-- examples:") and t.rstrip().endswith("-->"):
            pending.append(t[len("<!-- examples:"):].rstrip()[:-3].strip())
        elif t:
            pending = []
    assert cur is None, "an unclosed ``` block"
    return [(ln, lang, "\n".join(text) + "\n", d) for ln, lang, text, d in out]


def prepare(doc, line, text, directives):
    """The block's text after its directives, its `before:` commands and
    the file it is to be written to, or None when skipped."""
    before, name = [], None
    for d in directives:
        if d.startswith("skip:"):
            return None
        if d.startswith("before:"):
            before.append(d[len("before:"):].strip())
        elif d.startswith("file:"):
            name = d[len("file:"):].strip()
        elif d.startswith("replace:"):
            old, sep, new = d[len("replace:"):].partition(" => ")
            assert sep, f"{doc}:{line}: replace: OLD => NEW"
            old, new = old.strip(), new.strip()
            assert old in text, f"{doc}:{line}: `replace: {old}` does not match"
            text = text.replace(old, new)
        elif d != "python":
            raise AssertionError(f"{doc}:{line}: unknown directive {d!r}")
    return text, before, name


def scratch(tmp_path):
    for entry in REPO.iterdir():
        if entry.name.startswith(".") or entry.name == "target":
            continue
        (tmp_path / entry.name).symlink_to(entry)
    bindir = tmp_path / ".bin"
    bindir.mkdir()
    for name in ["python", "python3"]:
        # a wrapper, not a link: a virtual environment's python reached
        # through a link elsewhere does not find the environment
        w = bindir / name
        w.write_text(f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n")
        w.chmod(0o755)
    b = os.environ.get("SCALELAB_BIN")
    if b:
        (bindir / "scalelab").symlink_to(b)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def python_docs():
    found = []
    for doc in DOCS:
        bs = blocks((REPO / doc).read_text())
        if any(lang == "python" or "python" in d for _, lang, _, d in bs):
            found.append(doc)
    return found


def test_the_documents_with_python_examples_are_these():
    # a new document with Python examples is picked up by the test below
    assert python_docs() == ["README.md", "docs/python.md", "docs/trainers.md"]


@pytest.mark.parametrize("doc", python_docs())
def test_python_examples_run(doc, tmp_path, monkeypatch):
    env = scratch(tmp_path)
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__doc_example__"}
    ran = 0
    for line, lang, text, directives in blocks((REPO / doc).read_text()):
        is_shell = lang in ("bash", "sh") and "python" in directives
        if lang != "python" and not is_shell and not any(
            d.startswith("file:") for d in directives
        ):
            continue
        p = prepare(doc, line, text, directives)
        if p is None:
            continue
        text, before, name = p
        for cmd in before:
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], env=env,
                               capture_output=True, text=True)
            assert r.returncode == 0, f"{doc}:{line}: before: {cmd}\n{r.stderr}"
        if name:
            (tmp_path / name).write_text(text)
            continue
        if is_shell:
            script = "\n".join(
                ln for ln in text.splitlines() if not ln.strip().startswith("pip install")
            )
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                               capture_output=True, text=True)
            assert r.returncode == 0, f"{doc}:{line}:\n{script}\n{r.stdout}\n{r.stderr}"
        else:
            try:
                exec(compile(text, f"{doc}:{line}", "exec"), ns)
            except Exception as e:  # name the block in the failure
                raise AssertionError(f"{doc}:{line}: {type(e).__name__}: {e}") from e
        ran += 1
    assert ran > 0, f"{doc}: no Python example ran"
