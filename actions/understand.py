"""Reading what a senior typed into a booking form: names, phone numbers, stopping, questions, corrections.

Each function is pure and works on the raw text (it normalizes what it needs), so a value
is checked for what it is whatever the classifier made of the message: a question typed at
the name prompt is not a name, "算了" is never saved as anything, a house number is not a
date, and "不对，联系人是黄阿宝" names the field it corrects.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
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
_NOT_IN_NAMES = set(
    "吗呢啥么嘛吧呀啊哦的了是在要不有没个这那哪我你他她它们什怎几多少对错好行可以想约订办问带去来说讲叫姓喂嗯侬谁"
)
# Words that say a name follows: 联系人是…, 我叫…, 伊叫… (after them, 建国 or 小红 alone is a name too).
_NAMED_AS = re.compile(
    r"^(?:联系人|联络人|名字|姓名|人名|名称)(?:的名字)?(?:是|叫|写|填|改成|换成|应该是|就是)?[:：]?"
    r"|^(?:我|阿拉|我们|伊|他|她|伊拉|他们|她们)?(?:姓.[，,\s]*)?(?:叫做|叫)(?!我)"
)
# Words a name may follow: 我是…, 就写…, 找…, 打给… .
_NAME_LEAD = re.compile(
    r"^(?:我是|叫我|就写|写成|写|填|是|改成|换成|就是|应该是|(?:联系|联络|找|打给|打电话给|通知)(?!方式|电话|人|地址|方法))"
)
# Said before the answer and not part of it: "嗯，…", "好的 …", "麻烦侬帮我写…", "那就…".
_FILLER_LEAD = re.compile(
    r"^(?:(?:嗯+|哦+|噢|喔|好的?|好滴|对的?|行|那|那就|麻烦(?:你|侬|您)?|请|(?:你|侬|您)?帮(?:我|阿拉|我们)?(?=写|填|记))"
    r"[，,。.!！~～\s]*)+"
)
# Emoji, pictographs and other symbols typed beside a value (王根宝👍, 13812345678😊): not part of it.
_SYMBOLS = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]+")
# Whose name it is, said before it: "我女儿王丽", "她儿子，李强", "写我女儿的名字王丽".
_KIN = (
    "女儿 儿子 囡囡 儿媳妇 儿媳 媳妇 女婿 老伴 老公 老婆 爱人 孙子 孙女 外孙女 外孙 侄子 侄女 外甥女 外甥 阿姐 阿哥 "
    "姐姐 哥哥 妹妹 弟弟 邻居 保姆 家属 亲戚 朋友 老头子 老头 老太婆 老太太 老伴儿 姆妈 妈妈 阿妈 老妈 爸爸 阿爸 老爸 "
    "娘 爹 外婆 外公 阿婆 阿爷 奶奶 爷爷 婆婆 公公 舅舅 阿舅 姑姑 阿姨 小辈"
).split()
_KIN_PREFIX = re.compile(
    r"^(?:我|她|他|伊|阿拉|我们|我家|她家|他家|伊拉)?(?:的|家)?(?:"
    + "|".join(sorted(_KIN, key=len, reverse=True))
    + r")(?:的名字|名字|的)?(?:是|叫|叫做)?[，,:：\s]*"
)
_PARENTHESIS = re.compile(r"[(（][^()（）]{0,10}[)）]")
_CLAUSES = re.compile(r"[，,。；;、\s]+")
# Everyday words that begin with a surname character (谢, 明, 高 …) but are no one's name.
_COMMON_WORDS = frozenset(
    "谢谢 谢了 多谢 明天 明早 明晚 明白 明年 明朝 时间 时候 平时 平常 方便 安排 安全 全部 白天 黄昏 高兴 路上 成功 管用 "
    "申请 元旦 常常 宁可 马上 马路 连忙 万一 周末 周日 周六 齐了 都行 都好 和好 于是 关于 文件 金额 孙子 孙女 江湾 "
    "林子 石头 花钱 包括 费用 章程 宋体 司机 公证 公司 公园 华山 杨浦 顾村 罗店 罗泾 高境 庙行 淞南 吴淞 张庙 大场 杨行 "
    "月浦 友谊 宝山 上海 有人 有的 有空 没空 尤其 向来 左右 米饭 钟点 冷的 热的 冯家 古镇 童年 丁点 毛病 余下 戴上 "
    "老公 老师 老板 小区 小时 小米 小车 小费 小路 全家 周围 周边 康复 居委 房东 单位 钟点工 保姆 和我 随便 随意 "
    "万能 一般 原来 应该 简单 严重 程序 常规 计划 管理 海鲜 门口 楼下 楼上 边上 国家 党员 公交 车子 房子 帅哥 周到 "
    "安心 安静 平安 和气 开心 欧巴 路过 向前 向后 顾不上 方才 时常 谈谈 关心 关照 宁愿 甘心 乐意 包好 包你 东西 东方 "
    "南面 北面 西面 东面 江边 海边 原样 康健 成了 成啦 许久 许多 花园 华人 国外 武功 文字 方式 方法 方面 方向".split()
)
# Forms of address and kinship alone (阿姨, 阿婆, 老师), and Shanghainese function words spelt with 阿 (阿拉, 阿是).
_NOT_A_NAME = frozenset(
    "阿姨 阿婆 阿伯 阿公 阿叔 阿哥 阿姐 阿妹 阿弟 阿爸 阿妈 阿爹 阿娘 阿奶 阿爷 阿姆 阿舅 阿嫂 阿拉 阿是 阿要 阿有 "
    "阿好 阿会 阿能 阿可以 阿侬 阿伊 阿婶 阿囡 "
    # laughter and sounds, and the words for the fields themselves ("我女儿的手机" names no one)
    "哈哈 哈哈哈 呵呵 呵呵呵 嘿嘿 嘻嘻 嗯嗯 哦哦 好好 手机 电话 号码 座机 名字 地址 住址 门牌".split()
)
# A place, an organisation or a thing, by its last character: 盘古路, 居委会, 长护险, 高血压.
_THING_ENDINGS = set("路街弄巷镇村区会院站局所馆店险费卡证病炎压症障号室楼堂厅处委司部科")
# Latin-letter words that are replies, not names.
_LATIN_WORDS = frozenset(
    "ok okay okk yes no hi hello hey bye thanks thank you sorry test help what why who null none nothing".split()
)
_SELF = re.compile(
    r"^(?:那就|就)?(?:是|写|填|留|联系|找)?(?:我自己|我自个儿?|我本人|本人|自己|就是我|我)(?:的名字)?"
    r"(?:吧|呀|啊|好了|就行|就好|就可以)?$"
)
# Said before a reply that is not a name: 谢谢侬, 辛苦侬, 麻烦你.
_POLITE = re.compile(r"^(?:谢谢|多谢|辛苦|麻烦|晓得|明白|知道|好的)")

# Stopping the booking: a whole message that says so, in Mandarin or Shanghainese, maybe with a thank-you.
_STOP_LEAD = (
    r"(?:那|那么|那就|还是|我|我就|那我|我还是|我们|先|暂时|今天|这次|这趟|这回|嗯|哦|唉|哎|哎呀|哎哟|啊呀|唉呀|好了|好吧|行吧"
    r"|好|行|啥也|什么也|都)*"
)
_STOP_VERB = r"(?:约|订|弄|办|搞|做|预约|预订|登记|报名|排|麻烦|要|用|需要|去|看|聊)"
_STOP_CORE = (
    # "暂时不需要", "我不要这个服务了", "我不约这个了" (first: each clause is matched once, without going back)
    r"(?:不需要了?|(?:都|全都|一个都|哪个都)不要了?|[不勿](?:要|约|订|用)(?:(?:这个|那个|这种|这)(?:服务|预约)?了?|(?:服务|预约)了|了)"
    r"|算了|算啦|拉倒|罢了|作罢|不作数了"
    r"|[不勿](?:想|要|用|高兴|必|打算|准备)?再?(?:约|订|预约|预订|报名|登记)(?:了|啦)?"
    rf"|[不勿](?:想|要|用|高兴|必|打算|准备)?(?:你|侬|您)?再?{_STOP_VERB}(?:你|侬|您)?(?:了|啦)"
    rf"|(?:覅|勿要|勿|别|甭|不要)再?{_STOP_VERB}?(?:了|啦)"
    rf"|先不{_STOP_VERB}了?|取消(?:吧|了|掉|算了)?"
    r"|停|停一停|停下|(?:退出|结束)(?:预约|登记)?|不聊了|我自己(?:去|弄|想办法|打电话)|先这样|放弃|用不着"
    r"|(?:下次|下趟|下回|以后|改天|改日|回头|过两天|过几天|过些天|过段时间|过阵子|有空|到时候|明年|开春|明天|后天|下礼拜|下个月"
    r"|等(?:等|一等|几天|两天|一阵|一段时间|我想好了?|我问问\S{0,3}|\S{1,4}回来))再(?:说|讲|约|弄|办|联系|来|看)"
    r"|再说|再讲|(?:我|让我)?再?(?:想想|考虑考虑|考虑一下)再说|我?再(?:想想|考虑考虑|考虑一下|考虑))"
)
_STOP_CLOSING = (
    r"(?:谢谢(?:你|侬|您|了)?|多谢|麻烦(?:你|侬|您)?了|不好意思|再见|拜拜|太\S{1,3}?了|烦死了|弄不来|搞不懂|"
    r"不会弄|太复杂了?|我自己去|我自己弄|没事了?|不需要了|不用了|不要了|下次再说|以后再说|回头再说|算了)"
)
_STOP_TAIL = r"(?:吧|了|啦|呀|哦|噢|嘛|算了|谢谢(?:你|侬|您)?|不约了|不弄了|再见|拜拜)*"
_SEP = r"[，,。.!！~～\s]*"
# Each clause is matched once, atomically ((?>…)): "算了算了算了…" must not be split every possible way.
STOP = re.compile(
    rf"^(?>{_STOP_CLOSING}{_SEP})*(?>{_STOP_LEAD}{_STOP_CORE}{_STOP_TAIL}{_SEP})+(?>{_STOP_CLOSING}{_STOP_TAIL}{_SEP})*$"
)
QUESTION = re.compile(
    r"[?？]|吗|呢|[伐哇]$|啥|什么|怎么|怎样|咋|干嘛|干吗|哪里|哪儿|哪个|哪一?[天位家边种些]|多少|多久|多长|多远|谁|"
    r"(?<![好十])几(?:点|号|时|天|个|次|位|岁|年|月|钿|块|分钟|小时|趟|楼)|为啥|为什么|"
    r"能不能|可不可以|是不是|要不要|有没有|要带|请问|问一下|想问"
    r"|^阿(?:是|要|有|好|可以|能|会|去|来|用|需要|收)"  # Shanghainese 阿要…: "do I need …"
    r"|(?:要|能|可以|收|带|行|有|是|用|去|来|会)[^\s，,。]{0,6}不$"  # 能带家属不, 收钱不
    r"|(?<!不)([\u4e00-\u9fff])不\1"  # 开不开, 行不行 (not 不对不对)
)
# "哪天都行", "啥时候都可以": an answer, not a question.
_ANY_WILL_DO = re.compile(r"(?:哪|啥|什么|谁|几)\S{0,3}都(?:行|可以|好|成|随便)|随便(?:哪|啥|什么|几)\S{0,3}")

# Digits in words, also the financial forms a cheque writer uses (壹贰叁): 幺 and 洞 are 1 and 0 read aloud.
_CN_DIGITS = str.maketrans("零〇洞一幺二两三四五六七八九壹贰叁肆伍陆柒捌玖", "00011223456789123456789")
_PHONE_DIGIT = r"\d零〇洞一幺二两三四五六七八九壹贰叁肆伍陆柒捌玖"
_PHONE_RUN = re.compile(rf"[+{_PHONE_DIGIT}][{_PHONE_DIGIT}\s\-()（）.·、，,]{{5,}}[{_PHONE_DIGIT}]")
_LANDLINE_CUE = re.compile(r"座机|固话|固定电话|家里电话|家里的电话|宅电|家里|电话|号码")
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _phone_number(candidate: str) -> str | None:
    """The number as kept (a mobile's 11 digits, a landline with its area code: 02156781234), if it is one."""
    try:
        number = phonenumbers.parse(candidate, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    kind = phonenumbers.number_type(number)
    if kind in _MOBILE_TYPES:
        national = str(number.national_number)
        return national if len(national) == 11 and national.startswith("1") else None
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:  # 400/800 and premium numbers are nobody's phone
        return re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return None


_MOBILE = re.compile(r"(?:(?:\+|00)?86)?1\d{10}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}|(?:\+|00)?86[2-9]\d{8,10}")
_SHANGHAI_LOCAL = re.compile(r"[2-9]\d{7}")


def _joined_runs(groups: list[str], limit: int) -> Iterator[str]:
    """Adjacent groups joined, first by where they start, then shortest first, at most ``limit`` characters."""
    for i in range(len(groups)):
        joined = ""
        for group in groups[i:]:
            joined += group
            if len(joined) > limit:
                break
            yield joined


def clean_phone(text: str) -> str | None:
    """A mobile or landline number in ``text``: a mainland mobile's 11 digits (13812345678), or a landline with
    its area code (02156781234; 8 digits alone are a Shanghai landline when the message is only the number or
    calls it 座机/电话). Spaces, dashes, commas, brackets, +86, full-width digits and digits in words (一三八…, 幺)
    are fine; of two numbers the first is taken.
    """
    plain = unicodedata.normalize("NFKC", text)
    for run in _PHONE_RUN.findall(plain):
        groups = [g for g in re.split(r"[\s\-()（）.·、，,]+", run.translate(_CN_DIGITS)) if g]
        local_ok = not re.search(r"[\u4e00-\u9fff]", plain.replace(run, "")) or bool(_LANDLINE_CUE.search(plain))
        # the digits as grouped when read out (138 1234 5678, 021-5678-1234): try each run of adjacent groups
        for candidate in _joined_runs(groups, 15):
            if _MOBILE.fullmatch(candidate) or _LANDLINE.fullmatch(candidate):
                number = _phone_number(candidate.replace("00", "+", 1) if candidate.startswith("0086") else candidate)
            elif local_ok and _SHANGHAI_LOCAL.fullmatch(candidate):
                number = _phone_number("021" + candidate)
            else:
                continue
            if number is not None:
                return number
    return None


def is_stop(text: str) -> bool:
    """The senior wants to stop this booking: "算了", "不约了", "以后再说", "勿要了" …"""
    return bool(STOP.match(normalize(text).strip(" ，,")))


def looks_like_question(text: str) -> bool:
    plain = normalize(text)
    return bool(QUESTION.search(plain)) and not _ANY_WILL_DO.fullmatch(plain.strip(" ，,。.!！~"))


def _surname_ok(name: str) -> bool:
    plain = normalize(name)  # 陳 → 陈
    return plain[:2] in _COMPOUND_SURNAMES or plain[:1] in _SURNAMES


def _names_something_else(text: str) -> bool:
    """A street, a service or a day: not a person (王立春 holds a solar term, and is a name)."""
    if find_street(text) or find_service(text):
        return True
    when = parse_when(text)
    return when is not None and len(when.matched) >= len(text) - 1


def _strip_name(text: str) -> tuple[str, bool]:
    """The name left once the words around it are gone (联系人是我女儿王丽吧 → 王丽), and whether words that
    say a name follows (我叫, 联系人是, 我女儿) were among them."""
    name = _PARENTHESIS.sub("", text)
    marked = False
    for _ in range(3):
        stripped = _NAMED_AS.sub("", name)
        marked = marked or stripped != name
        stripped = _NAME_LEAD.sub("", stripped).strip(" ，。,.:：!！")
        kin = _KIN_PREFIX.sub("", stripped)
        marked = marked or bool(kin and kin != stripped)
        stripped = kin or stripped
        if stripped == name:
            break
        name = stripped
    return re.sub(r"(?:吧|呀|啊|哦|的|就行|就好|好了)+$", "", name), marked


def _is_name(name: str, marked: bool = False) -> bool:
    """``marked``: words before it said a name follows, so a given name alone (建国, 小红) is one too."""
    if not re.fullmatch(r"[\u4e00-\u9fff·]{2,6}", name) or looks_like_question(name):
        return False
    if name in _NOT_A_NAME or name in _HONORIFICS or name in _KIN:
        return False
    honorific = next((h for h in _HONORIFICS if name.endswith(h) and len(name) > len(h)), None)
    if honorific is not None:
        stem = name[: -len(honorific)]
        return _surname_ok(stem) and (len(stem) <= 2 or (len(stem) <= 4 and _is_name(stem)))
    if set(name) & _NOT_IN_NAMES or name in _COMMON_WORDS or _POLITE.match(name) or _names_something_else(name):
        return False
    if (len(name) >= 3 and name[-1] in _THING_ENDINGS) or re.fullmatch(r".家", name):  # 盘古路, 王家
        return False
    if marked:
        return len(name) <= 4
    if re.fullmatch(r"[老小][\u4e00-\u9fff]", name):
        return normalize(name)[1] in _SURNAMES
    if re.fullmatch(r"阿[\u4e00-\u9fff]{1,2}", name):
        return True
    return 2 <= len(name) <= 4 and _surname_ok(name)


def clean_contact(text: str) -> str | None:
    """The contact name in ``text``, or None when it does not look like one.

    Accepted: "本人"/"我自己"; a Chinese name of 2–4 characters starting with a common surname
    (张秀英, 黄阿宝, 欧阳明); a surname with a form of address (周老师, 王阿姨, 王建国先生, 老王, 小李);
    a Shanghainese 阿-name (阿宝); a name in Latin letters. Said with whose it is ("我女儿王丽", "王丽（我女儿）")
    or beside a phone number ("王秀英 13812345678"), the name alone. A question, "算了", a greeting, a form of
    address alone (阿姨), a place (盘古路) or a sentence is not a name.
    """
    text = _SYMBOLS.sub(" ", unicodedata.normalize("NFKC", text)).strip(" ，。,.!！~～、")
    if not text or is_stop(text) or len(text) > 24:
        return None
    filled = _FILLER_LEAD.sub("", text)
    if filled and filled != text:
        return clean_contact(filled)
    joined = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)  # 王 丽 (voice input)
    return _contact_in(joined) or (_contact_in(text) if joined != text else None)


def _contact_in(text: str) -> str | None:
    if _SELF.match(text):
        return "本人"
    name, marked = _strip_name(text)
    if marked and _SELF.match(name):  # 联系人就是我自己
        return "本人"
    if re.fullmatch(r"[A-Za-z][A-Za-z .'\-]{1,29}", name):
        return None if name.lower().strip(" .") in _LATIN_WORDS else name
    if _is_name(name, marked):
        return name
    # Several clauses: "我姓张，叫张建华", "王秀英 13812345678", "我女儿，王丽": the one clause that is a name.
    clauses = [c for c in _CLAUSES.split(text) if c]
    if len(clauses) > 1:
        found = {n[0] for c in clauses if (n := _strip_name(c)) and _is_name(*n)}
        if len(found) == 1:
            return found.pop()
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
_ANY_FIELD = "|".join(_FIELD_WORDS.values())
_COMPLAINT = r"(?:不对|不是|错了|搞错了|弄错了|讲错了|说错了|写错了|记错了|打错了|填错了|有误|错的|不对的)"
_DENY = re.compile(rf"^(?:{_COMPLAINT}(?:了|的)?[，,。.!！\s]*)+")
_SETTER = r"(?:应该是|应该叫|就是|是|叫|写|填|改成|改为|改到|换成|换到|要)"
# "不是张三，是李四", "不是住大场，是顾村", "住罗店，不是罗泾": the value said to be wrong goes.
_NEGATED = re.compile(
    r"(?:并不是|而不是|不是|不叫|不在|不住)\s*[^，,。；;是叫]{0,12}?[，,。\s]*(?=(?:而|就|应该|那)?(?:是|叫|改成|换成|写))"
    r"|[，,。\s]*(?:而|并)?(?:不是|不叫|不在|不住)[^，,。；;]{1,12}[。.!！]*$"
)


def _after_setter(text: str) -> str:
    """What follows the last 是/改成/换成 (大场改成顾村 → 顾村), or the whole text."""
    found = list(re.finditer(r"(?:应该是|改成|改为|改到|换成|换到|是)", text))
    return text[found[-1].end() :] if found else text


def parse_correction(text: str, when_found: bool) -> Correction:
    """The fields a correction names. ``when_found``: the caller's date parser found a time in ``text``."""
    raw = unicodedata.normalize("NFKC", text).strip()
    body = _DENY.sub("", _NEGATED.sub("", raw)).strip()
    named: dict[str, str] = {}
    for key, words in _FIELD_WORDS.items():
        match = re.search(
            rf"(?:{words})的?\s*(?:{_COMPLAINT}(?:了|的)?)?[，,。\s]*(?:也)?{_SETTER}?\s*[:：]?\s*(.+)", body
        )
        if match:
            value = re.split(r"[，,。；;]", match.group(1), maxsplit=1)[0]
            # "联系人王根宝 电话139…": the value stops where the next field is named
            named[key] = re.split(rf"\s*(?:{_ANY_FIELD})", value, maxsplit=1)[0].strip()
    contact = clean_contact(named["contact"]) if "contact" in named else None
    phone = clean_phone(body)
    street = find_street(named.get("street") or _after_setter(body)) or find_street(body)
    service = find_service(named["service"]) if named.get("service") else None
    when_text = body if (when_found or "when" in named) else None
    if not named.keys() & {"contact", "service"} and not any((phone, street, when_text)):
        # "不对，是助餐", "不对，是黄阿宝": no field named; a service's name is the service, a bare name the contact.
        service = find_service(_after_setter(body))
        if service is None:
            # "不对，是黄阿宝", "张秀英改成张秀珍": the new name
            contact = clean_contact(re.sub(rf"^{_SETTER}", "", body)) or clean_contact(_after_setter(body))
    return Correction(service=service, street=street, contact=contact, phone=phone, when_text=when_text)


def states_correction(text: str) -> bool:
    """A change stated at the read-back, whatever the classifier made of it: a new value with the field's name or a
    "不对" ("电话也错了，是139…", "不对，联系人是黄阿宝", "地点改成大场镇"); not a question about a value."""
    correction = parse_correction(text, when_found=False)
    if not (correction.phone or correction.contact or correction.street or correction.service):
        return False
    plain = unicodedata.normalize("NFKC", text).strip()
    return bool(fields_named(text) or re.search(_COMPLAINT, plain) or re.search(_SETTER_WORDS, plain))


_SETTER_WORDS = r"改成|改为|换成|应该是"


def fields_named(text: str) -> list[str]:
    """The fields a message names ("地址写错了" → ["street"]), in the order of :data:`_FIELD_WORDS`."""
    plain = unicodedata.normalize("NFKC", text)
    return [key for key, words in _FIELD_WORDS.items() if re.search(words, plain)]


_CHOICE_WORD = re.compile(r"(?:第|选|就)?[\d一二三四五六七八九十①-⑩]{1,2}(?:个|号)?(?:吧)?")


def listed_name(text: str) -> str | None:
    """A name given in a list of values, not in a sentence: "住大场 王根宝 13912345678", "13912345678 王秀英",
    "礼拜五，王根宝". Every other part must be a value (a number, a place, a day, a service), so a sentence
    that only mentions a person ("周老师叫我约的") names no contact."""
    plain = _PHONE_RUN.sub("，", _SYMBOLS.sub(" ", unicodedata.normalize("NFKC", text)))
    clauses = [c for c in _CLAUSES.split(plain) if c]
    if len(clauses) + (plain != text) < 2:
        return None
    names: list[str] = []
    for clause in clauses:
        if _CHOICE_WORD.fullmatch(clause) or find_street(clause) or find_service(clause) or parse_when(clause):
            continue
        name, marked = _strip_name(_FILLER_LEAD.sub("", clause) or clause)
        if not _is_name(name, marked):
            return None
        names.append(name)
    return names[0] if len(names) == 1 else None


def named_contact(text: str) -> str | None:
    """A name the message says is the contact's, in any clause: "联系人王根宝", "阿拉老头子叫王根宝，住大场",
    "不对，名字写错了 是王秀英"; a name in a list of values ("住大场 王根宝 13912345678"); else None."""
    correction = parse_correction(text, when_found=False)
    if correction.contact and ((fields_named(text) and "contact" in fields_named(text)) or _DENY.match(text.strip())):
        return correction.contact
    plain = _SYMBOLS.sub(" ", unicodedata.normalize("NFKC", text))
    for clause in _CLAUSES.split(plain):
        name, marked = _strip_name(_FILLER_LEAD.sub("", clause) or clause)
        if marked and _is_name(name, marked) and not _SELF.match(name):
            return name
    return listed_name(text)


def without_phone(text: str) -> str:
    """The message with any phone number taken out ("2 王根宝 139…" → "2 王根宝 "), to read the rest on its own."""
    plain = unicodedata.normalize("NFKC", text)
    return _PHONE_RUN.sub(" ", plain) if clean_phone(plain) else plain


# Questions about the booking form itself, asked at one of its prompts or at the read-back, and the response
# that answers each; the prompt is asked again afterwards. A question about the service being booked ("要带啥材料",
# "这个要钱伐") is not here: the knowledge base answers it from the service's entry. First match wins.
_FORM_QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "utter_form_not_yet",
        re.compile(
            r"^(?:那|这样|现在|这个|伊)?(?:就|已经)?(?:算|约|订|弄|办|登记|预约)?(?:好|成|上|妥|成功)了(?:吗|伐|没有?|呢|哦|不)$"
            r"|^(?:那|这样|现在|这个)?(?:就|已经)?(?:算|约|订|弄|办|登记|预约)(?:好|成|上|妥|成功)(?:吗|伐|没有?|呢|不)$"
        ),
    ),
    (
        "utter_form_cancel_later",
        re.compile(
            r"(?:能|可以|好)(?:不能)?(?:取消|退|改时间|改日子|改期|改)(?:吗|伐|不|哦|的伐)|约了以后.{0,6}(?:取消|改)"
        ),
    ),
    ("utter_form_id_card", re.compile(r"(?:填|写|报|输|登记|留)(?:个|一下)?(?:身份证|证件|社保卡|医保卡)")),
    (
        "utter_form_privacy",
        re.compile(
            r"(?:谁|啥人|哪个|哪些人|别人|人家)(?:会|能|可以)?(?:看得到|看到|能看|看见|晓得|知道)|泄露|泄漏|外泄|漏出去|保密|隐私|"
            r"个人信息|骚扰|推销|卖给|卖掉|被卖|卖(?:我的?|人家|别人)?(?:信息|资料|号码|电话|名字)|诈骗|骗子|被骗|骗人|安全(?:伐|吗|不)|(?:谁|啥人|哪个)会?(?:打电话|打过来|联系)|"
            r"外传|传出去|传给|透露|流出去|乱打|打扰|(?:给|告诉|卖)(?:别人|人家|外人)|被人(?:知道|晓得|看到|看见|拿去)|"
            r"(?:资料|信息)(?:安全|保险|放心|靠得住)"
        ),
    ),
    ("utter_form_real_name", re.compile(r"真名|真实姓名|实名|假名|小名可以|化名")),
    (
        "utter_form_landline",
        re.compile(
            r"(?:座机|固话|家里电话|家里的电话|宅电)(?:可以|行|好|也行|也可以)?(?:吗|伐|不|哦)|只有(?:座机|固话|家里电话|家里的电话)"
        ),
    ),
    (
        "utter_form_other_contact",
        re.compile(
            r"(?:写|填|留|联系)(?:我们|我家|阿拉|我)?(?:女儿|儿子|囡囡|媳妇|女婿|老伴|老公|老婆|孙子|孙女|家里人|家属|邻居|保姆|别人|小辈)的?"
            r"(?:名字|电话|号码)?(?:可以|行|好)?(?:吗|伐|不|哦)"
        ),
    ),
    (
        "utter_form_busy_days",
        re.compile(r"(?:哪|啥|什么)(?:天|日|辰光|时候|时间|个礼拜)(?:人少|人多|空|有空位|有位子|好约|不挤|人不多)"),
    ),
    (
        "utter_form_who",
        re.compile(
            r"(?:你|侬|您|你们|侬拉|这里|这个)(?:到底|究竟)?(?:是|是不是)(?:谁|啥人|哪个|哪位|什么人|机器人|真人|人|电脑|哪里|啥单位|什么单位|政府|骗子)|(?:你|侬|您)(?:们)?(?:是啥|是什么)(?:单位|地方|机构)"
        ),
    ),
    ("utter_form_free", re.compile(r"(?:预约|约|登记|报名|挂号)(?:这个|一下|一个)?(?:要|收|花|付)(?:钱|钞票|铜钿|费)")),
)


