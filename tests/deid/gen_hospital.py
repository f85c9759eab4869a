#!/usr/bin/python3
"""A messy hospital EHR extract, written independently of gen_adversarial.py
(other field names, vocabulary, note templates and identifier formats), so
that the leak test is not tuned to one template set. Synthetic data only.

Records look like a flattened EHR extract: UPPER_SNAKE and Pascal_Case
column names, nursing notes with times and abbreviations, multi-line
discharge summaries with CRLF, and CSV as spreadsheets save it: a UTF-8 BOM,
CRLF line ends, and a ';'-separated variant (European locale).

  gen_hospital.py --records 5000 --seed 1 --out DIR   (writes DIR/hosp.{jsonl,json,bson}, hosp.csv, hosp-semi.csv)
"""
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phimodel import Date, Long, Plant, cli_main, generate_chunks, norm, serialize, write_all  # noqa: E402

GIVEN = ["Thi Thu", "Padraig", "Kofi", "Ana-María", "Éloïse", "Nuño", "Gráinne", "Oğuz", "Ai", "An", "Su",
         "Zoltán", "Mårten", "Dagný", "Keahi", "Priyanka"]
FAMILY = ["Ó Briain", "Nguyễn", "Bo", "Vu", "Pham", "Ó Dálaigh", "Ramírez-Ibáñez", "DeShields",
          "Lund-Sørensen", "Ahn", "Le", "O'Shaughnessy", "Kealoha", "Großmann", "Iyer", "Mbeki"]
CONDITIONS = ["CHF exacerbation", "COPD flare", "NSTEMI", "cellulitis L leg", "hip fracture s/p ORIF",
              "sepsis, urinary source", "AKI on CKD", "community-acquired pneumonia"]
DRUGS = ["furosemide 40mg PO", "ceftriaxone 1g IV", "enoxaparin 40mg SC", "tiotropium", "tramadol PRN"]
WARDS = ["4 West", "ICU", "Step-down", "Ortho ward"]
TOWNS = ["Worcester", "Springfield", "Pittsfield", "Brockton", "Quincy", "Nantucket"]
ROADS = ["Elm St", "Chestnut Hill Rd", "Old Post Rd", "Harbor View Dr"]
KIN = ["dtr", "son", "spouse", "HCP", "grandson"]
ZIPS = ["01602", "01103", "01201", "02301", "02169", "02554", "03601", "05901", "10201"]
MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def tokens(s):
    return [t for t in re.split(r"[\s\-]+", norm(s)) if len(t) >= 2]


def _check():
    template = ("Pt resting VSS bedside reachable on states call my at yo A&Ox2 F M email per DISCHARGE SUMMARY Patient "
                "MRN DOB HPI presented with Disposition home F/U clinic fax fall found by meds brought Lives Cell D/C'd "
                "MA Y example net")
    words = set(re.findall(r"\w+", norm(" ".join(CONDITIONS + DRUGS + WARDS + KIN + [template]))))
    for n in GIVEN + FAMILY:
        assert not [t for t in tokens(n) if t in words], "name token collides with vocabulary"


_check()


def dig(s):
    return re.sub(r"[^0-9]", "", s)


def dneedles(y, m, d, raw):
    return [("date", (y, m, d)), ("word", norm(raw))]


class R:
    def __init__(self, rng, i):
        self.rng, self.i, self.plants = rng, i, []

    def plant(self, cls, form, where, path, needles, scope=None, sweep=True, in_input=True):
        self.plants.append(Plant(self.i, cls, form, where, path, needles, scope or path, sweep, in_input))


