"""Writes the bundled demo data set: short customer-support messages in six intents.

Templates with slots give varied, realistic messages; the split is fixed by a seed so the
committed files are reproducible: ``python examples/make_support_tickets.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PRODUCTS = [
    "headphones",
    "coffee maker",
    "running shoes",
    "desk lamp",
    "phone case",
    "blender",
    "backpack",
    "smart watch",
    "yoga mat",
    "keyboard",
    "winter jacket",
    "air fryer",
]
INTENTS: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {p} order, please refund one of the payments",
        "why does my card statement show a charge I don't recognise from your shop",
        "the invoice for the {p} has the wrong VAT number on it",
        "can I pay for the {p} in instalments instead of all at once",
        "my discount code was not applied and I paid full price for the {p}",
        "you billed me for express delivery but I picked standard",
        "my subscription renewed even though I cancelled it last month",
        "how do I update the credit card on file before the next payment",
        "the price went up between adding the {p} to my cart and checking out",
        "I need a copy of the receipt for the {p} for my expense report",
        "payment failed three times but my bank says the money left my account",
        "please explain the extra fee on my last bill",
    ],
    "shipping": [
        "where is my {p}? the tracking page has not updated in five days",
        "my {p} was marked as delivered but nothing arrived at my door",
        "can you ship the {p} to a different address than the one on my order",
        "how long does delivery to Canada usually take",
        "the courier left the {p} with a neighbour I don't know",
        "do you offer next day delivery for the {p}",
        "my parcel is stuck at customs, what should I do",
        "the tracking number you sent me does not work on the courier's site",
        "I ordered the {p} two weeks ago and it still says processing",
        "can I pick up the {p} from a store instead of having it delivered",
        "the box arrived crushed and the {p} inside is dented",
        "is it possible to change the delivery date for my order",
    ],
    "returns": [
        "I want to return the {p}, it is not what I expected",
        "how do I get a return label for the {p}",
        "the {p} is too small, can I exchange it for a bigger size",
        "I sent the {p} back three weeks ago and still have no refund",
        "is the return window 30 days or 60 days for the {p}",
        "can I return a gift without the original receipt",
        "you sent me the wrong colour of {p}, I'd like to swap it",
        "do I have to pay for return shipping on the {p}",
        "the {p} stopped working after a week, can I send it back",
        "I opened the {p} box, can I still return it",
        "where do I drop off a return in person",
        "my return was rejected and I don't understand why",
    ],
    "account_access": [
        "I forgot my password and the reset email never arrives",
        "my account got locked after too many login attempts",
        "how do I change the email address on my account",
        "someone else logged into my account, please secure it",
        "the two factor code you text me is always expired",
        "I can't sign in with my Google account anymore",
        "please delete my account and all my personal data",
        "how do I merge two accounts I created by mistake",
        "the login page keeps saying my username does not exist",
        "I want to turn off the marketing emails on my profile",
        "my saved addresses disappeared from my account",
        "how can I see my order history from last year",
    ],
    "technical_issue": [
        "the app crashes every time I open the basket",
        "the checkout button does nothing when I click it",
        "my {p} won't pair with the app over bluetooth",
        "the website shows an error 500 when I search for the {p}",
        "the firmware update bricked my {p}",
        "images on the product pages are not loading in Safari",
        "the {p} keeps disconnecting from wifi every few minutes",
        "I get a blank white screen after logging in on Android",
        "the size guide page is broken on mobile",
        "my {p} shows an error code E4 after the update",
        "push notifications stopped working after the last app update",
        "the payment form freezes when I enter my card number",
    ],
    "product_question": [
        "is the {p} waterproof or just splash resistant",
        "does the {p} come with a warranty and how long is it",
        "what are the exact dimensions of the {p}",
        "is the {p} compatible with iPhone and Android",
        "will the {p} be back in stock soon",
        "what material is the {p} made of",
        "does the {p} work with 110 volt outlets in the US",
        "is there a newer model of the {p} coming out",
        "can the {p} go in the dishwasher",
        "which size of {p} would you recommend for a beginner",
        "how heavy is the {p} when fully packed",
        "does the {p} include batteries or do I buy them separately",
    ],
}
OPENERS = [
    "",
    "",
    "hi, ",
    "hello, ",
    "quick question: ",
    "urgent: ",
    "hey team, ",
    "good morning, ",
]
CLOSERS = ["", "", "", " thanks", " thank you!", " please help", " cheers", " asap please"]


def _messages(rng: random.Random, templates: list[str], count: int) -> list[str]:
    texts: set[str] = set()
    while len(texts) < count:
        body = rng.choice(templates).format(p=rng.choice(PRODUCTS))
        text = rng.choice(OPENERS) + body + rng.choice(CLOSERS)
        texts.add(text[0].upper() + text[1:])
    ordered = sorted(texts)
    rng.shuffle(ordered)
    return ordered


def build(seed: int = 7) -> dict[str, list[dict[str, str]]]:
    """Train uses 8 of each intent's 12 templates; test the 4 others, so the student must
    generalise; validation mixes seen and unseen templates, so its report is informative."""
    rng = random.Random(seed)
    splits: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    seen: set[str] = set()
    for label, templates in INTENTS.items():
        for split, chosen, count in (
            ("train", templates[:8], 30),
            ("validation", templates[6:10], 8),
            ("test", templates[8:], 20),
        ):
            texts = [t for t in _messages(rng, chosen, count + 10) if t not in seen][:count]
            seen.update(texts)
            splits[split] += [{"text": t, "label": label} for t in texts]
    for rows in splits.values():
        rng.shuffle(rows)
    return splits


def main() -> None:
    out = Path(__file__).parent / "support_tickets"
    out.mkdir(exist_ok=True)
    for name, rows in build().items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