# A question about one field of the form, read from the field's words and what is said about it: why it is asked
# ("你要我名字干嘛", "地址一定要吗", "电话号码要伐") or that the senior would rather not give it ("我电话不方便给",
# "不写名字行不行", "地址不想讲"). Said without a field ("一定要吗", "不填行不行"), it is about the field asked for.
_FIELD_ASKED = {
    "booking_contact": "name",
    "booking_phone": "phone",
    "booking_street": "street",
}
_FORM_FIELDS = (
    ("name", re.compile(r"名字|姓名|名头|真名|全名|大名|叫啥|叫什么|姓啥|姓什么|留名|匿名|具名|署名")),
    ("phone", re.compile(r"电话|手机|号码|座机|联系方式")),
    (
        "street",
        re.compile(
            r"地址|住址|住哪|住在哪|住的地方|住啥地方|住什么地方|街道|哪个镇|门牌|住处|家在哪|家住|(?:问|说|讲|填|写|报|留)地方"
        ),
    ),
)
_WHY_FIELD = re.compile(
    r"为啥|为什么|为何|做啥|做什么|干嘛|干吗|干啥|干什么|派啥用场|派什么用|有啥用|有什么用|啥用|什么用|用处|用场|"
    r"一定|必须|非要|非得|非填|要不要|要吗|也要|还要|都要|得要|问这|要这|要我|晓得我|知道我|"
    r"(?:要|得|必须)(?:给|留|填|写|报|讲|说)(?:吗|伐|嘛|不)"
)
# Said instead of the value: 不想给, 不方便讲, 勿想讲, 不留, 匿名, 没手机 (要不要, 不要紧, 没问题 are not this).
_REFUSE_FIELD = re.compile(
    r"[不勿](?:想|愿|肯|方便|乐意|高兴|用|要|写|填|留|给|说|讲|报|告诉)|免了|匿名|不具名|没有?(?!问题|关系|事)|"
    r"(?:可以|能|能不能|可不可以)不"
)
_NOT_REFUSAL = re.compile(r"要不要|不要紧|没问题|没关系|没事")
# Corrections and values are not questions: "电话不对，是139…", "名字改成王芳".
_CORRECTS = re.compile(r"改成|换成|改为|应该是|写成|不对|错了|搞错|弄错")
# What is left of a message that only asks about the field asked for ("一定要吗", "不填行不行", "为啥要这个").
_ONLY_ABOUT_IT = re.compile(
    r"(?:这个|这些|这|它|那个|一定|必须|非得|非要|为啥|为什么|干嘛|干吗|做啥|啥用|有啥用|要不要|可以|能不能|能|行不行|"
    r"行|成|好|不可|不|勿|想|愿意|方便|肯|要|得|写|填|说|讲|留|给|报|问|告诉|是|也|就|还|都|我|你|们|吗|呢|啊|呀|吧|的|了|哦|嘛|非)*"
)
_FIELD_RESPONSES = {
    ("name", "why"): "utter_form_why_name",
    ("name", "refuse"): "utter_form_no_name",
    ("phone", "why"): "utter_form_why_phone",
    ("phone", "refuse"): "utter_form_no_phone",
    ("street", "why"): "utter_form_why_street",
    ("street", "refuse"): "utter_form_no_street",
}
_ABOUT_THE_PHONE = frozenset({"utter_form_landline", "utter_form_other_contact"})
_WHY_ASKED = re.compile(
    r"(?:为啥|为什么|为何|干嘛|干吗).{0,3}(?:要|得|一定要)?(?:填|写|问|讲|说)(?:这个|这些|那么多|介许多)?"
)


