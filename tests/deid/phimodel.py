"""Shared model of the adversarial de-identification test (tests/deid/).

One value model (Python scalars plus Date, Oid, Ts, Bin) is written as JSON
lines, a JSON array, BSON (mongodump: concatenated documents) and CSV
(mongoexport: dotted column names, array items numbered), and read back from
the tool's output in the same model, so that the checker compares values, not
bytes. A Plant is one identifier planted in one record: its HIPAA class, the
form it was written in, where it was put, and the needles that find it again
(case-folded, accent- and apostrophe-stripped, digits only). Synthetic data
only: every value comes from a seeded random generator.
"""
import base64
import datetime
import json
import os
import re
import struct
import unicodedata

# --------------------------------------------------------------------------
# Value model


class Date:
    """A BSON UTC datetime (milliseconds since the epoch)."""
    __slots__ = ("ms",)

    def __init__(self, ms):
        self.ms = int(ms)

    @classmethod
    def of(cls, y, m=1, d=1, hh=0, mm=0, ss=0):
        dt = datetime.datetime(y, m, d, hh, mm, ss, tzinfo=datetime.timezone.utc)
        return cls(round(dt.timestamp() * 1000))

    def iso(self):
        # proleptic, so pre-1970 and pre-1900 dates print like mongoexport
        base = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        try:
            dt = base + datetime.timedelta(milliseconds=self.ms)
        except OverflowError:
            return "Date(%d)" % self.ms
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (dt.year, dt.month, dt.day, dt.hour, dt.minute,
                                                        dt.second, dt.microsecond // 1000)


class Oid:
    __slots__ = ("hex",)

    def __init__(self, h):
        self.hex = h.lower()


class Ts:
    __slots__ = ("t", "i")

    def __init__(self, t, i):
        self.t, self.i = int(t), int(i)


class Bin:
    __slots__ = ("sub", "data")

    def __init__(self, sub, data):
        self.sub, self.data = sub, bytes(data)


class Long(int):
    """An int written as $numberLong / BSON int64 even when small."""


# --------------------------------------------------------------------------
# Writers

def _json_str(s, ascii_only, esc_slash):
    t = json.dumps(s, ensure_ascii=ascii_only)
    return t.replace("/", "\\/") if esc_slash else t


def to_json(v, style):
    """style: dict(canonical=bool, ascii=bool, slash=bool)."""
    if isinstance(v, dict):
        return "{" + ",".join(_json_str(k, style["ascii"], False) + ":" + to_json(x, style) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(to_json(x, style) for x in v) + "]"
    if isinstance(v, str):
        return _json_str(v, style["ascii"], style["slash"])
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Long):
        return '{"$numberLong":"%d"}' % v if style["canonical"] else str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Date):
        if style["canonical"] or not (0 <= v.ms < 253402300800000):
            return '{"$date":{"$numberLong":"%d"}}' % v.ms
        return '{"$date":"%s"}' % v.iso()
    if isinstance(v, Oid):
        return '{"$oid":"%s"}' % v.hex
    if isinstance(v, Ts):
        return '{"$timestamp":{"t":%d,"i":%d}}' % (v.t, v.i)
    if isinstance(v, Bin):
        return '{"$binary":{"base64":"%s","subType":"%02x"}}' % (base64.b64encode(v.data).decode(), v.sub)
    raise TypeError(type(v))


def _cstr(s):
    b = s.encode()
    if b"\0" in b:
        raise ValueError("NUL in a BSON key")
    return b + b"\0"


