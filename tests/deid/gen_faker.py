#!/usr/bin/python3
"""An export whose identifiers are written by someone else: Faker (Debian's python3-fake-factory),
a fake-data library with its own name lists and its own formats per locale for phone numbers,
street addresses, postcodes, e-mail addresses, national ids, URLs, IP addresses, plates and card
numbers. Neither gen_adversarial.py nor gen_hospital.py nor the scrubber chose these forms, so the
leak test also covers a class of inputs it was not written against. Synthetic data only.

Records look like a FHIR-style Patient export (name[].given[], telecom[], address[].line[],
contact[], encounters[].note[].text) in several locales; the notes repeat the record's own values
in Faker's forms, as clinicians' notes do.

  gen_faker.py --records 3000 --seed 1 --out DIR   (writes DIR/faker.{jsonl,json,bson,csv})
"""
import datetime
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phimodel import Date, Plant, cli_main, generate_chunks, norm, serialize, write_all  # noqa: E402

try:
    from faker import Faker
except ImportError:  # reported by the checker as a skipped style
    Faker = None

LOCALES = ["en_US", "en_US", "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL"]
REASONS = ["follow-up", "chest pain", "annual physical", "wound check", "medication review"]


def dig(s):
    return re.sub(r"[^0-9]", "", s)


def words(s):
    """Name or place tokens to look for: 3+ characters (Faker's short words, 'de', 'van', are not
    the record's and occur in any text)."""
    return [("word", t) for t in re.split(r"[\s\-,./]+", norm(s)) if len(t) >= 3 and not t.isdigit()]


def phone_needles(p):
    d = dig(p.split("x")[0])
    return [("digits", d[-7:])] if len(d) >= 7 else [("sub", norm(p))]


def date_needles(d):
    return [("date", (d.year, d.month, d.day))]


def filler(f, plants):
    """Faker's lorem sentence (text the scrubber must leave alone), drawn again while it holds a
    word of the record's names or places ('sur' of Mercier-sur-Garnier in French lorem)."""
    toks = {x for p in plants for k, x in p.needles if k == "word"}
    for _ in range(10):
        s = f.sentence()
        if not toks & set(re.split(r"[\s\-,./]+", norm(s))):
            return s
    return ""


class R:
    def __init__(self, i):
        self.i, self.plants = i, []

    def plant(self, cls, form, where, path, needles, sweep=True):
        if needles:
            self.plants.append(Plant(self.i, cls, form, where, path, needles, path, sweep, True))


def fakers(seed):
    out = {}
    for loc in sorted(set(LOCALES)):
        f = Faker(loc)
        f.seed_instance(seed)
        out[loc] = f
    return out