def hphone(rng):
    a, b, c = rng.choice([508, 413, 781, 617, 774]), rng.randint(200, 999), rng.randint(2100, 9999)
    fmt, form = rng.choice([("%d/%d-%d", "phone NNN/NNN-NNNN"), ("(%d)-%d-%d", "phone (NNN)-NNN-NNNN"),
                            ("%d %d-%d", "phone NNN NNN-NNNN"), ("1 (%d) %d %d", "phone 1 (NNN) NNN NNNN"),
                            ("%d.%d.%d", "phone dotted"), ("+1.%d.%d.%d", "phone +1.dotted")])
    t = fmt % (a, b, c)
    if rng.random() < 0.2:
        t, form = "+353 87 %d %d" % (rng.randint(100, 899), rng.randint(2100, 9999)), "phone intl +353 mobile"
        return t, form, [("digits", dig(t)[-10:]), ("digits", dig(t)[-7:])]
    if rng.random() < 0.1:
        t, form = "07700 %06d" % rng.randint(100000, 999999), "phone UK mobile 07700"
        return t, form, [("digits", dig(t))]
    return t, form, [("digits", "%d%d%d" % (a, b, c)), ("digits", "%d%d" % (b, c))]


def hdate(rng, y0, y1):
    y, m, d = rng.randint(y0, y1), rng.randint(2, 12), rng.randint(2, 28)
    raw, form = rng.choice([("%d/%d/%d" % (m, d, y), "date M/D/YYYY"), ("%d/%d" % (m, d), "date M/D (no year)"),
                            ("%02d%s%d" % (d, MON[m - 1].upper(), y), "date DDMONYYYY"),
                            ("%d-%s-%02d" % (d, MON[m - 1], y % 100), "date D-Mon-YY"),
                            ("%s %d" % (MON[m - 1], d), "date Mon D"), ("%d.%d.%d" % (d, m, y), "date D.M.YYYY"),
                            ("%04d-%02d-%02d %02d:%02d" % (y, m, d, rng.randint(0, 23), rng.randint(0, 59)), "date ISO + time")])
    return (y, m, d), raw, form


