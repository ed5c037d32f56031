"""Mask personal data in a senior's message before it is stored (unanswered questions).

:func:`mask` replaces, in this order (a longer number first, so that an ID-card number is not
read as a phone number plus digits):

- ID-card numbers (18 characters, the last may be X; the old 15-digit form) → 【身份证号】
- bank-card numbers (16–19 digits, grouped or not) → 【银行卡号】
- mobile numbers (with or without +86, grouped 3-4-4 or not) → 【手机号】
- landline numbers (021-5678 1234, 8 digits in Shanghai) → 【电话】
- numbers spoken in Chinese digits (幺三九一二三四五六七八, seven digits or more) → 【号码】
- addresses with a house number (盘古路100弄5号301室, 友谊新村12号楼3室, 三百二十弄) → 【地址】
- names where something says it is one (我叫张建国, 联系人黄阿宝, 王阿姨, 老李, 李先生) → 【姓名】
- any other run of seven or more digits → 【号码】

What stays: the question itself, street and town names (月浦镇, 宝山区 are not personal), dates,
amounts of money, ages. Full-width digits count as digits. The function is pure and fast
(regular expressions only) so both the action server and the staff app can call it.
"""

from __future__ import annotations

import re

PHONE = "【手机号】"
LANDLINE = "【电话】"
ID_CARD = "【身份证号】"
BANK_CARD = "【银行卡号】"
NAME = "【姓名】"
ADDRESS = "【地址】"
NUMBER = "【号码】"
PLACEHOLDERS = (PHONE, LANDLINE, ID_CARD, BANK_CARD, NAME, ADDRESS, NUMBER)

_FULLWIDTH = str.maketrans("０１２３４５６７８９＋－　ｘＸ", "0123456789+- xX")
_SEP = r"[ \-]?"  # one space or dash between digit groups

