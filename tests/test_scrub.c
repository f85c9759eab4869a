/* lib/deid free-text scrub under the Safe Harbor preset: identifiers in
 * brackets and quotes, the record's own names in any case, accent and
 * apostrophe, and the many ways people write ages, numbers, dates and
 * addresses. Public API only (a policy without keys needs no client). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>

static const char *preset = "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\",\"fields\":{}}";

/* The "notes" of {<fields>, "notes": "<note>"} (note: JSON string content)
 * after the preset, malloc'd. */
static char *scrub(const char *fields, const char *note)
{
    phicrypt_deid_policy *p = NULL;
    if (phicrypt_deid_policy_new(&p, NULL, preset))
        fail_msg("policy: %s", phicrypt_deid_errmsg());
    char doc[4096];
    int len = snprintf(doc, sizeof doc, "{%s%s\"notes\":\"%s\"}", fields, *fields ? "," : "", note);
    assert_true(len > 0 && (size_t)len < sizeof doc);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    if (phicrypt_deid_json(NULL, &out, p, doc, (size_t)len))
        fail_msg("deid: %s", phicrypt_deid_errmsg());
    phicrypt_deid_policy_free(p);
    const char *n = strstr((const char *)out.data, "\"notes\":\"");
    assert_non_null(n);
    n += 9;
    const char *e = strrchr(n, '"');
    assert_non_null(e);
    char *r = strndup(n, (size_t)(e - n));
    phicrypt_buf_dispose(&out);
    return r;
}

/* Each case: a note, and what its scrubbed form must be. */
typedef struct scase {
    const char *note, *want;
} scase;

