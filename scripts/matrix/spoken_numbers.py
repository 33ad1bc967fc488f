"""Random but valid numbers for test calls, and the ways people read them aloud.

Every number is generated from the caller's `random.Random` (no real person's number):
cards pass Luhn and have their brand's prefix and length, resident IDs carry the
GB 11643-1999 check character, SSNs follow the SSA's rules. Each `say_*` function returns
the spoken pieces (one string per breath group) together with the digits a reader of the
transcript would recover from them, which is what the ground truth records.
"""

DIGITS_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TENS_EN = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
TEENS_EN = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
DIGITS_ZH = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]


# ---------------------------------------------------------------- validators


def luhn_check_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number):
    return luhn_check_digit(number[:-1]) == number[-1]


GB11643_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def gb11643_check(body17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, GB11643_WEIGHTS)) % 11]


# ---------------------------------------------------------------- generators


def rand_digits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


CARD_BRANDS = {
    # brand: (prefixes, lengths, grouping per length)
    "visa": (["4"], [16], {16: [4, 4, 4, 4]}),
    "mastercard": (["51", "52", "53", "54", "55", "2221", "2720", "23", "25"], [16], {16: [4, 4, 4, 4]}),
    "amex": (["34", "37"], [15], {15: [4, 6, 5]}),
    "discover": (["6011", "65"], [16], {16: [4, 4, 4, 4]}),
    "unionpay": (["62"], [16, 17, 18, 19], {16: [4, 4, 4, 4], 17: [4, 4, 4, 5], 18: [6, 6, 6], 19: [4, 4, 4, 4, 3]}),
}


def card(rng, brand, length=None, accept=lambda n: True):
    """A Luhn-valid card number of `brand`, with its usual grouping."""
    prefixes, lengths, grouping = CARD_BRANDS[brand]
    length = length or rng.choice(lengths)
    while True:
        body = rng.choice(prefixes)
        body += rand_digits(rng, length - len(body) - 1)
        number = body + luhn_check_digit(body)
        if accept(number):
            return number, grouping[length]


def repeats(number):
    """How many adjacent equal digits a number has ("double" readings need some)."""
    return sum(1 for a, b in zip(number, number[1:]) if a == b)


# Region codes of real districts (Beijing Chaoyang, Shanghai Pudong, Shenzhen Nanshan, ...).
CN_REGIONS = ["110105", "310115", "440305", "510104", "330106", "420106", "320102", "610113", "370202", "500103"]


def cn_id(rng, with_x=None):
    """An 18-digit resident ID (GB 11643-1999) with a plausible birth date; `with_x`
    forces (True) or forbids (False) the check character X."""
    while True:
        year = rng.randint(1950, 2005)
        birth = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = rng.choice(CN_REGIONS) + birth + rand_digits(rng, 3)
        number = body + gb11643_check(body)
        if with_x is None or with_x == number.endswith("X"):
            return number


def cn_id15(rng):
    """A first-generation 15-digit resident ID: region, YYMMDD, sequence (no check)."""
    birth = f"{rng.randint(40, 84):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return rng.choice(CN_REGIONS) + birth + rand_digits(rng, 3)


def ssn(rng):
    """Area 001-899 except 666, group 01-99, serial 0001-9999."""
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"


def us_phone(rng):
    return f"{rng.choice(['202', '312', '415', '617', '713', '206', '305'])}555{rng.randint(100, 199):04d}"


def cn_mobile(rng):
    return "1" + rng.choice("3456789") + rand_digits(rng, 9)


def split(number, sizes):
    out, at = [], 0
    for s in sizes:
        out.append(number[at : at + s])
        at += s
    assert at == len(number), (number, sizes)
    return out


# ---------------------------------------------------------------- English readings


def say_digits(digits, zero="zero"):
    return " ".join(zero if c == "0" else DIGITS_EN[int(c)] for c in digits)


