"""Convert external NLU evaluation sets to Rasa 3 NLU YAML, for ``bot.tools.evaluate``.

    python -m bot.tools.convert smp2017 IN.tsv OUT.yml     # `text<TAB>label`, header line first
    python -m bot.tools.convert xsid IN.conll OUT.yml      # `# text = …`, `# intent = …`, `idx<TAB>token<TAB>intent<TAB>slot`

What the conversion changes, and why:
- Names: ``/`` becomes ``.`` in intent and entity names, because Rasa reads ``a/b`` as the
  retrieval intent ``a`` (xSID's ``alarm/set_alarm`` would otherwise collapse into ``alarm``).
  Characters that would break the ``[span](type)`` syntax become ``_``.
- Text: ASCII ``[ ] ( ) { }`` become their full-width forms and control characters become spaces.
  Both are one-for-one, so entity offsets stay valid, and no bracket in a sentence can be read as
  an annotation. The number of examples altered is printed to stderr.
- Duplicates: an example whose text already appeared under the same intent is kept once (the first).

xSID entity offsets are found by locating each token, in order, in the ``# text`` line (tokens
may be characters or words, and the text may or may not have spaces between them), so an
entity's span is exactly the characters of the original sentence from its B- token to its last I- token.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.errors import Refusal

# Rasa's example syntax: [span](type), [span]{json}, [span][list]. Full-width forms keep the
# character visible and the offsets unchanged (one character for one).
_SPECIAL = {c: chr(ord(c) + 0xFEE0) for c in "[](){}"}
_NAME_FORBIDDEN = re.compile(r"[\s\[\](){}:#\"',]")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_COMMENT = re.compile(r"^#\s*([\w-]+)\s*[=:]\s?(.*)$")


class ConversionError(Refusal, ValueError):
    """The input file is not in the expected format; the message says where."""


@dataclass(frozen=True)
class Entity:
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[Entity, ...] = ()


@dataclass
class Report:
    read: int = 0
    written: int = 0
    duplicates: int = 0
    altered: int = 0
    entities: int = 0
    renamed: dict[str, str] = field(default_factory=dict)
    intents: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- readers


def read_smp2017(content: str, source: str = "<smp2017>") -> list[Example]:
    """SMP2017-ECDT task 1: a ``text<TAB>label`` header, then one example per line."""
    lines = content.splitlines()
    if not lines:
        raise ConversionError(f"{source}: empty file")
    header = [h.strip().lower() for h in lines[0].split("\t")]
    if "text" not in header or "label" not in header:
        raise ConversionError(f"{source}:1: expected a header line 'text<TAB>label', got {lines[0][:60]!r}")
    text_col, label_col = header.index("text"), header.index("label")
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ConversionError(f"{source}:{number}: expected {len(header)} tab-separated fields, got {len(fields)}")
        text, label = fields[text_col].strip(), fields[label_col].strip()
        if not text or not label:
            raise ConversionError(f"{source}:{number}: empty text or label")
        examples.append(Example(text, label))
    return examples


def read_xsid(content: str, source: str = "<xsid>") -> list[Example]:
    """xSID CoNLL-like blocks: ``# text``/``# intent`` comments, then ``idx  token  intent  slot`` lines."""
    examples = []
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*content.splitlines(), ""], start=1):
        if line.strip():
            block.append((number, line))
        elif block:
            example = _xsid_block(block, source)
            if example is not None:
                examples.append(example)
            block = []
    return examples


def _xsid_block(block: list[tuple[int, str]], source: str) -> Example | None:
    """One sentence; None for a block of comments only (a file header, say)."""
    first = block[0][0]
    comments: dict[str, str] = {}
    tokens: list[tuple[str, str, str]] = []
    for number, line in block:
        if line.startswith("#"):
            match = _COMMENT.match(line)
            if match:
                comments.setdefault(match.group(1).lower(), match.group(2).strip())
            continue
        fields = line.split("\t")
        if len(fields) < 4:
            raise ConversionError(f"{source}:{number}: expected 'idx<TAB>token<TAB>intent<TAB>slot', got {line[:60]!r}")
        tokens.append((fields[1], fields[2].strip(), fields[3].strip()))
    text = comments.get("text", "")
    if not tokens and not text:
        return None
    if not text or not tokens:
        raise ConversionError(f"{source}:{first}: a sentence block needs a '# text' line and token lines")
    intent = comments.get("intent") or tokens[0][1]
    if not intent:
        raise ConversionError(f"{source}:{first}: no intent ('# intent' line or third column)")
    spans = _token_spans(text, [t[0] for t in tokens], f"{source}:{first}")
    entities = _bio_entities([t[2] for t in tokens], spans, f"{source}:{first}")
    return Example(text, intent, tuple(filter(None, (_trim(text, e) for e in entities))))


def _trim(text: str, entity: Entity) -> Entity | None:
    """Drop whitespace at the edges of a span (an empty token can start one); None if nothing is left."""
    start, end = entity.start, entity.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Entity(entity.type, start, end) if start < end else None