def _bson_elem(k, v):
    kb = _cstr(k)
    if isinstance(v, dict):
        return b"\x03" + kb + to_bson(v)
    if isinstance(v, list):
        return b"\x04" + kb + to_bson({str(i): x for i, x in enumerate(v)})
    if isinstance(v, str):
        b = v.encode()
        return b"\x02" + kb + struct.pack("<i", len(b) + 1) + b + b"\0"
    if v is None:
        return b"\x0a" + kb
    if isinstance(v, bool):
        return b"\x08" + kb + (b"\x01" if v else b"\x00")
    if isinstance(v, Long) or (isinstance(v, int) and not -2**31 <= v < 2**31):
        return b"\x12" + kb + struct.pack("<q", v)
    if isinstance(v, int):
        return b"\x10" + kb + struct.pack("<i", v)
    if isinstance(v, float):
        return b"\x01" + kb + struct.pack("<d", v)
    if isinstance(v, Date):
        return b"\x09" + kb + struct.pack("<q", v.ms)
    if isinstance(v, Oid):
        return b"\x07" + kb + bytes.fromhex(v.hex)
    if isinstance(v, Ts):
        return b"\x11" + kb + struct.pack("<II", v.i, v.t)
    if isinstance(v, Bin):
        return b"\x05" + kb + struct.pack("<iB", len(v.data), v.sub) + v.data
    raise TypeError(type(v))


def to_bson(doc):
    body = b"".join(_bson_elem(k, v) for k, v in doc.items())
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def csv_text(v):
    """A scalar as mongoexport --type=csv writes it."""
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Date):
        return v.iso()
    if isinstance(v, Oid):
        return "ObjectId(%s)" % v.hex
    if isinstance(v, (Ts, Bin)):
        return to_json(v, {"canonical": True, "ascii": True, "slash": False})
    if isinstance(v, (dict, list)):  # a container in one cell: mongoexport writes its JSON
        return to_json(v, {"canonical": False, "ascii": False, "slash": False})
    raise TypeError(type(v))


def flatten(v, prefix="", out=None, cells=None):
    """Leaf scalars by dotted path (array items numbered, as mongoexport).
    cells: set of paths whose container is kept whole as one CSV cell."""
    if out is None:
        out = {}
    if cells and prefix in cells:
        out[prefix] = v
        return out
    if isinstance(v, dict):
        for k, x in v.items():
            flatten(x, prefix + "." + k if prefix else k, out, cells)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            flatten(x, "%s.%d" % (prefix, i), out, cells)
    else:
        out[prefix] = v
    return out


def csv_quote(s, sep):
    if s and (s[0] == " " or s[-1] == " " or any(c in s for c in (sep, '"', "\n", "\r"))):
        return '"' + s.replace('"', '""') + '"'
    return s


def serialize(docs, styles, cells=None):
    """docs -> (JSON texts, BSON bytes, CSV cells by column) for one chunk of records."""
    lines = [to_json(d, st) for d, st in zip(docs, styles)]
    bson = b"".join(to_bson(d) for d in docs)
    flats = [{k: csv_text(v) for k, v in flatten(d, cells=cells).items()} for d in docs]
    return lines, bson, flats


def write_csv(path, flats, sep=",", eol="\n", bom=False):
    """One CSV: the union of the records' columns, in first-seen order (mongoexport --fields)."""
    cols = list(dict.fromkeys(k for f in flats for k in f))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(("\ufeff" if bom else "") + sep.join(csv_quote(c, sep) for c in cols) + eol)
        for f in flats:
            fh.write(sep.join(csv_quote(f.get(c, ""), sep) for c in cols) + eol)


def write_all(base, lines, bson, flats, csvs):
    """base.jsonl, base.json, base.bson and one CSV per (suffix, sep, eol, bom) of csvs."""
    with open(base + ".jsonl", "w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(base + ".json", "w", encoding="utf-8", newline="") as fh:
        fh.write("[\n" + "\n,".join(lines) + "\n]\n")
    with open(base + ".bson", "wb") as fh:
        fh.write(bson)
    for suffix, sep, eol, bom in csvs:
        write_csv(base + suffix, flats, sep, eol, bom)


CHUNK = 1000  # records per chunk; chunk k has its own seed, so the output does not depend on the worker count


def generate_chunks(make_chunk, n, seed):
    """make_chunk(seed, start, count) -> (lines, bson, flats, plants), run on every CPU.
    Returns the concatenation in record order."""
    jobs = [(seed, s, min(CHUNK, n - s)) for s in range(0, n, CHUNK)]
    try:
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(len(jobs), os.cpu_count() or 1, 4)) as pool:
            parts = pool.starmap(make_chunk, jobs)
    except (ImportError, OSError, ValueError):
        parts = [make_chunk(*j) for j in jobs]
    lines, bson, flats, plants = [], [], [], []
    for ln, bs, fl, pl in parts:
        lines += ln
        bson.append(bs)
        flats += fl
        plants += pl
    return lines, b"".join(bson), flats, plants