static void check(const char *fields, const scase *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *got = scrub(fields, c[i].note);
        if (strcmp(got, c[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, c[i].want);
        free(got);
    }
}
#define CHECK(fields, cases) check(fields, cases, sizeof cases / sizeof cases[0])

/* Issue 16 item 1: after a byte that starts no identifier ('(', '<', '"'),
 * the next word was skipped. */
static void test_scrub__word_after_bracket_or_quote(void **state)
{
    (void)state;
    static const scase c[] = {
        { "x (617 432 0100) y", "x ([PHONE]) y" },
        { "<jd@x.org>", "<[EMAIL]>" },
        { "\\\"jd@x.org\\\"", "\\\"[EMAIL]\\\"" },
        { "(2020-03-05)", "([DATE])" },
        { "(MRN12345678)", "([MRN])" },
        { "(10.1.2.3)", "([IP])" },
        { "<https://x.org/a>", "<[URL]>" },
        { "(617-432-0100)", "([PHONE])" },
        { "[123-45-6789]", "[[SSN]]" },
        { "Daughter Ann (617-432-0100) is the contact.", "Daughter Ann ([PHONE]) is the contact." },
        { "IP10.1.2.3, tel617-432-0100, x_617-432-0100", "IP[IP], [MRN], x_[PHONE]" },
        { "line2 123-45-6789, call 2 617 432 0100", "line2 [SSN], call 2 [PHONE]" },
    };
    CHECK("", c);
}

static const char *names = "\"name\":{\"first\":\"Li\",\"last\":\"Ng\"},\"emergencyContact\":{\"name\":\"Bo Wu\"}";

/* Item 5: names of two letters (and one, as a capital initial) match as
 * whole words in any case; never inside another word. */
static void test_scrub__short_names_whole_words(void **state)
{
    (void)state;
    static const scase c[] = {
        { "Li Ng saw Bo Wu.", "[NAME] [NAME] saw [NAME]." },
        { "LI, ng and wu", "[NAME], [NAME] and [NAME]" },
        { "Lin Nga Wuhan Boat bowl", "Lin Nga Wuhan Boat bowl" },
        { "(Li)", "([NAME])" },
    };
    CHECK(names, c);
    static const scase d[] = { { "J. Smith, a visitor", "[NAME]. [NAME], a visitor" } };
    CHECK("\"name\":{\"first\":\"J\",\"last\":\"Smith\"}", d);
}

/* Item 5: Unicode case folding and accents, either way round. */
static void test_scrub__names_fold_case_and_accents(void **state)
{
    (void)state;
    static const scase c[] = {
        { "JOSÉ NÚÑEZ", "[NAME] [NAME]" },
        { "Jose Nunez", "[NAME] [NAME]" },
        { "josé núñez", "[NAME] [NAME]" },
        { "Jose\\u0301 Nun\\u0303ez", "[NAME] [NAME]" }, /* decomposed accents */
        { "jose_nunez", "[NAME]_[NAME]" },
    };
    CHECK("\"name\":{\"first\":\"José\",\"last\":\"Núñez\"}", c);
    static const scase d[] = { { "Mr Nunez and NÚÑEZ", "Mr [NAME] and [NAME]" } };
    CHECK("\"name\":{\"first\":\"Jose\",\"last\":\"Nunez\"}", d);
    static const scase e[] = { { "ДМИТРИЙ and Дмитрий", "[NAME] and [NAME]" } };
    CHECK("\"name\":{\"first\":\"Дмитрий\"}", e);
}

/* Item 5: ', ’ and no apostrophe are one; hyphenated names also in parts. */
static void test_scrub__names_apostrophes_and_hyphens(void **state)
{
    (void)state;
    static const scase c[] = {
        { "O’Brien, OBRIEN, O'Brien's, o`brien", "[NAME], [NAME], [NAME]'s, [NAME]" },
        { "Nguyen-Tran, Nguyen and TRAN", "[NAME], [NAME] and [NAME]" },
    };
    CHECK("\"name\":{\"first\":\"Eli\",\"last\":\"O'Brien\"},\"contact\":{\"name\":\"Ann Nguyen-Tran\"}", c);
    static const scase d[] = { { "OBrien and O'Brien", "[NAME] and [NAME]" } };
    CHECK("\"name\":{\"last\":\"O’Brien\"}", d);
}

/* Item 6: ages of 90 and over, however written; younger ones stay. */
static void test_scrub__ages_over_89(void **state)
{
    (void)state;
    static const scase c[] = {
        { "aged 95", "aged [AGE 90+]" },
        { "age: 94", "age: [AGE 90+]" },
        { "93 y.o.", "[AGE 90+] y.o." },
        { "97 yrs", "[AGE 90+] yrs" },
        { "95yo", "[AGE 90+]yo" },
        { "a 92-year-old", "a [AGE 90+]-year-old" },
        { "ninety-two years old", "[AGE 90+] years old" },
        { "aged ninety", "aged [AGE 90+]" },
        { "Ninety Nine yo", "[AGE 90+] yo" },
        { "one hundred and two years", "[AGE 90+] years" },
        { "age 89, 45 yo, ninety minutes", "age 89, 45 yo, ninety minutes" },
    };
    CHECK("", c);
}

static void test_scrub__ssn_forms(void **state)
{
    (void)state;
    static const scase c[] = {
        { "123.45.6789", "[SSN]" },
        { "123 - 45 - 6789", "[SSN]" },
        { "123 45 6789", "[SSN]" },
        { "SSN: 123-45-6789.", "SSN: [SSN]." },
    };
    CHECK("", c);
}

static void test_scrub__phone_forms(void **state)
{
    (void)state;
    static const scase c[] = {
        { "+44 20 7946 0958", "[PHONE]" },
        { "+33 1 23 45 67 89", "[PHONE]" },
        { "0044 20 7946 0958", "[PHONE]" },
        { "020 7946 0958", "[PHONE]" },
        { "+44 (0)20 7946 0958", "[PHONE]" },
        { "617.432.0100 x123", "[PHONE]" },
        { "(617) 432-0100 ext. 45", "[PHONE]" },
        { "1 (617) 432-0100", "[PHONE]" },
        { "617 - 432 - 0100", "[PHONE]" },
        { "617)432-0100 or 617/432-0100", "[PHONE] or [PHONE]" },
    };
    CHECK("", c);
}

static void test_scrub__card_and_account_numbers(void **state)
{
    (void)state;
    static const scase c[] = {
        { "card 4111 1111 1111 1111", "card [ACCOUNT]" },
        { "amex 3782 822463 10005", "amex [ACCOUNT]" },
        { "4111-1111-1111-1111", "[ACCOUNT]" },
        { "acct 12-345", "acct [ACCOUNT]" },
    };
    CHECK("", c);
}

static void test_scrub__urls_without_scheme(void **state)
{
    (void)state;
    static const scase c[] = {
        { "see portal.example.org/p/1.", "see [URL]." },
        { "PORTAL.EXAMPLE.ZZ/p?id=7", "[URL]" },
        { "example.com, mgh.harvard.edu", "[URL], [URL]" },
        { "intranet.local:8080/x", "[URL]" },
        { "e.g. J10.1 M54.5 Dr.Smith", "e.g. J10.1 M54.5 Dr.Smith" },
    };
    CHECK("", c);
}

static void test_scrub__date_forms(void **state)
{
    (void)state;
    static const scase c[] = {
        { "5th March", "[DATE]" },
        { "2020.03.05", "[DATE]" },
        { "on 03-05.", "on [DATE]." },
        { "on 3/5 at", "on [DATE] at" },
        { "Mar 7th", "[DATE]" },
        { "02-Mar-1971", "[DATE]" },
        { "the 5th of March 2019", "the [DATE]" },
        { "02Mar1971", "[DATE]" },
        { "March, 2019", "[DATE]" },
        { "Mar-07-1971", "[DATE]" },
        { "5th March, 2020.03.05", "[DATE], [DATE]" },
        { "03-2019", "[DATE]" },
        { "seen in March, back in SEPTEMBER", "seen in [DATE], back in [DATE]" },
        { "Jan '20", "[DATE]" },
        { "we march on; May I?", "we march on; May I?" },
    };
    CHECK("", c);
}

static void test_scrub__vehicles_licences_devices(void **state)
{
    (void)state;
    static const scase c[] = {
        { "plate 7ABC123", "plate [VEHICLE]" },
        { "license plate AB12 CDE.", "license plate [VEHICLE]." },
        { "plate: ABC 1234 seen", "plate: [VEHICLE] seen" },
        { "VIN 1HGCM82633A004352", "VIN [VEHICLE]" },
        { "WVWZZZ1JZXWABCDEF", "[VEHICLE]" },
        { "license no. D1234", "license no. [LICENSE]" },
        { "serial: SN-42", "serial: [DEVICE]" },
    };
    CHECK("", c);
}

static void test_scrub__codes_after_keywords(void **state)
{
    (void)state;
    static const scase c[] = {
        { "MRN: 123", "MRN: [MRN]" },
        { "MRN #42", "MRN #[MRN]" },
        { "#12345678", "#[MRN]" },
        { "Medicare number: 1EG4-TE5-MK72", "Medicare number: [ID]" },
        { "ID 42", "ID [ID]" },
        { "record #12 but record 3 visits", "record #[MRN] but record 3 visits" },
        { "Mr Smith", "Mr Smith" },
    };
    CHECK("", c);
}

static void test_scrub__ipv6_mac_and_emails(void **state)
{
    (void)state;
    static const scase c[] = {
        { "2001:db8::1", "[IP]" },
        { "fe80::1%eth0", "[IP]" },
        { "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IP]" },
        { "00:1a:2b:3c:4d:5e", "[DEVICE]" },
        { "at 10:30:00", "at 10:30:00" },
        { "john.smith+tag@mail.mgh.harvard.edu", "[EMAIL]" },
        { "JD@X.ORG", "[EMAIL]" },
    };
    CHECK("", c);
}

/* Digits of other scripts, fullwidth forms, no-break and zero-width
 * spaces, Unicode dashes and quotes hide nothing. */
static void test_scrub__unicode_digits_spaces_and_marks(void **state)
{
    (void)state;
    static const scase c[] = {
        { "６１７-４３２-０１００", "[PHONE]" },
        { "617\\u00a0432\\u00a00100", "[PHONE]" },
        { "617–432–0100", "[PHONE]" },
        { "617-43\\u200b2-0100", "[PHONE]" },
        { "٦١٧-٤٣٢-٠١٠٠", "[PHONE]" },
        { "jd＠x.org", "[EMAIL]" },
        { "“jd@x.org”", "“[EMAIL]”" },
        { "«123-45-6789»", "«[SSN]»" },
        { "•617-432-0100", "•[PHONE]" },
        { "ＳＳＮ １２３-４５-６７８９", "ＳＳＮ [SSN]" },
        { "电话617-432-0100，邮件jd@x.org 于2020-03-05", "电话[PHONE]，邮件[EMAIL] 于[DATE]" },
    };
    CHECK("", c);
}

/* What is not an identifier stays (a guard against scrubbing everything). */
static void test_scrub__clinical_text_kept(void **state)
{
    (void)state;
    static const scase c[] = {
        { "BP 120/80, 98.6 F, HR 72, 12.5 mg, 3-5 days, J10.1",
          "BP 120/80, 98.6 F, HR 72, 12.5 mg, 3-5 days, J10.1" },
        { "take 2 tabs 3 times a day for 10 days", "take 2 tabs 3 times a day for 10 days" },
        { "glucose 120 mg/dL 2 hours later, growth plate 2 cm", "glucose 120 mg/dL 2 hours later, growth plate 2 cm" },
        { "café au lait, naïve", "café au lait, naïve" },
    };
    CHECK("", c);
}

/* URLs go whole even when words of them are the record's own (a website
 * field's "ftp", "example", "www"): the longer match wins. */
static void test_scrub__urls_whole_over_own_words(void **state)
{
    (void)state;
    static const scase c[] = {
        { "Portal ftp://example.com/p/kfwpr8j5 today", "[WEBSITE] [URL] today" },
        { "see www.example.com/u/crfsnqvx.", "see [URL]." },
        { "HTTPS://EXAMPLE.COM/P/ECC2SRH4?a=1&b=2 ok", "[URL] ok" },
        { "(example.com/p/1)", "([URL])" },
    };
    CHECK("\"website\":\"ftp://www.example.com/portal\"", c);
}

/* Phones whose first group is a word of one of the record's own values
 * (a phone, a street number) go whole. */
static void test_scrub__phones_whole_over_own_words(void **state)
{
    (void)state;
    static const scase c[] = {
        { "clinic fax 617.396.3953.", "clinic fax [PHONE]." },
        { "Fax results to (617.396.3953;", "Fax results to ([PHONE];" },
        { "at 834.623.1774 or 834 716 8896", "at [PHONE] or [PHONE]" },
        { "at 0044 20 5899 8919", "at [PHONE]" },
    };
    CHECK("\"phone\":\"617-396-3953\",\"fax\":\"0044 20\",\"address\":{\"street\":\"834 Elm St\"}", c);
}

/* Hashes and keys in base64, base64url or hex are identifiers; long words
 * and clinical shorthand are not. */
static void test_scrub__opaque_tokens(void **state)
{
    (void)state;
    static const scase c[] = {
        { "voiceprint hash z6jvzakEKgAk+M0j/VDhY+GV0H/xJSeU=, ok", "voiceprint hash [ID], ok" },
        { "(fnkEx2DNmenlQxkcgpnEo+6FWuXctuvJ)", "([ID])" },
        { "HASH LLCWOGMTKBR+A0LWNKDLAEHDNHFKTMTF.", "HASH [ID]." },
        { "hash DJJEWVRIKCXUZPTUEZGKAHBSFRBSDUV", "hash [ID]" },
        { "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha [ID]" },
        { "key q-Z9_xY3kLm8Pw2Rt5Vb7N", "key [ID]" },
        { "hash (QmLCieeiUtstt+RqaKRUacvCbfdvSOgR;", "hash ([ID];" },
        { "HASH GDSGKD+/JA/TSAKUTIOTQG8+DVPJQZ+6 ok", "HASH [ID] ok" },
        /* base64 with a separator every five characters or so */
        { "voiceprint hash GgdkXv84/C++UeNubvidZMf++ekEl/Be x", "voiceprint hash [ID] x" },
        { "ACETAMINOPHEN/HYDROCODONE, McDonaldMacArthurSmith", "ACETAMINOPHEN/HYDROCODONE, McDonaldMacArthurSmith" },
        { "COVID-19-related pneumonia, q4h-prn-2x-daily, electrocardiographically",
          "COVID-19-related pneumonia, q4h-prn-2x-daily, electrocardiographically" },
    };
    CHECK("", c);
}

/* Plates without a keyword, and VINs in letters only. */
static void test_scrub__plates_without_keyword(void **state)
{
    (void)state;
    static const scase c[] = {
        { "Drove car 7ABC123.", "Drove car [VEHICLE]." },
        { "{LHG-4584} and ABC 1234", "{[VEHICLE]} and [VEHICLE]" },
        { "car \\tGBAESRNEDPEAWWNUB", "car \\t[VEHICLE]" },
        { "COVID19, HbA1c 7.1, B12, J10.1, BP 120/80, abc 1234, ABCD 1234",
          "COVID19, HbA1c 7.1, B12, J10.1, BP 120/80, abc 1234, ABCD 1234" },
    };
    CHECK("", c);
}

/* Device serials in capitals only after "SN-". */
static void test_scrub__device_serial_capitals(void **state)
{
    (void)state;
    static const scase c[] = {
        { "Implant SN-FZWHCHLASB ok", "Implant SN-[DEVICE] ok" },
        { "IMPLANT (SN-FZWHCHLASB).", "IMPLANT (SN-[DEVICE])." },
    };
    CHECK("", c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrub__word_after_bracket_or_quote),
        cmocka_unit_test(test_scrub__short_names_whole_words),
        cmocka_unit_test(test_scrub__names_fold_case_and_accents),
        cmocka_unit_test(test_scrub__names_apostrophes_and_hyphens),
        cmocka_unit_test(test_scrub__ages_over_89),
        cmocka_unit_test(test_scrub__ssn_forms),
        cmocka_unit_test(test_scrub__phone_forms),
        cmocka_unit_test(test_scrub__card_and_account_numbers),
        cmocka_unit_test(test_scrub__urls_without_scheme),
        cmocka_unit_test(test_scrub__date_forms),
        cmocka_unit_test(test_scrub__vehicles_licences_devices),
        cmocka_unit_test(test_scrub__codes_after_keywords),
        cmocka_unit_test(test_scrub__ipv6_mac_and_emails),
        cmocka_unit_test(test_scrub__unicode_digits_spaces_and_marks),
        cmocka_unit_test(test_scrub__clinical_text_kept),
        cmocka_unit_test(test_scrub__urls_whole_over_own_words),
        cmocka_unit_test(test_scrub__phones_whole_over_own_words),
        cmocka_unit_test(test_scrub__opaque_tokens),
        cmocka_unit_test(test_scrub__plates_without_keyword),
        cmocka_unit_test(test_scrub__device_serial_capitals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
