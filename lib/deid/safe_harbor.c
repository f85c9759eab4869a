/* The Safe Harbor preset: field names -> actions that remove the 18
 * identifiers of 45 CFR 164.514(b)(2)(i). The table is documented in
 * docs/deid.md; a policy's explicit "fields" always win over it.
 *
 * Names are compared after lower-casing and removing '_', '-', ' ' and '.',
 * so "birth_date", "birthDate" and "BirthDate" are one name.
 *
 *   (A) names ........................ name, firstName, lastName, ... -> redact
 *   (B) geography smaller than a state  street, address, city, county -> redact;
 *                                      zip, zipCode, postalCode     -> zip3
 *   (C) dates (except year), ages > 89  dob, birthDate, admitDate, *date -> generalize
 *                                      to year; age -> age ("90+")
 *   (D)-(F) phone, fax, e-mail ........ redact
 *   (G)-(M) SSN, MRN, health plan, account, license, vehicle, device -> redact
 *   (N)-(O) URL, IP address ........... redact
 *   (P)-(Q) biometrics, photos ........ drop
 *   (R) other unique numbers .......... _id, id, patientId ... -> drop
 *   free text (notes, comments ...) ... scrub
 *   known non-identifiers (sex, state, diagnosis ...) keep.
 * Anything else is "unrecognised": handled by "unknown_fields" and listed in
 * the report. */
#include <string.h>

#include "deid/deid_private.h"

typedef struct { const char *name; int act; } sh_ent;

