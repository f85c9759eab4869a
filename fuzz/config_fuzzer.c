/* Fuzz target: the configuration document parser (JSON text). */
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    phicrypt_t *ph = NULL;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (phicrypt_new(&ph, text) == 0)
        phicrypt_free(ph);
    free(text);
    return 0;
}