def record(rng, fk, i):
    loc = rng.choice(LOCALES)
    f = fk[loc]
    r = R(i)
    given, family = f.first_name(), f.last_name()
    kin = f.name()
    phone, kphone, email = f.phone_number(), f.phone_number(), f.email()
    street, city, pc = f.street_address(), f.city(), f.postcode()
    ssn = f.ssn()
    dob = f.date_between(start_date=datetime.date(1940, 1, 1), end_date=datetime.date(2010, 12, 31))
    if dob.month == 1 or dob.day == 1:  # a date generalised to its year reads as 1 January
        dob = dob.replace(month=rng.randint(2, 12), day=rng.randint(2, 28))
    url, ip = f.url(), f.ipv4()
    doc = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": ssn}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": phone}, {"system": "email", "value": email}],
        "gender": rng.choice(["female", "male", "other"]),
        "birthDate": dob.isoformat(),
        "address": [{"line": [street], "city": city, "postalCode": pc, "country": loc[-2:]}],
        "contact": [{"name": {"text": kin}, "telecom": [{"system": "phone", "value": kphone}]}],
    }
    r.plant("names", "family name", "field name[].family", "name.0.family", words(family))
    r.plant("names", "given name", "field name[].given[]", "name.0.given.0", words(given))
    r.plant("phone", "phone (" + loc + ")", "field telecom[].value", "telecom.0.value", phone_needles(phone))
    r.plant("email", "e-mail", "field telecom[].value", "telecom.1.value", [("sub", norm(email))])
    r.plant("dates", "birthDate", "field birthDate", "birthDate", date_needles(dob))
    r.plant("geographic", "street (" + loc + ")", "field address[].line[]", "address.0.line.0", words(street))
    r.plant("geographic", "city (" + loc + ")", "field address[].city", "address.0.city", words(city))
    if re.fullmatch(r"[0-9]{5}", pc):
        r.plant("zip", "5-digit postcode (" + loc + ")", "field address[].postalCode", "address.0.postalCode",
                [("word", pc)])
    r.plant("ssn", "national id (" + loc + ")", "field identifier[].value", "identifier.0.value",
            [("sub", norm(ssn))])
    r.plant("names", "contact name", "field contact[].name.text", "contact.0.name.text", words(kin))
    r.plant("phone", "contact phone (" + loc + ")", "field contact[].telecom[].value", "contact.0.telecom.0.value",
            phone_needles(kphone))
    encs = []
    for e in range(rng.randint(1, 2)):
        seen = f.date_between(start_date=datetime.date(2015, 1, 1), end_date=datetime.date(2024, 12, 31))
        if seen.month == 1 or seen.day == 1:
            seen = seen.replace(month=rng.randint(2, 12), day=rng.randint(2, 28))
        parts = [("%s %s seen on %s for %s." % (given, family, seen.strftime(rng.choice(["%d/%m/%Y", "%B %d, %Y",
                                                                                        "%Y-%m-%d"])),
                                                rng.choice(REASONS)), [("names", "own name in note", words(given + " " + family)),
                                                                       ("dates", "visit date in note", date_needles(seen))]),
                 ("Contact %s at %s." % (kin, kphone), [("names", "contact name in note", words(kin)),
                                                       ("phone", "contact phone in note (" + loc + ")", phone_needles(kphone))]),
                 ("Lives at %s, %s %s." % (street.replace("\n", ", "), pc, city),
                  [("geographic", "street in note (" + loc + ")", words(street)),
                   ("geographic", "city in note (" + loc + ")", words(city))]),
                 ("Reach by %s or %s." % (phone, email), [("phone", "phone in note (" + loc + ")", phone_needles(phone)),
                                                          ("email", "e-mail in note", [("sub", norm(email))])]),
                 ("Portal %s, logged in from %s." % (url, ip), [("url", "Faker URL in note", [("sub", norm(url).rstrip("/"))]),
                                                                ("ip", "IPv4 in note", [("word", ip)])]),
                 (filler(f, r.plants), [])]
        rng.shuffle(parts)
        base = "encounters.%d." % e
        encs.append({"period": {"start": seen.isoformat() + "T09:30:00Z"}, "reasonCode": rng.choice(REASONS),
                     "note": [{"text": " ".join(p[0] for p in parts)}]})
        r.plant("dates", "period.start", "field encounters[].period.start", base + "period.start", date_needles(seen))
        for _, ps in parts:
            for cls, form, nd in ps:
                r.plant(cls, form, "scrubbed encounters[].note[].text", base + "note.0.text", nd)
    doc["encounters"] = encs
    return doc, r.plants


STYLE = {"canonical": False, "ascii": False, "slash": False}
CSV_EOL = {"csv": "\n"}


def make_chunk(seed, start, count):
    rng = random.Random("faker-%d-%d" % (seed, start))
    fk = fakers(seed * 1000003 + start)
    docs, plants = [], []
    for i in range(start, start + count):
        d, p = record(rng, fk, i)
        docs.append(d)
        plants.extend(p)
    return (*serialize(docs, [STYLE] * len(docs)), plants)


def write(outdir, n, seed, name="faker"):
    """-> plants, [(label, path, format, extra phicrypt args, CSV separator)]."""
    lines, bson, flats, plants = generate_chunks(make_chunk, n, seed)
    base = os.path.join(outdir, name)
    write_all(base, lines, bson, flats, [(".csv", ",", "\n", False)])
    return plants, [("jsonl", base + ".jsonl", "jsonl", [], ","), ("json", base + ".json", "json", [], ","),
                    ("bson", base + ".bson", "bson", [], ","), ("csv", base + ".csv", "csv", [], ",")]


if __name__ == "__main__":
    cli_main(__doc__, write, 3000)
