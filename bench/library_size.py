"""Lines of the `keras_flows` package at git revisions: docstrings, comments,
blank lines and code, counted with Python's own `ast` and `tokenize`.

A docstring line counts as docstring even when blank; `total` is `wc -l` of every
`.py` file. `WORKTREE` counts the files as they are on disk.

    python bench/library_size.py                      # ecbe141 (issue 17) and now
    python bench/library_size.py ecbe141 f19b08b WORKTREE
"""

import ast
import io
import pathlib
import subprocess
import tarfile
import tokenize

from harness import Record, arguments, print_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
SKIP |= {tokenize.ENDMARKER, tokenize.COMMENT}


def count(source):
    """`{total, docstring, comment, blank, code}` lines of one Python source."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(node, kinds) and ast.get_docstring(node, clean=False):
            first = node.body[0]
            docstrings.update(range(first.lineno, first.end_lineno + 1))
    comments, code = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments.add(token.start[0])
        elif token.type not in SKIP:
            code.update(range(token.start[0], token.end[0] + 1))
    code -= docstrings
    lines = source.splitlines()
    return dict(
        total=len(lines),
        docstring=len(docstrings),
        comment=len(comments - code - docstrings),
        blank=sum(not line.strip() for line in lines),
        code=len(code),
    )


def sources(revision):
    """The `.py` sources under `keras_flows/` at `revision` (or on disk)."""
    if revision == "WORKTREE":
        for path in sorted((ROOT / "keras_flows").rglob("*.py")):
            yield path.read_text()
        return
    archive = subprocess.run(
        ["git", "archive", revision, "keras_flows"], cwd=ROOT, capture_output=True
    )
    archive.check_returncode()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            if member.name.endswith(".py"):
                yield tar.extractfile(member).read().decode()


def main():
    parser = arguments(__doc__)
    parser.add_argument("revisions", nargs="*", default=["ecbe141", "WORKTREE"])
    args = parser.parse_args()
    record = Record("library_size", {"revisions": args.revisions})
    rows = []
    for revision in args.revisions:
        row = dict(revision=revision, files=0)
        for source in sources(revision):
            row["files"] += 1
            for key, value in count(source).items():
                row[key] = row.get(key, 0) + value
        rows.append(row)
    columns = ["revision", "files", "total", "docstring", "comment", "blank", "code"]
    print_table(rows, {c: "" for c in columns})
    record.write(rows)


if __name__ == "__main__":
    main()
