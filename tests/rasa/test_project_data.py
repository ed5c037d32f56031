"""The domain, training data and config hang together, and the trainer skips unchanged inputs."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.importers.importer import TrainingDataImporter

from bot.tools import train

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_INTENTS = {
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "ask_care_service",
    "ask_legal",
    "ask_insurance",
    "book_service",
    "check_bookings",
    "cancel_booking",
    "request_human",
    "emergency",
    "scam_worry",
    "chitchat",
    "out_of_scope",
}
TEST_SENTENCES = {
    # tests/app/test_e2e_probe_classes.py
    "18612345678 谢谢",
    "一三八一二三四五六七八",
    "他又打来了 说再不转就要抓我",
    "你是机器人还是真人",
    "你是电脑吗",
    "侬是真人伐",
    "八十五岁还能买伐",
    "刚才一个人打电话讲我中奖了要先交手续费",
    "刚才有人打电话说我银行卡被冻结了要我转账到安全账户",
    "沪惠保是做啥的",
    "助浴服务怎么约",
    "助浴跟上门护理哪个便宜",
    "助餐和助浴都想约",
    "听不懂你讲的",
    "字太小了",
    "居家养老服务补贴怎么申请",
    "想约助浴 顺便问下助餐在哪",
    "我一个人住能申请伐",
    "我九十岁了能约伐",
    "我交掉了两千",
    "我已经转了五千了",
    "我有高血压能保伐",
    "我没有手机",
    "我电话13512345678",
    "我眼睛看不清楚字 你说慢点 字大一点",
    "我要找个人工",
    "是不是有人在后面打字",
    "有个人说是公安局的让我把钱转到安全账户",
    "有人冒充客服说要退款",
    "有人打电话叫我转账",
    "有啥服务好享受",
    "沪惠保啥人能买",
    "法律上有啥能帮忙的",
    "老年人有啥保险可以买",
    "老年意外险怎么买",
    "自书遗嘱跟公证遗嘱哪个好",
    "讲得简单点",
    "钱打过去了",
    "长护险到底是个啥",
    "长护险和沪惠保有啥区别",
    "阿拉老头子被人骗了三万块",
    "阿拉这种老人有啥补贴",
    "验证码我已经告诉他了",
    "我想问问长护险哪能申请",
    "我跌倒了起不来",
    "明天上午帮我约个助浴",
    "asdfgh",
    # tests/app/test_e2e_form_phrasings.py
    "不要了",
    "覅要了",
    "勿要了",
    "再说吧",
    "不对 联系人王根宝 电话13912345678",
    "张秀英改成张秀珍",
    "联系人换成阿拉老头子王根宝",
    "对的，谢谢侬",
    "地址写错了",
    "叫个护工来",
    "约个公证 立遗嘱",
    "帮我老头子约个查记性的",
    "过两天上午帮我约助浴，住在顾村",
    "王根宝 一三九 一二三四 五六七八",
    "住月浦 9号",
    "阿拉老头子叫王根宝",
    # tests/app/test_e2e_conversation.py: phrasings the assistant must handle without having seen them
    "长护险到底哪能申请啊",
    "那要带点啥过去",
    "到啥地方去办",
    "要自己出钞票伐",
    "立遗嘱公证要带点啥东西",
    "那意定监护呢？",
    "洗澡要自己带啥东西伐",
    "算了不弄了",
    "那就算了吧",
    "盘古路100弄5号",
    "不对，联系人是黄阿宝",
    "给阿拉约个公证",
    "我想订一份助餐",
    "帮我报个日间照料试托",
    "约银护宝护工上门",
    "手脚一边发麻 说话也说不清楚了",
    "阿拉老头子嘴巴歪了半边没力气",
    "灶间里一股煤气味道",
    "楼道里起火了好大的烟",
    "老伴吃饭噎牢了讲不出话",
    "我在卫生间滑倒了爬不起来",
    "手被开水烫了起泡了",
    "我想学一点急救的知识",
    "救命稻草是啥意思啊",
    "怕老头子跌倒，家里要装点啥",
    "阿拉老头子上礼拜走了，伊的存款哪能取出来",
    # tests/app/test_timeparse_e2e.py: vague days and ranges of hours at the booking form
    "过完年帮我约个助浴，我住顾村",
    "那就下礼拜四上半天",
    "帮我约个上门护理，住在顾村",
    "开春以后吧",
    "月中吧",
    "等我儿子回来",
    "下礼拜五下午",
    "下礼拜二下午两三点帮我约个助浴，顾村，联系人冯秀兰，手机13812345678",
    # tests/app/test_e2e_routing.py
    "助浴是咋回事",
    "张庙日间照料中心",
    "日间照顾中心",
    "老邮所乐旅游专线",
    "老邮所了旅游",
    "上门换药护理",
    "上门换药",
    "居家适老化改造",
    "适老化改造",
    "老年食堂",
    "助餐补贴",
    "助餐点",
    "月浦日间照料中心",
    "提存公证",
    "老伙伴联名卡",
    "家庭共济",
    "防走失",
    "吃饭的地方",
    "送饭",
    "上门照护",
    "夜饭有伐",
    "记忆力测试是啥",
    "一日游有伐",
    "试托哪能弄",
    "日间照顾中心哪能办",
    "老年食堂在哪",
    "下礼拜五上午帮我约助浴，住在顾村",
    "陆桂英",
    "谁会打电话给我",
    "座机可以伐",
    "不想给电话可以伐",
    "会打推销电话伐",
    "下礼拜四上午帮我约助浴，住在大场",
    "蒋阿大",
    "侬到底是啥人",
    "要填身份证伐",
    "哪天人少",
    "算好了伐",
    "能取消伐",
    "谁会来",
    "这样就好了伐",
    "约好了伐",
    "下礼拜三下午帮我约助浴，住在月浦",
    "俞秀凤",
    "👍",
    "👌",
    "👍👍",
    "👍🏻",
    "立遗嘱哪能弄",
    "要见证人伐",
    "我老头子瘫在床上 长护险怎么弄",
    "帮我约个助浴",
    "是政府办的伐",
    "礼拜天开门伐",
    "下礼拜三上午帮我约助餐",
    "顾村有吗",
    "为啥要问地方",
    "下礼拜二上午帮我约助浴，住在顾村",
    "为啥要名字",
    "名字谁看得到",
    "会泄露伐",
    "一定要真名伐",
    "你们是啥单位",
    "为啥要填这个",
    # tests/app/test_emergency_phrasings.py: a question about a deadly amount
    "安眠药吃多了会不会死啊",
    "老鼠药吃几粒会死伐",
    # issue 10, the remaining classes: month ends, vague words together, replies at the numbered days, numbered
    # offers, questions about the field asked for (test_timeparse_e2e.py, test_e2e_routing.py)
    "月底帮我约个助浴，我住顾村",
    "明年开春",
    "过完年以后",
    "下半个月",
    "你说了算",
    "改天吧",
    "月底",
    "你要我名字干嘛",
    "名字不想讲",
    "地址一定要吗",
    "不讲地址可以伐",
    "我电话不方便给",
    "电话不留行伐",
    "号码能不能不写",
    # issue 10, safety2: troubles below an emergency and the answers to the palpitations question
    # (tests/app/test_emergency_phrasings.py)
    "我儿子在外地 我一个人在家 晚上睡不着 心里慌",
    "阿拉屋里厢水管爆了 水漫出来了 哪能办",
    "水管爆了",
    "我今天头有点晕 量了血压一百七 要紧伐",
    "有没有人能陪我说说话",
    "晚上一个人睡不着 心里发慌 想囡囡",
    "夜里一个人 心慌慌的 老伴走了以后一直这样",
    "电梯坏了 阿拉住九楼 哪能办",
    "血糖有点高 早上测了七点九",
    # issue 10, safety3: fears, how-to questions, complaints about a service, money talk, scam stories
    # (tests/app/test_e2e_safety_classes.py)
    "我怕半夜心脏病发作",
    "阿拉老太婆有糖尿病 我老是担心伊夜里低血糖",
    "万一吃年糕噎牢了哪能办 屋里就我一个人",
    "我怕厕所里跌跤 爬不起来没人晓得",
    "要是哪天我中风了身边没人咋弄",
    "老年人噎住了怎么急救",
    "人中风了应该怎么处理",
    "老人跌跤了应该怎么扶起来",
    "手上划了个口子出血 怎么止血",
    "低血糖犯了应该怎么处理",
    "我老伴噎住了 喘不上气",
    "我心口痛得厉害",
    "阿拉老头子噎牢了 怎么急救 快点",
    "我好怕 老太婆叫不醒了",
    "我怕他心脏病发作了 脸色发白",
    "我要投诉 护工态度差",
    "上次来的阿姨迟到一个钟头",
    "助餐的饭菜太咸了",
    "送来的饭菜冰冰冷 哪能吃",
    "上门理发的师傅不耐烦 剪了一半就走了",
    "我孙子结婚送多少红包",
    "今天买菜花了两百块",
    "儿子每个月给我一千块生活费",
    "孙子过生日我给了五百块",
    "今年退休金涨了一百多 开心",
    "给外孙零用钱 一个礼拜五十块够了伐",
    "电话里讲我外孙出车祸了 叫我马上打钱",
    "有人讲我银行卡涉嫌洗钱 要转到安全账户",
    "短信讲我中奖了 要先交手续费才能领",
    "有个自称检察院的人打电话给我 叫我配合调查",
    "陌生号码发短信 要我把验证码报给他",
    "我老是怕煤气灶没关牢 夜里睡不踏实",
    "煤气漏了应该先做啥",
    "护工天天迟到 还嫌我烦",
}
# tests/app/test_e2e_followups.py: every message its conversations check (a bare number picks from a list).
FOLLOWUP_SENTENCES = {
    str(turn["say"])
    for conversation in yaml.safe_load((ROOT / "tests" / "app" / "followup_conversations.yml").read_text("utf-8"))[
        "conversations"
    ]
    for turn in conversation
    if len(turn) > 1 and not str(turn["say"]).isdigit()
}


@pytest.fixture(scope="module")
def importer() -> TrainingDataImporter:
    return TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain"), [str(ROOT / "training_data")]
    )


def test_every_intent_has_enough_varied_examples(importer: TrainingDataImporter) -> None:
    nlu = importer.get_nlu_data()
    counts = Counter(m.get("intent") for m in nlu.intent_examples)
    assert REQUIRED_INTENTS <= set(counts)
    assert {i: n for i, n in counts.items() if n < 25} == {}
    texts = [m.get("text") for m in nlu.intent_examples]
    assert len(texts) == len(set(texts)), "duplicate examples"
    plain = {m.get("text") for m in nlu.intent_examples}
    assert not TEST_SENTENCES & plain, "the acceptance sentences must stay out of the training data"
    assert not FOLLOWUP_SENTENCES & plain, "the follow-up conversations' messages must stay out of the training data"


def test_entities_are_annotated(importer: TrainingDataImporter) -> None:
    nlu = importer.get_nlu_data()
    seen = Counter(e["entity"] for m in nlu.entity_examples for e in m.get("entities"))
    assert {"service", "datetime", "street", "phone", "person"} <= set(seen)
    assert min(seen[k] for k in ("service", "datetime", "street", "phone", "person")) >= 5


def test_domain_covers_intents_and_rules_use_known_actions(importer: TrainingDataImporter) -> None:
    domain: Domain = importer.get_domain()
    assert REQUIRED_INTENTS <= set(domain.intents)
    stories = importer.get_stories()
    used = {
        step.action_name for story in stories.story_steps for step in story.events if getattr(step, "action_name", None)
    }
    assert used <= set(domain.action_names_or_texts)
    assert "utter_emergency" in used


def test_fingerprint_changes_only_with_inputs(tmp_path: Path) -> None:
    for name in train.INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    before = train.fingerprint(tmp_path)
    assert train.fingerprint(tmp_path) == before
    (tmp_path / "models").mkdir()
    assert train.fingerprint(tmp_path) == before, "outputs do not change the fingerprint"
    with (tmp_path / "training_data" / "nlu" / "greet.yml").open("a", encoding="utf-8") as handle:
        handle.write("    - 侬好呀老朋友\n")
    assert train.fingerprint(tmp_path) != before
    with (tmp_path / "training_data" / "safety.yml").open("a", encoding="utf-8") as handle:
        handle.write("# a danger phrase is read when the server loads the model, not trained\n")
    changed = train.fingerprint(tmp_path)
    with (tmp_path / "training_data" / "safety.yml").open("a", encoding="utf-8") as handle:
        handle.write("# another\n")
    assert train.fingerprint(tmp_path) == changed, "tables read at load time do not force a retraining"
    for table in ("intent_rules.yml", "complaints.yml"):
        with (tmp_path / "training_data" / table).open("a", encoding="utf-8") as handle:
            handle.write("# read by IntentRules when the server loads the model\n")
        assert train.fingerprint(tmp_path) == changed, table
