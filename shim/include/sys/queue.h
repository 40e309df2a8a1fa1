/*
 * Shim for NetBSD <sys/queue.h>: the LIST macros pmap_segtab.c uses for the
 * PTP cache (a doubly linked list whose head points at the first element and
 * whose elements keep the address of the pointer that points at them).
 */
#ifndef _SHIM_SYS_QUEUE_H_
#define _SHIM_SYS_QUEUE_H_

#define LIST_HEAD(name, type)						\
struct name {								\
	struct type *lh_first;						\
}
#define LIST_HEAD_INITIALIZER(head)	{ NULL }
#define LIST_ENTRY(type)						\
struct {								\
	struct type *le_next;						\
	struct type **le_prev;						\
}
#define LIST_FIRST(head)		((head)->lh_first)
#define LIST_NEXT(elm, field)		((elm)->field.le_next)
#define LIST_INIT(head)			do { (head)->lh_first = NULL; } while (0)
#define LIST_INSERT_HEAD(head, elm, field) do {				\
	if (((elm)->field.le_next = (head)->lh_first) != NULL)		\
		(head)->lh_first->field.le_prev = &(elm)->field.le_next;\
	(head)->lh_first = (elm);					\
	(elm)->field.le_prev = &(head)->lh_first;			\
} while (0)
#define LIST_REMOVE(elm, field) do {					\
	if ((elm)->field.le_next != NULL)				\
		(elm)->field.le_next->field.le_prev = (elm)->field.le_prev;\
	*(elm)->field.le_prev = (elm)->field.le_next;			\
	(elm)->field.le_next = NULL;					\
	(elm)->field.le_prev = NULL;					\
} while (0)

#endif /* _SHIM_SYS_QUEUE_H_ */
