/*
 * Shim for NetBSD <sys/queue.h>: the LIST macros rev 1.23 uses for the PTP
 * cache (a doubly linked list whose head points at the first element and
 * whose elements keep the address of the pointer that points at them), and
 * the TAILQ macros rev 1.31 uses for the per-pmap page lists (the same links,
 * plus a head that also keeps the address of the last element's next
 * pointer, so that inserting at the tail is O(1)).
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


#define TAILQ_HEAD(name, type)						\
struct name {								\
	struct type *tqh_first;						\
	struct type **tqh_last;						\
}
#define TAILQ_HEAD_INITIALIZER(head)	{ NULL, &(head).tqh_first }
#define TAILQ_ENTRY(type)						\
struct {								\
	struct type *tqe_next;						\
	struct type **tqe_prev;						\
}
#define TAILQ_FIRST(head)		((head)->tqh_first)
#define TAILQ_NEXT(elm, field)		((elm)->field.tqe_next)
#define TAILQ_EMPTY(head)		((head)->tqh_first == NULL)
#define TAILQ_INIT(head) do {						\
	(head)->tqh_first = NULL;					\
	(head)->tqh_last = &(head)->tqh_first;				\
} while (0)
#define TAILQ_INSERT_TAIL(head, elm, field) do {			\
	(elm)->field.tqe_next = NULL;					\
	(elm)->field.tqe_prev = (head)->tqh_last;			\
	*(head)->tqh_last = (elm);					\
	(head)->tqh_last = &(elm)->field.tqe_next;			\
} while (0)
#define TAILQ_REMOVE(head, elm, field) do {				\
	if ((elm)->field.tqe_next != NULL)				\
		(elm)->field.tqe_next->field.tqe_prev =			\
		    (elm)->field.tqe_prev;				\
	else								\
		(head)->tqh_last = (elm)->field.tqe_prev;		\
	*(elm)->field.tqe_prev = (elm)->field.tqe_next;			\
	/* as NetBSD without QUEUEDEBUG: the element keeps stale links */ \
} while (0)
#define TAILQ_FOREACH(var, head, field)					\
	for ((var) = ((head)->tqh_first); (var) != NULL;		\
	    (var) = ((var)->field.tqe_next))

#endif /* _SHIM_SYS_QUEUE_H_ */
