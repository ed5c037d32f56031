"""Synthetic unanswered questions: colloquial paraphrases of 10 topics the knowledge base lacks.

Written by hand for the grouping's threshold choice and its test (and the bench). Each topic has
ten core phrasings; the first five make the *development* split (the distance threshold is
chosen on it), the last five the *test* split (purity is measured on it). Each core phrasing is
said six ways (with a greeting, Shanghainese, a question tag …), so each split has 30 messages per
topic, 300 in all. Some carry personal data, as real messages do; it is masked before use.
"""

from __future__ import annotations

import datetime as dt

TOPICS: dict[str, list[str]] = {
    "square_dance_noise": [
        "楼下跳广场舞声音太响了吵得睡不着",
        "小区里天天放音乐跳舞噪音太大找谁管",
        "广场舞音响开到半夜吵死人了",
        "晚上跳舞的人放歌太吵能不能投诉",
        "楼下大妈跳舞音乐震天响怎么办",
        "跳广场舞的音箱太吵了我心脏受不了",
        "广场舞噪音扰民去哪里反映",
        "每天晚上楼下放舞曲吵得头疼",
        "有人在绿地上跳舞喇叭开很大声管不管",
        "跳舞的音乐声太大影响休息可以打哪个电话",
    ],
    "elevator_install": [
        "老房子加装电梯怎么申请",
        "我们六楼没电梯想装一个要走什么手续",
        "多层住宅加梯政府补贴多少钱",
        "加装电梯楼里邻居不同意怎么办",
        "老公房装电梯的钱怎么分摊",
        "想给我们这栋楼装电梯找哪个部门",
        "旧小区加电梯有没有补助",
        "爬楼梯太吃力了楼道能不能加装电梯",
        "加梯要几户人家签字同意",
        "装电梯一楼的人反对还能装吗",
    ],
    "senior_university": [
        "老年大学怎么报名",
        "想去学书法老年大学什么时候招生",
        "老年大学学费多少钱一学期",
        "宝山老年大学有哪些课可以上",
        "退休了想学画画去哪里报班",
        "老年大学报名要啥条件年纪大了能上吗",
        "社区老年学校开不开唱歌班",
        "老年大学网上报名怎么弄",
        "听说老年大学名额很难抢怎么才能报上",
        "老年大学下学期几号开学",
    ],
    "medical_card_lost": [
        "医保卡丢了怎么补办",
        "社保卡找不到了要去哪里重新办",
        "医保卡掉了看病怎么办",
        "补办医保卡要带什么东西",
        "医保卡坏了刷不出来能换新的吗",
        "社保卡遗失了先要挂失吗",
        "补一张医保卡要多久能拿到",
        "老伴的医保卡被偷了怎么弄",
        "医保卡补办收不收钱",
        "医保卡不见了可以让子女代办吗",
    ],
    "free_bus": [
        "老年人坐公交车免费吗",
        "七十岁以上乘地铁要不要钱",
        "敬老卡坐公交能打折吗",
        "老人乘车优惠怎么办卡",
        "上海老年人坐车有没有免费政策",
        "我六十五岁坐公交要买票吗",
        "老年人乘地铁半价是真的吗",
        "敬老卡能不能刷地铁",
        "外地老人在上海坐公交免不免费",
        "老人搭公交车刷什么卡便宜",
    ],
    "longevity_allowance": [
        "高龄津贴什么时候发",
        "八十岁以上的老人补贴每个月几号到账",
        "老年综合津贴怎么一直没发",
        "高龄补贴一个月有多少钱",
        "九十岁的津贴比八十岁多多少",
        "老年津贴打到哪张卡上",
        "我爸刚满七十高龄补贴怎么申请",
        "综合津贴这个月没到是怎么回事",
        "老年人补贴发放标准是多少",
        "高龄津贴要不要每年认证",
    ],
    "smartphone_class": [
        "有没有教老年人用智能手机的课",
        "不会用手机扫码社区能教吗",
        "想学用微信视频哪里有培训",
        "手机上怎么挂号没人教我",
        "老人学手机的班在哪里报名",
        "我不会用支付宝付钱谁能教一下",
        "社区有没有手机使用培训",
        "健康码怎么弄孙子不在身边没人教",
        "手机打车不会用哪里可以学",
        "智能手机太难了有没有人上门教",
    ],
    "meal_menu": [
        "助餐点今天中午吃什么",
        "老年食堂的菜单在哪里看",
        "社区食堂明天有没有红烧肉",
        "送餐上门的饭菜每天换花样吗",
        "长者食堂一周的菜谱能发给我吗",
        "助餐点的菜太咸了能不能淡一点",
        "老年饭桌今天有没有鱼",
        "食堂的饭菜有没有软一点适合没牙的",
        "糖尿病老人助餐有没有少糖的菜",
        "这周长者食堂都有哪些菜",
    ],
    "pension_raise": [
        "今年养老金涨多少",
        "退休工资什么时候调整",
        "养老金上调的钱几月份补发",
        "退休金今年加了多少钱",
        "企业退休的养老金涨幅是多少",
        "养老金调整后怎么还没到账",
        "听说养老金又要涨了是真的吗",
        "我的退休工资涨了没有怎么查",
        "养老金补发的差额什么时候到",
        "今年调养老金高龄的多加吗",
    ],
    "free_checkup": [
        "社区老年人免费体检什么时候",
        "六十五岁以上体检要预约吗",
        "今年的老人体检在哪里做",
        "免费体检都查哪些项目",
        "体检报告出来了去哪里拿",
        "老年人一年能免费体检几次",
        "社区医院体检要空腹吗",
        "体检通知没收到还能去做吗",
        "老人体检需要带身份证吗",
        "卫生服务中心体检几点开始排队",
    ],
}

WRAPPERS = (
    "{}",
    "请问{}？",
    "阿拉想问问，{}",
    "侬好，{}伐",
    "{}呀，麻烦告诉我一下",
    "我是王阿姨，电话13912345678，{}",
)


def split(name: str) -> list[tuple[str, str]]:
    """(message, topic) pairs of the ``dev`` or ``test`` split, 300 each."""
    if name not in ("dev", "test"):
        raise ValueError("split is 'dev' or 'test'")
    part = slice(0, 5) if name == "dev" else slice(5, 10)
    return [
        (wrapper.format(core), topic)
        for topic, phrasings in TOPICS.items()
        for core in phrasings[part]
        for wrapper in WRAPPERS
    ]


def spread(count: int, start: dt.datetime, days: int = 30) -> list[dt.datetime]:
    """``count`` times evenly over ``days`` days from ``start`` (deterministic)."""
    step = dt.timedelta(days=days) / max(count, 1)
    return [start + step * i for i in range(count)]
