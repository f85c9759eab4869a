#!/usr/bin/python3
"""Adversarial patient export for the Safe Harbor leak test (synthetic data only).

Every record carries identifiers of each HIPAA class in every position an
export can hold them: the field made for them (as text, as a number, as an
epoch, as a BSON type), free text (notes, nested notes, comments inside kept
containers, arrays of comments, scrubbed objects), and fields the preset keeps
(reason, status, type, medications, codes, diagnoses, keys of allergies), each
wrapped in brackets, quotes, angle brackets, upper case, odd spaces and
dashes. Each plant is returned with its class, form and needles
(tests/deid/phimodel.py); nothing here prints a value.

  gen_adversarial.py --records 20000 --seed 1 --out DIR   (writes DIR/adv.{jsonl,json,bson,csv})
"""
import base64
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phimodel import Bin, Date, Long, Oid, Plant, Ts, cli_main, generate_chunks, norm, serialize, write_all  # noqa: E402

# Vocabulary that is not PHI. No word of it may equal a name token (checked below).
DX = [("E11.9", "type 2 diabetes mellitus"), ("I10", "essential hypertension"), ("J45.909", "asthma"),
      ("M54.5", "low back pain"), ("F41.1", "generalised anxiety"), ("K21.9", "reflux disease"),
      ("N39.0", "urinary tract infection"), ("I48.91", "atrial fibrillation"), ("C50.911", "breast neoplasm")]
MEDS = ["metformin 500 mg", "lisinopril 10 mg", "atorvastatin 20 mg", "albuterol inhaler", "sertraline 50 mg",
        "omeprazole 20 mg", "apixaban 5 mg", "levothyroxine 75 mcg"]
REASONS = ["routine review", "chest pain", "shortness of breath", "fall at home", "medication review",
           "wound check", "fever and cough"]
STATUS = ["active", "resolved", "discharged", "pending", "cancelled"]
ENC_TYPES = ["inpatient", "outpatient", "emergency", "telehealth"]
DEPTS = ["cardiology", "oncology", "geriatrics", "orthopaedics", "endocrinology"]
STATES = ["MA", "NH", "WY", "TX", "CA", "NY", "ME", "AZ"]
ALLERGENS = ["penicillin", "latex", "peanuts", "sulfa drugs", "shellfish"]

FIRST = ["José", "Zoë", "Siobhán", "Björn", "Łukasz", "Chloé", "Renée", "Mei", "Ngozi", "Aoife", "Li", "Wu",
         "Bo", "Yi", "Jo", "Ty", "Anaïs", "Søren", "Dmitrij", "Ximena", "Thuy", "Kwame", "Inés", "Oluwaseun"]
LAST = ["Núñez", "O'Brien", "D'Angelo", "Nguyen-Tran", "Ng", "Li", "Wu", "Xu", "Müller", "Çelik",
        "Østergaard", "MacLeod", "Okafor", "Abernathy", "Lê", "Papadopoulos", "Kowalczyk", "Ó Súilleabháin",
        "N'Diaye", "Haddad", "Szabó", "Yıldız", "Fitzgerald-Ochoa", "Quintero"]
EMPLOYERS = ["Quillfeather Logistics", "Brannock Tooling", "Vexmoor Dairy", "Ashgrove Pharmacy"]
STREETS = ["Larkspur Lane", "Quarry Road", "Juniper Court", "Wexford Avenue", "Tamarack Street",
           "Orchard Hollow", "Beacon Terrace", "Millbrook Drive", "Calle Almendro"]
CITIES = ["Cambridge", "Casper", "Hanover", "Tewksbury", "Marblehead", "Lowell", "Framingham", "Saugus"]
COUNTIES = ["Middlesex County", "Natrona County", "Grafton County", "Essex County"]
# ZIP prefixes: ordinary ones, and the 17 restricted ones that must become 000.
ZIP3 = ["021", "826", "037", "018", "019", "017", "100", "606"]
ZIP3_RESTRICTED = ["036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
                   "879", "884", "890", "893"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
RELATIONS = ["daughter", "son", "wife", "husband", "neighbour", "niece", "brother"]
ORD = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}
UNITS = ["ninety", "ninety-one", "ninety-two", "ninety-three", "ninety-four", "ninety-five", "ninety-six",
         "ninety-seven", "ninety-eight", "ninety-nine"]

# HIPAA classes (45 CFR 164.514(b)(2)(i) letter, label), in report order.
CLASSES = [("A", "names"), ("B", "geographic"), ("B", "zip"), ("C", "dates"), ("C", "ages>89"),
           ("D", "phone"), ("E", "fax"), ("F", "email"), ("G", "ssn"), ("H", "mrn"), ("I", "health plan"),
           ("J", "account"), ("K", "licence/cert"), ("L", "vehicle"), ("M", "device"), ("N", "url"),
           ("O", "ip"), ("P", "biometric"), ("Q", "photo"), ("R", "other id")]


def _vocab_words():
    txt = " ".join([d for c, d in DX] + [c for c, d in DX] + MEDS + REASONS + STATUS + ENC_TYPES + DEPTS +
                   ALLERGENS + RELATIONS + STATES)
    return set(re.findall(r"\w+", norm(txt)))


def name_tokens(s):
    return [t for t in re.split(r"[\s\-]+", norm(s)) if len(t) >= 2]


def _check_vocab():
    words = _vocab_words()
    for n in FIRST + LAST + EMPLOYERS:
        bad = [t for t in name_tokens(n) if t in words]
        assert not bad, "name token collides with vocabulary"


_check_vocab()


def digits(s):
    return re.sub(r"[^0-9]", "", s)


def N_word(s):
    return ("word", norm(s))


def N_sub(s):
    return ("sub", norm(s))


def N_digits(s):
    d = digits(s)
    return [("digits", d)] if len(d) >= 7 else []


def compact(s):
    return re.sub(r"[^0-9a-z]", "", norm(s))


def month_in_field(y, m):
    """Year and month left in a date field's value (a 10-day bucket of YYYYMMDD keeps them)."""
    return ("home_digits", "%04d%02d" % (y, m))


def date_needles(y, m, d, raw=None):
    """Any rendering of day-and-month (or month-and-year) of this date (phimodel.Haystack._date)."""
    return [("date", (y, m, d))] + ([N_word(raw)] if raw else [])


