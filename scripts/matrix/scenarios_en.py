"""English agent-assisted payment and identity calls, one function per scenario.

Each scenario is a failure class seen on unseen telephone calls: a card read in groups,
run-on, with "oh"/"double"/pairs, split by the agent's "mm-hm, go on", read back by the
agent; an SSN after "social security number"; CVV and expiry asked for in many ways or
volunteered right after the card; and around them the numbers that must stay audible
(order, case and reference numbers, phone numbers, amounts, dates, times, zip codes)
and plain chit-chat. What is said, and in which style, is drawn from the call's rng.
"""

import spoken_numbers as sn

COMPANIES = ["Northwind Bank", "Contoso Energy", "Fabrikam Travel", "Tailspin Airlines", "Litware Insurance",
             "Adatum Mobile", "Proseware Health", "Woodgrove Credit Union", "Alpine Utilities", "Coho Hotels"]
AGENTS = ["Dana", "Sam", "Priya", "Marcus", "Elena", "Tom", "Aisha", "Ken"]

GREETINGS = [
    "Thank you for calling {co}, my name is {agent}. How can I help you today?",
    "Good morning, {co} customer care, {agent} speaking.",
    "Hi there, you've reached {co}. This is {agent}, what can I do for you?",
]
REASONS = [
    "Hi, I'd like to pay my outstanding balance, please.",
    "Hello, I want to book the trip we talked about last week.",
    "Hi, I need to update the card on my account.",
    "Yes hi, I got a letter saying my payment didn't go through.",
    "Hello, I'd like to renew my policy today.",
]
CHITCHAT = [
    ("agent", "Sorry, the line is a little noisy on my end, bear with me."),
    ("customer", "No problem, I'm calling from the car."),
    ("agent", "How's your day going so far?"),
    ("customer", "Pretty good, thanks, it's finally stopped raining here."),
    ("agent", "Let me just pull up your account, one moment."),
    ("customer", "Sure, take your time."),
    ("agent", "Thanks for holding, I appreciate your patience."),
    ("customer", "I've been meaning to sort this out for weeks."),
]
CARD_ASKS = [
    "Okay. What's the long number on the front of the card?",
    "Which card would you like to use? Go ahead with the card number when you're ready.",
    "Can I have the sixteen digit number on the card, please?",
    "Alright, and what is the card number?",
    "Please read me the number on the front of your card.",
]
LEAD_INS = ["Sure, it's", "Yeah, it's", "Okay, the number is", "Let me grab it. It's", "Right, so it's"]
BACKCHANNELS = ["mm-hm, go on", "okay, go ahead", "uh-huh", "yep, got that, keep going", "okay"]
EXPIRY_ASKS = [
    "When does it expire?",
    "And the expiration date?",
    "What's the expiry date on the card?",
    "And the valid thru date, month and year?",
    "What month and year does it run out?",
]
CVV_ASKS = [
    "And the three digit security code on the back?",
    "What's the CVV?",
    "Can I have the CVC, please?",
    "And the last three digits on the signature strip?",
    "The card verification number on the back, please.",
    "And the security code?",
]
AMEX_CVV_ASK = "And the four digit code printed on the front, above the number?"
SSN_ASKS = [
    "For verification, can I have your social security number?",
    "Before we go on, I need your social security number, please.",
    "Could you confirm your full social security number for me?",
]
CLOSINGS = [
    ("agent", "That's all gone through. Is there anything else I can help with?"),
    ("customer", "No, that's everything. Thanks for your help."),
    ("agent", "You're welcome, have a great rest of your day."),
]


def opening(c):
    rng = c.rng
    c.say("agent", rng.choice(GREETINGS).format(co=rng.choice(COMPANIES), agent=rng.choice(AGENTS)), pause=0.1)
    c.say("customer", rng.choice(REASONS))
    for who, line in rng.sample(CHITCHAT, rng.randint(0, 2)):
        c.say(who, line)


def closing(c):
    for who, line in CLOSINGS[: c.rng.randint(1, 3)]:
        c.say(who, line)


# ---------------------------------------------------------------- decoys


def decoy_order(c):
    order = sn.rand_digits(c.rng, 8)
    c.say("customer", "It's about my order, the number is")
    style = c.rng.choice(["digits", "oh"])
    pieces = [sn.read_en(g, style) for g in sn.split(order, [4, 4])] if c.rng.random() < 0.6 else [sn.read_en(order, style)]
    c.number("customer", "order", order, pieces, decoy=True)