# --------------------------------------------------------------------------
# Readers (the tool's output back into the model)

def from_ext(v):
    """Relaxed / canonical Extended JSON -> model."""
    if isinstance(v, list):
        return [from_ext(x) for x in v]
    if not isinstance(v, dict):
        return v
    if len(v) in (1, 2):
        k = next(iter(v))
        x = v[k]
        if k == "$date":
            if isinstance(x, dict) and "$numberLong" in x:
                return Date(int(x["$numberLong"]))
            if isinstance(x, (int, float)):
                return Date(int(x))
            if isinstance(x, str):
                return Date(_iso_ms(x))
        if k == "$oid" and isinstance(x, str):
            return Oid(x)
        if k == "$timestamp" and isinstance(x, dict):
            return Ts(x.get("t", 0), x.get("i", 0))
        if k in ("$numberLong", "$numberInt") and isinstance(x, str):
            return int(x)
        if k == "$numberDouble" and isinstance(x, str):
            return float(x)
        if k == "$numberDecimal" and isinstance(x, str):
            return x
        if k == "$binary":
            if isinstance(x, dict):
                return Bin(int(x.get("subType", "0"), 16), base64.b64decode(x.get("base64", "")))
            if isinstance(x, str) and "$type" in v:
                return Bin(int(v["$type"], 16), base64.b64decode(x))
    return {k: from_ext(x) for k, x in v.items()}


def _iso_ms(s):
    m = re.match(r"^(-?\d{4,})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?(Z|[+-]\d\d:?\d\d)?$", s)
    if not m:
        return 0
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hh, mi, ss = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0)
    frac = int((m.group(7) or "0")[:3].ljust(3, "0"))
    try:
        ms = Date.of(y, mo, d, hh, mi, ss).ms + frac
    except ValueError:
        return 0
    tz = m.group(8)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        tz = tz[1:].replace(":", "")
        ms -= sign * (int(tz[:2]) * 60 + int(tz[2:])) * 60000
    return ms


def read_bson_docs(data):
    docs, off = [], 0
    while off < len(data):
        (n,) = struct.unpack_from("<i", data, off)
        docs.append(_bson_doc(data, off, n, False))
        off += n
    return docs


def _bson_doc(b, off, n, is_array):
    out = {}
    p, end = off + 4, off + n - 1
    while p < end:
        t = b[p]
        z = b.index(b"\0", p + 1)
        key = b[p + 1:z].decode("utf-8", "replace")
        p = z + 1
        if t == 0x01:
            v = struct.unpack_from("<d", b, p)[0]; p += 8
        elif t in (0x02, 0x0D, 0x0E):
            (ln,) = struct.unpack_from("<i", b, p)
            v = b[p + 4:p + 4 + ln - 1].decode("utf-8", "replace"); p += 4 + ln
        elif t in (0x03, 0x04):
            (ln,) = struct.unpack_from("<i", b, p)
            v = _bson_doc(b, p, ln, t == 0x04); p += ln
        elif t == 0x05:
            ln, sub = struct.unpack_from("<iB", b, p)
            v = Bin(sub, b[p + 5:p + 5 + ln]); p += 5 + ln
        elif t == 0x07:
            v = Oid(b[p:p + 12].hex()); p += 12
        elif t == 0x08:
            v = b[p] != 0; p += 1
        elif t == 0x09:
            v = Date(struct.unpack_from("<q", b, p)[0]); p += 8
        elif t in (0x0A, 0x06, 0x7F, 0xFF):
            v = None
        elif t == 0x0B:
            z1 = b.index(b"\0", p); z2 = b.index(b"\0", z1 + 1)
            v = "/%s/%s" % (b[p:z1].decode("utf-8", "replace"), b[z1 + 1:z2].decode()); p = z2 + 1
        elif t == 0x10:
            v = struct.unpack_from("<i", b, p)[0]; p += 4
        elif t == 0x11:
            i, ts = struct.unpack_from("<II", b, p); v = Ts(ts, i); p += 8
        elif t == 0x12:
            v = struct.unpack_from("<q", b, p)[0]; p += 8
        elif t == 0x13:
            v = "Decimal128(%s)" % b[p:p + 16].hex(); p += 16
        else:
            raise ValueError("BSON type 0x%02x at byte %d" % (t, p))
        out[key] = v
    return list(out.values()) if is_array else out


