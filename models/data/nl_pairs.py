"""Natural-language -> code pairs found in Python source: the shape of the product's turns (a comment, then code).

Two kinds, both found with Python's own ast (the statements and their line spans):
  comment    a block of full-line `#` comments directly above a statement, at the statement's indentation, and
             the code it introduces: that statement and the siblings that follow it without a blank line or
             another comment between them (so `# read the file` heads the lines up to the next gap).
  docstring  the first paragraph of a function's or class's docstring, and the definition without its
             docstring (decorators, signature, body).
Filters: the text has 3 to 64 words, starts with a letter and is mostly letters; not a licence or copyright
header, a tool pragma (noqa, type:, pylint:, pragma, fmt:, isort:), a TODO/FIXME/XXX note, or commented-out code
(a comment that parses as Python). The code has 1 to 30 lines (comment pairs) or 2 to 60 (docstring pairs) and
at most 4000 characters; the code of a comment pair is not just `pass`, `...` or a bare name.
"""

import ast
import re
import textwrap
import warnings

MIN_WORDS, MAX_WORDS = 3, 64
MAX_CODE_CHARS = 4000
COMMENT_CODE_LINES = (1, 30)
DOCSTRING_CODE_LINES = (2, 60)
BOILERPLATE_RE = re.compile(
    r"copyright|licen[cs]e|spdx|all rights reserved|warranty|-\*-|^!|noqa|^type:|pylint:|pragma|^fmt:|isort:|mypy:"
    r"|^(todo|fixme|xxx|hack)\b|^nosec|^flake8", re.I)
WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")


def comment_at(lines, row):
    """(column, text after '#') when line `row` (1-based) is a full-line comment, else None. Only asked about
    lines between statements, which cannot be inside a string literal, so no tokenizer is needed."""
    if not 1 <= row <= len(lines):
        return None
    stripped = lines[row - 1].lstrip()
    if not stripped.startswith("#"):
        return None
    return len(lines[row - 1]) - len(stripped), stripped[1:].strip()


def looks_like_code(text):
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def good_text(text):
    """Whether a comment or docstring paragraph reads as a description (see the module doc)."""
    if not text or not text[0].isalpha() or BOILERPLATE_RE.search(text):
        return False
    words = WORD_RE.findall(text)
    if not MIN_WORDS <= len(text.split()) <= MAX_WORDS or len(words) < MIN_WORDS:
        return False
    letters = sum(c.isalpha() for c in text)
    if letters < 0.6 * len(text.replace(" ", "")):
        return False
    return not looks_like_code(text)


def good_code(code, bounds):
    lines = code.splitlines()
    if not bounds[0] <= len(lines) <= bounds[1] or len(code) > MAX_CODE_CHARS:
        return False
    return code.strip() not in ("pass", "...") and not re.fullmatch(r"[\w.]+", code.strip())


def start_line(node):
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def comment_block_above(line, col, lines, floor):
    """The comment texts directly above `line` at column `col` (top to bottom), not above line `floor` (the end
    of the previous statement), or []."""
    block = []
    row = line - 1
    while row > floor and (found := comment_at(lines, row)) and found[0] == col:
        block.append(found[1])
        row -= 1
    return block[::-1]


def statement_lists(stmts):
    """The list itself and every list of sibling statements nested in it (bodies, else branches, handlers, match
    cases): a walk over statements only, which never descends into expressions."""
    yield stmts
    for stmt in stmts:
        for field in ("body", "orelse", "finalbody"):
            value = getattr(stmt, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield from statement_lists(value)
        for sub in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
            yield from statement_lists(sub.body)


def code_run(stmts, i, lines):
    """The last line of the statements from stmts[i] on that follow each other with no blank line or comment
    between them."""
    end = stmts[i].end_lineno
    j = i + 1
    while j < len(stmts) and start_line(stmts[j]) == end + 1 and not comment_at(lines, end + 1):
        end = stmts[j].end_lineno
        j += 1
    return end


def comment_pairs(tree, lines):
    for stmts in statement_lists(tree.body):
        floor = 0
        for i, stmt in enumerate(stmts):
            first = start_line(stmt)
            block = comment_block_above(first, stmt.col_offset, lines, floor)
            floor = stmt.end_lineno
            if not block:
                continue
            text = " ".join(" ".join(block).split())
            code = textwrap.dedent("\n".join(lines[first - 1:code_run(stmts, i, lines)]))
            if good_text(text) and good_code(code, COMMENT_CODE_LINES):
                yield {"kind": "comment", "comment": text, "code": code, "line": first - len(block)}


def first_paragraph(docstring):
    return " ".join(docstring.strip().split("\n\n")[0].split())


def docstring_pairs(tree, lines):
    for stmts in statement_lists(tree.body):
        for node in stmts:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            doc = ast.get_docstring(node, clean=True)
            if not doc or len(node.body) < 2:
                continue
            text = first_paragraph(doc)
            expr = node.body[0]
            kept = [k for k in range(start_line(node), node.end_lineno + 1) if not expr.lineno <= k <= expr.end_lineno]
            code = textwrap.dedent("\n".join(lines[k - 1] for k in kept))
            if good_text(text) and good_code(code, DOCSTRING_CODE_LINES):
                yield {"kind": "docstring", "comment": text, "code": code, "line": node.lineno}


def extract_pairs(source):
    """Every comment and docstring pair of a Python source (a file that does not parse has none)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = source.splitlines()
    return list(comment_pairs(tree, lines)) + list(docstring_pairs(tree, lines))