def decoy_case(c):
    case = sn.rand_digits(c.rng, 7)
    c.say("agent", "I'll open a case for this. Your case number is")
    c.number("agent", "case", case, [sn.say_digits(case[:3]), sn.say_digits(case[3:])], decoy=True)


def decoy_reference(c):
    ref = sn.rand_digits(c.rng, 10)
    c.say("agent", "And your confirmation reference is")
    c.number("agent", "reference", ref, [sn.read_en(g, "oh") for g in sn.split(ref, [3, 3, 4])], decoy=True)


def decoy_phone(c):
    phone = sn.us_phone(c.rng)
    c.say("agent", c.rng.choice(["What's the best number to reach you on?", "Can I get a callback number in case we get cut off?"]))
    c.say("customer", c.rng.choice(["Sure, it's", "It's", "My cell is"]))
    style = c.rng.choice(["digits", "oh", "double"])
    c.number("customer", "phone", phone, [sn.read_en(g, style) for g in sn.split(phone, [3, 3, 4])], decoy=True)


def decoy_amount(c):
    dollars, cents = c.rng.randint(20, 999), c.rng.randint(1, 99)
    c.say("agent", c.rng.choice(["The amount due today is", "So that comes to", "Your balance is"]))
    spoken = f"{say_number(dollars)} dollars and {say_number(cents)} cents"
    c.number("agent", "amount", f"{dollars}{cents:02d}", [spoken], pause=0.15, decoy=True)


def decoy_date(c):
    month = c.rng.choice(["January", "March", "April", "June", "August", "October", "December"])
    day = c.rng.randint(1, 28)
    c.say("agent", c.rng.choice(["It will be posted to your account on", "Your next statement is dated", "The booking starts on"]))
    c.number("agent", "date", f"{day:02d}", [f"{month} {ordinal(day)}"], pause=0.15, decoy=True)


def decoy_time(c):
    hour, minute = c.rng.randint(1, 11), c.rng.choice([0, 15, 30, 45])
    c.say("agent", c.rng.choice(["A technician can come by at", "We're open until", "Your appointment is at"]))
    spoken = f"{say_number(hour)} {say_number(minute)} p.m." if minute else f"{say_number(hour)} p.m."
    c.number("agent", "time", f"{hour}{minute:02d}", [spoken], pause=0.15, decoy=True)


def decoy_zip(c):
    zipcode = sn.rand_digits(c.rng, 5)
    c.say("agent", "And the billing zip code?")
    c.number("customer", "zip", zipcode, [sn.read_en(zipcode, c.rng.choice(["digits", "oh"]))], decoy=True)


DECOYS = [decoy_order, decoy_case, decoy_reference, decoy_phone, decoy_amount, decoy_date, decoy_time, decoy_zip]


