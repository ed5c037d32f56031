"""Grief and fear first: a short line of comfort before the help.

"我老伴不在了，遗产哪能弄" is a question about inheritance asked by someone who has just lost
their partner. The answer starts with one warm sentence (a message of its own), then the help. The patterns read
the normalized text (Shanghainese → Mandarin). Danger is not handled here: emergencies are
answered by the Rasa server before any action runs.
"""

from __future__ import annotations

import regex

from textnorm import normalize

_PERSON = (
    r"老伴儿?|老头子?|老太婆|老太太|老公|老婆|爱人|丈夫|妻子|先生|太太|"
    r"妈妈|爸爸|母亲|父亲|老娘|老爸|老妈|爹|娘|儿子|女儿|孩子|哥哥|姐姐|弟弟|妹妹|"
    r"阿姐|阿哥|兄弟|亲人|家里人|老朋友|爷爷|奶奶|外公|外婆|公公|婆婆|妈|爸"
)
_DIED = r"走了|走掉了|不在了|去世|过世|没了|死了|死掉了|过身|往生|离开了|离开我们|刚走|故世|归西|咽气|断气了|病故|仙逝"
# After a death: what the family has to see to. "他走了" alone may be someone leaving the room; with one of
# these it is a death.
_AFTERMATH = r"存款|存折|遗产|遗嘱|继承|过户|后事|丧葬|抚恤|死亡证明|销户|注销|养老金|退休金|骨灰|墓|火化"
_GRIEF = regex.compile(
    rf"(?:{_PERSON}).{{0,6}}?(?:{_DIED})"
    rf"|(?:他|她|伊)(?:{_DIED})(?=.*(?:{_AFTERMATH}))"
    r"|去世|过世|故世|过身|办(?:丧事|后事)|丧偶|守寡|追悼会|骨灰"
)
_FEAR = regex.compile(r"害怕|好怕|怕得|吓死|吓煞|心慌慌|慌得很|急死了|急煞|睡不着觉|六神无主|不知道怎么办才好")
_LONELY = regex.compile(r"(?:一个人|没人).{0,6}(?:孤单|孤独|寂寞|冷清|没人管|没人说话)|好孤单|孤零零")

# The sentences themselves are responses in domain/knowledge.yml.
CONDOLENCE, REASSURE, COMPANY = "utter_comfort_grief", "utter_comfort_fear", "utter_comfort_lonely"


def comfort_response(text: str) -> str | None:
    """The response with one warm sentence for grief, fear or loneliness in ``text``, else None."""
    normalized = normalize(text)
    if _GRIEF.search(normalized):
        return CONDOLENCE
    if _FEAR.search(normalized):
        return REASSURE
    if _LONELY.search(normalized):
        return COMPANY
    return None
