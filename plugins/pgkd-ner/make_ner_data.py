"""Writes the NER data set that ships with pgkd-ner: short news-like sentences with PER, ORG
and LOC entities, from templates and name lists.

The draw is seeded, so the committed files are reproducible: ``python make_ner_data.py``.
``train.jsonl`` (150) and ``test.jsonl`` (50) are the data; ``pool.jsonl`` (300) is a disjoint
set of sentences for simulation teachers in tests and benchmarks.

The seed data is deliberately narrow: train uses two thirds of the templates and of the names,
while test and pool draw from all of them. A student trained on train alone then meets unseen
contexts and names in test, which is what a teacher's new sentences can teach it.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).parent / "pgkd_ner" / "data"
SIZES = {"train": 150, "test": 50, "pool": 300}
SEED = 7
#: Share of the templates and of each name list that train may use.
TRAIN_SHARE = 2 / 3

NAMES: dict[str, list[str]] = {
    "PER": [
        "Maria Lopez",
        "James Chen",
        "Aisha Bello",
        "Tom Becker",
        "Yuki Tanaka",
        "Olga Ivanova",
        "Pierre Martin",
        "Sofia Rossi",
        "Daniel Okafor",
        "Emma Larsen",
        "Ravi Patel",
        "Hannah Weber",
        "Lucas Silva",
        "Grace Kim",
        "Mohammed Haddad",
        "Nina Novak",
        "Jordan Ellis",
        "Claire Dubois",
        "Kwame Mensah",
        "Elena Petrova",
        "Sam Taylor",
        "Ingrid Holm",
        "Carlos Vega",
        "Mei Lin",
        "Dr. Alan Brooks",
        "Fatima Zahra",
        "Jack Washington",
        "Lena Fischer",
        "Omar Khalil",
        "Priya Nair",
    ],
    "ORG": [
        "Siemens",
        "the World Health Organization",
        "Google",
        "Oxfam",
        "Toyota",
        "the European Central Bank",
        "Harvard University",
        "Reuters",
        "Nestle",
        "UNICEF",
        "Airbus",
        "the Red Cross",
        "Samsung",
        "Deutsche Bahn",
        "the United Nations",
        "Pfizer",
        "Spotify",
        "the BBC",
        "Ford",
        "Nokia",
        "the IMF",
        "Stanford University",
        "Shell",
        "Greenpeace",
        "Amazon",
        "FC Barcelona",
        "the Bank of England",
        "Microsoft",
    ],
    "LOC": [
        "Paris",
        "Nairobi",
        "Berlin",
        "Tokyo",
        "Brazil",
        "Lake Geneva",
        "Toronto",
        "India",
        "the Alps",
        "Cairo",
        "Madrid",
        "Norway",
        "Sydney",
        "the Amazon basin",
        "Lagos",
        "Vienna",
        "Chile",
        "New York",
        "the Sahara",
        "Seoul",
        "Lisbon",
        "Jordan",
        "Mumbai",
        "Washington",
        "Iceland",
        "Warsaw",
        "the Rhine",
        "Buenos Aires",
        "Kenya",
        "Oslo",
    ],
}

TEMPLATES = [
    "{PER} joined {ORG} as chief economist last spring.",
    "{ORG} will open a new research centre in {LOC} next year.",
    "{PER} flew to {LOC} on Monday to meet officials from {ORG}.",
    "Heavy rain caused flooding across {LOC} over the weekend.",
    "{PER} said the talks with {ORG} had been constructive.",
    "Shares of {ORG} fell sharply after the report.",
    "{PER} was born in {LOC} and studied at {ORG}.",
    "A spokesperson for {ORG} declined to comment on the claims.",
    "{PER} and {PER} will co-chair the summit in {LOC}.",
    "Tourism in {LOC} has recovered faster than expected.",
    "{ORG} signed a supply deal with {ORG} worth two billion euros.",
    "Police in {LOC} arrested two men on Tuesday.",
    "{PER} won the marathon in {LOC} for the second time.",
    "According to {ORG}, prices will keep rising until autumn.",
    "The minister met {PER} in {LOC} to discuss the budget.",
    "{PER} resigned from the board of {ORG} on Friday.",
    "Thousands marched through {LOC} to protest the new law.",
    "{ORG} hired {PER} to lead its operations in {LOC}.",
    "The train from {LOC} to {LOC} was delayed by three hours.",
    "{PER} criticised {ORG} for its handling of the crisis.",
    "Scientists at {ORG} found a new species near {LOC}.",
    "The festival in {LOC} drew record crowds this summer.",
    "In an interview, {PER} praised the work of {ORG}.",
    "{ORG} reported higher profits in {LOC} and {LOC}.",
    "{PER} will visit {LOC} and {LOC} later this month.",
    "Exports from {LOC} grew by four percent last quarter.",
    "{PER}, a lawyer from {LOC}, filed the complaint.",
    "The board of {ORG} approved the merger late on Thursday.",
    "{PER} thanked voters in {LOC} after the election.",
    "{ORG} recalled thousands of cars sold in {LOC}.",
    "The new bridge in {LOC} was designed by {PER}.",
    "Talks between {ORG} and unions broke down again.",
    "{PER} told {ORG} that the project was on schedule.",
    "Snow closed several roads in {LOC} this morning.",
    "The central bank kept interest rates unchanged on Wednesday.",
    "Analysts expect the economy to slow down next year.",
    "The match was cancelled because of the storm.",
    "Ticket prices will rise by ten percent in January.",
    "Officials said the fire was under control by midnight.",
    "The museum reopened after a two-year renovation.",
    "{PER} leads the new climate team at {ORG}.",
    "Volunteers from {ORG} delivered food to villages near {LOC}.",
    "{PER} beat {PER} in the final set.",
    "Researchers in {LOC} published the study with {ORG}.",
]


def fill(template: str, names: dict[str, list[str]], rng: random.Random) -> dict[str, object]:
    """One sentence from ``template``, with distinct fillers per slot type."""
    text, entities, pos = "", [], 0
    used: set[str] = set()
    for match in re.finditer(r"\{(PER|ORG|LOC)\}", template):
        label = match.group(1)
        name = rng.choice([n for n in names[label] if n not in used])
        used.add(name)
        text += template[pos : match.start()]
        if not text:
            name = name[0].upper() + name[1:]
        # An article is not part of the name (CoNLL style): "the [Red Cross]".
        article, _, rest = name.partition(" ")
        if article in ("the", "The") and rest:
            text += article + " "
            name = rest
        start = len(text)
        text += name
        entities.append({"start": start, "end": len(text), "label": label})
        pos = match.end()
    text += template[pos:]
    return {"text": text, "entities": entities}


def sentences(
    rng: random.Random,
    n: int,
    templates: list[str],
    names: dict[str, list[str]],
    seen: set[str],
) -> list[dict[str, object]]:
    """``n`` sentences whose texts are not in ``seen`` (which they are added to)."""
    out: list[dict[str, object]] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError("the templates cannot make that many distinct sentences")
        record = fill(rng.choice(templates), names, rng)
        if record["text"] not in seen:
            seen.add(str(record["text"]))
            out.append(record)
    return out


def narrow(rng: random.Random, items: list[str]) -> list[str]:
    shuffled = items[:]
    rng.shuffle(shuffled)
    return shuffled[: round(len(items) * TRAIN_SHARE)]


def main() -> None:
    rng = random.Random(SEED)
    train_templates = narrow(rng, TEMPLATES)
    train_names = {label: narrow(rng, names) for label, names in NAMES.items()}
    seen: set[str] = set()
    splits = {"train": sentences(rng, SIZES["train"], train_templates, train_names, seen)}
    for name in ("test", "pool"):
        splits[name] = sentences(rng, SIZES[name], TEMPLATES, NAMES, seen)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (OUT / f"{name}.jsonl").write_text(lines, encoding="utf-8")


if __name__ == "__main__":
    main()