static const sh_ent table[] = {
    /* (A) names */
    { "name", PHI_ACT_REDACT }, { "firstname", PHI_ACT_REDACT }, { "lastname", PHI_ACT_REDACT },
    { "middlename", PHI_ACT_REDACT }, { "givenname", PHI_ACT_REDACT }, { "familyname", PHI_ACT_REDACT },
    { "fullname", PHI_ACT_REDACT }, { "surname", PHI_ACT_REDACT }, { "first", PHI_ACT_REDACT },
    { "last", PHI_ACT_REDACT }, { "middle", PHI_ACT_REDACT }, { "given", PHI_ACT_REDACT }, { "family", PHI_ACT_REDACT },
    { "patientname", PHI_ACT_REDACT }, { "nickname", PHI_ACT_REDACT }, { "maidenname", PHI_ACT_REDACT },
    { "mothersmaidenname", PHI_ACT_REDACT }, { "emergencycontact", PHI_ACT_REDACT }, { "nextofkin", PHI_ACT_REDACT },
    { "guarantor", PHI_ACT_REDACT }, { "employer", PHI_ACT_REDACT }, { "initials", PHI_ACT_REDACT },
    { "username", PHI_ACT_REDACT }, { "alias", PHI_ACT_REDACT },
    /* (B) geography */
    { "address", PHI_ACT_REDACT }, { "street", PHI_ACT_REDACT }, { "streetaddress", PHI_ACT_REDACT },
    { "address1", PHI_ACT_REDACT }, { "address2", PHI_ACT_REDACT }, { "line1", PHI_ACT_REDACT },
    { "line2", PHI_ACT_REDACT }, { "city", PHI_ACT_REDACT }, { "town", PHI_ACT_REDACT }, { "county", PHI_ACT_REDACT },
    { "precinct", PHI_ACT_REDACT }, { "district", PHI_ACT_REDACT }, { "neighborhood", PHI_ACT_REDACT },
    { "latitude", PHI_ACT_REDACT }, { "longitude", PHI_ACT_REDACT }, { "lat", PHI_ACT_REDACT },
    { "lon", PHI_ACT_REDACT }, { "lng", PHI_ACT_REDACT }, { "geo", PHI_ACT_REDACT }, { "location", PHI_ACT_REDACT },
    { "coordinates", PHI_ACT_REDACT }, { "birthplace", PHI_ACT_REDACT }, { "placeofbirth", PHI_ACT_REDACT },
    { "zip", PHI_ACT_ZIP3 }, { "zipcode", PHI_ACT_ZIP3 }, { "postalcode", PHI_ACT_ZIP3 }, { "postcode", PHI_ACT_ZIP3 },
    { "zip5", PHI_ACT_ZIP3 },
    /* (C) dates and ages */
    { "dob", PHI_ACT_GENERALIZE }, { "birthdate", PHI_ACT_GENERALIZE }, { "dateofbirth", PHI_ACT_GENERALIZE },
    { "birthday", PHI_ACT_GENERALIZE }, { "deathdate", PHI_ACT_GENERALIZE }, { "dateofdeath", PHI_ACT_GENERALIZE },
    { "dod", PHI_ACT_GENERALIZE }, { "date", PHI_ACT_GENERALIZE }, { "datetime", PHI_ACT_GENERALIZE },
    { "timestamp", PHI_ACT_GENERALIZE }, { "admitted", PHI_ACT_GENERALIZE }, { "discharged", PHI_ACT_GENERALIZE },
    { "age", PHI_ACT_AGE },
    /* (D)-(F) */
    { "phone", PHI_ACT_REDACT }, { "telephone", PHI_ACT_REDACT }, { "phonenumber", PHI_ACT_REDACT },
    { "mobile", PHI_ACT_REDACT }, { "cell", PHI_ACT_REDACT }, { "homephone", PHI_ACT_REDACT },
    { "workphone", PHI_ACT_REDACT }, { "tel", PHI_ACT_REDACT }, { "fax", PHI_ACT_REDACT },
    { "faxnumber", PHI_ACT_REDACT }, { "email", PHI_ACT_REDACT }, { "emailaddress", PHI_ACT_REDACT },
    { "telecom", PHI_ACT_REDACT }, { "contactpoint", PHI_ACT_REDACT },
    { "mail", PHI_ACT_REDACT },
    /* (G)-(M) */
    { "ssn", PHI_ACT_REDACT }, { "socialsecuritynumber", PHI_ACT_REDACT }, { "sin", PHI_ACT_REDACT },
    { "mrn", PHI_ACT_REDACT }, { "medicalrecordnumber", PHI_ACT_REDACT }, { "healthplan", PHI_ACT_REDACT },
    { "healthplanid", PHI_ACT_REDACT }, { "memberid", PHI_ACT_REDACT }, { "insuranceid", PHI_ACT_REDACT },
    { "beneficiaryid", PHI_ACT_REDACT }, { "subscriberid", PHI_ACT_REDACT }, { "policynumber", PHI_ACT_REDACT },
    { "account", PHI_ACT_REDACT }, { "accountnumber", PHI_ACT_REDACT }, { "accountid", PHI_ACT_REDACT },
    { "license", PHI_ACT_REDACT },
    { "licensenumber", PHI_ACT_REDACT }, { "driverslicense", PHI_ACT_REDACT }, { "certificate", PHI_ACT_REDACT },
    { "vehicle", PHI_ACT_REDACT }, { "vin", PHI_ACT_REDACT }, { "licenseplate", PHI_ACT_REDACT },
    { "plate", PHI_ACT_REDACT }, { "device", PHI_ACT_REDACT }, { "deviceid", PHI_ACT_REDACT },
    { "serialnumber", PHI_ACT_REDACT }, { "udi", PHI_ACT_REDACT },
    /* (N)-(O) */
    { "url", PHI_ACT_REDACT }, { "website", PHI_ACT_REDACT }, { "homepage", PHI_ACT_REDACT },
    { "ip", PHI_ACT_REDACT }, { "ipaddress", PHI_ACT_REDACT }, { "macaddress", PHI_ACT_REDACT },
    /* (P)-(Q) */
    { "biometric", PHI_ACT_DROP }, { "biometrics", PHI_ACT_DROP }, { "fingerprint", PHI_ACT_DROP },
    { "voiceprint", PHI_ACT_DROP }, { "retina", PHI_ACT_DROP }, { "photo", PHI_ACT_DROP },
    { "picture", PHI_ACT_DROP }, { "image", PHI_ACT_DROP }, { "facephoto", PHI_ACT_DROP }, { "avatar", PHI_ACT_DROP },
    /* (R) */
    { "_id", PHI_ACT_DROP }, { "id", PHI_ACT_DROP }, { "patientid", PHI_ACT_DROP }, { "personid", PHI_ACT_DROP },
    { "uuid", PHI_ACT_DROP }, { "identifier", PHI_ACT_DROP }, { "identifiers", PHI_ACT_DROP },
    /* free text */
    { "notes", PHI_ACT_SCRUB }, { "note", PHI_ACT_SCRUB }, { "comment", PHI_ACT_SCRUB }, { "comments", PHI_ACT_SCRUB },
    { "narrative", PHI_ACT_SCRUB }, { "text", PHI_ACT_SCRUB }, { "description", PHI_ACT_SCRUB },
    { "summary", PHI_ACT_SCRUB }, { "history", PHI_ACT_SCRUB }, { "remarks", PHI_ACT_SCRUB },
    /* not identifiers */
    { "sex", PHI_ACT_KEEP }, { "gender", PHI_ACT_KEEP }, { "state", PHI_ACT_KEEP }, { "country", PHI_ACT_KEEP },
    { "race", PHI_ACT_KEEP }, { "ethnicity", PHI_ACT_KEEP }, { "language", PHI_ACT_KEEP },
    { "diagnosis", PHI_ACT_KEEP }, { "diagnoses", PHI_ACT_KEEP }, { "icd10", PHI_ACT_KEEP }, { "code", PHI_ACT_KEEP },
    { "codes", PHI_ACT_KEEP }, { "status", PHI_ACT_KEEP }, { "type", PHI_ACT_KEEP }, { "reason", PHI_ACT_KEEP },
    { "medication", PHI_ACT_KEEP }, { "medications", PHI_ACT_KEEP }, { "allergies", PHI_ACT_KEEP },
    { "weight", PHI_ACT_KEEP }, { "height", PHI_ACT_KEEP }, { "bmi", PHI_ACT_KEEP }, { "bloodtype", PHI_ACT_KEEP },
    { "department", PHI_ACT_KEEP }, { "specialty", PHI_ACT_KEEP }, { "smoker", PHI_ACT_KEEP },
    { "insurancetype", PHI_ACT_KEEP }, { "cost", PHI_ACT_KEEP }, { "charges", PHI_ACT_KEEP },
    { NULL, 0 }
};