def canon(v):
    """A scalar's text for comparing and searching (as mongoexport's CSV writes it)."""
    return csv_text(v)


def csv_cell_value(s):
    """A CSV output cell back into the model where it is JSON (containers, $timestamp)."""
    if s[:1] in "[{":
        try:
            return from_ext(json.loads(s))
        except ValueError:
            return s
    return s


# --------------------------------------------------------------------------
# Normalisation and needles

_TRANS = {0x2019: None, 0x2018: None, 0x27: None, 0x02BC: None, 0xB4: None, 0x60: None, 0x200B: None,
          0x200C: None, 0x200D: None, 0xFEFF: None, 0xAD: None,
          0xA0: " ", 0x2007: " ", 0x2009: " ", 0x202F: " ", 0x2002: " ", 0x2003: " ",
          0x2010: "-", 0x2011: "-", 0x2012: "-", 0x2013: "-", 0x2014: "-", 0x2212: "-", 0xFF0D: "-"}
_EXTRA = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae", "Æ": "AE",
                        "œ": "oe", "Œ": "OE", "ı": "i"})


_POSSESSIVE = re.compile(r"['\u2019\u02bc]s\b", re.I)


def norm(s):
    """Case-folded, accents stripped, apostrophes removed (a possessive 's kept apart), odd
    spaces and dashes made ASCII."""
    if "'" in s or "\u2019" in s or "\u02bc" in s:
        s = _POSSESSIVE.sub(" s", s)
    if not s.isascii():
        s = unicodedata.normalize("NFKD", s.translate(_EXTRA))
        s = "".join(c for c in s if not unicodedata.combining(c))
    return s.translate(_TRANS).casefold()


_SPAN = re.compile(r"[0-9](?:[0-9]|[ \-./()+:]{1,3}(?=[0-9]))*")
_SEPS = str.maketrans("", "", " -./()+:")


def digit_spans(normed):
    """Runs of digits joined by number separators, as digit strings joined by '|'."""
    return "|".join(m.translate(_SEPS) for m in _SPAN.findall(normed))


MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
ORD = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


class Plant:
    """One planted identifier. needles: list of (kind, text) with kind in
    'sub' (substring), 'word' (substring between non-alphanumerics),
    'digits' (inside one number span, digits only), 'home_digits' (the same, only in the value where
    it was planted: a year or year-and-month in a date field), 'date' ((y, m, d): any rendering of
    its day and month or month and year); texts already normalised.
    scope: the dotted path searched ('@keys': the record's keys). sweep: also look for it
    anywhere else in the record (off for short, ambiguous needles such as ages and years).
    in_input: the needles find it in the generated input (false for what only a wrong output
    shows, such as a restricted ZIP3 prefix); the self-check relies on it."""
    __slots__ = ("rec", "cls", "form", "where", "path", "needles", "scope", "sweep", "in_input")

    def __init__(self, rec, cls, form, where, path, needles, scope=None, sweep=True, in_input=True):
        self.rec, self.cls, self.form, self.where, self.path = rec, cls, form, where, path
        self.needles, self.scope, self.sweep, self.in_input = tuple(needles), scope, sweep, in_input


def _word_in(hay, needle):
    start = 0
    n = len(needle)
    while True:
        i = hay.find(needle, start)
        if i < 0:
            return False
        before = hay[i - 1] if i > 0 else " "
        after = hay[i + n] if i + n < len(hay) else " "
        if not (before.isalnum() and needle[0].isalnum()) and not (after.isalnum() and needle[-1].isalnum()):
            return True
        start = i + 1


