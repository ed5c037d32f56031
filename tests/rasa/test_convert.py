"""bot.tools.convert: SMP2017 TSV and xSID CoNLL to Rasa NLU YAML, offsets and special characters included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from bot.tools.convert import ConversionError, convert

ROOT = Path(__file__).resolve().parents[2]
EVAL = Path("/work/shared/eval")

SMP_SAMPLE = "text\tlabel\n打开QQ\tapp\n今天天气(北京)怎么样[急]\tweather\n打开QQ\tapp\n\n你好\tchat\n打开QQ\tchat\n"

SMP_EXPECTED = """\
version: "3.1"
nlu:
- intent: app
  examples: |
    - 打开QQ
- intent: weather
  examples: |
    - 今天天气（北京）怎么样［急］
- intent: chat
  examples: |
    - 你好
    - 打开QQ
"""

XSID_SAMPLE = """\
# a header block of comments only is skipped

# id = 1
# text-en = remind me to pick up my medicine tomorrow at 3pm
# text = 提醒我明天下午3点去取药
# intent = reminder/set_reminder
1\t提醒\treminder/set_reminder\tO
2\t我\treminder/set_reminder\tO
3\t明天\treminder/set_reminder\tB-datetime
4\t下午\treminder/set_reminder\tI-datetime
5\t3点\treminder/set_reminder\tI-datetime
6\t去\treminder/set_reminder\tO
7\t取药\treminder/set_reminder\tB-reminder/todo

# id = 2
# text = 播放 Joy Nilo 的 歌曲 。
# intent = PlayMusic
1\t播放\tPlayMusic\tO
2\tJoy\tPlayMusic\tB-artist
3\tNilo\tPlayMusic\tI-artist
4\t的\tPlayMusic\tO
5\t歌曲\tPlayMusic\tB-music_item
6\t。\tPlayMusic\tO

# id = 3
# text = 上海[宝山]{天气}
# intent = weather/find
1\t上\tweather/find\tB-location
2\t海\tweather/find\tI-location
3\t[\tweather/find\tO
4\t宝\tweather/find\tB-location
5\t山\tweather/find\tI-location
6\t]\tweather/find\tO
7\t{\tweather/find\tO
8\t天气\tweather/find\tB-weather/attribute
9\t}\tweather/find\tO

# id = 4
# text = 给 这 本 书 评 1 分
# intent = RateBook
1\t给\tRateBook\tO
2\t这\tRateBook\tB-object_select
3\t\tRateBook\tO
4\t本\tRateBook\tO
5\t书\tRateBook\tB-object_type
6\t评\tRateBook\tO
7\t1\tRateBook\tB-rating_value
8\t分\tRateBook\tO

# id = 5
# text = 提醒我明天下午3点去取药
# intent = reminder/set_reminder
1\t提醒\treminder/set_reminder\tO
2\t我\treminder/set_reminder\tO
3\t明天下午3点\treminder/set_reminder\tB-datetime
4\t去取药\treminder/set_reminder\tB-reminder/todo
"""

XSID_EXPECTED = """\
version: "3.1"
nlu:
- intent: reminder.set_reminder
  examples: |
    - 提醒我[明天下午3点](datetime)去[取药](reminder.todo)
- intent: PlayMusic
  examples: |
    - 播放 [Joy Nilo](artist) 的 [歌曲](music_item) 。
- intent: weather.find
  examples: |
    - [上海](location)［[宝山](location)］｛[天气](weather.attribute)｝
- intent: RateBook
  examples: |
    - 给 [这](object_select) 本 [书](object_type) 评 [1](rating_value) 分
