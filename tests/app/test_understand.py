"""What a senior types into a booking form is checked for what it is (actions/understand.py)."""

from __future__ import annotations

import pytest

from actions.understand import clean_contact, clean_phone, is_stop, looks_like_question, parse_correction

NAMES = {
    "张秀英": "张秀英",
    "黄阿宝": "黄阿宝",
    "欧阳明": "欧阳明",
    "周老师": "周老师",
    "王阿姨": "王阿姨",
    "陈老伯": "陈老伯",
    "老王": "老王",
    "小李": "小李",
    "阿珍": "阿珍",
    "联系人是黄阿宝": "黄阿宝",
    "我叫陈建国": "陈建国",
    "名字叫王桂芳吧": "王桂芳",
    "叫我李阿姨就好": "李阿姨",
    "我自己": "本人",
    "就是我本人": "本人",
    "Mary Wang": "Mary Wang",
}
NOT_NAMES = [
    "要带啥材料啊",
    "算了",
    "算了吧",
    "你好",
    "不对",
    "好的",
    "谢谢",
    "明天",
    "下礼拜三",
    "顾村",
    "助浴",
    "13812345678",
    "我老伴",
    "住在顾村",
    "这个要多少钱",
    "我不知道",
    "李",
    "等一下",
]


@pytest.mark.parametrize(("text", "name"), NAMES.items())
def test_names_are_taken_as_names(text: str, name: str) -> None:
    assert clean_contact(text) == name


@pytest.mark.parametrize("text", NOT_NAMES)
def test_questions_stops_and_other_words_are_not_names(text: str) -> None:
    assert clean_contact(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "１３８１２３４５６７８",
        "手机是１３８ １２３４ ５６７８哦",
    ],
)
def test_a_mobile_number_in_any_digits_and_spacing(text: str) -> None:
    assert clean_phone(text) == "13812345678"


@pytest.mark.parametrize("text", ["1381234567", "138123456789", "12345", "021-56000101", "盘古路100弄5号"])
def test_not_a_mobile_number(text: str) -> None:
    assert clean_phone(text) is None


@pytest.mark.parametrize(
    "text", ["算了", "算了吧", "那就算了", "不约了", "算了算了", "不想约了谢谢", "以后再说吧", "改天再讲"]
)
def test_stopping(text: str) -> None:
    assert is_stop(text)


@pytest.mark.parametrize("text", ["我算了一下要多少钱", "取消预约", "张秀英", "明天上午", "算"])
def test_not_stopping(text: str) -> None:
    assert not is_stop(text)


@pytest.mark.parametrize("text", ["要带啥材料啊", "几点开门？", "这个要钱伐", "能不能带轮椅", "请问在哪里"])
def test_questions(text: str) -> None:
    assert looks_like_question(text)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("不对，联系人是黄阿宝", "contact", "黄阿宝"),
        ("不对 名字叫王桂芳", "contact", "王桂芳"),
        ("不对，是黄阿宝", "contact", "黄阿宝"),
        ("电话错了，电话是13912345678", "phone", "13912345678"),
        ("不对，手机号１３９１２３４５６７８", "phone", "13912345678"),
        ("地点改成大场镇", "street", "大场镇"),
        ("不对，住在罗店", "street", "罗店镇"),
        ("服务改成助餐", "service", "meal"),
    ],
)
def test_corrections_name_their_field(text: str, field: str, value: str) -> None:
    correction = parse_correction(text, when_found=False)
    assert getattr(correction, field) == value
    others = {"service", "street", "contact", "phone"} - {field}
    assert all(getattr(correction, other) is None for other in others), correction


def test_a_time_correction_is_left_to_the_time_parser() -> None:
    correction = parse_correction("不对，是下午", when_found=True)
    assert correction.when_text and correction.contact is None
    assert not parse_correction("不对", when_found=False)