_DATE_FORMS = [
    (lambda r, y, m, d, M: "%04d-%02d-%02d" % (y, m, d), "date YYYY-MM-DD"),
    (lambda r, y, m, d, M: "%02d/%02d/%04d" % (m, d, y), "date MM/DD/YYYY"),
    (lambda r, y, m, d, M: "%d/%d/%02d" % (m, d, y % 100), "date M/D/YY"),
    (lambda r, y, m, d, M: "%d-%d-%02d" % (m, d, y % 100), "date M-D-YY"),
    (lambda r, y, m, d, M: "%d %s %d" % (d, M, y), "date D Month YYYY"),
    (lambda r, y, m, d, M: "%s %d, %d" % (M, d, y), "date Month D, YYYY"),
    (lambda r, y, m, d, M: "%s %d%s" % (M[:3], d, ORD.get(d, "th")), "date Mon Dth"),
    (lambda r, y, m, d, M: "%d%s %s" % (d, ORD.get(d, "th"), M), "date Dth Month"),
    (lambda r, y, m, d, M: "%04d.%02d.%02d" % (y, m, d), "date YYYY.MM.DD"),
    (lambda r, y, m, d, M: "%02d-%02d" % (m, d), "date MM-DD"),
    (lambda r, y, m, d, M: "%d/%d" % (m, d), "date M/D"),
    (lambda r, y, m, d, M: "%02d-%s-%04d" % (d, M[:3], y), "date DD-Mon-YYYY"),
    (lambda r, y, m, d, M: "%02d.%02d.%04d" % (d, m, y), "date DD.MM.YYYY (European)"),
    (lambda r, y, m, d, M: "%04d%02d%02d" % (y, m, d), "date YYYYMMDD"),
    (lambda r, y, m, d, M: "%s-%02d-%04d" % (M[:3].upper(), d, y), "date MON-DD-YYYY"),
    (lambda r, y, m, d, M: "%04d-%02d-%02dT%02d:%02d" % (y, m, d, r.randint(0, 23), r.randint(0, 59)), "date ISO date-time"),
    (lambda r, y, m, d, M: "%s %d" % (M, y), "date Month YYYY (month element)"),
    (lambda r, y, m, d, M: "%02d/%04d" % (m, y), "date MM/YYYY"),
    (lambda r, y, m, d, M: "the %d%s of %s" % (d, ORD.get(d, "th"), M), "date the Dth of Month"),
    (lambda r, y, m, d, M: "%s\u00a0%d" % (M[:3], d), "date Mon<NBSP>D"),
]


def date_forms(rng, y, m, d):
    """(text, form): one rendering of a date for free text."""
    f, form = rng.choice(_DATE_FORMS)
    return f(rng, y, m, d, MONTHS[m - 1]), form


def grp4(rng):
    """A 4-digit group that is not a plausible year (years are searched as words)."""
    while True:
        g = rng.randint(0, 9999)
        if not 1880 <= g <= 2039:
            return "%04d" % g


def small_num(rng, hi=899):
    """A small number that is not a plausible age over 89 (ages are searched as words)."""
    while True:
        n = rng.randint(2, hi)
        if not 90 <= n <= 129:
            return n


def rand_date(rng, y0, y1):
    # never January or the 1st: generalised dates (YYYY-01-01, YYYY-MM-01) must not look like a survivor
    return rng.randint(y0, y1), rng.randint(2, 12), rng.randint(2, 28)


def epoch_ms(y, m, d, h=0):
    return Date.of(y, m, d, h).ms


def luhn_complete(prefix, n):
    digs = [int(c) for c in prefix]
    while len(digs) < n - 1:
        digs.append(random.randint(0, 9))
    s = 0
    for i, dg in enumerate(reversed(digs)):
        if i % 2 == 0:
            dg *= 2
            dg -= 9 if dg > 9 else 0
        s += dg
    return "".join(map(str, digs)) + str((10 - s % 10) % 10)


WRAP = [("(%s)", "in ( )"), ("<%s>", "in < >"), ("[%s]", "in [ ]"), ('"%s"', 'in " "'), ("'%s'", "in ' '"),
        ("\u201c%s\u201d", "in curly quotes"), ("{%s}", "in { }"), ("%s", "bare"), ("%s.", "before ."),
        ("%s,", "before ,"), ("(%s).", "in ( )."), ("\n%s\n", "own line"), ("\t%s", "after tab"),
        ("\u00a0%s", "after NBSP"), ("\u2014%s\u2014", "between em dashes"), ("<b>%s</b>", "in HTML tags"),
        ("=%s", "after ="), ("*%s*", "in * *"), ("(%s;", "after ( before ;"), ("/%s/", "between slashes")]


class Rec:
    def __init__(self, rng, idx):
        self.rng, self.idx, self.plants = rng, idx, []

    def plant(self, cls, form, where, path, needles, scope=None, in_input=True):
        self.plants.append(Plant(self.idx, cls, form, where, path, needles, path if scope is None else scope,
                                 sweep=scope is None and not all(k == "word" and len(x) <= 4 and x.isdigit()
                                                                 for k, x in needles), in_input=in_input))


class Text:
    """Free text being built at one path, with its plants."""

    def __init__(self, rec, path, where, upper_ok=True):
        self.rec, self.path, self.where, self.parts = rec, path, where, []
        self.upper = upper_ok and rec.rng.random() < 0.12

    def lit(self, s):
        self.parts.append(s)

    def put(self, cls, text, form, needles, wrap=True, scope=None):
        rng = self.rec.rng
        w, wl = rng.choice(WRAP) if wrap and rng.random() < 0.7 else ("%s", "bare")
        self.parts.append(w % text)
        where = self.where + ", " + wl + (", upper case" if self.upper else "")
        self.rec.plant(cls, form, where, self.path, needles, scope)

    def done(self):
        s = " ".join(self.parts)
        return s.upper() if self.upper else s


class Person:
    def __init__(self, rng):
        self.first, self.last = rng.choice(FIRST), rng.choice(LAST)
        self.tokens = name_tokens(self.first) + name_tokens(self.last)

    def forms(self, rng):
        f, l = self.first, self.last
        strip = norm(l).title()  # accent- and apostrophe-free
        choices = [("%s %s" % (f, l), "name First Last"), ("%s, %s" % (l.upper(), f.upper()), "name LAST, FIRST"),
                   ("%s %s" % (norm(f).title(), strip), "name without accents/apostrophe"),
                   ("Mrs. %s" % l, "name title + surname"), ("%s's" % l, "name possessive"),
                   ("%s\u2019s" % l, "name possessive with \u2019"), ("%s.%s" % (f[0], l), "name initial.surname"),
                   ("%s\u00a0%s" % (f, l), "name with NBSP"), (l, "surname alone"), (f, "first name alone"),
                   ("%s %s" % (f.lower(), l.lower()), "name lower case")]
        if "'" in l:
            choices += [(l.replace("'", "\u2019"), "name apostrophe as \u2019"), (l.replace("'", ""), "name apostrophe dropped"),
                        (l.replace("'", "").upper(), "name apostrophe dropped, upper")]
        if "-" in l:
            choices.append((l.split("-")[0], "name first half of hyphenated"))
        return rng.choice(choices)

    def needles(self):
        return [("word", t) for t in self.tokens]


