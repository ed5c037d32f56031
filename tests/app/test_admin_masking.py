"""mask(): personal data in colloquial messages becomes placeholders before anything is stored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from staff.masking import ADDRESS, BANK_CARD, ID_CARD, LANDLINE, NAME, NUMBER, PHONE, luhn_ok, mask


def _id_card(body17: str) -> str:
    """A valid 18-character ID number (GB 11643 check digit)."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body17, weights))
    return body17 + "10X98765432"[total % 11]


def _card(prefix15: str) -> str:
    """A 16-digit card number that passes the Luhn check."""
    for last in "0123456789":
        if luhn_ok(prefix15 + last):
            return prefix15 + last
    raise AssertionError


ID_1 = _id_card("31011319520315421")  # Baoshan area code, born 1952-03-15
ID_2 = _id_card("31023019451102002")
CARD_1 = _card("622202123456789")
CARD_2 = _card("621700098765432")


@pytest.mark.parametrize(
    ("message", "gone", "placeholder"),
    [
        ("我手机13916571234，侬帮我约明朝下半天", "13916571234", PHONE),
        ("电话是 139 1657 1234 你们打过来", "139 1657 1234", PHONE),
        ("我儿子号码+86 138-0192-3344有事打他", "138-0192-3344", PHONE),
        ("１３９１６５７１２３４ 这是我号码", "１３９１６５７１２３４", PHONE),
        ("家里座机021-56781234白天有人", "56781234", LANDLINE),
        ("打我家电话 5678 1234 就行", "5678 1234", LANDLINE),
        (f"身份证号{ID_1}要带原件伐", ID_1, ID_CARD),
        (f"老伴身份证 {ID_2[:6]} {ID_2[6:14]} {ID_2[14:]} 帮我查下长护险", ID_2[6:14], ID_CARD),
        (f"我的身份证{ID_1[:-1]}x办公证要哪些材料", ID_1[:-1], ID_CARD),
        (f"养老金打到卡{CARD_1}里面了伐", CARD_1, BANK_CARD),
        (f"银行卡 {CARD_2[:4]} {CARD_2[4:8]} {CARD_2[8:12]} {CARD_2[12:]} 被冻结了哪能办", CARD_2[4:8], BANK_CARD),
        ("号码是幺三九一六五七幺二三四", "幺三九一六五七幺二三四", NUMBER),
        ("我住盘古路100弄5号301室，上门助浴几点来", "盘古路100弄5号301室", ADDRESS),
        ("阿拉屋里是友谊新村12号楼3室，护工能来伐", "友谊新村12号楼3室", ADDRESS),
        ("地址：牡丹江路一千二百弄三号，要送餐", "牡丹江路一千二百弄三号", ADDRESS),
        ("淞滨路350号2幢601室我一个人住", "淞滨路350号2幢601室", ADDRESS),
        ("我叫张建国，今年八十二了，想问问高龄津贴", "张建国", NAME),
        ("联系人黄阿宝，要女护工", "黄阿宝", NAME),
        ("我是陈秀英，公证遗嘱要带啥", "陈秀英", NAME),
        ("我老伴叫周国庆，他中风了", "周国庆", NAME),
        ("隔壁王阿姨讲可以申请补贴", "王阿姨", NAME),
        ("老李说打12345问，是伐", "老李", NAME),
        ("上次李医生讲要复查", "李医生", NAME),
    ],
)
def test_personal_data_becomes_a_placeholder(message: str, gone: str, placeholder: str) -> None:
    masked = mask(message)
    assert gone not in masked
    assert placeholder in masked
    # The digits themselves never survive in any form (no part of a number is left).
    digits = "".join(ch for ch in gone if ch.isdigit())
    if len(digits) >= 7:
        assert digits not in "".join(ch for ch in masked if ch.isdigit())


def test_several_kinds_in_one_message_are_all_masked_and_the_question_stays() -> None:
    message = f"我叫刘美华，电话13812345678，住长江西路188弄3号602室，身份证{ID_1}，长护险哪能申请？"
    masked = mask(message)
    assert masked == f"我叫{NAME}，电话{PHONE}，住{ADDRESS}，身份证{ID_CARD}，长护险哪能申请？"


@pytest.mark.parametrize(
    "message",
    [
        "长护险哪能申请",
        "我今年82岁，每月退休金4500元，能申请补贴伐",
        "明年1月1号养老金涨多少",
        "我住在宝山区月浦镇，要办理老年卡",
        "小区门口的老人活动室几点开",
        "老年大学报名要多少钱",
        "打12345问还是打110",
        "盘古路上那个助餐点几点开门",
        "2026年12月7号下午三点能约伐",
    ],
)
def test_ordinary_questions_are_left_alone(message: str) -> None:
    assert mask(message) == message


def test_a_nickname_with_a_surname_is_masked() -> None:
    assert mask("帮小王问一下体检") == f"帮{NAME}问一下体检"
    assert mask("老人家要办卡") == "老人家要办卡"  # 老人 is not a surname


@pytest.mark.property
@given(st.text(alphabet="0123456789", min_size=11, max_size=11).map(lambda s: "13" + s[2:]))
def test_any_mobile_number_is_masked_wherever_it_stands(number: str) -> None:
    for message in (f"电话{number}", f"{number}是我的", f"打 {number[:3]} {number[3:7]} {number[7:]} 找我"):
        masked = mask(message)
        assert number not in "".join(ch for ch in masked if ch.isdigit())


@pytest.mark.property
@given(st.text(max_size=80))
def test_mask_never_fails_and_never_grows_digits(text: str) -> None:
    masked = mask(text)
    assert isinstance(masked, str)
    assert sum(ch.isdigit() for ch in masked) <= sum(ch.isdigit() for ch in text)
