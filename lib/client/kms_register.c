/* phicrypt_kms_register: a KMS plug-in registered in C. */
#include <phicrypt.h>
#include "client/client_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "kms/registry_private.h"

int phicrypt_kms_register(phicrypt_t *ph, const char *name, const phicrypt_kms_plugin *plugin, void *ctx)
{
    int rc = 0;
    if (!ph || !name || !plugin)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_kms_register: NULL argument");
    /* Operations hold the read side while they use the registry. */
    pthread_rwlock_wrlock(&ph->mc_lock);
    if (!ph->cfg->kms_registry)
        rc = phi_kms_registry_new(&ph->cfg->kms_registry, ph);
    if (rc == 0)
        rc = phi_kms_registry_add_plugin(ph->cfg->kms_registry, ph, name, plugin, ctx, NULL);
    pthread_rwlock_unlock(&ph->mc_lock);
    if (rc != 0)
        return rc;
    /* The first named provider turns the bridge on: a fresh instance. */
    return ph->reset_mcrypt(ph);
}