def say_double(digits, zero="oh"):
    """British and Indian style: 'double five', 'triple oh'."""
    out, i = [], 0
    while i < len(digits):
        j = i
        while j < len(digits) and digits[j] == digits[i]:
            j += 1
        run, word = j - i, zero if digits[i] == "0" else DIGITS_EN[int(digits[i])]
        while run >= 3:
            out.append("triple " + word)
            run -= 3
        out.append({2: "double " + word, 1: word, 0: ""}[run])
        i = j
    return " ".join(w for w in out if w)


def say_pair(two, zero="oh"):
    """One two-digit number the way people read card pairs: 'forty five', 'oh six', 'ten'."""
    a, b = int(two[0]), int(two[1])
    if a == 0:
        return f"{zero} {DIGITS_EN[b]}"
    if a == 1:
        return TEENS_EN[b]
    return TENS_EN[a] if b == 0 else f"{TENS_EN[a]} {DIGITS_EN[b]}"


def say_pairs(digits, zero="oh"):
    """'4539' as 'forty five thirty nine' (an odd digit left over is read alone)."""
    words = [say_pair(digits[i : i + 2], zero) for i in range(0, len(digits) - 1, 2)]
    if len(digits) % 2:
        words.append(say_digits(digits[-1], zero))
    return " ".join(words)


READ_STYLES_EN = ["digits", "oh", "double", "pairs"]


def read_en(digits, style):
    return {
        "digits": lambda d: say_digits(d),
        "oh": lambda d: say_digits(d, "oh"),
        "double": lambda d: say_double(d),
        "pairs": lambda d: say_pairs(d),
    }[style](digits)


def say_expiry_en(rng, month, year):
    """An expiry date as people say it; returns (spoken pieces, digits as heard in order)."""
    mm, yy = f"{month:02d}", f"{year % 100:02d}"
    forms = [
        ([say_pair(mm), say_pair(yy)], mm + yy),  # "oh six, twenty eight"
        ([say_digits(mm), say_digits(yy)], mm + yy),  # "zero six, two eight"
        ([f"{say_pair(mm)} slash {say_pair(yy)}"], mm + yy),
        ([f"{say_pair(mm)} of {say_pair(yy)}"], mm + yy),
        ([say_pair(mm), f"twenty {say_pair(yy)}"], mm + "20" + yy),  # "oh six, twenty twenty eight"
    ]
    if month >= 10:
        forms.append(([say_pair(mm), say_pair(yy)], mm + yy))
    else:
        forms.append(([f"{DIGITS_EN[month]} {say_pair(yy)}"], str(month) + yy))  # "six twenty eight"
    return rng.choice(forms)


# ---------------------------------------------------------------- Mandarin readings


def say_zh(digits, one="幺", two="二", zero="零", x="叉"):
    """Digits one by one: 1 is usually 幺 when reading numbers out, 2 sometimes 两, 0
    sometimes 洞; the ID check character X is 叉 or 艾克斯."""
    names = list(DIGITS_ZH)
    names[1], names[2], names[0] = one, two, zero
    return "".join(x if c == "X" else names[int(c)] for c in digits)


def zh_reading(rng):
    """One speaker's habits for reading digits, kept for a whole number."""
    return {
        "one": rng.choice(["幺", "幺", "一"]),
        "two": rng.choice(["二", "二", "两"]),
        "zero": rng.choice(["零", "零", "零", "洞"]),
        "x": rng.choice(["叉", "艾克斯", "叉"]),
    }


def say_expiry_zh(rng, month, year):
    mm, yy = f"{month:02d}", f"{year % 100:02d}"
    forms = [
        ([say_zh(mm, one="一"), say_zh(yy, one="一")], mm + yy),  # 零六，二八
        ([f"{say_zh(mm, one='一')}月", f"{say_zh(yy, one='一')}年"], mm + yy),  # 零六月，二八年
        ([f"二零{say_zh(yy, one='一')}年{month_zh(month)}月"], "20" + yy + str(month)),  # 二零二八年六月
    ]
    return rng.choice(forms)


def month_zh(month):
    return {10: "十", 11: "十一", 12: "十二"}.get(month) or DIGITS_ZH[month]
