"""Follow-up questions: what a message asks about (its aspect) and whether it names its own topic.

Older people ask the way people talk: after "长护险哪能申请?" comes "那要带啥材料?", "去哪里办?",
"要钱伐?". Such a message names an *aspect* (documents, place, fees, hours, phone, how-to,
eligibility, coverage …) but no *topic*; it is about the entry the conversation is already on.
"那沪惠保呢?" is the opposite: a new topic, asking the aspect asked last time.

Aspects are a registry (:data:`ASPECTS`): each has the entry fields that answer it and the
words that ask for it. A message is a *bare follow-up* when, once its aspect words, filler
words (那, 呢, 伐, 要, 去 …) and punctuation are taken away, nothing that could name a topic
is left. The decision is made on the normalized text (Shanghainese → Mandarin, 繁 → 简), with the
sound-alike slips of voice input and pinyin typing fixed (带社么材料, 要前伐, 去那里办).

Both runtimes read it: the action server resolves follow-ups against the conversation's entry
(knowledge_base/followup.py, actions/knowledge.py), and the NLU's IntentRules reads a short message
that is plainly a follow-up as ``ask_followup`` when the classifier took it for small talk, a
greeting or a request for a person ("要铜钿伐", "啥人可以").
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from textnorm import normalize


@dataclass(frozen=True)
class Aspect:
    name: str
    fields: tuple[str, ...]  # entry fields that answer it, best first
    label: str  # how a reply names it: "要带的材料"
    pattern: regex.Pattern[str]
    question: str  # the aspect asked in plain words, to search for another topic's entry ("那沪惠保呢?")
    # Words of a sentence in the entry's text that answers the aspect when no field does ("长者食堂一般中午
    # 供餐" answers 几点开饭 for an entry with no hours field).
    keywords: regex.Pattern[str] | None = None
    # The aspect is a yes/no about one facet ("网上能办伐"): a field answers only if it speaks of it (its
    # keywords), and the entry's own sentences come first.
    strict: bool = False


_QUESTIONS = {
    "documents": "要带什么材料",
    "fees": "要多少钱",
    "duration": "要多久能办好",
    "hours": "几点开门",
    "phone": "电话是多少",
    "place": "在哪里办",
    "eligibility": "什么条件可以办",
    "coverage": "保什么",
    "exclusions": "什么不保",
    "how_to": "怎么办理",
    "online": "网上能不能办",
    "proxy": "家属能不能代办",
    "booking": "要不要预约",
    "company": "要不要家属陪同",
}

# Per aspect, the words of a sentence that answers it (used when the entry has no field for it).
_KEYWORDS = {
    "documents": r"带上|带好|要带|身份证|户口|社保卡|证明",
    "fees": r"免费|收费|[钱费]|自付|补贴|元",
    "duration": r"\d+个?(?:工作日|天|周|月)|[一二三四五六七八九十两几]+个?(?:工作日|天|礼拜|星期|月)|期限|尽快|马上",
    "hours": r"开门|供餐|开饭|营业|开放时间|办公时间|\d+[:：]\d+|[早中晚]饭|上午|下午|中午|周[一二三四五六日]|每周",
    "phone": r"打\s*\d{3,}|电话|热线",
    "place": r"到[^，。]{0,12}(?:中心|窗口|医院|公证处|银行|居委会|站|点)|在[^，。]{0,6}(?:App|网站|公众号)|去[^，。]{0,12}(?:中心|窗口|医院|公证处|银行|居委会)",
    "eligibility": r"户籍|参保|岁|条件|符合|可以申请|都能|不限",
    "coverage": r"保障|报销|赔|支付",
    "exclusions": r"不赔|不保|不管|不报|除外",
    "how_to": r"先|再|申请|登记|预约|办理|流程",
    "online": r"随申办|一网通办|App|app|网上|线上|手机|公众号|小程序|网站",
    "proxy": r"代办|代领|代理|委托|本人|家属|子女|亲自|上门",
    "booking": r"预约|排队|报名|登记|轮候|名额",
    "company": r"陪|家属|家人|家里人|子女|独自|一个人|本人",
}


def _aspect(name: str, fields: tuple[str, ...], label: str, words: str) -> Aspect:
    keywords = regex.compile(_KEYWORDS[name]) if name in _KEYWORDS else None
    strict = name in ("online", "proxy", "booking", "company")
    return Aspect(name, fields, label, regex.compile(words), _QUESTIONS[name], keywords, strict)


# Order matters: the first aspect whose words occur wins ("带啥材料去哪里办" asks for documents).
ASPECTS: tuple[Aspect, ...] = (
    # "网上能办伐", "手机上好弄伐": before place and eligibility, whose words ("能办", "哪里") they share.
    _aspect(
        "online",
        ("how_to", "place"),
        "网上怎么办",
        r"网上|线上|手机上|手机里|随申办|一网通办|app|小程序|微信上|电脑上|不用跑",
    ),
    # "要家属陪伐", "要几个人一起去", "我一个人好去伐": whether someone must come along (before proxy and eligibility,
    # whose "家属能去" and "好去伐" they share).
    _aspect(
        "company",
        (),
        "要不要人陪",
        r"(?:家属|家人|家里人|子女|儿女|小辈|儿子|女儿|囡囡|老伴|人)?(?:要|得|需要|一定要|必须)?陪(?![诊护聊])(?:同|着|伴|牢)?|"
        r"几个人|(?:一起|一道|一淘|一块)(?:去|来|过去)|(?:家属|家人|家里人|子女|儿女|小辈|儿子|女儿|囡囡)(?:要|得|需要)?(?:跟|跟着|同去)|"
        r"(?:独自|自己|一个人|一家头)(?:好|能|可以|能不能)?(?:去|来|过去)",
    ),
    # "我儿子能代办吗", "要本人去伐": who must go.
    _aspect(
        "proxy",
        (),
        "谁去办",
        r"代办|代领|代我|代替|替我|帮我去|代为|委托|本人(?:要|必须|一定|得|非得|需要)?(?:亲自)?(?:去|到场|来|到)|"
        r"亲自|(?:子女|儿子|女儿|媳妇|女婿|家属|家里人|小孩|孙子|孙女|保姆)(?:能|可以|好|能不能)(?:去)?(?:办|弄|去|领)",
    ),
    _aspect(
        "documents",
        ("documents",),
        "要带的材料",
        r"材料|资料|证件|证明|带(啥|什么|点啥|些啥|哪些|哪样|点什么|好)|要带|带上|拿(啥|什么)(东西|证)|(啥|什么)证|"
        r"(准备|预备)(啥|什么|点啥|些啥|哪些|点什么|些什么|好)|(要|需要|得|该)(啥|什么|哪些|点啥)东西|"
        r"身份证|户口本|户口簿|社保卡|医保卡|结婚证|房产证|照片",
    ),
    _aspect(
        "fees",
        ("fees",),
        "费用",
        r"多少钱|几钿|要钱|收钱|出钱|学费|伙食费|餐费|饭钱|车费|路费|服务费|护理费|床位费|管理费|花钱|加钱|费用|收费|免费|价格|价钿|贵|钞票|铜钿|几化|自费|自付|付钱|掏钱|"
        r"(交|缴|付)(钱|费)|(交|缴|付|花|出|掏|贴|补)多少|几块钱|交税|税",
    ),
    _aspect(
        "duration",
        ("duration",),
        "要多久",
        r"多久|多长时间|几天|(什么|啥)时候(能|可以|才)?(好|办好|拿到|批|下来|出结果|到账)|批下来|办好|出结果|到账",
    ),
    _aspect(
        "hours",
        ("hours",),
        "时间",
        r"几点|几时|开门|关门|上班|下班|营业|开放时间|时间|星期几|礼拜几|哪天(开|办|有)|什么时候(开|办|去)|开不开|开吗|休息吗|休息不|放假|"
        r"开饭|(周末|礼拜[六天日]|星期[六天日]|节假日|过年|晚上|中午)[^，。?？]{0,3}(开|办|去|上班|有人|营业|有(?=伐|吗|没有|不|哇|嘛|的|$))",
    ),
    _aspect("phone", ("phone",), "电话", r"电话|号码|热线|打(啥|什么|哪个)|联系方式|怎么联系"),
    _aspect(
        "place",
        ("place",),
        "地点",
        r"(去|到|在)(哪|啥地方|什么地方)|哪里|哪儿|地址|地点|啥地方|什么地方|哪个窗口|怎么走|怎么去|在哪|找谁|哪个部门|哪个单位|"
        r"离[^，。?？]{0,2}近|附近|最近的|近的",
    ),
    _aspect(
        "eligibility",
        ("eligibility",),
        "谁可以办",
        r"(?:谁|啥人|什么人|哪些人)?(?:能|可以|好)(?:不能)?(?:享受|买|拿|领|用|参加|申请|去|报名|装|投保|参保|保|办|约|住|进)|"
        r"条件|资格|够不够|符合|谁可以|谁能|啥人|什么人|哪些人|能不能办|能办吗|够格|有份|几岁",
    ),
    _aspect(
        "coverage",
        ("coverage",),
        "保什么",
        r"保(啥|什么|哪些)|管(啥|什么)|赔(啥|什么|多少)|能报|报销|(啥|什么|哪些)(病|情况|费用)?(能|可以|会)?(赔|报|保)",
    ),
    _aspect("exclusions", ("exclusions",), "不保什么", r"不保|不赔|不管(啥|什么)"),
    # "要预约伐", "要排队伐": before how_to, whose "怎么预约" is a question of its own.
    _aspect(
        "booking",
        ("how_to",),
        "要不要预约",
        r"(?:(?:去|来)?(?:之前|以前|前头))?(?:要|需要|得|先|提前|事先|要不要)(?:先|提前|事先)?(?:预约|排队|报名|登记|挂号)|"
        r"预约(?:吗|呢)|排(?:多久|几年|几个月)|"
        r"(?:(?:去|来)?(?:之前|以前|前头))?(?:要|需要|得|先|提前|事先|要不要)(?:先|提前|事先)?约(?:好|一下|过)?"
        r"(?:伐|吗|不|嘛|呢|吧|哇|$)|直接(?:去|过去|跑过去)",
    ),
    _aspect(
        "how_to",
        ("how_to",),
        "怎么办",
        r"怎么(办|弄|申请|搞|做|报名|预约|操作|走流程|买|参加|加入|投保|用|使用|登记|约|请|装|签|赔|报|领|理赔|算|付)|"
        r"咋(办|弄|买|约)|如何|流程|步骤|手续|办法|怎么个|要注意",
    ),
)
_BY_NAME = {a.name: a for a in ASPECTS}

# Words that carry no topic: particles, pronouns, "want/go/do", politeness. After removing these
# and the aspect words, a bare follow-up has at most one Han character left.
_FILLER = regex.compile(
    r"那么|那个|这个|那|这|他们|她们|它们|人家|大家|它|他|她|我们|我|你们|你|您|咱|请问|问一下|问问|想问|一下|还有|还要|还|再|"
    r"需要|要|得|去|到|办|弄|搞|做|申请|理|可以|能|会|是|有|的|地|了|过|呢|吗|嘛|么|吧|啊|呀|哦|噢|喔|哈|"
    r"咧|哇|伐|呐|个|些|点|都|也|就|又|先|跟|和|给|让|帮|麻烦|谢谢|好|一般|大概|具体|东西|事情|事|"
    r"啥|什么|哪|多少|几|怎么|咋|样|子|时候|里|边|面|钟|"
    # who it is for and when: "那我老伴呢", "周末开门伐" still ask about the same entry
    r"老年人|老年|老伴|老头子|老头|老太婆|老太太|老太|爸爸|妈妈|爷爷|奶奶|外婆|外公|儿子|女儿|子女|孩子|家里人|家人|老人家|老人|自己|本人|"
    r"周末|星期[一二三四五六日天]|礼拜[一二三四五六日天]|今天|明天|后天|上午|下午|中午|晚上|早上|平时|节假日|过年|"
    # how often, how much of it, roughly: "办一次多少钱", "一年交多少", "大概多久"
    r"一次|每次|一年|每年|一个月|每个月|每月|一天|每天|一趟|一回|总共|一共|大约|差不多|左右|"
    # ages and the like: "我妈八十五了能拿伐", "九十岁的也行伐"
    r"[零一二两三四五六七八九十百]+岁?|岁|行|够|就|只|光|一定|必须|本人|家里|屋里|开始|现在|今年"
)
PUNCT = regex.compile(r"[\p{P}\p{S}\s\d]+")
# "那沪惠保呢?", "还有遗嘱公证呢", "那么意定监护呢", "换成意外险伐": another topic, same question as before.
# A bare "X伐/吗" with no 那 is a yes/no question about the topic ("要排队伐"), not another topic.
_THAT_ONE = regex.compile(
    r"^(?:(?:那么?|还有|那要是|要是|换成)\s*(?P<topic>.{1,16}?)\s*(?:呢|咧|哪|伐|吗)?|(?P<topic>.{1,16}?)\s*(?:呢|咧))"
    r"\s*[?？。.!！]*$"
)
# "还有别的吗", "还有啥", "其他的呢": what else the knowledge base says about the same subject.
_MORE = regex.compile(
    r"^(?:那|那么|请问)?(?:还有(?:别的|其他|其它|啥|什么|哪些|没有)?|别的|其他的?|其它的?)(?:的|事情?|东西|要注意的|可以问的|服务|呢|吗|伐|啊|么|了)*[?？。.!！]*$"
)
# What voice input and pinyin typing make of follow-up words (same sound, other characters), fixed
# before the aspect is read: 带社么材料, 要前伐, 去那里办, 要多就, 几点开们, 网上能半伐.
_SOUND_ALIKE = (
    (regex.compile(r"社么|甚么|神马|s么"), "什么"),
    (regex.compile(r"(?<=要|多少|几块|收|交|付|花|出|掏|加)前(?!面|头|边|几天|一天|天)"), "钱"),
    (regex.compile(r"多就|多旧"), "多久"),
    (regex.compile(r"开们|开闷"), "开门"),
    (regex.compile(r"点话|电化|店话"), "电话"),
    (regex.compile(r"材科|才料|财料"), "材料"),
    (regex.compile(r"(?<=能|怎么|去|好|要|可以|哪里)半(?=[吗呢理了]|$)"), "办"),
    (regex.compile(r"(?<=去|到|在)那(?=里|儿|边|[办弄买交吗呢]|$)"), "哪"),
)


def clean(text: str) -> str:
    """The normalized text with the sound-alike slips of follow-up words fixed."""
    fixed = normalize(text)
    for pattern, right in _SOUND_ALIKE:
        fixed = pattern.sub(right, fixed)
    return str(fixed)


def aspect_of(text: str) -> Aspect | None:
    """The aspect a message asks about, or None."""
    normalized = clean(text)
    return next((a for a in ASPECTS if a.pattern.search(normalized)), None)


def asks_more(text: str) -> bool:
    """ "还有别的吗": what else is there about the same subject."""
    return bool(_MORE.match(clean(text).strip()))


def aspect_named(name: str | None) -> Aspect | None:
    return _BY_NAME.get(name or "")


def _without_fillers(text: str) -> str:
    rest = clean(text)
    for aspect in ASPECTS:
        rest = aspect.pattern.sub(" ", rest)
    return str(_FILLER.sub(" ", rest))


def topic_words(text: str) -> str:
    """What is left of a message once aspect words, fillers and punctuation are removed."""
    return str(PUNCT.sub("", _without_fillers(text)))


def topic_runs(text: str) -> list[str]:
    """The runs of topic words, each as typed between removed words ("评估的人会上门伐" → 评估, 人, 上门)."""
    return [run for run in (str(PUNCT.sub("", part)) for part in _without_fillers(text).split()) if run]


# "我有高血压能保伐", "八十五岁还能买伐", "没有上海户口行伐", "我这种情况可以伐": whether the senior, as they are,
# qualifies for the entry being talked about. The message ends with a yes/no about being able (能保伐, 行不行,
# 来得及伐) with no object after the verb, and says something about who the senior is (我…, an age, 户口, an illness).
_CAN_DO = r"(?:保|投保|参保|买|办|申请|用|享受|参加|去|约|领|拿|报|赔|住|进|上|做|弄)"
_ELIGIBLE_END = regex.compile(
    # 好 is Shanghainese 能 only before a verb ("好保伐"); alone it is "good" ("心情不好", "约好了伐").
    rf"(?:(?:还|也|都|就)?(?:(?:能|可以|能不能|可不可以|可以不可以){_CAN_DO}?|好{_CAN_DO})"
    r"|(?<!不)(?:行|可以|成|算)|来得及|来不来得及|够格|符合|够条件|有份|有资格|(?<![没])有)"
    r"(?:吗|不|没|呢|啊|吧|哇|嘛|呀|不行|不可以|没有|的|了)*$"
)
_SITUATION = regex.compile(
    r"我|本人|自己|老伴|老头|老太|爸|妈|爷爷|奶奶|外婆|外公|儿子|女儿|岁|户口|户籍|医保|社保|外地|外省|病|癌|血压|血糖|糖尿|"
    r"心脏|中风|瘫|残疾|轮椅|卧床|独居|一个人|退休|工资|低保|困难|情况|身体|识字|没有|不是|已经|这样|这种"
)


def situation_asked(text: str) -> str | None:
    """The senior's situation, when the message asks whether it qualifies ("我有高血压能保伐" → 我有高血压), else None."""
    plain = clean(text).strip()
    plain = str(PUNCT.sub("", plain)) or plain
    end = _ELIGIBLE_END.search(plain)
    if end is None or end.start() == 0:
        return None
    situation = plain[: end.start()]
    return situation if _SITUATION.search(situation) else None


