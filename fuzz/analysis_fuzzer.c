/* Fuzz target: query analysis of (schema, command) pairs. The input is the
 * BSON request libmongocrypt would hand over: a command with jsonSchema and
 * isRemoteSchema appended. */
#include <bson/bson.h>

#include <phicrypt.h>
#include "fle/analysis_private.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bson_t req, reply, out;
    bson_iter_t it;
    int eh;
    if (size < 5 || !bson_init_static(&req, data, size) || !bson_validate(&req, BSON_VALIDATE_NONE, NULL))
        return 0;
    if (phi_analysis_mark(&eh, "db", &req, &reply) == 0)
        bson_destroy(&reply);
    if (bson_iter_init_find(&it, &req, "jsonSchema") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *d;
        bson_t schema;
        bson_iter_document(&it, &len, &d);
        if (bson_init_static(&schema, d, len) && phi_analysis_describe(&eh, &schema, &out) == 0)
            bson_destroy(&out);
    }
    return 0;
}
