#!/usr/bin/python3
"""test_deid_checker_sweep: the leak checker's search for a planted identifier away from where
it was planted (check_safe_harbor.survivors) on hand-made outputs, so that a refinement of the
checker can neither hide a leak nor report one that is not there.

Runs without phicrypt: each case is one output record (dotted path -> value) and one plant."""
import os
import sys
import unittest
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check_safe_harbor import survivors  # noqa: E402
from phimodel import Date, Plant  # noqa: E402


def zip_plant(number):
    """A ZIP planted as a number that lost its leading zero (01970 -> 1970), as gen_adversarial does."""
    z5 = "%05d" % number
    return Plant(0, "zip", "zip as number", "field addresses[].zip", "addresses.0.zip",
                 [("word", z5.lstrip("0")), ("word", z5)], scope="addresses.0.zip")


def count(rec, plant):
    res = {"surv": defaultdict(lambda: defaultdict(int)), "ex": {}}
    n = survivors("t", "jsonl", [rec], {0: [plant]}, res)
    return n, {k[3] for k in res["surv"]}


class Sweep(unittest.TestCase):
    def test_a_birth_year_equal_to_a_short_zip_is_no_survivor(self):
        for dob in ("1970", Date.of(1970), "1970-01-01T00:00:00.000Z"):
            n, _ = count({"addresses.0.zip": "019", "dob": dob}, zip_plant(1970))
            self.assertEqual(n, 0, "a kept year explained as a ZIP survivor (%s)" % type(dob).__name__)

    def test_the_same_digits_in_text_still_count(self):
        for where, text in (("notes", "moved near 1970 last spring"), ("memo", "1970-03-05"), ("zip2", "1970-2211")):
            n, at = count({"addresses.0.zip": "019", where: text}, zip_plant(1970))
            self.assertEqual(n, 1, "the ZIP's digits in %s were not found" % where)
            self.assertEqual(at, {"found away from where it was planted"})

    def test_a_zip_left_where_it_was_planted_counts(self):
        n, at = count({"addresses.0.zip": 1970, "dob": "1970"}, zip_plant(1970))
        self.assertEqual(n, 1)
        self.assertEqual(at, {"field addresses[].zip"})
        n, _ = count({"addresses.0.zip": "01970"}, zip_plant(1970))
        self.assertEqual(n, 1)

    def test_a_year_does_not_hide_other_identifiers(self):
        mrn = Plant(0, "MRN", "mrn", "field mrn", "mrn", [("word", "48213377")], scope="mrn")
        n, _ = count({"dob": "1970", "notes": "MRN 48213377"}, mrn)
        self.assertEqual(n, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
