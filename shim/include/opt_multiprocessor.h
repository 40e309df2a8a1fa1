/* Shim for the config(1)-generated "opt_multiprocessor.h". */
#if defined(SHIM_MULTIPROCESSOR) && SHIM_MULTIPROCESSOR
#define MULTIPROCESSOR 1
#endif