"""


def _convert(tmp_path: Path, kind: str, content: str) -> tuple[str, list[Message]]:
    source, target = tmp_path / "in.txt", tmp_path / "out.yml"
    source.write_text(content, encoding="utf-8")
    convert(kind, source, target)
    return target.read_text(encoding="utf-8"), RasaYAMLReader().read(target).intent_examples


def _entities(message: Message) -> list[tuple[str, int, int, str]]:
    text = message.get(TEXT)
    return [(e["entity"], e["start"], e["end"], text[e["start"] : e["end"]]) for e in message.get(ENTITIES) or []]


def test_smp2017_yaml_is_exact_and_reads_back_without_annotations(tmp_path: Path) -> None:
    written, messages = _convert(tmp_path, "smp2017", SMP_SAMPLE)
    assert written == SMP_EXPECTED
    assert [(m.get(INTENT), m.get(TEXT)) for m in messages] == [
        ("app", "打开QQ"),
        ("weather", "今天天气（北京）怎么样［急］"),
        ("chat", "你好"),
        ("chat", "打开QQ"),
    ]
    assert all(not m.get(ENTITIES) for m in messages)  # the brackets made no bogus entity


def test_xsid_yaml_is_exact(tmp_path: Path) -> None:
    written, _ = _convert(tmp_path, "xsid", XSID_SAMPLE)
    assert written == XSID_EXPECTED


def test_xsid_offsets_are_character_offsets_of_the_text(tmp_path: Path) -> None:
    _, messages = _convert(tmp_path, "xsid", XSID_SAMPLE)
    by_text = {m.get(TEXT): _entities(m) for m in messages}
    # A slot in the middle of unspaced Chinese, and one at the end.
    assert by_text["提醒我明天下午3点去取药"] == [
        ("datetime", 3, 9, "明天下午3点"),
        ("reminder.todo", 10, 12, "取药"),
    ]
    # Spaced text: the span keeps the inner space and the offsets count the separating spaces.
    assert by_text["播放 Joy Nilo 的 歌曲 。"] == [("artist", 3, 11, "Joy Nilo"), ("music_item", 14, 16, "歌曲")]
    # Character tokens around replaced brackets; an empty token shifts nothing.
    assert by_text["上海［宝山］｛天气｝"] == [
        ("location", 0, 2, "上海"),
        ("location", 3, 5, "宝山"),
        ("weather.attribute", 7, 9, "天气"),
    ]
    assert [e[3] for e in by_text["给 这 本 书 评 1 分"]] == ["这", "书", "1"]


def test_cli_reports_counts_and_altered_examples(tmp_path: Path) -> None:
    source, target = tmp_path / "in.conll", tmp_path / "out.yml"
    source.write_text(XSID_SAMPLE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot.tools.convert", "xsid", str(source), str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "5 read, 4 written, 1 duplicate(s) dropped, 4 intent(s), 10 entities" in result.stdout
    assert "altered 1 example(s)" in result.stderr
    assert "'weather/find' to 'weather.find'" in result.stderr


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("smp2017", "句子\t类别\n你好\tchat\n", "header"),
        ("smp2017", "text\tlabel\n你好\n", ":2: expected 2 tab-separated fields"),
        ("xsid", "# text = 你好\n# intent = greet\n1\t您好\tgreet\tO\n", "token '您好' not found"),
        ("xsid", "# text = 你好\n# intent = greet\n1\t你好\tgreet\tX-foo\n", "neither 'O' nor B-/I-"),
        ("xsid", "1\t你好\tgreet\tO\n", "needs a '# text' line"),
    ],
)
def test_malformed_input_names_the_problem(tmp_path: Path, kind: str, content: str, message: str) -> None:
    source = tmp_path / "in.txt"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(ConversionError, match=message):
        convert(kind, source, tmp_path / "out.yml")
    assert not (tmp_path / "out.yml").exists()


# (format, file, read, written, duplicates, intents, entities)
REAL_FILES = [
    ("smp2017", "smp2017/smp2017_task1_train.tsv", 2299, 2299, 0, 31, 0),
    ("smp2017", "smp2017/smp2017_task1_develop.tsv", 770, 770, 0, 31, 0),
    ("smp2017", "smp2017/smp2017_task1_test.tsv", 667, 667, 0, 31, 0),
    ("xsid", "xsid_zh/zh.test.conll", 500, 439, 61, 15, 876),
    ("xsid", "xsid_zh/zh.valid.conll", 300, 267, 33, 15, 568),
]


@pytest.mark.skipif(not EVAL.is_dir(), reason=f"the external evaluation data ({EVAL}) is not on this machine")
@pytest.mark.parametrize(("kind", "name", "read", "written", "duplicates", "intents", "entities"), REAL_FILES)
def test_real_files_convert_and_read_back(
    tmp_path: Path, kind: str, name: str, read: int, written: int, duplicates: int, intents: int, entities: int
) -> None:
    target = tmp_path / "out.yml"
    report = convert(kind, EVAL / name, target)
    assert (report.read, report.written, report.duplicates) == (read, written, duplicates)
    assert (len(report.intents), report.entities) == (intents, entities)
    messages = RasaYAMLReader().read(target).intent_examples
    assert len(messages) == written
    assert sum(len(m.get(ENTITIES) or []) for m in messages) == entities
    assert all("/" not in m.get(INTENT) for m in messages)  # no intent was read as a retrieval intent