def record(rng, i):
    r = R(rng, i)
    g, f = rng.choice(GIVEN), rng.choice(FAMILY)
    kg, kf = rng.choice(GIVEN), rng.choice(FAMILY)
    kin = rng.choice(KIN)
    pn = tokens(g) + tokens(f)
    kn = tokens(kg) + tokens(kf)
    nw = [("word", t) for t in pn]
    kw = [("word", t) for t in kn]
    old = rng.random() < 0.3
    by, bm, bd = (rng.randint(1908, 1931) if old else rng.randint(1942, 2008)), rng.randint(2, 12), rng.randint(2, 28)
    age = 2026 - by - 1
    mrn = "%07d" % rng.randint(1000000, 9999999)
    ph, phf, phn = hphone(rng)
    town, road = rng.choice(TOWNS), "%d %s" % (rng.choice([5, 17, 42, 208, 311, 640]), rng.choice(ROADS))
    z = rng.choice(ZIPS)
    doc = {
        "MRN": mrn if rng.random() < 0.7 else int(mrn),
        "LAST_NAME": f.upper(), "FIRST_NAME": g,
        "DOB": "%d/%d/%d" % (bm, bd, by) if rng.random() < 0.5 else Date.of(by, bm, bd),
        "Age": "%d Y" % age if rng.random() < 0.5 else age,
        "Home_Phone": ph, "Address1": road, "City": town, "State": "MA", "Zip_Code": z,
        "Next_Of_Kin": "%s %s (%s)" % (kg, kf, kin),
    }
    r.plant("mrn", "MRN 7 digits", "field MRN", "MRN", [("digits", mrn)])
    r.plant("names", "LAST_NAME upper", "field LAST_NAME", "LAST_NAME", [("word", t) for t in tokens(f)])
    r.plant("names", "FIRST_NAME", "field FIRST_NAME", "FIRST_NAME", [("word", t) for t in tokens(g)])
    r.plant("dates", "DOB", "field DOB", "DOB", dneedles(by, bm, bd, "%d/%d/%d" % (bm, bd, by)))
    if old:
        r.plant("ages>89", "birth year of a 90+ patient", "field DOB", "DOB", [("word", str(by)), ("home_digits", str(by))],
                sweep=False)
        r.plant("ages>89", "Age field 'N Y'", "field Age", "Age", [("word", str(age))], sweep=False)
    r.plant("phone", phf, "field Home_Phone", "Home_Phone", phn)
    r.plant("geographic", "street", "field Address1", "Address1", [("word", norm(road))])
    r.plant("geographic", "town", "field City", "City", [("word", norm(town))])
    r.plant("zip", "zip", "field Zip_Code", "Zip_Code", [("word", z)])
    if z[:3] in ("036", "059", "102"):
        r.plant("zip", "restricted ZIP3 prefix kept (must be 000)", "field Zip_Code", "Zip_Code", [("word", z[:3])],
                sweep=False, in_input=False)
    r.plant("names", "next of kin", "field Next_Of_Kin", "Next_Of_Kin", kw)
    visits = []
    for v in range(rng.randint(1, 2)):
        base = "Visits.%d." % v
        (ay, am, ad), araw, aform = hdate(rng, 2019, 2025)
        vis = {"Admit_Date": "%02d/%02d/%04d %02d:%02d" % (am, ad, ay, rng.randint(0, 23), rng.randint(0, 59)),
               "Ward": rng.choice(WARDS), "Diagnosis": rng.choice(CONDITIONS), "Status": "D/C'd"}
        r.plant("dates", "Admit_Date MM/DD/YYYY HH:MM", "field Visits[].Admit_Date", base + "Admit_Date",
                dneedles(ay, am, ad, vis["Admit_Date"][:10]))
        if rng.random() < 0.5:
            vis["Discharge_Date"] = Long(Date.of(ay, am, min(ad + 3, 28)).ms)
            r.plant("dates", "Discharge_Date epoch ms", "field Visits[].Discharge_Date", base + "Discharge_Date",
                    [("date", (ay, am, min(ad + 3, 28))), ("digits", str(Date.of(ay, am, min(ad + 3, 28)).ms // 1000))])
        # nursing note (scrubbed "Notes"), CRLF and tabs
        lines, nplants = [], []
        t1 = "%02d%02d" % (rng.randint(0, 23), rng.choice([0, 15, 30, 45]))
        lines.append("%s Pt resting, VSS. %s %s @ bedside, reachable on %s." % (t1, kin.title(), kg, ph))
        nplants += [("names", "kin given name in nursing note", kw), ("phone", phf + " in nursing note", phn)]
        if rng.random() < 0.5:
            lines.append("\tPt states \"call my %s %s at %s\"." % (kin, kf.upper(), ph))
            nplants += [("names", "kin surname upper in quotes", kw)]
        if old and rng.random() < 0.6:
            lines.append("%d yo %s, A&Ox2." % (age, rng.choice(["F", "M"])))
            nplants.append(("ages>89", "age 'N yo' in nursing note", None))
        if rng.random() < 0.4:
            lines.append("Pt's email per %s: %s.%s@example.net" % (kin, norm(g).replace(" ", ""), norm(f).replace(" ", "")))
            nplants.append(("email", "email in nursing note", [("sub", "%s.%s@example.net" % (norm(g).replace(" ", ""), norm(f).replace(" ", "")))]))
        note = "\r\n".join(lines)
        for cls, form, nd in nplants:
            if nd is None:
                r.plant(cls, form, "scrubbed Visits[].Notes", base + "Notes", [("word", str(age))], sweep=False)
            else:
                r.plant(cls, form, "scrubbed Visits[].Notes", base + "Notes", nd)
        vis["Notes"] = note
        # discharge summary (scrubbed "Summary"), multi-line
        (fy, fm, fd), fraw, fform = hdate(rng, 2019, 2025)
        fax, faxf, faxn = hphone(rng)
        s = ("DISCHARGE SUMMARY\r\nPatient: %s, %s\tMRN: %s\tDOB: %d/%d/%d\r\n"
             "HPI: %s presented with %s.\r\nDisposition: home with %s (%s %s).\r\n"
             "F/U %s; clinic fax %s.\r\n" % (f.upper(), g, mrn, bm, bd, by, "%d yo" % age if old else "Pt",
                                          vis["Diagnosis"], kin, kg, kf, fraw, fax))
        sp = base + "Summary"
        r.plant("names", "LAST, First in summary header", "scrubbed Visits[].Summary", sp, nw)
        r.plant("mrn", "MRN in summary header", "scrubbed Visits[].Summary", sp, [("digits", mrn)])
        r.plant("dates", "DOB M/D/YYYY in summary", "scrubbed Visits[].Summary", sp,
                dneedles(by, bm, bd, "%d/%d/%d" % (bm, bd, by)))
        if old:
            r.plant("ages>89", "age 'N yo' in summary", "scrubbed Visits[].Summary", sp, [("word", str(age))], sweep=False)
        r.plant("names", "kin name in summary", "scrubbed Visits[].Summary", sp, kw)
        r.plant("dates", fform + " in summary", "scrubbed Visits[].Summary", sp, dneedles(fy, fm, fd, fraw))
        r.plant("fax", "fax " + faxf, "scrubbed Visits[].Summary", sp, faxn)
        vis["Summary"] = s
        # kept fields with free text: Reason and Medications
        if rng.random() < 0.3:
            vis["Reason"] = "fall at home, found by %s %s" % (kin, kg)
            r.plant("names", "kin name in kept Reason", "kept field Visits[].Reason", base + "Reason", kw)
        if rng.random() < 0.3:
            vis["Medications"] = [rng.choice(DRUGS), "home meds brought by %s %s" % (kin, kf)]
            r.plant("names", "kin surname in kept Medications[]", "kept array Visits[].Medications", base + "Medications.1",
                    [("word", t) for t in tokens(kf)])
        visits.append(vis)
    doc["Visits"] = visits
    c = "Lives at %s, %s %s. Cell %s." % (road, town, z, ph)
    doc["Comments"] = c
    r.plant("geographic", "street in Comments", "scrubbed Comments", "Comments", [("word", norm(road))])
    r.plant("geographic", "town in Comments", "scrubbed Comments", "Comments", [("word", norm(town))])
    r.plant("zip", "zip in Comments", "scrubbed Comments", "Comments", [("word", z)])
    r.plant("phone", phf + " in Comments", "scrubbed Comments", "Comments", phn)
    return doc, r.plants


STYLE = {"canonical": False, "ascii": False, "slash": False}


def make_chunk(seed, start, count):
    rng = random.Random("hospital-%d-%d" % (seed, start))
    docs, plants = [], []
    for i in range(start, start + count):
        d, p = record(rng, i)
        docs.append(d)
        plants.extend(p)
    return (*serialize(docs, [STYLE] * len(docs)), plants)


CSV_EOL = {"csv-bom-crlf": "\r\n", "csv-semicolon": "\r\n"}


def write(outdir, n, seed, name="hosp"):
    """-> plants, [(label, path, format, extra phicrypt args, CSV separator)]."""
    lines, bson, flats, plants = generate_chunks(make_chunk, n, seed)
    base = os.path.join(outdir, name)
    write_all(base, lines, bson, flats, [(".csv", ",", "\r\n", True), ("-semi.csv", ";", "\r\n", True)])
    return plants, [("jsonl", base + ".jsonl", "jsonl", [], ","), ("json", base + ".json", "json", [], ","),
                    ("bson", base + ".bson", "bson", [], ","),
                    ("csv-bom-crlf", base + ".csv", "csv", [], ","),
                    ("csv-semicolon", base + "-semi.csv", "csv", ["--delimiter", ";"], ";")]


if __name__ == "__main__":
    cli_main(__doc__, write, 5000)
