/* Token primitives for the keyring and de-identification: FF1 over numeral
 * strings, FF1 formats (SSN, phone, e-mail ...), AES-SIV opaque tokens,
 * HMAC pseudonyms and the text forms of tokens and pseudonyms.
 *
 * Key objects are precomputed once (cipher fetched, key scheduled, HMAC pads
 * hashed) so that the per-value calls do no key schedule. A key object is
 * NOT safe for concurrent use by several threads: give each thread its own
 * (phi_ff1_key_dup / phi_siv_key_dup are cheap). Key objects live in secure
 * memory and wipe themselves when freed.
 *
 * Every function returns 0 or a negative PHICRYPT_E* code and records a
 * message with phi_error(NULL, ...) that never contains keys, inputs,
 * outputs or tweaks. */
#ifndef PHI_TOKEN_PRIVATE_H
#define PHI_TOKEN_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ FF1 */

/* NIST SP 800-38G Rev. 1 minimum domain radix^n. */
#define PHI_FF1_MIN_DOMAIN 1000000u
/* Longest numeral string accepted (the standard allows 2^32; nothing we
 * tokenise is longer than this, and it bounds the work per call). */
#define PHI_FF1_MAX_LEN 4096u
/* Longest tweak accepted (the standard's limit is 2^32 - 1 bytes). */
#define PHI_FF1_MAX_TWEAK 65536u

typedef struct phi_ff1_key phi_ff1_key;

/* key_len 16, 24 or 32 (AES-128/192/256). */
int phi_ff1_key_new(phi_ff1_key **out, const uint8_t *key, size_t key_len);
/* A copy for another thread (no key schedule). */
int phi_ff1_key_dup(phi_ff1_key **out, const phi_ff1_key *k);
void phi_ff1_key_free(phi_ff1_key *k);

/* FF1 over numerals x[0..n) (most significant first), each < radix,
 * 2 <= radix <= 65536, radix^n >= PHI_FF1_MIN_DOMAIN, n <= PHI_FF1_MAX_LEN.
 * out may equal x. When radix^ceil(n/2) < 2^128 the arithmetic is done in
 * unsigned __int128 with no allocation; larger domains use OpenSSL BN.
 * Errors: PHICRYPT_EINVAL (arguments, numeral >= radix, domain too small),
 * PHICRYPT_ENOMEM, PHICRYPT_EINTERNAL. k is not const: it holds the cipher
 * context the call uses. */
int phi_ff1_encrypt(phi_ff1_key *k, uint32_t radix, const uint8_t *tweak, size_t tweak_len,
                    const uint16_t *x, size_t n, uint16_t *out);
int phi_ff1_decrypt(phi_ff1_key *k, uint32_t radix, const uint8_t *tweak, size_t tweak_len,
                    const uint16_t *x, size_t n, uint16_t *out);

/* phi_ff1_encrypt (enc 1) / decrypt (enc 0) under a raw key used once:
 * no allocation per call and nothing keyed left behind (a per-thread
 * cipher context, reset after the call). */
int phi_ff1_oneshot(int enc, const uint8_t *key, size_t key_len, uint32_t radix, const uint8_t *tweak,
                    size_t tweak_len, const uint16_t *x, size_t n, uint16_t *out);

/* 1 if radix^n >= PHI_FF1_MIN_DOMAIN, else 0 (no error recorded). */
int phi_ff1_domain_ok(uint32_t radix, size_t n);

/* ---------------------------------------------------------- FF1 formats */

/* Formats on top of FF1. Output has exactly the length of the input and
 * keeps every separator byte where it was. The tweak is passed to FF1 as is
 * (the de-identification engine uses the field context). Values are at most
 * 256 bytes and must not contain NUL. Single-radix formats allocate nothing;
 * the mixed-radix ones (ALNUM, MRN, EMAIL) use an OpenSSL BN_CTX.
 *
 * PHI_FPE_DIGITS       all bytes must be '0'..'9'; FF1 radix 10 over all of
 *                      them (identical to phicrypt_ff1_* with "0123456789").
 * PHI_FPE_SSN          exactly 9 digits, other bytes only '-' or ' ' (kept).
 *                      FF1 radix 10 with cycle-walking that keeps the class:
 *                      a valid SSN (area not 000/666/9xx, group not 00,
 *                      serial not 0000) always maps to a valid SSN, and an
 *                      invalid one to an invalid one, so both decrypt.
 * PHI_FPE_PHONE        digits tokenised (radix 10); '+', ' ', '-', '.', '(',
 *                      ')', '/' kept, and so is the country code of a value
 *                      that starts with "+1" (+1 617 ... stays +1 ...).
 * PHI_FPE_MRN          letters and digits tokenised within their class (see
 *                      ALNUM); every other printable ASCII byte is kept.
 * PHI_FPE_ALNUM        all bytes alphanumeric; each position stays in its
 *                      class (digit, upper-case letter, lower-case letter).
 *                      The string is read as one mixed-radix number
 *                      (10/26/26 per position) of domain D, encrypted with
 *                      FF1 radix 2 over ceil(log2 D) bits and cycle-walked
 *                      back into [0, D).
 * PHI_FPE_CREDIT_CARD  12..19 digits, ' ' and '-' kept, Luhn-valid input;
 *                      all digits but the last are tokenised (radix 10) and
 *                      the check digit is recomputed, so output is Luhn-valid.
 * PHI_FPE_EMAIL        local@domain: the local part is tokenised like MRN
 *                      (letters and digits in class, '.', '_', '+', '-' ...
 *                      kept); the domain (after the last '@') is kept.
 * PHI_FPE_EMAIL_FULL   local@domain: the local part and every label of the
 *                      domain but the last (the TLD) are tokenised together
 *                      like MRN; '@', '.' and the TLD are kept
 *                      (john.smith@mgh.harvard.edu -> xxxx.xxxxx@xxx.xxxxxxx.edu).
 * PHI_FPE_CUSTOM       every byte must be in `alphabet` (distinct bytes,
 *                      2..256 of them); FF1 with radix = strlen(alphabet).
 *
 * Values whose tokenised part is too small for the 1,000,000 minimum domain
 * or that do not fit the format fail with PHICRYPT_EBADDATA and a message
 * naming the format (never the value); *too_short (phi_fpe_run) tells the
 * first case apart. */