PHONE_US = [("(%d) %d-%s", "phone (NNN) NNN-NNNN"), ("(%d)%d-%s", "phone (NNN)NNN-NNNN"), ("%d-%d-%s", "phone NNN-NNN-NNNN"),
            ("%d.%d.%s", "phone NNN.NNN.NNNN"), ("%d %d %s", "phone NNN NNN NNNN"), ("%d%d%s", "phone 10 digits"),
            ("+1 %d %d %s", "phone +1 NNN NNN NNNN"), ("+1-%d-%d-%s", "phone +1-NNN-NNN-NNNN"),
            ("1-%d-%d-%s", "phone 1-NNN-NNN-NNNN"), ("+1 (%d) %d-%s", "phone +1 (NNN) NNN-NNNN"),
            ("%d\u2013%d\u2013%s", "phone with en dashes"), ("%d-%d-%s ext. {x}", "phone with extension"),
            ("%d-%d-%sx{x}", "phone with xNN extension"), ("tel:+1%d%d%s", "phone tel: URI"),
            ("%d\u00a0%d\u00a0%s", "phone with NBSPs"), ("(%d) %d - %s", "phone spaced dash")]
PHONE_INTL = [("+44 20 {g} {g}", "phone intl +44"), ("+44 (0)20 {g} {g}", "phone intl +44 (0)"),
              ("+33 6 {p} {p} {p} {p}", "phone intl +33 pairs"), ("+49 30 {p}{g}", "phone intl +49"),
              ("+81 3-{g}-{g}", "phone intl +81"), ("0044 20 {g} {g}", "phone intl 0044"), ("+61 2 {g} {g}", "phone intl +61")]


def phone_value(rng):
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), grp4(rng)
    core = "%d%d%s" % (a, b, c)
    if rng.random() < 0.75:
        fmt, form = rng.choice(PHONE_US)
        text = (fmt % (a, b, c)).replace("{x}", str(rng.randint(2, 89)))
    else:
        fmt, form = rng.choice(PHONE_INTL)
        text = fmt
        while "{g}" in text:
            text = text.replace("{g}", grp4(rng), 1)
        while "{p}" in text:
            text = text.replace("{p}", str(rng.randint(10, 89)), 1)
        core = digits(text)[-8:]
        return text, form, [("digits", core), ("digits", core[-7:])], int(digits(text))
    return text, form, [("digits", core), ("digits", core[-7:])], int(core)


def ssn_value(rng):
    a, b, c = rng.randint(100, 665), rng.randint(10, 99), grp4(rng)
    while a == 666:
        a = rng.randint(100, 665)
    text, form = rng.choice([("%d-%d-%s" % (a, b, c), "ssn NNN-NN-NNNN"), ("%d %d %s" % (a, b, c), "ssn NNN NN NNNN"),
                             ("%d.%d.%s" % (a, b, c), "ssn NNN.NN.NNNN"), ("%d - %d - %s" % (a, b, c), "ssn NNN - NN - NNNN"),
                             ("%d%d%s" % (a, b, c), "ssn 9 digits"), ("SSN#%d-%d-%s" % (a, b, c), "ssn SSN#..."),
                             ("%d\u2013%d\u2013%s" % (a, b, c), "ssn with en dashes"), ("%d/%d/%s" % (a, b, c), "ssn with slashes")])
    return text, form, [("digits", "%d%d%s" % (a, b, c))], int("%d%d%s" % (a, b, c))


def mrn_value(rng):
    n = rng.randint(10000000, 99999999)
    text, form = rng.choice([("MRN%d" % n, "mrn MRNnnnnnnnn"), ("MRN %d" % n, "mrn MRN nnnnnnnn"),
                             ("MRN: %d" % n, "mrn MRN: n"), ("MRN-%d" % n, "mrn MRN-n"), ("#%d" % n, "mrn #n"),
                             ("mrn%d" % n, "mrn lower"), ("H%d" % n, "mrn Hnnnnnnnn"), ("%d" % n, "mrn bare digits")])
    return text, form, [("digits", str(n))], n


def email_value(rng, p):
    loc = rng.choice(["%s.%s%d", "%s%s%d", "%s_%s+clinic%d"]) % (norm(p.first)[:6], norm(p.last).replace(" ", "")[:8],
                                                               rng.randint(10, 9999))
    dom = rng.choice(["example.com", "mail.example.org", "x.io", "uni.example.ac.uk"])
    addr = "%s@%s" % (loc, dom)
    text, form = rng.choice([(addr, "email plain"), (addr.upper(), "email upper case"), ("mailto:" + addr, "email mailto:")])
    k = rng.random()
    if k < 0.1:
        text, form = "%s@%s" % (p.first.lower() + str(rng.randint(10, 99)), "correo.example.es"), "email accented local part"
        addr = text
    elif k < 0.2:  # too short for format-preserving encryption
        text = addr = "%s%s@%s.io" % (norm(p.first)[0], norm(p.last)[0], rchars(rng, "abcdefghijkmnpqrstuvwxyz", 1))
        return text, "email short (js@x.io)", [("word", addr)]
    return text, form, [N_sub(addr)] + ([("word", norm(loc))] if len(loc) >= 6 else [])


def url_value(rng):
    tok = rchars(rng, "abcdefghjkmnpqrstuvwxyz23456789", 8)
    host = rng.choice(["portal.example.org", "mychart.example.net", "example.com", "www.example.com", "files.example.io"])
    path = "%s/p/%s" % (host, tok)
    text, form = rng.choice([("https://" + path, "url https://"), ("http://" + path, "url http://"), (path, "url scheme-less"),
                             ("www.example.com/u/" + tok, "url www. scheme-less"), ("HTTPS://" + path.upper(), "url upper case"),
                             ("ftp://" + path, "url ftp://"), ("https://" + path + "?id=1", "url with query")])
    if text.startswith("www.example.com/u/"):
        path = "www.example.com/u/" + tok
    return text, form, [N_sub(path.split("/", 1)[1]), ("word", tok)]


