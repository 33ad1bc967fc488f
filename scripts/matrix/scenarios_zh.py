"""Mandarin 400-line calls: resident IDs and UnionPay cards, one function per scenario.

18-digit resident IDs (some ending in X, said 叉 or 艾克斯) and first-generation 15-digit
IDs, read with 幺/两/洞 in groups or run-on, split by the agent's "嗯，您继续", read back
by the agent; UnionPay cards (62…, 16-19 digits) with their 有效期 and 安全码, asked for or
volunteered; and what must stay audible: mobile and 400 numbers, 工号, order numbers,
amounts, dates, times.
"""

import spoken_numbers as sn

COMPANIES = ["招远银行", "华兴保险", "顺达物流", "东方航空服务", "长城宽带", "万家电器"]
GREETINGS = [
    "您好，欢迎致电{co}客服热线，工号",
    "您好，{co}客户服务中心，我是工号",
]
REASONS = [
    "你好，我想查一下我的账户。",
    "你好，我想用银行卡交一下这个月的费用。",
    "喂，你好，我的订单一直没有发货。",
    "你好，我想办理一下实名认证。",
]
CHITCHAT = [
    ("agent", "请稍等，正在为您查询。"),
    ("customer", "好的，不着急。"),
    ("agent", "感谢您的耐心等待。"),
    ("customer", "我这边信号不太好，您能听清吗？"),
    ("agent", "可以听清，您请说。"),
    ("customer", "上次打电话也没有解决。"),
]
ID_ASKS = ["请提供一下您的身份证号码。", "麻烦您报一下身份证号。", "请问您的证件号码是多少？", "为了核实身份，请说一下您的身份证号码。"]
ID_LEADS = ["我的身份证号是", "好的，是", "身份证号码是", ""]
CARD_ASKS = ["请报一下您的银行卡号。", "您用哪张卡支付？请说一下卡号。", "麻烦提供一下银联卡的卡号。"]
EXPIRY_ASKS = ["卡片的有效期是多少？", "请报一下卡面上的有效期。", "有效期到哪年哪月？"]
CVV_ASKS = ["请提供卡背面的三位安全码。", "卡片背面签名栏后三位数字是多少？", "CVV码是多少？", "安全码呢？"]
BACKCHANNELS = ["嗯，您继续。", "好的，请继续。", "嗯嗯。", "好，您说。"]
CLOSINGS = [
    ("agent", "已经为您办理好了，请问还有其他可以帮您的吗？"),
    ("customer", "没有了，谢谢。"),
    ("agent", "感谢您的来电，祝您生活愉快，再见。"),
]


def opening(c):
    rng = c.rng
    staff = sn.rand_digits(rng, 4)
    c.say("agent", rng.choice(GREETINGS).format(co=rng.choice(COMPANIES)), pause=0.1)
    c.number("agent", "staff_id", staff, [sn.say_zh(staff)], pause=0.1, decoy=True)
    c.say("agent", "请问有什么可以帮您？", pause=0.2)
    c.say("customer", rng.choice(REASONS))
    for who, line in rng.sample(CHITCHAT, rng.randint(0, 2)):
        c.say(who, line)


def closing(c):
    for who, line in CLOSINGS[: c.rng.randint(1, 3)]:
        c.say(who, line)


# ---------------------------------------------------------------- decoys


def decoy_mobile(c):
    phone = sn.cn_mobile(c.rng)
    c.say("agent", c.rng.choice(["请再提供一下您的手机号码。", "方便留一个联系电话吗？"]))
    habits = sn.zh_reading(c.rng)
    pieces = [sn.say_zh(g, habits["one"], habits["two"], habits["zero"]) for g in sn.split(phone, [3, 4, 4])]
    c.number("customer", "phone", phone, pieces, gaps=(0.15, 0.45), decoy=True)


def decoy_hotline(c):
    line = "400" + sn.rand_digits(c.rng, 7)
    c.say("agent", "如有疑问，您也可以拨打我们的客服热线")
    c.number("agent", "phone", line, [sn.say_zh(g, one="幺") for g in sn.split(line, [3, 3, 4])], pause=0.15, decoy=True)


def decoy_order(c):
    order = sn.rand_digits(c.rng, 12)
    c.say("customer", "我的订单号是")
    c.number("customer", "order", order, [sn.say_zh(g, one="一") for g in sn.split(order, [4, 4, 4])], pause=0.2, decoy=True)


def decoy_amount(c):
    yuan, jiao = c.rng.randint(20, 990), c.rng.randint(1, 9)
    c.say("agent", c.rng.choice(["本次需要支付", "您这个月的费用是"]))
    c.number("agent", "amount", f"{yuan}{jiao}", [f"{zh_number(yuan)}元{sn.DIGITS_ZH[jiao]}角"], pause=0.15, decoy=True)


def decoy_date(c):
    month, day = c.rng.randint(1, 12), c.rng.randint(1, 28)
    c.say("agent", c.rng.choice(["预计到账时间是", "您的账单日是"]))
    c.number("agent", "date", f"{month}{day}", [f"{zh_number(month)}月{zh_number(day)}号"], pause=0.15, decoy=True)


def decoy_time(c):
    hour = c.rng.randint(1, 11)
    c.say("agent", "工作人员会在")
    c.number("agent", "time", f"{hour}30", [f"下午{zh_number(hour)}点半"], pause=0.15, decoy=True)
    c.say("agent", "左右联系您。", pause=0.15)