typedef enum phi_fpe_format {
    PHI_FPE_DIGITS = 0,
    PHI_FPE_SSN,
    PHI_FPE_PHONE,
    PHI_FPE_MRN,
    PHI_FPE_ALNUM,
    PHI_FPE_CREDIT_CARD,
    PHI_FPE_EMAIL,
    PHI_FPE_CUSTOM,
    PHI_FPE_EMAIL_FULL
} phi_fpe_format;

/* "digits", "ssn", "phone", "mrn", "alnum", "credit_card", "email",
 * "custom", "email_full"; PHICRYPT_EINVAL for other names. */
int phi_fpe_format_from_name(const char *name, phi_fpe_format *out);
const char *phi_fpe_format_name(phi_fpe_format f);

/* out receives in_len bytes and a NUL: out_cap >= in_len + 1, else
 * PHICRYPT_EBUFSIZE. alphabet is used by PHI_FPE_CUSTOM only (else NULL). */
int phi_fpe_encrypt(phi_ff1_key *k, phi_fpe_format f, const char *alphabet,
                    const uint8_t *tweak, size_t tweak_len,
                    const char *in, size_t in_len, char *out, size_t out_cap);
int phi_fpe_decrypt(phi_ff1_key *k, phi_fpe_format f, const char *alphabet,
                    const uint8_t *tweak, size_t tweak_len,
                    const char *in, size_t in_len, char *out, size_t out_cap);
/* Either direction; *too_short is set when the value failed only because
 * its tokenised part is below the minimum domain. */
int phi_fpe_run(phi_ff1_key *k, int enc, phi_fpe_format f, const char *alphabet,
                const uint8_t *tweak, size_t tweak_len, const char *in, size_t in_len,
                char *out, size_t out_cap, int *too_short);

/* Tests only: 1 makes the mixed-radix formats (ALNUM, MRN, EMAIL) take the
 * OpenSSL BN path even when the domain fits in 128 bits, so that both
 * paths can be compared. */
extern int phi_fpe_test_force_bn;

/* Helpers the tests and the scrubber use. */
int phi_ssn_is_valid(const char digits9[9]);
int phi_luhn_is_valid(const char *digits, size_t n);

/* -------------------------------------------------------------- AES-SIV */

#define PHI_SIV_TAG_LEN 16
#define PHI_SIV_MAX_AD 8

typedef struct phi_siv_key phi_siv_key;

/* key_len 32 (AES-128-SIV), 48 (AES-192-SIV) or 64 (AES-256-SIV, what
 * tokens use). */
int phi_siv_key_new(phi_siv_key **out, const uint8_t *key, size_t key_len);
int phi_siv_key_dup(phi_siv_key **out, const phi_siv_key *k);
void phi_siv_key_free(phi_siv_key *k);

/* One associated-data component of S2V (RFC 5297 section 2.4). */
typedef struct phi_siv_ad {
    const uint8_t *data;
    size_t len;
} phi_siv_ad;

/* Deterministic AES-SIV with one AD component (always present, even when
 * empty). out receives PHI_SIV_TAG_LEN + pt_len bytes: tag || ciphertext.
 * S2V and CTR run on two pre-keyed AES-ECB contexts (no key schedule and
 * no allocation per call; the key object is for one thread at a time).
 * An empty plaintext (pt may then be NULL) gives the 16-byte tag alone. */
int phi_siv_encrypt(phi_siv_key *k, const uint8_t *ad, size_t ad_len,
                    const uint8_t *pt, size_t pt_len, uint8_t *out);
/* in is tag || ciphertext (in_len >= PHI_SIV_TAG_LEN, else
 * PHICRYPT_EBADDATA); out receives in_len - PHI_SIV_TAG_LEN bytes.
 * PHICRYPT_EAUTH when the tag does not verify; out is then wiped. */