def ip_value(rng):
    o = [small_num(rng, 254) for _ in range(4)]
    text, form = rng.choice([("%d.%d.%d.%d" % tuple(o), "ip v4"), ("%d.%d.%d.%d:%d" % (*o, rng.randint(1025, 9999)), "ip v4:port"),
                             ("%03d.%03d.%03d.%03d" % tuple(o), "ip v4 zero-padded"),
                             ("2001:db8:%x:%x::%x" % (rng.randint(1, 65535), rng.randint(1, 65535), rng.randint(1, 65535)), "ip v6"),
                             ("[2001:db8::%x:%x]" % (rng.randint(1, 65535), rng.randint(1, 65535)), "ip v6 in [ ]")])
    if "2001" in text:
        return text, form, [N_word(text.strip("[]"))]
    return text, form, [N_word("%d.%d.%d.%d" % tuple(o)), N_word("%03d.%03d.%03d.%03d" % tuple(o))]


def hp_value(rng):
    kind = rng.randint(0, 3)
    if kind == 0:
        v = "%s%09d" % ("".join(rng.choice("BCDFGHJKLMNPRSTVWXZ") for _ in range(3)), rng.randint(100000000, 999999999))
        form = "health plan member id XXXnnnnnnnnn"
    elif kind == 1:
        v = "PN-%04d-%05d" % (rng.randint(2100, 9999), rng.randint(10000, 99999))
        form = "health plan policy PN-nnnn-nnnnn"
    elif kind == 2:  # Medicare MBI: no run of 5 digits
        L, A = "ACDEFGHJKMNPQRTUVWXY", "ACDEFGHJKMNPQRTUVWXY0123456789"
        v = "%d%s%s%d-%s%s%d-%s%s%d%d" % (rng.randint(1, 9), rng.choice(L), rng.choice(A), rng.randint(0, 9), rng.choice(L),
                                        rng.choice(A), rng.randint(0, 9), rng.choice(L), rng.choice(L), rng.randint(0, 9),
                                        rng.randint(0, 9))
        form = "health plan Medicare MBI"
    else:
        v = "W%09d" % rng.randint(100000000, 999999999)
        form = "health plan subscriber Wnnnnnnnnn"
    return v, form, [N_word(v), ("word", compact(v))] + N_digits(v)


def account_value(rng):
    kind = rng.randint(0, 3)
    if kind == 0:
        v = "ACCT-%010d" % rng.randint(10 ** 8, 10 ** 10 - 1); form = "account ACCT-n"
    elif kind == 1:
        c = luhn_complete("4", 16); v = " ".join(c[i:i + 4] for i in range(0, 16, 4)); form = "account card number spaced"
    elif kind == 2:
        c = luhn_complete("5", 16); v = "-".join(c[i:i + 4] for i in range(0, 16, 4)); form = "account card number dashed"
    else:
        v = "GB%02d WEST %s %s %s %02d" % (rng.randint(10, 99), grp4(rng), grp4(rng), grp4(rng), rng.randint(10, 99))
        form = "account IBAN"
    return v, form, [N_word(v), ("word", compact(v))] + N_digits(v)


def licence_value(rng):
    v, form = rng.choice([("S%08d" % rng.randint(10 ** 7, 10 ** 8 - 1), "licence driver S12345678"),
                          ("D%03d-%04d-%04d" % (rng.randint(100, 999), rng.randint(2100, 9999), rng.randint(2100, 9999)), "licence driver D123-4567-8901"),
                          ("RN-%07d" % rng.randint(10 ** 6, 10 ** 7 - 1), "licence nursing RN-n"),
                          ("BC-%s-%06d" % (grp4(rng), rng.randint(10 ** 5, 10 ** 6 - 1)), "certificate birth BC-n"),
                          ("DEA %s%s%07d" % (rng.choice("ABFM"), rng.choice("KLMNPR"), rng.randint(10 ** 6, 10 ** 7 - 1)), "licence DEA number")])
    return v, form, [N_word(v), ("word", compact(v))] + N_digits(v)


def vin_value(rng):
    A = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    if rng.random() < 0.5:
        v = rchars(rng, A, 17); form = "vehicle VIN"
    else:
        v, form = rng.choice([("%d%s%03d" % (rng.randint(1, 9), "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3)), rng.randint(100, 999)), "vehicle plate 7ABC123"),
                              ("%s %s" % ("".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3)), grp4(rng)), "vehicle plate ABC 1234"),
                              ("%s-%s" % ("".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3)), grp4(rng)), "vehicle plate ABC-1234")])
    return v, form, [N_word(v), ("word", compact(v))]


MAC_BYTES = [b for b in range(256) if not 0x90 <= b <= 0x99]  # no "9x" byte: ages are searched as words


