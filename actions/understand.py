"""Reading what a senior typed into a booking form: names, phone numbers, stopping, questions, corrections.

Each function is pure and works on the raw text (it normalizes what it needs), so a value
is checked for what it is whatever the classifier made of the message: a question typed at
the name prompt is not a name, "算了" is never saved as anything, a house number is not a
date, and "不对，联系人是黄阿宝" names the field it corrects.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

from bookings.catalog import find_service
from bookings.timeparse import parse_when
from textnorm import normalize
from yinling.places import find_street

# Common surnames (single and compound), for telling a name from other short replies.
_COMPOUND_SURNAMES = (
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 申屠 轩辕 西门 南宫 独孤 钟离 闻人 万俟 呼延"
).split()
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛"
    "邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路"
    "游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟"
    "应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳"
    "谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普"
    "阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣"
    "信展阴昝智幸奉植衡富尧闭由沃鞠汝邴蓟"
)
_HONORIFICS = (
    "老师 阿姨 师傅 先生 女士 小姐 老伯 伯伯 阿伯 阿婆 婆婆 奶奶 爷爷 大爷 大妈 大伯 阿叔 叔叔 老太 老太太 阿公 医生 "
    "护士 经理 同志 主任 阿姐 姐姐 哥哥 阿哥 老先生 老太爷"
).split()
# Characters that never occur in a name but often in the sentences people type at a name prompt.
_NOT_IN_NAMES = set("吗呢啥么嘛吧呀啊哦的了是在要不有没个这那哪我你他她它们什怎几多少对错好行可以想约订办问带去来说讲")
_NAME_PREFIX = re.compile(
    r"^(?:联系人|联络人|名字|姓名|人名|名称)(?:的名字)?(?:是|叫|写|填|改成|换成|应该是|就是)?[:：]?"
    r"|^(?:我叫|我是|叫我|就写|写成|写|填|叫|是|改成|换成|就是)"
)
# Everyday words that begin with a surname character (谢, 明, 高 …) but are no one's name.
_COMMON_WORDS = frozenset(
    "谢谢 谢了 多谢 明天 明早 明晚 明白 明年 明朝 时间 时候 平时 平常 方便 安排 安全 全部 白天 黄昏 高兴 路上 成功 管用 "
    "申请 元旦 常常 宁可 马上 马路 连忙 万一 周末 周日 周六 齐了 都行 都好 和好 于是 关于 文件 金额 孙子 孙女 江湾 "
    "林子 石头 花钱 包括 费用 章程 宋体 司机 公证 公司 公园 华山 杨浦 顾村 罗店 罗泾 高境 庙行 淞南 吴淞 张庙 大场 杨行 "
    "月浦 友谊 宝山 上海 有人 有的 有空 没空 尤其 向来 左右 米饭 钟点 冷的 热的 冯家 古镇 童年 丁点 毛病 余下 戴上".split()
)
_SELF = re.compile(r"^(?:就是)?(?:我自己|我本人|本人|就是我|我)(?:的名字)?$")

STOP = re.compile(
    r"^(?:那|那就|还是)?(?:算了|算啦|算了吧|不约了|不要约了|不想约了|不订了|不想订了|不弄了|不办了|不要了|不用了|先不约|先不弄|"
    r"不约|覅约了|不要弄了|停|停一停|退出|取消吧|不预约了)(?:吧|了|啦|算了|谢谢)*[。.!！~～]*$"
    r"|算了不约|算了算了|不约了不约了|下趟再(?:讲|说|约)|以后再(?:讲|说|约)|改天再(?:讲|说|约)"
)
QUESTION = re.compile(
    r"[?？]|吗|呢|伐$|啥|什么|怎么|怎样|哪里|哪儿|哪个|多少|几点|几号|为啥|为什么|能不能|可不可以|是不是|要不要|有没有|"
    r"要带|请问|问一下|想问"
)


def clean_phone(text: str) -> str | None:
    """A valid mainland mobile number in ``text`` (spaces, dashes, full-width digits, +86 allowed)."""
    digits = re.sub(r"[\s\-()（）.·]", "", unicodedata.normalize("NFKC", text))
    for candidate in re.findall(r"(?<!\d)(?:\+?86)?1\d{10}(?!\d)", digits):
        number = phonenumbers.parse(candidate, "CN")
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            return str(number.national_number)
    return None


def is_stop(text: str) -> bool:
    """The senior wants to stop this booking: "算了", "不约了", "以后再说" …"""
    return bool(STOP.search(normalize(text).strip(" ，,")))


def looks_like_question(text: str) -> bool:
    return bool(QUESTION.search(normalize(text)))


def _surname_ok(name: str) -> bool:
    return name[:2] in _COMPOUND_SURNAMES or name[0] in _SURNAMES


def _names_something_else(text: str) -> bool:
    """A street, a service or a day: not a person."""
    return bool(find_street(text) or find_service(text) or parse_when(text))


def clean_contact(text: str) -> str | None:
    """The contact name in ``text``, or None when it does not look like one.

    Accepted: "本人"/"我自己"; a Chinese name of 2–4 characters starting with a common surname
    (张秀英, 黄阿宝, 欧阳明); a surname with a form of address (周老师, 王阿姨, 老王, 小李);
    a Shanghainese 阿-name (阿宝); a name in Latin letters. A question, "算了", a greeting or a
    sentence is not a name.
    """
    text = unicodedata.normalize("NFKC", text).strip(" ，。,.!！~～、")
    if not text or is_stop(text) or len(text) > 24:
        return None
    if _SELF.match(text):
        return "本人"
    name = _NAME_PREFIX.sub("", text).strip(" ，。,.:：!！")
    name = re.sub(r"(?:吧|呀|啊|哦|的|就行|就好|好了)+$", "", name)
    if re.fullmatch(r"[A-Za-z][A-Za-z .'\-]{1,29}", name):
        return name
    if not re.fullmatch(r"[\u4e00-\u9fff·]{2,6}", name) or looks_like_question(name):
        return None
    honorific = next((h for h in _HONORIFICS if name.endswith(h) and len(name) > len(h)), None)
    if honorific is not None:
        stem = name[: -len(honorific)]
        return name if 1 <= len(stem) <= 2 and _surname_ok(stem) else None
    if set(name) & _NOT_IN_NAMES or name in _COMMON_WORDS or _names_something_else(name):
        return None
    if re.fullmatch(r"[老小][\u4e00-\u9fff]", name):
        return name if name[1] in _SURNAMES else None
    if re.fullmatch(r"阿[\u4e00-\u9fff]{1,2}", name):
        return name
    if 2 <= len(name) <= 4 and _surname_ok(name):
        return name
    return None


@dataclass(frozen=True)
class Correction:
    """What "不对，X是Y" changes; each field None when not named."""

    service: str | None = None
    street: str | None = None
    contact: str | None = None
    phone: str | None = None
    when_text: str | None = None  # the time words, for the caller's date/time parser

    def __bool__(self) -> bool:
        return any((self.service, self.street, self.contact, self.phone, self.when_text))


_FIELD_WORDS = {
    "contact": r"联系人|联络人|名字|姓名|人名",
    "phone": r"电话号码|手机号码|电话|手机号|手机|号码",
    "street": r"地点|地方|地址|街道|镇上|住址|住在|住的地方",
    "service": r"服务|项目",
    "when": r"时间|日子|日期|哪天|几号|几点|钟点",
}
_DENY = re.compile(r"^(?:不对|不是|错了|搞错了|不对的|弄错了|讲错了|说错了|写错了)[，,。.\s]*")
_SETTER = r"(?:是|叫|写|填|改成|改为|改到|换成|换到|应该是|要|就是)"


def parse_correction(text: str, when_found: bool) -> Correction:
    """The fields a correction names. ``when_found``: the caller's date parser found a time in ``text``."""
    raw = unicodedata.normalize("NFKC", text).strip()
    body = _DENY.sub("", raw)
    named: dict[str, str] = {}
    for key, words in _FIELD_WORDS.items():
        match = re.search(rf"(?:{words})[的]?\s*{_SETTER}?\s*[:：]?\s*(.+)", body)
        if match:
            named[key] = re.split(r"[，,。；;]", match.group(1), maxsplit=1)[0].strip()
    contact = clean_contact(named["contact"]) if "contact" in named else None
    phone = clean_phone(body)
    street = find_street(body)
    service = find_service(named["service"]) if "service" in named else None
    when_text = body if (when_found or "when" in named) else None
    if not (named.keys() & {"contact"}) and not any((phone, street, service, when_text)):
        # "不对，是黄阿宝": no field named; a bare name is the contact.
        contact = clean_contact(re.sub(rf"^{_SETTER}", "", body))
    return Correction(service=service, street=street, contact=contact, phone=phone, when_text=when_text)