def say_number(n):
    """0-999 in words, the way amounts and times are said."""
    if n < 10:
        return sn.DIGITS_EN[n]
    if n < 20:
        return sn.TEENS_EN[n - 10]
    if n < 100:
        return sn.TENS_EN[n // 10] + ("" if n % 10 == 0 else " " + sn.DIGITS_EN[n % 10])
    rest = n % 100
    return f"{sn.DIGITS_EN[n // 100]} hundred" + (f" {say_number(rest)}" if rest else "")


def ordinal(day):
    words = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth", 12: "twelfth", 20: "twentieth"}
    if day in words:
        return words[day]
    if day > 20:
        return "twenty " + ordinal(day - 20)
    return say_number(day) + "th"


# ---------------------------------------------------------------- sensitive items


def new_card(c):
    brand = c.rng.choice(["visa", "visa", "mastercard", "mastercard", "amex", "discover"])
    number, grouping = sn.card(c.rng, brand)
    return brand, number, grouping


def read_card(c, number, grouping, style, split_at=None, lead_in=True):
    if lead_in:
        c.say("customer", c.rng.choice(LEAD_INS))
    pieces = [sn.read_en(g, style) for g in sn.split(number, grouping)]
    between = {split_at: ("agent", c.rng.choice(BACKCHANNELS))} if split_at is not None else None
    c.number("customer", "card", number, pieces, pause=c.rng.uniform(0.15, 0.4), between=between)


def expiry_and_cvv(c, brand, ask=True):
    """Asks for (or, with ask=False, volunteers) the expiry and the CVV."""
    month, year = c.rng.randint(1, 12), c.rng.randint(2026, 2033)
    exp_pieces, exp_digits = sn.say_expiry_en(c.rng, month, year)
    cvv = sn.rand_digits(c.rng, 4 if brand == "amex" else 3)
    cvv_pieces = [sn.read_en(cvv, c.rng.choice(["digits", "oh"]))]
    if ask:
        order = ["exp", "cvv"] if c.rng.random() < 0.7 else ["cvv", "exp"]
        for what in order:
            if what == "exp":
                c.say("agent", c.rng.choice(EXPIRY_ASKS))
                c.number("customer", "expiry", exp_digits, exp_pieces, gaps=(0.1, 0.35))
            else:
                c.say("agent", AMEX_CVV_ASK if brand == "amex" else c.rng.choice(CVV_ASKS))
                c.number("customer", "cvv", cvv, cvv_pieces)
    else:
        # Straight after the card, in the same breath group or the next turn.
        if c.rng.random() < 0.5:
            c.say("customer", c.rng.choice(["expires", "expiry", "and it expires"]), pause=c.rng.uniform(0.3, 0.7))
            c.number("customer", "expiry", exp_digits, exp_pieces, pause=0.15, gaps=(0.1, 0.3))
            c.say("customer", c.rng.choice(["and the code on the back is", "security code", "CVV"]), pause=0.3)
            c.number("customer", "cvv", cvv, cvv_pieces, pause=0.15)
        else:
            c.number("customer", "expiry", exp_digits, exp_pieces, pause=c.rng.uniform(0.5, 0.9), gaps=(0.1, 0.3))
            c.number("customer", "cvv", cvv, cvv_pieces, pause=c.rng.uniform(0.4, 0.8))
    return exp_digits, cvv


def card_payment(c, style=None, split=False, readback=False, volunteer=False):
    brand, number, grouping = new_card(c)
    c.say("agent", c.rng.choice(CARD_ASKS))
    style = style or c.rng.choice(sn.READ_STYLES_EN)
    if style == "runon":
        c.say("customer", c.rng.choice(LEAD_INS))
        c.number("customer", "card", number, [sn.read_en(number, c.rng.choice(["digits", "oh"]))], pause=0.2)
    else:
        read_card(c, number, grouping, style, split_at=c.rng.randint(0, len(grouping) - 2) if split else None)
    if readback:
        c.say("agent", c.rng.choice(["Let me read that back to you.", "Just to confirm, I have"]))
        pieces = [sn.read_en(g, c.rng.choice(["digits", "oh"])) for g in sn.split(number, grouping)]
        c.number("agent", "card", number, pieces, gaps=(0.2, 0.5))
        c.say("agent", "Is that correct?", pause=0.3)
        c.say("customer", c.rng.choice(["Yes, that's right.", "Yep, that's it.", "Correct."]))
    expiry_and_cvv(c, brand, ask=not volunteer)


def ssn_check(c):
    number = sn.ssn(c.rng)
    c.say("agent", c.rng.choice(SSN_ASKS))
    style = c.rng.choice(["digits", "oh", "double", "runon"])
    if style == "runon":
        pieces = [sn.read_en(number, "oh")]
    else:
        pieces = [sn.read_en(g, style) for g in sn.split(number, [3, 2, 4])]
    if c.rng.random() < 0.4:
        c.say("customer", c.rng.choice(["Sure, it's", "Okay, it's"]))
    c.number("customer", "ssn", number, pieces, gaps=(0.2, 0.55))
    c.say("agent", "Thank you, that matches what we have.")


# ---------------------------------------------------------------- scenarios


def scenario(decoys_before=1, decoys_after=1):
    def wrap(body):
        def run(c):
            opening(c)
            for d in c.rng.sample(DECOYS, decoys_before):
                d(c)
            body(c)
            for d in c.rng.sample([d for d in DECOYS if d is not decoy_zip], decoys_after):
                d(c)
            closing(c)

        run.__name__ = body.__name__
        return run

    return wrap


@scenario()
def card_grouped(c):
    card_payment(c, style=c.rng.choice(["digits", "oh"]))


@scenario()
def card_runon(c):
    card_payment(c, style="runon")


@scenario()
def card_double(c):
    card_payment(c, style=c.rng.choice(["double", "pairs"]))


@scenario()
def card_split(c):
    card_payment(c, split=True)


@scenario(decoys_before=1, decoys_after=0)
def card_readback(c):
    card_payment(c, readback=True)
    decoy_zip(c)


@scenario()
def card_volunteered(c):
    card_payment(c, volunteer=True)


@scenario(decoys_before=1, decoys_after=2)
def ssn_only(c):
    ssn_check(c)


@scenario(decoys_before=0, decoys_after=1)
def ssn_and_card(c):
    ssn_check(c)
    card_payment(c)


SCENARIOS = [card_grouped, card_runon, card_double, card_split, card_readback, card_volunteered, ssn_only, ssn_and_card]
