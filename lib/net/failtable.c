/* failtable.c - failed logins per (client address, target login) in a fixed table, summed per address. */
#include <limits.h>

#include "failtable.h"

void
failtable_init(struct failtable *t, long long window_s)
{
	t->window = window_s;
	t->n = 0;
}

/* Forget the records whose last failure is older than the window (swap in the last one). */
static void
expire(struct failtable *t, long long now)
{
	size_t i = 0;

	while (i < t->n) {
		if (now - t->r[i].last > t->window)
			t->r[i] = t->r[--t->n];
		else
			i++;
	}
}

static struct fail_record *
find(struct failtable *t, const struct ipaddr *addr, uint64_t login)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->r[i].login == login && ipaddr_equal(&t->r[i].addr, addr))
			return &t->r[i];
	return NULL;
}

/* Named records (not the catch-all) of addr. */
static size_t
named_records(const struct failtable *t, const struct ipaddr *addr)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		n += t->r[i].login != FAILTABLE_OTHER && ipaddr_equal(&t->r[i].addr, addr);
	return n;
}

void
failtable_failed(struct failtable *t, const struct ipaddr *addr, uint64_t login, long long now)
{
	struct fail_record *f;

	expire(t, now);
	if ((f = find(t, addr, login)) == NULL) {
		if (login != FAILTABLE_OTHER &&
		    named_records(t, addr) >= FAILTABLE_LOGINS_PER_ADDR) {
			login = FAILTABLE_OTHER;
			f = find(t, addr, login);
		}
	}
	if (f == NULL) {
		if (t->n == FAILTABLE_SIZE) {
			/* Full: the least recent record goes. */
			size_t i, oldest = 0;

			for (i = 1; i < t->n; i++)
				if (t->r[i].last < t->r[oldest].last)
					oldest = i;
			t->r[oldest] = t->r[--t->n];
		}
		f = &t->r[t->n++];
		*f = (struct fail_record){ .addr = *addr, .login = login };
	}
	if (f->count < UINT_MAX)
		f->count++;
	f->last = now;
}

void
failtable_succeeded(struct failtable *t, const struct ipaddr *addr, uint64_t login, long long now)
{
	struct fail_record *f;

	expire(t, now);
	/* The catch-all holds failures against many names: one success proves nothing about them. */
	if (login == FAILTABLE_OTHER || (f = find(t, addr, login)) == NULL)
		return;
	*f = t->r[--t->n];
}

unsigned
failtable_count(struct failtable *t, const struct ipaddr *addr, long long now)
{
	unsigned sum = 0;
	size_t i;

	expire(t, now);
	for (i = 0; i < t->n; i++) {
		if (!ipaddr_equal(&t->r[i].addr, addr))
			continue;
		sum = t->r[i].count > UINT_MAX - sum ? UINT_MAX : sum + t->r[i].count;
	}
	return sum;
}