DECOYS = [decoy_mobile, decoy_hotline, decoy_order, decoy_amount, decoy_date, decoy_time]


def zh_number(n):
    """1-999 as a quantity (一百二十九), not digit by digit."""
    d = sn.DIGITS_ZH
    if n < 10:
        return d[n]
    if n < 20:
        return "十" + (d[n % 10] if n % 10 else "")
    if n < 100:
        return d[n // 10] + "十" + (d[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + d[rest] if rest < 10 else ("一" + zh_number(rest) if rest < 20 else zh_number(rest)))
    return d[n // 100] + "百" + tail


# ---------------------------------------------------------------- sensitive items


def resident_id(c, grouping=None, first_generation=False, split=False, readback=False):
    number = sn.cn_id15(c.rng) if first_generation else sn.cn_id(c.rng, with_x=c.rng.random() < 0.35)
    c.say("agent", c.rng.choice(ID_ASKS))
    if first_generation:
        c.say("customer", "我的是老身份证，十五位的。")
    lead = c.rng.choice(ID_LEADS)
    if lead:
        c.say("customer", lead)
    habits = sn.zh_reading(c.rng)
    if grouping is None:
        grouping = [6, 6, 3] if first_generation else c.rng.choice([[6, 8, 4], [3, 3, 4, 4, 4], [6, 4, 4, 4]])
    pieces = [sn.say_zh(g, **habits) for g in sn.split(number, grouping)]
    between = {c.rng.randint(0, len(pieces) - 2): ("agent", c.rng.choice(BACKCHANNELS))} if split else None
    c.number("customer", "cn_id", number, pieces, pause=c.rng.uniform(0.15, 0.4), gaps=(0.2, 0.6), between=between)
    if readback:
        c.say("agent", "我跟您核对一下，")
        c.number("agent", "cn_id", number, [sn.say_zh(g) for g in sn.split(number, [6, 8, 4] if len(number) == 18 else [6, 6, 3])],
                 pause=0.2, gaps=(0.2, 0.5))
        c.say("agent", "对吗？", pause=0.3)
        c.say("customer", "对的。")
    else:
        c.say("agent", "好的，已经核实。")


def unionpay(c, runon=False, volunteer=False):
    number, grouping = sn.card(c.rng, "unionpay")
    c.say("agent", c.rng.choice(CARD_ASKS))
    c.say("customer", c.rng.choice(["卡号是", "好的，", "我念一下，"]))
    habits = sn.zh_reading(c.rng)
    habits.pop("x")
    if runon:
        pieces = [sn.say_zh(number, **habits)]
    else:
        pieces = [sn.say_zh(g, **habits) for g in sn.split(number, grouping)]
    c.number("customer", "card", number, pieces, pause=0.2, gaps=(0.15, 0.5))
    month, year = c.rng.randint(1, 12), c.rng.randint(2026, 2033)
    exp_pieces, exp_digits = sn.say_expiry_zh(c.rng, month, year)
    cvv = sn.rand_digits(c.rng, 3)
    cvv_pieces = [sn.say_zh(cvv, one=habits["one"])]
    if volunteer:
        if c.rng.random() < 0.5:
            c.say("customer", "有效期是", pause=c.rng.uniform(0.3, 0.6))
            c.number("customer", "expiry", exp_digits, exp_pieces, pause=0.15, gaps=(0.1, 0.3))
            c.say("customer", "背面三位是", pause=0.3)
            c.number("customer", "cvv", cvv, cvv_pieces, pause=0.15)
        else:
            c.number("customer", "expiry", exp_digits, exp_pieces, pause=c.rng.uniform(0.5, 0.9), gaps=(0.1, 0.3))
            c.number("customer", "cvv", cvv, cvv_pieces, pause=c.rng.uniform(0.4, 0.8))
        return
    c.say("agent", c.rng.choice(EXPIRY_ASKS))
    c.number("customer", "expiry", exp_digits, exp_pieces, gaps=(0.1, 0.35))
    c.say("agent", c.rng.choice(CVV_ASKS))
    c.number("customer", "cvv", cvv, cvv_pieces)


# ---------------------------------------------------------------- scenarios


def scenario(decoys_before=1, decoys_after=1):
    def wrap(body):
        def run(c):
            opening(c)
            for d in c.rng.sample(DECOYS, decoys_before):
                d(c)
            body(c)
            for d in c.rng.sample(DECOYS, decoys_after):
                d(c)
            closing(c)

        run.__name__ = body.__name__
        return run

    return wrap


@scenario()
def id_grouped(c):
    resident_id(c)


@scenario()
def id_runon(c):
    resident_id(c, grouping=[18])


@scenario()
def id_first_generation(c):
    resident_id(c, first_generation=True)


@scenario()
def id_split(c):
    resident_id(c, split=True)


@scenario(decoys_before=0)
def id_readback(c):
    resident_id(c, readback=True)


@scenario()
def unionpay_grouped(c):
    unionpay(c)


@scenario(decoys_before=0)
def unionpay_volunteered(c):
    unionpay(c, runon=c.rng.random() < 0.5, volunteer=True)


@scenario(decoys_before=1, decoys_after=0)
def id_and_unionpay(c):
    resident_id(c)
    unionpay(c)


SCENARIOS = [id_grouped, id_runon, id_first_generation, id_split, id_readback, unionpay_grouped, unionpay_volunteered]
# Scenarios only made on request (make_calls.py --scenario), so the rotation above and
# every set generated from it stay as they were.
EXTRA_SCENARIOS = [id_and_unionpay]
