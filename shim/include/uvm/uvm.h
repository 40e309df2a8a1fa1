/* Shim for NetBSD <uvm/uvm.h>: the UVM and pmap declarations the file uses. */
#ifndef _SHIM_UVM_UVM_H_
#define _SHIM_UVM_UVM_H_

#include <sys/param.h>
#include <uvm/uvm_stat.h>
#include <uvm/uvm_page.h>
#include <uvm/uvm_extern.h>
#include <uvm/uvm_pmap.h>
#include <machine/pmap.h>

#endif /* _SHIM_UVM_UVM_H_ */
