"""Grief, fear and loneliness in a senior's words, read the same way in both runtimes.

The action server answers them with one warm sentence before the help (``actions/care.py``); the NLU's
IntentRules keeps a death said with 走了 ("我妈昨天夜里走了 接下来要做点啥") from being read as goodbye.
The patterns read the normalized text (``textnorm.normalize``: Shanghainese → Mandarin).
"""

from __future__ import annotations

import regex

_PERSON = (
    r"老伴儿?|老头子?|老太婆|老太太|老公|老婆|爱人|丈夫|妻子|先生|太太|"
    r"妈妈|爸爸|母亲|父亲|老娘|老爸|老妈|爹|娘|儿子|女儿|孩子|哥哥|姐姐|弟弟|妹妹|"
    r"阿姐|阿哥|兄弟|亲人|家里人|老朋友|爷爷|奶奶|外公|外婆|公公|婆婆|老爷子|爷叔|叔叔|伯伯|舅舅|姑姑|姨妈|"
    r"岳父|岳母|丈人|丈母娘|妈|爸"
)
_DIED = r"走了|走掉了|不在了|去世|过世|没了|死了|死掉了|过身|往生|离开了|离开我们|刚走|故世|归西|咽气|断气了|病故|仙逝"
# After a death: what the family has to see to. "他走了" alone may be someone leaving the room; with one of
# these it is a death.
_AFTERMATH = r"存款|存折|遗产|遗嘱|继承|过户|后事|丧葬|抚恤|死亡证明|销户|注销|养老金|退休金|骨灰|墓|火化"
_GRIEF = regex.compile(
    rf"(?:{_PERSON}).{{0,6}}?(?:{_DIED})"
    rf"|(?:他|她|伊)(?:{_DIED})(?=.*(?:{_AFTERMATH}))"
    r"|去世|过世|故世|过身|(?:办|料理|处理)(?:丧事|后事)|(?:丧事|后事)(?:要|该)?(?:哪能|怎么|咋|如何)(?:办|弄|料理)"
    r"|丧偶|守寡|追悼会|骨灰"
)
# Fear and worry, and the heart that races with them (心里慌, 发慌): 心慌 with a sign of the body never gets here,
# the Rasa server answers it as an emergency first (training_data/safety.yml).
_FEAR = regex.compile(
    r"害怕|好怕|怕得|吓死|吓煞|心慌|心里(?:有点|老是|总是|好|很|发)?慌|(?<![闷饿堵憋])发慌|慌得|急死了|急煞"
    r"|睡不着|睡不好|睡不踏实|失眠|六神无主|七上八下|不踏实|不知道怎么办才好"
)
# Loneliness, missing one's family, wishing for someone to talk to.
_LONELY = regex.compile(
    r"(?:一个人|没人).{0,6}(?:孤单|孤独|寂寞|冷清|没人管|没人说话)|好孤单|孤零零|孤孤单单|孤单|寂寞|冷冷清清|空落落"
    r"|一个人(?:在家|在屋里|住|过|生活|待着)|独自一人|没人(?:陪|说话|讲话)|闷得慌|心里(?:难受|不好受|空|闷|堵)"
    r"|想(?:儿子|女儿|囡囡|孙子|孙女|外孙|老伴|家里人|子女|儿女|孩子)|(?:儿子|女儿|子女|儿女|孩子)[^，。！？\s]{0,4}不在身边"
    r"|陪我(?:说说话|说话|聊聊|聊天|讲讲)|找(?:个)?人(?:说说话|说话|聊聊|聊天|讲讲)"
)


def says_a_death(normalized: str) -> bool:
    """Someone close has died, in the normalized text."""
    return bool(_GRIEF.search(normalized))


def says_fear(normalized: str) -> bool:
    return bool(_FEAR.search(normalized))


def says_loneliness(normalized: str) -> bool:
    return bool(_LONELY.search(normalized))