# The most common Chinese surnames (about 85% of people); single characters that are also
# everyday words in seniors' messages (e.g. 年, 高 as in 老高兴, 成) are left out where a
# false mask would hide the question.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁沈任姚卢"
    "傅钟姜崔谭陆汪范金石廖贾夏韦付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺顾毛郝龚邵万钱严赖覃洪武莫孔倪施"
    "殷蒋俞瞿濮费缪卞奚"
)
_SURNAME = f"[{_SURNAMES}]"
_HAN = r"\u4e00-\u9fff"
_CN_DIGIT = "〇零一二三四五六七八九幺两"
_CN_NUM = f"[0-9{_CN_DIGIT}十百千]+"
# Characters that end a name: particles, verbs and punctuation that follow a name in speech.
_NAME_END = r"(?=$|[的了呢吧啊呀哦，,。.!！?？\s、；;：:（(）)]|是|在|要|想|家|他|她|的|今|明|昨|预|打|电|手|住|身|卡|号|过|来|去|说|问|和|跟)"
_HONORIFICS = (
    "阿姨|叔叔|老师|师傅|先生|女士|小姐|大爷|大妈|大伯|大姐|大哥|奶奶|爷爷|老伯|伯伯|阿婆|阿爷|老太|老头|"
    "医生|护士|主任|书记|经理|同志|老先生|老太太"
)
# Characters a road or estate name does not start with (so 我住在盘古路 keeps 我住在).
_NOT_PLACE_START = "我你他她住在是的了到去要想家那这哪里个和跟给从就也都还请帮问找送叫说搬离近对面旁边附"
_PLACE_CHAR = rf"(?:(?![{_NOT_PLACE_START}])[{_HAN}])"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # ID card: 6-digit area, birth date (19xx/20xx, month, day), 3 digits, a check digit or X.
    (
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}" + _SEP + r"(?:18|19|20)\d{2}" + _SEP + r"(?:0[1-9]|1[0-2])"
            r"(?:0[1-9]|[12]\d|3[01])" + _SEP + r"\d{3}[0-9Xx](?![0-9A-Za-z])"
        ),
        ID_CARD,
    ),
    # The old 15-digit ID card (birth date yymmdd).
    (
        re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])"),
        ID_CARD,
    ),
    # Bank cards: 16–19 digits, maybe in groups of four.
    (re.compile(r"(?<!\d)(?:\d{4}[ \-]?){3}\d{4}(?:[ \-]?\d{1,3})?(?!\d)"), BANK_CARD),
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), BANK_CARD),
    # Mainland mobiles: 1[3-9]x, 11 digits, maybe +86 and groups.
    (re.compile(r"(?<!\d)(?:\+?86" + _SEP + r")?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}(?!\d)"), PHONE),
    (re.compile(r"(?<!\d)(?:\+?86" + _SEP + r")?1[3-9]\d(?:" + _SEP + r"\d){8}(?!\d)"), PHONE),
    # Landlines: an area code then 7–8 digits, or 8 digits alone (Shanghai numbers).
    (re.compile(r"(?<!\d)(?:\(?0\d{2,3}\)?" + _SEP + r")\d{3,4}" + _SEP + r"\d{4}(?!\d)"), LANDLINE),
    (re.compile(r"(?<!\d)[2-9]\d{3}" + _SEP + r"\d{4}(?!\d)"), LANDLINE),
    # Numbers read out in Chinese digits (voice input): seven or more in a row.
    (re.compile(f"[{_CN_DIGIT}](?:[ ，,]?[{_CN_DIGIT}]){{6,}}"), NUMBER),
    # Addresses: a road or lane with a house number, and what follows it (号, 室, 楼, 幢).
    (
        re.compile(
            rf"{_PLACE_CHAR}{{1,6}}(?:路|街|大道|公路|巷){_CN_NUM}(?:弄|号|支弄)"
            rf"(?:{_CN_NUM}(?:支弄|弄|号楼|号|幢|栋|楼|单元|室))*"
        ),
        ADDRESS,
    ),
    (
        re.compile(
            rf"{_PLACE_CHAR}{{1,6}}(?:新村|小区|花园|公寓|家园|苑|村|大楼|大厦){_CN_NUM}(?:号楼|号|幢|栋|弄)"
            rf"(?:{_CN_NUM}(?:号楼|号|幢|栋|楼|单元|室))*"
        ),
        ADDRESS,
    ),
    (re.compile(rf"(?<![{_HAN}0-9]){_CN_NUM}(?:弄|号楼|幢|栋){_CN_NUM}(?:号|室|楼)(?:{_CN_NUM}(?:室|楼))?"), ADDRESS),
    (re.compile(rf"(?<![0-9]){_CN_NUM}(?:号楼|幢|栋)(?:{_CN_NUM}(?:室|楼|单元))+"), ADDRESS),
    (re.compile(r"(?<!\d)\d{3,4}室"), ADDRESS),
    # Names introduced as names.
    (
        re.compile(
            rf"(?P<cue>我叫|我是|名字叫|名字是|叫做|姓名[:：是]?|联系人[:：是]?|老伴叫|老伴是|儿子叫|女儿叫|"
            rf"签字人|委托人|本人叫|他叫|她叫|病人叫|老人叫)\s*{_SURNAME}[{_HAN}]{{1,2}}{_NAME_END}"
        ),
        r"\g<cue>" + NAME,
    ),
    # A surname with a form of address: 王阿姨, 李先生, 陈老师.
    (re.compile(rf"{_SURNAME}(?P<title>{_HONORIFICS})"), NAME + r"\g<title>"),
    # 老李, 小王 (not 老人, 小区: those are not surnames).
    (
        re.compile(
            rf"(?:(?<![{_HAN}])|(?<=[帮给跟和找叫问替]))[老小]{_SURNAME}(?:(?![{_HAN}])|(?=[说讲叫来去的要帮也家他她问]))"
        ),
        NAME,
    ),
    # Anything else that looks like a number someone could be found by.
    (re.compile(r"(?<!\d)\d(?:[ \-]?\d){6,}(?!\d)"), NUMBER),
)


def mask(text: str) -> str:
    """``text`` with phone, ID-card and bank-card numbers, names and addresses replaced by placeholders."""
    out = text.translate(_FULLWIDTH)
    for pattern, replacement in _RULES:
        out = pattern.sub(replacement, out)
    return out


def luhn_ok(digits: str) -> bool:
    """Whether a card number passes the Luhn check (tests use it to write real-looking numbers)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0