def device_value(rng):
    kind = rng.randint(0, 4)
    if kind == 0:
        v = "SN-%s" % rchars(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", 10); form = "device serial SN-..."
    elif kind == 1:
        v = "(01)%014d(17)%02d%02d%02d(10)%s(21)%08d" % (rng.randint(10 ** 12, 10 ** 13), rng.randint(25, 30), rng.randint(2, 12),
                                                         rng.randint(2, 28), rchars(rng, "ABCDEFGH0123456789", 6),
                                                         rng.randint(10 ** 7, 10 ** 8 - 1))
        form = "device GS1 UDI"
    elif kind == 2:
        v = ":".join("%02X" % rng.choice(MAC_BYTES) for _ in range(6))
        form = "device MAC address"
    elif kind == 3:
        v = "%015d" % rng.randint(10 ** 14, 10 ** 15 - 1); form = "device IMEI"
    else:
        v = "PM%07d" % rng.randint(10 ** 6, 10 ** 7 - 1); form = "device pacemaker PMn"
    return v, form, [N_word(v), ("word", compact(v))] + N_digits(v)


def otherid_value(rng):
    kind = rng.randint(0, 2)
    if kind == 0:
        v = "%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                               rng.getrandbits(12), rng.getrandbits(48)); form = "other id UUID"
    elif kind == 1:
        v = "P-%09d" % rng.randint(10 ** 8, 10 ** 9 - 1); form = "other id patient P-n"
    else:
        v = "Z%07d" % rng.randint(10 ** 6, 10 ** 7 - 1); form = "other id EHR Znnnnnnn"
    return v, form, [N_word(v), ("word", compact(v))] + N_digits(v)


def b64(rng, n):
    return base64.b64encode(rng.randbytes(n * 3 // 4 + 3)).decode()[:n]


def rchars(rng, alphabet, n):
    return "".join(alphabet[b % len(alphabet)] for b in rng.randbytes(n))


def own_field(r, doc, cls, key, made):
    """An identifier in the top-level field made for it. made: (text, form, needles)."""
    doc[key] = made[0]
    r.plant(cls, made[1], "field " + key, key, made[2])
    return made


def patient(rng, i, ref_year=2026):
    r = Rec(rng, i)
    p = Person(rng)
    kin = Person(rng)
    kin_rel = rng.choice(RELATIONS)
    employer = rng.choice(EMPLOYERS)
    old = rng.random() < 0.35
    by, bm, bd = rand_date(rng, 1905, 1932) if old else rand_date(rng, 1941, 2010)
    doc = {}

    # (R) ids, (A) names in their own fields
    doc["_id"] = Oid("%024x" % rng.getrandbits(96))
    r.plant("other id", "ObjectId _id", "field _id", "_id", [N_sub(doc["_id"].hex)])
    pid, pform, pnd = otherid_value(rng)
    doc["patientId"] = pid
    r.plant("other id", pform, "field patientId", "patientId", pnd)
    mrn_t, mrn_f, mrn_nd, mrn_n = mrn_value(rng)
    doc["mrn"] = mrn_n if rng.random() < 0.3 else mrn_t
    r.plant("mrn", mrn_f if isinstance(doc["mrn"], str) else "mrn as number", "field mrn", "mrn", mrn_nd)
    doc["name"] = {"first": p.first, "last": p.last}
    r.plant("names", "first name", "field name.first", "name.first", [("word", t) for t in name_tokens(p.first)])
    r.plant("names", "surname", "field name.last", "name.last", [("word", t) for t in name_tokens(p.last)])
    if rng.random() < 0.5:
        doc["fullName"] = "%s, %s" % (p.last.upper(), p.first.upper())
        r.plant("names", "LAST, FIRST", "field fullName", "fullName", p.needles())

    # (C) birth date in many encodings
    enc = rng.randint(0, 9)
    dob_key = rng.choice(["dob", "birthDate", "DateOfBirth", "birth_date"])
    if enc == 0:
        v, f = Date.of(by, bm, bd), "dob BSON date"
    elif enc == 1:
        v, f = "%04d-%02d-%02d" % (by, bm, bd), "dob YYYY-MM-DD string"
    elif enc == 2:
        v, f = "%02d/%02d/%04d" % (bm, bd, by), "dob MM/DD/YYYY string"
    elif enc == 3:
        v, f = "%04d%02d%02d" % (by, bm, bd), "dob YYYYMMDD string"
    elif enc == 4:
        v, f = int("%04d%02d%02d" % (by, bm, bd)), "dob YYYYMMDD number"
    elif enc == 5:
        v, f = Long(epoch_ms(by, bm, bd)), "dob epoch milliseconds"
    elif enc == 6:
        v, f = epoch_ms(by, bm, bd) // 1000, "dob epoch seconds"
    elif enc == 7:
        v, f = "%04d-%02d-%02dT00:00:00-05:00" % (by, bm, bd), "dob ISO with offset"
    elif enc == 8:
        v, f = "%d %s %d" % (bd, MONTHS[bm - 1], by), "dob D Month YYYY string"
    else:
        v, f = Date.of(by, bm, bd, 12), "dob BSON date at noon"
    doc[dob_key] = v
    nd = date_needles(by, bm, bd)
    if enc in (5, 6):
        nd.append(("digits", str(abs(epoch_ms(by, bm, bd) // 1000))))
    r.plant("dates", f, "field " + dob_key, dob_key, nd + [month_in_field(by, bm)])
    if old:
        r.plant("ages>89", "birth year of a patient aged 90+ (" + f + ")", "field " + dob_key, dob_key,
                [("word", str(by)), ("home_digits", str(by))] if enc not in (5, 6) else [("word", str(by))],
                in_input=enc not in (5, 6))  # an epoch shows no year
    age = ref_year - by - 1
    if rng.random() < 0.8:
        av = rng.choice([age, str(age), float(age), Long(age), "%d years" % age])
        doc["age"] = av
        if old:
            r.plant("ages>89", "age field as " + type(av).__name__, "field age", "age", [("word", str(age))])
    doc["sex"] = rng.choice(["F", "M", "X"])

    # (B) addresses[] with zips (restricted prefixes included), geo
    addrs = []
    for k in range(rng.randint(1, 2)):
        restricted = rng.random() < 0.25
        z3 = rng.choice(ZIP3_RESTRICTED if restricted else ZIP3)
        z5 = "%s%02d" % (z3, rng.randint(10, 99))
        street = "%d %s" % (small_num(rng), rng.choice(STREETS))
        city = rng.choice(CITIES)
        a = {"type": rng.choice(["home", "mailing"]), "street": street, "city": city, "state": rng.choice(STATES)}
        base = "addresses.%d." % k
        r.plant("geographic", "street", "field addresses[].street", base + "street", [N_word(street)])
        r.plant("geographic", "city", "field addresses[].city", base + "city", [N_word(city)])
        zf = rng.randint(0, 3)
        if zf == 0:
            a["zip"] = z5; zform = "zip 5-digit string"
        elif zf == 1:
            a["zip"] = int(z5); zform = "zip as number"
        elif zf == 2:
            a["zip"] = "%s-%s" % (z5, grp4(rng)); zform = "zip+4"
        else:
            a["postalCode"] = z5; zform = "postalCode"
        zk = "zip" if "zip" in a else "postalCode"
        zneed = [("word", z5.lstrip("0") if zf == 1 else z5), ("word", z5)]
        r.plant("zip", zform, "field addresses[]." + zk, base + zk, zneed)
        if restricted:
            r.plant("zip", "restricted ZIP3 prefix kept (must be 000)", "field addresses[]." + zk, base + zk,
                    [("word", z3), ("word", z3.lstrip("0"))], in_input=False)
        if rng.random() < 0.4:
            a["county"] = rng.choice(COUNTIES)
            r.plant("geographic", "county", "field addresses[].county", base + "county", [N_word(a["county"])])
        if rng.random() < 0.4:
            lat, lon = round(rng.uniform(25, 48), 5), round(rng.uniform(-120, -70), 5)
            a["geo"] = {"lat": lat, "lon": lon} if rng.random() < 0.5 else {"type": "Point", "coordinates": [lon, lat]}
            r.plant("geographic", "latitude", "field addresses[].geo", base + ("geo.lat" if "lat" in a["geo"] else "geo.coordinates.1"),
                    [("word", repr(lat))])
        addrs.append(a)
    doc["addresses"] = addrs

    # (D)-(F) contact fields, contacts[] (relatives are identifiers too)
    ph_t, ph_f, ph_nd, ph_n = phone_value(rng)
    doc["phone"] = ph_n if rng.random() < 0.2 else ph_t
    r.plant("phone", ph_f if isinstance(doc["phone"], str) else "phone as number", "field phone", "phone", ph_nd)
    fx_t, fx_f, fx_nd, _ = phone_value(rng)
    doc["fax"] = fx_t
    r.plant("fax", "fax " + fx_f, "field fax", "fax", fx_nd)
    em_t, em_f, em_nd = email_value(rng, p)
    doc["email"] = em_t
    r.plant("email", em_f, "field email", "email", em_nd)
    kph_t, kph_f, kph_nd, _ = phone_value(rng)
    doc["contacts"] = [{"relation": kin_rel, "name": "%s %s" % (kin.first, kin.last), "phone": kph_t}]
    r.plant("names", "relative's name", "field contacts[].name", "contacts.0.name", kin.needles())
    r.plant("phone", kph_f, "field contacts[].phone", "contacts.0.phone", kph_nd)
    doc["employer"] = employer
    emp_nd = [("word", name_tokens(employer)[0])]
    r.plant("names", "employer", "field employer", "employer", emp_nd)

    # (G)-(M) numbers in their fields
    ssn_t, ssn_f, ssn_nd, ssn_n = ssn_value(rng)
    doc["ssn"] = ssn_n if rng.random() < 0.2 else ssn_t
    r.plant("ssn", ssn_f if isinstance(doc["ssn"], str) else "ssn as number", "field ssn", "ssn", ssn_nd)
    hp_t, hp_f, hp_nd = hp_value(rng)
    doc["insurance"] = {"plan": rng.choice(["PPO", "HMO", "Medicare"]), "memberId": hp_t,
                        "insuranceType": rng.choice(["commercial", "public"])}
    r.plant("health plan", hp_f, "field insurance.memberId", "insurance.memberId", hp_nd)
    own_field(r, doc, "account", "accountNumber", account_value(rng))
    own_field(r, doc, "licence/cert", "driversLicense", licence_value(rng))
    ve = vin_value(rng)
    own_field(r, doc, "vehicle", "vin" if ve[1] == "vehicle VIN" else "licensePlate", ve)
    own_field(r, doc, "device", "deviceId", device_value(rng))
    ur_t, ur_f, ur_nd = own_field(r, doc, "url", "website", url_value(rng))
    ip_t, ip_f, ip_nd = own_field(r, doc, "ip", "ipAddress", ip_value(rng))
    fp = b64(rng, 44)
    if rng.random() < 0.5:
        doc["fingerprint"] = Bin(0, fp.encode())
        r.plant("biometric", "fingerprint template (BSON binary)", "field fingerprint", "fingerprint",
                [N_sub(base64.b64encode(fp.encode()).decode()[:24])])
    else:
        doc["fingerprint"] = fp
        r.plant("biometric", "fingerprint template (base64 text)", "field fingerprint", "fingerprint", [N_sub(fp[:24])])
    ph = b64(rng, 60)
    doc["photo"] = "data:image/jpeg;base64," + ph
    r.plant("photo", "face photo data URI", "field photo", "photo", [N_sub(ph[:24])])

    # Encounters, with kept containers (diagnoses, medications) holding identifiers
    encs = []
    for e in range(rng.randint(1, 2)):
        ey, em, ed = rand_date(rng, 2015, 2024)
        base = "encounters.%d." % e
        enc = {"type": rng.choice(ENC_TYPES), "status": rng.choice(STATUS), "department": rng.choice(DEPTS)}
        df = rng.randint(0, 5)
        if df == 0:
            enc["date"] = Date.of(ey, em, ed, rng.randint(7, 20)); f = "encounter BSON date"
        elif df == 1:
            enc["admitted"] = "%04d-%02d-%02dT%02d:30:00Z" % (ey, em, ed, rng.randint(7, 20)); f = "admitted ISO string"
        elif df == 2:
            enc["discharged"] = Long(epoch_ms(ey, em, ed, 9)); f = "discharged epoch ms"
        elif df == 3:
            enc["visitDate"] = "%04d%02d%02d" % (ey, em, ed); f = "visitDate YYYYMMDD string"
        elif df == 4:
            enc["procedureDate"] = int("%04d%02d%02d" % (ey, em, ed)); f = "procedureDate YYYYMMDD number"
        else:
            enc["followUpDate"] = "%02d/%02d/%04d" % (em, ed, ey); f = "followUpDate MM/DD/YYYY"
        dk = list(enc)[-1]
        nd = date_needles(ey, em, ed)
        if df == 2:
            nd.append(("digits", str(epoch_ms(ey, em, ed, 9) // 1000)))
        r.plant("dates", f, "field encounters[]." + dk, base + dk, nd + [month_in_field(ey, em)])

        # reason: a field the preset keeps, written as free text
        rs = Text(r, base + "reason", "kept field encounters[].reason")
        rs.lit(rng.choice(REASONS) + ";")
        k = rng.randint(0, 5)
        if k == 0:
            t, fm = p.forms(rng); rs.lit("seen with"); rs.put("names", t, fm, p.needles())
        elif k == 1:
            rs.lit("%s called from" % kin_rel); t, fm, nd2, _ = phone_value(rng); rs.put("phone", t, fm, nd2)
        elif k == 2:
            yy, mm, dd = rand_date(rng, 2015, 2024); t, fm = date_forms(rng, yy, mm, dd); rs.lit("onset"); rs.put("dates", t, fm, date_needles(yy, mm, dd, t))
        elif k == 3:
            rs.lit("per"); t, fm = kin.forms(rng); rs.put("names", t, fm, kin.needles())
        elif k == 4 and old:
            a_t = rng.choice(["%d yo" % age, "aged %d" % age, "%d-year-old" % age])
            rs.put("ages>89", a_t, "age in text", [("word", str(age))], scope=base + "reason")
        else:
            rs.lit("see"); rs.put("url", ur_t, ur_f, ur_nd)
        enc["reason"] = rs.done()

        if rng.random() < 0.25:  # status as free text
            st = Text(r, base + "status", "kept field encounters[].status")
            st.lit("discharged to home of")
            t, fm = kin.forms(rng)
            st.put("names", t, fm, kin.needles())
            enc["status"] = st.done()
        if rng.random() < 0.15:  # type carrying an identifier
            tp = Text(r, base + "type", "kept field encounters[].type", upper_ok=False)
            tp.lit("telehealth from")
            tp.put("ip", ip_t, ip_f, ip_nd, wrap=False)
            enc["type"] = tp.done()

        dxs = []
        for j in range(rng.randint(1, 2)):
            code, desc = rng.choice(DX)
            dxb = base + "diagnoses.%d." % j
            dx = {"code": code, "description": desc}
            ny, nm, ndd = rand_date(rng, 2015, 2024)
            dx["notedOn"] = "%04d-%02d-%02d" % (ny, nm, ndd)
            r.plant("dates", "date string in unknown field inside kept container", "kept container diagnoses[].notedOn",
                    dxb + "notedOn", date_needles(ny, nm, ndd))
            cm = Text(r, dxb + "comment", "scrubbed diagnoses[].comment inside kept container")
            cm.lit("confirmed with")
            t, fm = (p if rng.random() < 0.5 else kin).forms(rng)
            cm.put("names", t, fm, p.needles() + kin.needles())
            if rng.random() < 0.5:
                cm.lit("on"); yy, mm, dd = rand_date(rng, 2015, 2024); t, fm = date_forms(rng, yy, mm, dd)
                cm.put("dates", t, fm, date_needles(yy, mm, dd, t))
            dx["comment"] = cm.done()
            if rng.random() < 0.3:
                dx["recordedAt"] = Ts(epoch_ms(ny, nm, ndd, 10) // 1000, rng.randint(1, 9))
                r.plant("dates", "BSON Timestamp in kept container", "kept container diagnoses[].recordedAt",
                        dxb + "recordedAt", [("digits", str(dx["recordedAt"].t))])
            if rng.random() < 0.3:
                dx["enteredBy"] = Oid("%024x" % rng.getrandbits(96))
                r.plant("other id", "ObjectId in kept container", "kept container diagnoses[].enteredBy",
                        dxb + "enteredBy", [N_sub(dx["enteredBy"].hex)])
            if rng.random() < 0.1:
                ph2 = b64(rng, 40)
                dx["photo"] = "data:image/png;base64," + ph2
                r.plant("photo", "face photo inside kept container", "kept container diagnoses[].photo", dxb + "photo",
                        [N_sub(ph2[:24])])
            if rng.random() < 0.1:
                dx["phone"] = kph_t
                r.plant("phone", kph_f, "kept container diagnoses[].phone", dxb + "phone", kph_nd)
            dxs.append(dx)
        enc["diagnoses"] = dxs

        meds = []
        for j in range(rng.randint(0, 2)):
            mb = base + "medications.%d." % j
            m = {"name": rng.choice(MEDS)}
            if rng.random() < 0.4:
                m["startDate"] = "%04d-%02d-%02d" % rand_date(rng, 2015, 2024)
                y3, m3, d3 = map(int, m["startDate"].split("-"))
                r.plant("dates", "startDate inside kept medications[]", "kept container medications[].startDate",
                        mb + "startDate", date_needles(y3, m3, d3))
            if rng.random() < 0.3:
                m["pharmacyPhone"] = kph_t
                r.plant("phone", kph_f, "kept container medications[].pharmacyPhone", mb + "pharmacyPhone", kph_nd)
            meds.append(m)
        if meds:
            enc["medications"] = meds
        en = Text(r, base + "notes", "scrubbed encounters[].notes")
        _note(r, en, p, kin, kin_rel, employer, old, age, {"phone": (ph_t, ph_f, ph_nd), "mrn": (mrn_t, mrn_f, mrn_nd),
                                                          "ssn": (ssn_t, ssn_f, ssn_nd), "email": (em_t, em_f, em_nd)},
              doc, 2)
        enc["notes"] = en.done()
        encs.append(enc)
    doc["encounters"] = encs

    # codes: a kept array of scalars, sometimes with an identifier in it
    codes = [c for c, _ in rng.sample(DX, 2)]
    if rng.random() < 0.2:
        codes.append(mrn_t)
        r.plant("mrn", mrn_f, "kept array codes[]", "codes.%d" % (len(codes) - 1), mrn_nd)
    elif rng.random() < 0.2:
        o = Oid("%024x" % rng.getrandbits(96))
        codes.append(o)
        r.plant("other id", "ObjectId reference in kept array", "kept array codes[]", "codes.%d" % (len(codes) - 1), [N_sub(o.hex)])
    doc["codes"] = codes
    # medications at top level: kept array of strings, one with a name in it
    meds = rng.sample(MEDS, 2)
    if rng.random() < 0.25:
        t, fm = kin.forms(rng)
        meds.append("%s (collected by %s %s)" % (rng.choice(MEDS), kin_rel, t))
        r.plant("names", fm, "kept array medications[] (free text)", "medications.2", kin.needles())
    doc["medications"] = meds
    # allergies: kept object whose keys carry identifiers (CSV: one JSON cell)
    alg = {rng.choice(ALLERGENS): True}
    if rng.random() < 0.15:
        yy, mm, dd = rand_date(rng, 2015, 2024)
        t, fm = date_forms(rng, yy, mm, dd)
        alg["%s (reported %s)" % (rng.choice(ALLERGENS), t)] = True
        r.plant("dates", fm, "key of kept object allergies", "allergies.{key}", date_needles(yy, mm, dd, t), scope="@keys")
    doc["allergies"] = alg

    # Scrubbed containers: an array of comments and an object of history
    cm = Text(r, "comments.0", "scrubbed array comments[]")
    cm.lit("left voicemail for")
    t, fm = kin.forms(rng); cm.put("names", t, fm, kin.needles())
    cm.lit("at"); t, fm, nd2, _ = phone_value(rng); cm.put("phone", t, fm, nd2)
    doc["comments"] = [cm.done(), "no further action"]
    hy, hm, hd = rand_date(rng, 1990, 2014)
    hist = {"onset": Date.of(hy, hm, hd)}
    r.plant("dates", "BSON date inside scrubbed object history", "scrubbed object history.onset", "history.onset",
            date_needles(hy, hm, hd))
    ht = Text(r, "history.text", "scrubbed object history.text")
    ht.lit("previously treated at")
    ht.put("geographic", addrs[0]["city"], "city in text", [N_word(addrs[0]["city"])])
    hist["text"] = ht.done()
    doc["history"] = hist
    if rng.random() < 0.3:
        doc["lastSync"] = Ts(epoch_ms(*rand_date(rng, 2020, 2024)) // 1000, 1)
        r.plant("dates", "BSON Timestamp in unknown field", "field lastSync", "lastSync", [("digits", str(doc["lastSync"].t))])

    # Top-level notes: everything, in every wrapper
    nt = Text(r, "notes", "scrubbed notes")
    _note(r, nt, p, kin, kin_rel, employer, old, age, {"phone": (ph_t, ph_f, ph_nd), "mrn": (mrn_t, mrn_f, mrn_nd),
                                                      "ssn": (ssn_t, ssn_f, ssn_nd), "email": (em_t, em_f, em_nd)},
          doc, 5)
    doc["notes"] = nt.done()
    return doc, r.plants


# _note's sentences that plant one fresh number: case -> (value maker, lead-in, class)
NUMBER_SENTENCES = {7: (hp_value, "Member ID", "health plan"), 8: (account_value, "Paid with", "account"),
                    9: (licence_value, "ID checked:", "licence/cert"), 10: (vin_value, "Drove car", "vehicle"),
                    11: (device_value, "Implant", "device"), 12: (url_value, "Portal", "url"),
                    13: (ip_value, "Logged in from", "ip")}


def _note(r, t, p, kin, kin_rel, employer, old, age, own, doc, n):
    """n sentences, each planting one identifier (own values or fresh ones) in a random wrapper."""
    rng = r.rng
    for _ in range(n):
        k = rng.randint(0, 21)
        if k == 0:
            x, fm = p.forms(rng); t.lit("Patient"); t.put("names", x, fm, p.needles()); t.lit("seen today.")
        elif k == 1:
            x, fm = kin.forms(rng); t.lit("%s" % kin_rel.title()); t.put("names", x, fm, kin.needles())
            x2, fm2, nd2 = own["phone"] if rng.random() < 0.5 else phone_value(rng)[:3]
            t.put("phone", x2, fm2, nd2); t.lit("is the contact.")
        elif k == 2:
            x, fm, nd = own["mrn"]; t.lit("Chart"); t.put("mrn", x, fm, nd); t.lit("reviewed.")
        elif k == 3:
            x, fm, nd = own["ssn"] if rng.random() < 0.5 else ssn_value(rng)[:3]; t.lit("SSN on file"); t.put("ssn", x, fm, nd)
        elif k == 4:
            x, fm, nd = own["email"]; t.lit("Write to"); t.put("email", x, fm, nd)
        elif k == 5:
            y, m, d = rand_date(rng, 2015, 2024); x, fm = date_forms(rng, y, m, d); t.lit("Last visit"); t.put("dates", x, fm, date_needles(y, m, d, x))
        elif k == 6 and old:
            x, fm = rng.choice([("aged %d" % age, "age 'aged N'"), ("age: %d" % age, "age 'age: N'"), ("%d y.o." % age, "age 'N y.o.'"),
                                ("%d yrs" % age, "age 'N yrs'"), ("%dyo" % age, "age 'Nyo'"), ("%d-year-old" % age, "age 'N-year-old'"),
                                ("%d years old" % age, "age 'N years old'"), ("AGE %d" % age, "age 'AGE N'")])
            t.put("ages>89", x, fm, [("word", str(age)), N_word(x)], scope=t.path)
        elif k in NUMBER_SENTENCES:
            make, lead, cls = NUMBER_SENTENCES[k]
            x, fm, nd = make(rng)
            t.lit(lead)
            t.put(cls, x, fm, nd)
        elif k == 14:
            a = doc["addresses"][0]
            t.lit("Lives on")
            t.put("geographic", a["street"], "street in text", [N_word(a["street"]), N_word(a["street"].split(" ", 1)[1])])
        elif k == 15:
            t.lit("Works at"); t.put("names", employer, "employer in text", [("word", name_tokens(employer)[0])])
        elif k == 16:
            x, fm, nd, _ = phone_value(rng); t.lit("Fax results to"); t.put("fax", x, "fax " + fm, nd)
        elif k == 17:
            x, fm, nd = otherid_value(rng); t.lit("External ref"); t.put("other id", x, fm, nd)
        elif k == 18:
            z = rng.choice(ZIP3 + ZIP3_RESTRICTED) + "%02d" % rng.randint(10, 99); t.lit("Moved to ZIP"); t.put("zip", z, "zip in text", [("word", z)])
        elif k == 19:
            x = b64(rng, 32); t.lit("voiceprint hash"); t.put("biometric", x, "biometric hash in text", [N_sub(x)])
        elif k == 20 and old and age < 100:
            x = UNITS[age - 90]
            t.put("ages>89", x + " years old", "age spelled out", [("word", x)], scope=t.path)
        else:
            y, m, d = rand_date(rng, 2015, 2024); t.lit("Seen"); x, fm = date_forms(rng, y, m, d)
            t.put("dates", x, fm, date_needles(y, m, d, x))


def make_chunk(seed, start, count):
    rng = random.Random("adversarial-%d-%d" % (seed, start))
    random.seed("luhn-%d-%d" % (seed, start))  # luhn_complete
    docs, plants, styles = [], [], []
    for i in range(start, start + count):
        d, p = patient(rng, i)
        docs.append(d)
        plants.extend(p)
        styles.append({"canonical": rng.random() < 0.3, "ascii": rng.random() < 0.3, "slash": rng.random() < 0.2})
    return (*serialize(docs, styles, CSV_CELLS), plants)


CSV_CELLS = {"allergies"}  # kept as one JSON cell, as mongoexport --fields=allergies writes it
CSV_EOL = {"csv": "\n"}


def write(outdir, n, seed, name="adv"):
    """-> plants, [(label, path, format, extra phicrypt args, CSV separator)]."""
    lines, bson, flats, plants = generate_chunks(make_chunk, n, seed)
    base = os.path.join(outdir, name)
    write_all(base, lines, bson, flats, [(".csv", ",", "\n", False)])
    return plants, [(f, base + "." + f, f, [], ",") for f in ("jsonl", "json", "bson", "csv")]


if __name__ == "__main__":
    cli_main(__doc__, write, 20000)