/* The name without case, '_', '-', ' ' or '.' into n (64 bytes); its
 * length, or -1 when it is too long to be a name of the table. */
static int normalise(const char *name, size_t len, char n[64])
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '_' || c == '-' || c == ' ' || c == '.')
            continue;
        if (k + 1 >= 64)
            return -1;
        n[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    n[k] = 0;
    return (int)k;
}

int phi_safe_harbor_action(const char *name, size_t len)
{
    char n[64];
    if (len == 3 && memcmp(name, "_id", 3) == 0)
        return PHI_ACT_DROP;
    int kk = normalise(name, len, n);
    if (kk < 0)
        return -1;
    size_t k = (size_t)kk;
    for (const sh_ent *e = table; e->name; e++)
        if (strcmp(e->name, n) == 0)
            return e->act;
    /* Any other "...date" or "...Date" field is a date element, and so is
     * a part of a birth or death date (birthYear, yearOfBirth, deathTime). */
    if (k > 4 && strcmp(n + k - 4, "date") == 0)
        return PHI_ACT_GENERALIZE;
    if ((strstr(n, "birth") || strstr(n, "death")) &&
        (strstr(n, "year") || strstr(n, "month") || strstr(n, "day") || strstr(n, "time")))
        return PHI_ACT_GENERALIZE;
    if (k > 4 && (strcmp(n + k - 5, "phone") == 0 || strcmp(n + k - 5, "email") == 0))
        return PHI_ACT_REDACT;
    if (k > 3 && strcmp(n + k - 3, "fax") == 0)
        return PHI_ACT_REDACT;
    return -1;
}

int phi_safe_harbor_name_class(const char *path)
{
    size_t e = strlen(path);
    while (e >= 2 && path[e - 2] == '[' && path[e - 1] == ']')
        e -= 2;
    size_t b = e;
    while (b > 0 && path[b - 1] != '.')
        b--;
    int c = phi_safe_harbor_action(path + b, e - b) == PHI_ACT_GENERALIZE ? PHI_SH_DATE : 0;
    /* A birth or death date may be split below its name (birthDate.year). */
    for (size_t s0 = 0; s0 < e;) {
        size_t s1 = s0;
        while (s1 < e && path[s1] != '.')
            s1++;
        size_t k = s1;
        while (k >= s0 + 2 && path[k - 2] == '[' && path[k - 1] == ']')
            k -= 2;
        char n[64];
        if (normalise(path + s0, k - s0, n) >= 0) {
            if (strcmp(n, "dob") == 0 || strstr(n, "birth"))
                c |= PHI_SH_DATE | PHI_SH_BIRTH;
            if (strcmp(n, "dod") == 0 || strstr(n, "death"))
                c |= PHI_SH_DATE | PHI_SH_DEATH;
        }
        s0 = s1 + 1;
    }
    return c;
}
