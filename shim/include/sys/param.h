/* Shim for NetBSD <sys/param.h>: types and the machine's page constants. */
#ifndef _SHIM_SYS_PARAM_H_
#define _SHIM_SYS_PARAM_H_

#include <sys/types.h>
#include <machine/param.h>

#endif /* _SHIM_SYS_PARAM_H_ */