int phi_siv_decrypt(phi_siv_key *k, const uint8_t *ad, size_t ad_len,
                    const uint8_t *in, size_t in_len, uint8_t *out);
/* The general form: n_ad (0..PHI_SIV_MAX_AD) AD components in order; for
 * nonce-based use the nonce is the last component (RFC 5297 section 3). */
int phi_siv_encrypt_v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad,
                      const uint8_t *pt, size_t pt_len, uint8_t *out);
int phi_siv_decrypt_v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad,
                      const uint8_t *in, size_t in_len, uint8_t *out);

/* ----------------------------------------------------------- pseudonyms */

#define PHI_PSEUDO_MIN_LEN 16
#define PHI_PSEUDO_MAX_LEN 32
/* HKDF info prefix; the context follows it. */
#define PHI_PSEUDO_LABEL "phicrypt pseudonym v1\0"
#define PHI_PSEUDO_LABEL_LEN 22

/* HKDF-SHA256 (RFC 5869): okm_len <= 255 * 32. salt may be NULL/0 (a
 * string of 32 zero bytes is then used, as the RFC says). */
int phi_hkdf_sha256(uint8_t *okm, size_t okm_len, const uint8_t *ikm, size_t ikm_len,
                    const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len);

/* A pre-keyed HMAC-SHA256 (the inner and outer padded states are hashed
 * once; each MAC copies them, with no allocation). */
typedef struct phi_hmac_key phi_hmac_key;
int phi_hmac_key_new(phi_hmac_key **out, const uint8_t *key, size_t key_len);
void phi_hmac_key_free(phi_hmac_key *k);
/* out_len 1..32: the first out_len bytes of HMAC-SHA256. */
int phi_hmac_sha256(const phi_hmac_key *k, const uint8_t *msg, size_t msg_len,
                    uint8_t *out, size_t out_len);

/* Pseudonym subkey for one context: HKDF-SHA256(ikm = root key (>= 16
 * bytes), no salt, info = PHI_PSEUDO_LABEL || context (<= 256 bytes)) ->
 * 32-byte HMAC key. */
int phi_pseudo_key_new(phi_hmac_key **out, const uint8_t *root, size_t root_len,
                       const char *context, size_t context_len);

/* Normalisation before the MAC. */
#define PHI_PSEUDO_NORM_TRIM 1u          /* strip leading/trailing ASCII space */
#define PHI_PSEUDO_NORM_CASEFOLD 2u      /* ASCII A-Z -> a-z */
#define PHI_PSEUDO_NORM_COLLAPSE_WS 4u   /* internal runs of ASCII space -> one ' ' */
#define PHI_PSEUDO_NORM_ALL 7u

/* out_len PHI_PSEUDO_MIN_LEN..PHI_PSEUDO_MAX_LEN bytes of
 * HMAC(subkey, normalise(value)). Normalisation streams through a stack
 * buffer: no allocation, any length. ASCII whitespace is ' ', \t, \n, \r,
 * \v, \f; other bytes (UTF-8 included) are MACed unchanged. */
int phi_pseudonym(const phi_hmac_key *subkey, unsigned int norm_flags,
                  const char *value, size_t value_len, uint8_t *out, size_t out_len);

/* ---------------------------------------------------------- token texts */

/* "ps1.<version>.<base32 lower-case, no padding>" for a pseudonym of
 * 16..32 bytes and "tk1.<version>.<base64url, no padding>" for a SIV token
 * (tag || ciphertext, >= 16 bytes; exactly 16 for an empty value). version is the key version (decimal,
 * no leading zeros). The *_len functions give the text length without NUL. */
size_t phi_ps_text_len(uint32_t version, size_t mac_len);
size_t phi_tk_text_len(uint32_t version, size_t token_len);
int phi_ps_text_encode(char *out, size_t out_cap, uint32_t version,
                       const uint8_t *mac, size_t mac_len);
int phi_tk_text_encode(char *out, size_t out_cap, uint32_t version,
                       const uint8_t *token, size_t token_len);
/* Decoders: PHICRYPT_EBADDATA for anything malformed (prefix, version,
 * alphabet, length, padding, non-zero trailing bits), PHICRYPT_EBUFSIZE if
 * out_cap is too small. *out_len receives the byte count. */
int phi_ps_text_decode(const char *text, size_t text_len, uint32_t *version,
                       uint8_t *out, size_t out_cap, size_t *out_len);
int phi_tk_text_decode(const char *text, size_t text_len, uint32_t *version,
                       uint8_t *out, size_t out_cap, size_t *out_len);

/* Plain encoders/decoders (RFC 4648 sections 5 and 6, no padding). */
size_t phi_base32_len(size_t n);
size_t phi_base64url_len(size_t n);
void phi_base32_encode(char *out, const uint8_t *in, size_t n);
void phi_base64url_encode(char *out, const uint8_t *in, size_t n);
int phi_base32_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t n);
int phi_base64url_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t n);

/* phicrypt_detokenize without the access/audit gate (lib/access decides). */
int phi_detokenize_raw(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *token, size_t token_len,
                      const phicrypt_token_opts *opts);

#endif