def _field_question(plain: str, asked: str | None) -> str | None:
    """The response to a question about one field of the form (see ``_FORM_FIELDS``), or None."""
    if _CORRECTS.search(plain):
        return None
    named = sorted(
        ((m.start(), field) for field, pattern in _FORM_FIELDS if (m := pattern.search(plain))), key=lambda f: f[0]
    )
    fields = list(dict.fromkeys(field for _, field in named))
    markers = _NOT_REFUSAL.sub("", plain)
    refuses, why = bool(_REFUSE_FIELD.search(markers)), bool(_WHY_FIELD.search(plain))
    if not (refuses or why):
        return None
    if len(fields) > 1:
        return "utter_form_why_asked"
    if not fields:
        if not _ONLY_ABOUT_IT.fullmatch(plain):
            return None
        field = _FIELD_ASKED.get(asked or "")
        if field is None:
            return "utter_form_why_asked" if why or asked else None
        fields = [field]
    field = fields[0]
    if field == "phone" and clean_phone(plain):
        return None  # "座机不方便，打我手机139…": the number is the answer
    if field == "name" and named_contact(plain):
        return None
    # "为啥一定要电话" asks why; "电话不想给", "不写名字行不行" would rather not
    return _FIELD_RESPONSES[
        (field, "refuse" if refuses and not re.search(r"为啥|为什么|为何|干嘛|干吗|做啥|有啥用", plain) else "why")
    ]


def form_question(text: str, asked: str | None = None) -> str | None:
    """The response answering a question about the booking form itself ("为啥要名字", "谁看得到我的电话",
    "要填身份证伐", "算好了伐", "你是谁", "我电话不方便给", "地址一定要吗"), or None (a question about the service,
    or not a question about the form). ``asked``: the slot the form is asking for, which a question that names
    no field is about ("一定要吗", "不填行不行")."""
    plain = re.sub(r"[\s，,。.!！?？~～]+", "", normalize(_SYMBOLS.sub("", unicodedata.normalize("NFKC", text))))
    if not plain:
        return None
    found = next((response for response, pattern in _FORM_QUESTIONS if pattern.search(plain)), None)
    if found in _ABOUT_THE_PHONE and clean_phone(plain):
        return None  # "座机可以伐 5678 1234": the number is the answer
    if found is not None:
        return found
    field = _field_question(plain, asked)
    if field is not None:
        return field
    return "utter_form_why_asked" if _WHY_ASKED.search(plain) else None
