/* Process hardening for programs that hold keys: no core dumps, no
 * ptrace by other processes of the same user, optionally no swap. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <phicrypt.h>
#include "core/error_private.h"

int phicrypt_harden_process(unsigned int flags)
{
    struct rlimit none = { 0, 0 };
    if (flags & ~(unsigned)PHICRYPT_HARDEN_MLOCKALL)
        return phi_error(NULL, PHICRYPT_EINVAL, "phicrypt_harden_process: unknown flags 0x%x", flags);
    /* Not dumpable: no core file, and /proc/PID/mem and ptrace (gcore,
     * gdb) refused to other processes of the same user. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return phi_error(NULL, PHICRYPT_EINTERNAL, "phicrypt_harden_process: PR_SET_DUMPABLE: %s", strerror(errno));
    /* Also for a core_pattern pipe, which ignores the dumpable flag's
     * file ownership rules on some kernels. */
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return phi_error(NULL, PHICRYPT_EINTERNAL, "phicrypt_harden_process: RLIMIT_CORE: %s", strerror(errno));
    if ((flags & PHICRYPT_HARDEN_MLOCKALL) && mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        return phi_error(NULL, PHICRYPT_EINTERNAL,
                         "phicrypt_harden_process: mlockall: %s (raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK)",
                         strerror(errno));
    return 0;
}
