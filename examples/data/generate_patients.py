#!/usr/bin/python3
"""Synthetic patients export, shaped like `mongoexport` output (no real PHI).

Each patient has names, an SSN, an MRN, an address, phone, e-mail, a birth
date, visits with dates and diagnoses, and free-text notes that mention the
patient's own identifiers, so a de-identification run can be checked for
leaks. Seedable: the same --seed gives the same file.

  generate_patients.py --records 1000 --format jsonl --seed 7 > patients.jsonl
  generate_patients.py --records 1000 --format csv > patients.csv
  generate_patients.py --records 10 --format json --planted planted.txt > p.json

--planted FILE writes every identifier value used (one per line), for leak tests.
"""
import argparse
import datetime
import json
import random
import sys

FIRST = ["Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "Mateo",
         "Mia", "Lucas", "Harper", "Levi", "Evelyn", "Ezekiel", "Abigail", "Asher", "Luna", "Wren"]
LAST = ["Okafor", "Lindqvist", "Marchetti", "Nakamura", "Abernathy", "Castellanos", "Dubois", "Haddad",
        "Kowalczyk", "Ferreira", "Oyelaran", "Rasmussen", "Szabo", "Thibodeaux", "Valdivia", "Whitcombe"]
STREETS = ["Larkspur Lane", "Quarry Road", "Juniper Court", "Wexford Avenue", "Tamarack Street",
           "Orchard Hollow", "Beacon Terrace", "Millbrook Drive"]
CITIES = [("Cambridge", "MA", "021"), ("Portland", "ME", "041"), ("Casper", "WY", "826"),
          ("Hanover", "NH", "037"), ("Reno", "NV", "895"), ("Austin", "TX", "787"), ("Mesa", "AZ", "852")]
DX = ["J10.1", "E11.9", "I10", "M54.5", "F41.1", "K21.9", "N39.0", "R51"]
REASONS = ["influenza", "diabetes follow-up", "hypertension check", "back pain", "anxiety", "reflux"]


def date_iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def patient(rng, i):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    ssn = "%03d-%02d-%04d" % (rng.randint(100, 665), rng.randint(10, 99), rng.randint(1000, 9999))
    mrn = "MRN%07d" % rng.randint(1000000, 9999999)
    city, state, zip3 = rng.choice(CITIES)
    zipc = zip3 + "%02d" % rng.randint(0, 99)
    street = "%d %s" % (rng.randint(1, 999), rng.choice(STREETS))
    phone = "(%03d) 555-%04d" % (rng.randint(201, 989), rng.randint(0, 9999))
    email = "%s.%s%d@mail.example.com" % (first.lower(), last.lower(), i)
    dob = datetime.datetime(1925, 1, 1) + datetime.timedelta(days=rng.randint(0, 36000))
    age = (datetime.datetime(2024, 1, 1) - dob).days // 365
    visits = []
    for _ in range(rng.randint(1, 3)):
        vd = datetime.datetime(2018, 1, 1) + datetime.timedelta(days=rng.randint(0, 2000), hours=rng.randint(8, 17))
        visits.append({"date": {"$date": date_iso(vd)}, "diagnosis": rng.choice(DX),
                       "reason": rng.choice(REASONS)})
    first_visit = visits[0]["date"]["$date"][:10]
    notes = ("%s %s (MRN %s, SSN %s) seen on %s for %s. Lives at %s, %s. Call %s or write to %s. "
             "Follow up in 2 weeks." % (first, last, mrn, ssn, first_visit, visits[0]["reason"], street, city,
                                        phone, email))
    doc = {
        "_id": {"$oid": "%024x" % (0x5f1d7a4e0000000000000000 + i)},
        "mrn": mrn,
        "name": {"first": first, "last": last},
        "ssn": ssn,
        "dob": {"$date": date_iso(dob)},
        "age": age,
        "sex": rng.choice(["F", "M"]),
        "address": {"street": street, "city": city, "state": state, "zip": zipc},
        "phone": phone,
        "email": email,
        "insurance": {"memberId": "H%09d" % rng.randint(0, 999999999), "plan": "PPO"},
        "visits": visits,
        "notes": notes,
        "balance": {"$numberLong": str(rng.randint(0, 100000))},
    }
    planted = [first, last, ssn, mrn, street, phone, email, doc["insurance"]["memberId"]]
    return doc, planted


CSV_COLS = ["_id", "mrn", "name.first", "name.last", "ssn", "dob", "age", "sex", "address.street", "address.city",
            "address.state", "address.zip", "phone", "email", "visits.0.date", "visits.0.diagnosis", "notes"]


def csv_field(v):
    s = str(v)
    if any(c in s for c in ',"\n\r') or s[:1] == " " or s[-1:] == " ":
        return '"' + s.replace('"', '""') + '"'
    return s


def csv_row(doc):
    flat = {
        "_id": "ObjectId(%s)" % doc["_id"]["$oid"], "mrn": doc["mrn"], "name.first": doc["name"]["first"],
        "name.last": doc["name"]["last"], "ssn": doc["ssn"], "dob": doc["dob"]["$date"], "age": doc["age"],
        "sex": doc["sex"], "address.street": doc["address"]["street"], "address.city": doc["address"]["city"],
        "address.state": doc["address"]["state"], "address.zip": doc["address"]["zip"], "phone": doc["phone"],
        "email": doc["email"], "visits.0.date": doc["visits"][0]["date"]["$date"],
        "visits.0.diagnosis": doc["visits"][0]["diagnosis"], "notes": doc["notes"],
    }
    return ",".join(csv_field(flat[c]) for c in CSV_COLS)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100)
    ap.add_argument("--format", choices=["jsonl", "json", "csv"], default="jsonl")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--planted", help="write every identifier value used to this file")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = sys.stdout
    planted = []
    if a.format == "csv":
        out.write(",".join(CSV_COLS) + "\n")
    elif a.format == "json":
        out.write("[")
    for i in range(a.records):
        doc, p = patient(rng, i)
        planted.extend(p)
        if a.format == "csv":
            out.write(csv_row(doc) + "\n")
        else:
            line = json.dumps(doc, separators=(",", ":"))
            if a.format == "json":
                out.write(("," if i else "") + line)
            else:
                out.write(line + "\n")
    if a.format == "json":
        out.write("]\n")
    if a.planted:
        with open(a.planted, "w") as f:
            for v in sorted(set(planted)):
                f.write(v + "\n")


if __name__ == "__main__":
    main()