def _token_spans(text: str, tokens: list[str], where: str) -> list[tuple[int, int]]:
    """Character span of each token in ``text``; tokens appear in order, separated by nothing or whitespace.

    An empty token (xSID has a few, where the text has a double space) gets an empty span.
    """
    spans = []
    position = 0
    for token in tokens:
        token = token.strip()
        if not token:
            spans.append((position, position))
            continue
        while position < len(text) and text[position].isspace():
            position += 1
        if not text.startswith(token, position):
            raise ConversionError(f"{where}: token {token!r} not found at offset {position} of the '# text' line")
        spans.append((position, position + len(token)))
        position += len(token)
    return spans


def _bio_entities(tags: list[str], spans: list[tuple[int, int]], where: str) -> tuple[Entity, ...]:
    """BIO tags to entities; an I- without a matching open entity starts one (lenient, as conlleval)."""
    entities: list[Entity] = []
    current: Entity | None = None
    for tag, (start, end) in zip(tags, spans):
        if tag == "O":
            current = None
            continue
        prefix, _, name = tag.partition("-")
        if prefix not in ("B", "I") or not name:
            raise ConversionError(f"{where}: slot tag {tag!r} is neither 'O' nor B-/I-type")
        if prefix == "I" and current is not None and current.type == name:
            current = replace(current, end=end)
            entities[-1] = current
        else:
            current = Entity(name, start, end)
            entities.append(current)
    return tuple(entities)


READERS: dict[str, Callable[[str, str], list[Example]]] = {"smp2017": read_smp2017, "xsid": read_xsid}


# ---------------------------------------------------------------- cleaning and writing


def safe_name(name: str) -> str:
    """An intent or entity name Rasa reads as written (see the module docstring)."""
    return _NAME_FORBIDDEN.sub("_", name.strip().replace("/", "."))


def clean_text(example: Example) -> tuple[Example, bool]:
    """Replace annotation syntax and control characters one-for-one; True if anything changed."""
    text = "".join(_SPECIAL.get(c, " " if unicodedata.category(c) == "Cc" else c) for c in example.text)
    changed = text != example.text
    # Rasa strips each example: move the offsets with the leading whitespace it will remove.
    stripped = text.strip()
    shift = len(text) - len(text.lstrip())
    entities = []
    for entity in example.entities:
        start, end = max(entity.start - shift, 0), min(entity.end - shift, len(stripped))
        if start < end:
            entities.append(Entity(entity.type, start, end))
    return Example(stripped, example.intent, tuple(entities)), changed


def render_example(example: Example) -> str:
    """The example line of Rasa's YAML: entities as ``[span](type)``."""
    parts = []
    position = 0
    for entity in sorted(example.entities, key=lambda e: e.start):
        parts.append(example.text[position : entity.start])
        parts.append(f"[{example.text[entity.start : entity.end]}]({entity.type})")
        position = entity.end
    parts.append(example.text[position:])
    return "".join(parts)


def _yaml_name(name: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    return name if _PLAIN_NAME.match(name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepare(examples: Iterable[Example]) -> tuple[dict[str, list[Example]], Report]:
    """Rename, clean and deduplicate; examples grouped by intent in order of first appearance."""
    report = Report()
    by_intent: dict[str, list[Example]] = {}
    seen: set[tuple[str, str]] = set()
    for example in examples:
        report.read += 1
        intent = safe_name(example.intent)
        if intent != example.intent:
            report.renamed[example.intent] = intent
        entities = []
        for entity in example.entities:
            name = safe_name(entity.type)
            if name != entity.type:
                report.renamed[entity.type] = name
            entities.append(Entity(name, entity.start, entity.end))
        cleaned, changed = clean_text(Example(example.text, intent, tuple(entities)))
        if not cleaned.text:
            continue
        if (intent, cleaned.text) in seen:
            report.duplicates += 1
            continue
        seen.add((intent, cleaned.text))
        report.altered += changed
        report.entities += len(cleaned.entities)
        by_intent.setdefault(intent, []).append(cleaned)
    report.written = sum(len(v) for v in by_intent.values())
    report.intents = list(by_intent)
    return by_intent, report


def to_yaml(by_intent: dict[str, list[Example]]) -> str:
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in by_intent.items():
        lines.append(f"- intent: {_yaml_name(intent)}")
        lines.append("  examples: |")
        lines.extend(f"    - {render_example(e)}" for e in examples)
    return "\n".join(lines) + "\n"


def convert(kind: str, source: Path, target: Path) -> Report:
    try:
        reader = READERS[kind]
    except KeyError:
        raise ConversionError(f"unknown format {kind!r}; choose one of {', '.join(READERS)}") from None
    try:
        content = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConversionError(f"cannot read {source}: {err}") from err
    by_intent, report = prepare(reader(content, str(source)))
    if not report.written:
        raise ConversionError(f"{source}: no examples found")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_yaml(by_intent), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("format", choices=sorted(READERS))
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    try:
        report = convert(args.format, args.source, args.target)
    except ConversionError as err:
        print(f"convert: {err}", file=sys.stderr)
        return 2
    for old, new in sorted(report.renamed.items()):
        print(f"convert: renamed {old!r} to {new!r}", file=sys.stderr)
    if report.altered:
        print(
            f"convert: altered {report.altered} example(s): replaced [](){{}} or control characters",
            file=sys.stderr,
        )
    print(
        f"convert: {report.read} read, {report.written} written, {report.duplicates} duplicate(s) dropped, "
        f"{len(report.intents)} intent(s), {report.entities} entities -> {args.target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
