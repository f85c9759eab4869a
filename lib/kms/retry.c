/* When and how long to wait before another attempt at a KMS request. */
#include <openssl/rand.h>

#include "kms/kms_impl_private.h"

int phi_kms_http_retryable(int status)
{
    /* 429: throttled; 5xx: the service's own failure. Other 4xx replies
     * say the request itself is wrong and will stay wrong. */
    return status == 429 || (status >= 500 && status <= 599);
}

int phi_kms_backoff_ms(const phi_kms_settings *s, int attempt)
{
    long cap = s->backoff_base_ms;
    uint32_t r = 0;
    for (int i = 2; i < attempt && cap < s->backoff_max_ms; i++)
        cap *= 2;
    if (cap > s->backoff_max_ms)
        cap = s->backoff_max_ms;
    if (cap <= 0)
        return 0;
    /* Full jitter (random in [cap/2, cap]) keeps many clients that failed
     * together from retrying together. */
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = 0;
    return (int)(cap / 2 + (long)(r % (uint32_t)(cap / 2 + 1)));
}