_YEAR_ONLY = re.compile(r"^-?[0-9]{4}(?:-01-01t00:00:00(?:\.000)?z)?$")


class Haystack:
    """A record's output: leaf values by dotted path (keys included), normalised on demand."""
    __slots__ = ("flat", "_text", "_digits")

    def __init__(self, flat):
        self.flat = flat
        self._text, self._digits = {}, {}

    def text(self, where):
        t = self._text.get(where)
        if t is None:
            if where == "@keys":
                t = norm("\n\0\n".join(self.flat))
            elif where == "@all":
                t = "\n\0\n".join([self.text(p) for p in self.flat] + [self.text("@keys")])
            else:
                v = self.flat.get(where)
                t = "" if v is None else norm(canon(v))
            self._text[where] = t
        return t

    def digits(self, where):
        d = self._digits.get(where)
        if d is None:
            d = self._digits[where] = "|" + digit_spans(self.text(where)) + "|"
        return d

    def found(self, needles, where, home=False):
        """where: a dotted path, '@keys' (the keys), or '@all' (anywhere).
        home: also the needles that only count where they were planted."""
        t = self.text(where)
        if not t:
            return False
        for kind, s in needles:
            if kind == "digits":
                if s in self.digits(where):
                    return True
            elif kind == "home_digits":
                if home and s in self.digits(where):
                    return True
            elif kind == "date":
                if self._date(t, where, *s):
                    return True
            elif s in t and (kind == "sub" or _word_in(t, s)):
                return True
        return False

    def _date(self, t, where, y, m, d):
        """Day and month, or month and year, of this date, in any common rendering."""
        dg = self.digits(where)
        if "%04d%02d%02d" % (y, m, d) in dg or "%02d%02d%04d" % (m, d, y) in dg or "%02d%02d%04d" % (d, m, y) in dg:
            return True
        ab = MONTHS[m - 1][:3]
        if ab in t:
            for mn in (MONTHS[m - 1], ab):
                if mn not in t:
                    continue
                for dd in ("%d" % d, "%02d" % d, "%d%s" % (d, ORD.get(d, "th"))):
                    for pat in ("%s %s", "%s. %s", "%s-%s"):
                        if _word_in(t, pat % (mn, dd)):
                            return True
                    for pat in ("%s %s", "%s of %s", "%s-%s"):
                        if _word_in(t, pat % (dd, mn)):
                            return True
                for pat in ("%s %d", "%s, %d", "%s-%d"):
                    if _word_in(t, pat % (mn, y)):
                        return True
        if str(y) in t:
            for w in ("%04d-%02d" % (y, m), "%02d/%04d" % (m, y), "%d/%04d" % (m, y), "%04d/%02d" % (y, m),
                      "%04d.%02d" % (y, m)):
                if _word_in(t, w):
                    return True
        return False

    def year_only(self, where):
        """The value is a year and nothing else (a date generalised to its year, as text or as
        1 January): Safe Harbor allows it, so it explains no survivor found away from home (a ZIP
        that lost its leading zero, 01970 as the number 1970, is not leaked by a birth year 1970)."""
        return where != "@keys" and where != "@all" and _YEAR_ONLY.match(self.text(where)) is not None

    def found_where(self, needles, skip):
        """The first path (or '@keys') holding the needles, other than those in skip and values
        that are only a year."""
        for p in list(self.flat) + ["@keys"]:
            if p not in skip and not self.year_only(p) and self.found(needles, p):
                return p
        return None


def keys_of(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            out.append(k)
            keys_of(x, out)
    elif isinstance(v, list):
        for x in v:
            keys_of(x, out)
    return out


def cli_main(doc, write, default_records):
    """The generators' command line: write the files of one export into --out."""
    import argparse
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=default_records)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    plants, _ = write(a.out, a.records, a.seed)
    print("%d records, %d planted identifiers" % (a.records, len(plants)))