@dataclass(frozen=True)
class Reading:
    """How a message relates to the conversation's topic."""

    aspect: Aspect | None
    bare: bool  # asks an aspect and names no topic: answer from the current entry
    other_topic: str | None  # "那X呢": X, to be asked the previous aspect
    more: bool = False  # "还有别的吗": the other entries about the same subject
    situation: str | None = None  # "我有高血压能保伐": whether this situation qualifies for the topic


def read(text: str) -> Reading:
    if asks_more(text):
        return Reading(None, True, None, more=True)
    situation = situation_asked(text)
    if situation is not None and aspect_of(text) in (None, _BY_NAME["eligibility"]):
        # ("我女儿能去吗" asks who may go for the senior: proxy, read below.)
        return Reading(_BY_NAME["eligibility"], True, None, situation=situation)
    aspect = aspect_of(text)
    rest = topic_words(text)
    if aspect is not None and len(rest) <= 1:
        return Reading(aspect, True, None)
    match = _THAT_ONE.match(clean(text).strip())
    if aspect is None and match:
        if len(rest) >= 2:
            return Reading(None, False, match["topic"].strip())
        return Reading(None, True, None)  # "那我老伴呢": the same entry, the same question again
    if aspect is None and len(rest) <= 1 and regex.search(r"[伐吗呢]", clean(text)):
        return Reading(None, True, None)  # "我儿子呢", "那个呢": still about the same entry
    return Reading(aspect, False, None)


# "那养老顾问呢", "还有遗嘱公证呢", "那我老伴呢": the previous question, about another topic or person.
_THAT_ONE_SHAPE = regex.compile(r"^(?:那么?|还有|那要是|换成)\s*\S{1,12}?\s*(?:呢|咧)\s*[?？。.!！]*$")


def is_followup(text: str) -> bool:
    """A message that only makes sense as a follow-up: a bare aspect ("要铜钿伐", "啥人可以"), "还有别的吗",
    or "那X呢". Such a message is ``ask_followup`` whatever the conversation (without a topic it is asked back)."""
    reading = read(text)
    if reading.more or (reading.bare and reading.aspect is not None):
        return True
    return bool(_THAT_ONE_SHAPE.match(clean(text).strip()))
