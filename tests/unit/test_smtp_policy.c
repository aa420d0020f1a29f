/* test_smtp_policy.c - unit tests for smtpd's recipient and sender policy (smtp-gate/smtpd/policy.c). */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "address.h"
#include "path.h"
#include "policy.h"
#include "testutil.h"

/* A line of vpasswd; the hash is never checked by the policy. */
#define VPASSWD_LINE(user) user ":$y$j9T$salt$hash:1:0:" user ":/home/vmail/" user ":NOQUOTA\n"

/* The test folder holds control/ and users/ side by side. */
struct fixture {
	char *root;
	char control[PATH_MAX];
	char users[PATH_MAX];
	char err[256];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->root = testutil_mkdtemp("policy")) == NULL)
		return -1;
	if (path_join(f->control, sizeof(f->control), f->root, "control") == -1 ||
	    path_join(f->users, sizeof(f->users), f->root, "users") == -1 ||
	    mkdir(f->control, 0755) == -1 || mkdir(f->users, 0755) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testutil_rmtree(f->root);
	free(f->root);
	free(f);
	return 0;
}

static void
put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	assert_int_equal(path_join(path, sizeof(path), dir, name), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* users/domain/vpasswd with text. */
static void
put_vpasswd(struct fixture *f, const char *domain, const char *text)
{
	char dir[PATH_MAX];

	assert_int_equal(path_join(dir, sizeof(dir), f->users, domain), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	put(dir, "vpasswd", text);
}

/* control/morercpthosts.cdb as qmail-newmrh writes it: lower-cased keys, empty values. */
static void
put_mrh_cdb(struct fixture *f, const char *const *keys, size_t n)
{
	char path[PATH_MAX];
	struct cdb_make cm;
	int fd;

	assert_int_equal(path_join(path, sizeof(path), f->control, "morercpthosts.cdb"), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(cdb_make_start(&cm, fd), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cdb_make_add(&cm, keys[i], (unsigned)strlen(keys[i]), "", 0), 0);
	assert_int_equal(cdb_make_finish(&cm), 0);
	assert_int_equal(close(fd), 0);
}

/* A forward-path as address.c would hand it over. */
static struct smtp_path
path_of(const char *local, const char *domain)
{
	struct smtp_path p;

	memset(&p, 0, sizeof(p));
	snprintf(p.local, sizeof(p.local), "%s", local);
	snprintf(p.domain, sizeof(p.domain), "%s", domain);
	snprintf(p.address, sizeof(p.address), "%s@%s", local, domain);
	return p;
}

static struct policy *
load(struct fixture *f)
{
	struct policy *p;

	f->err[0] = '\0';
	p = policy_load(f->control, f->users, f->err, sizeof(f->err));
	if (p == NULL)
		fail_msg("policy_load: %s", f->err);
	return p;
}

/* Decide local@domain from a client that may or may not relay. */
static enum policy_rcpt
check(struct fixture *f, const struct policy *p, const char *local, const char *domain,
      bool may_relay)
{
	struct smtp_path rcpt = path_of(local, domain);

	return policy_check_rcpt(p, &rcpt, may_relay, f->err, sizeof(f->err));
}

static void
test_smtp_policy_rcpthosts_exact_subdomain_and_case(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	put(f->control, "rcpthosts", "Example.COM\n.sub.example.org\n# a comment\n\n");
	p = load(f);
	assert_int_equal(check(f, p, "u", "example.com", false), POLICY_RCPT_RCPTHOSTS);
	/* Hand-made paths may keep capitals; address.c lowers them. */
	assert_int_equal(check(f, p, "u", "EXAMPLE.com", false), POLICY_RCPT_RCPTHOSTS);
	/* An exact entry covers no subdomain... */
	assert_int_equal(check(f, p, "u", "a.example.com", false), POLICY_RCPT_NOT_LOCAL);
	/* ...and a ".domain" entry every subdomain, but not the domain itself. */
	assert_int_equal(check(f, p, "u", "x.sub.example.org", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "a.b.SUB.example.org", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "sub.example.org", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "xsub.example.org", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "example.com.evil", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "other.example", false), POLICY_RCPT_NOT_LOCAL);
	/* Ours stays ours for a relay client; anything else is relayed. */
	assert_int_equal(check(f, p, "u", "example.com", true), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "other.example", true), POLICY_RCPT_RELAY);
	policy_free(p);
}

static void
test_smtp_policy_missing_files_are_empty_lists(void **state)
{
	struct fixture *f = *state;
	struct policy *p = load(f);

	/* Not qmail's "no rcpthosts: accept everything". */
	assert_int_equal(check(f, p, "u", "example.com", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "example.com", true), POLICY_RCPT_RELAY);
	assert_false(policy_badmailfrom(p, "anyone@example.com"));
	policy_free(p);
}

static void
test_smtp_policy_unreadable_control_file_fails_load(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	/* A folder in place of the file: it exists but read() fails, as
	 * chmod 000 would for a non-root server. */
	assert_int_equal(path_join(path, sizeof(path), f->control, "rcpthosts"), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	f->err[0] = '\0';
	assert_null(policy_load(f->control, f->users, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "rcpthosts"));
}

static void
test_smtp_policy_morercpthosts_text(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	put(f->control, "rcpthosts", "example.com\n");
	put(f->control, "morercpthosts", "More.example\n.wild.example\n");
	p = load(f);
	assert_int_equal(check(f, p, "u", "example.com", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "more.example", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "a.wild.example", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "wild.example", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "a.more.example", false), POLICY_RCPT_NOT_LOCAL);
	policy_free(p);
}

static void
test_smtp_policy_morercpthosts_cdb_wins_over_text(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = { "more.example", ".wild.example" };
	struct policy *p;

	put(f->control, "rcpthosts", "example.com\n");
	/* Only qmail-newmrh's input once the cdb exists: not consulted. */
	put(f->control, "morercpthosts", "stale.example\n");
	put_mrh_cdb(f, keys, 2);
	p = load(f);
	assert_int_equal(check(f, p, "u", "example.com", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "more.example", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "MORE.Example", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "a.b.wild.example", false), POLICY_RCPT_RCPTHOSTS);
	assert_int_equal(check(f, p, "u", "wild.example", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "a.more.example", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "stale.example", false), POLICY_RCPT_NOT_LOCAL);
	policy_free(p);
}

static void
test_smtp_policy_garbage_morercpthosts_cdb_fails_load(void **state)
{
	struct fixture *f = *state;

	put(f->control, "morercpthosts.cdb", "not a cdb");
	f->err[0] = '\0';
	assert_null(policy_load(f->control, f->users, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "morercpthosts.cdb"));
}

static void
test_smtp_policy_virtual_domain_known_and_unknown_users(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	struct policy *p;

	put_vpasswd(f, "virt.example", VPASSWD_LINE("alice") VPASSWD_LINE("postmaster"));
	/* A folder without vpasswd is not a virtual domain. */
	assert_int_equal(path_join(dir, sizeof(dir), f->users, "empty.example"), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	p = load(f);
	/* No rcpthosts line needed: the folder makes the domain ours. */
	assert_int_equal(check(f, p, "alice", "virt.example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "Alice", "VIRT.Example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "postmaster", "virt.example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "bob", "virt.example", false), POLICY_RCPT_UNKNOWN_USER);
	/* A relay client gets no bounce-making acceptance either. */
	assert_int_equal(check(f, p, "bob", "virt.example", true), POLICY_RCPT_UNKNOWN_USER);
	assert_int_equal(check(f, p, "alice", "virt.example", true), POLICY_RCPT_LOCAL);
	/* No extension fallback: "alice-lists" is not alice. */
	assert_int_equal(check(f, p, "alice-lists", "virt.example", false),
			 POLICY_RCPT_UNKNOWN_USER);
	/* Names userdb refuses as file names can be no user. */
	assert_int_equal(check(f, p, "vpasswd", "virt.example", false), POLICY_RCPT_UNKNOWN_USER);
	assert_int_equal(check(f, p, "a/b", "virt.example", false), POLICY_RCPT_UNKNOWN_USER);
	assert_int_equal(check(f, p, "..", "virt.example", false), POLICY_RCPT_UNKNOWN_USER);
	assert_int_equal(check(f, p, "alice", "empty.example", false), POLICY_RCPT_NOT_LOCAL);
	/* A domain that is no file name never reaches the file system. */
	assert_int_equal(check(f, p, "alice", "../users/virt.example", false),
			 POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "alice", ".", false), POLICY_RCPT_NOT_LOCAL);
	policy_free(p);
}

/* Names in the domain's aliases file, and anyone when it has a catch-all, are local too. */
static void
test_smtp_policy_aliases_and_catchall_are_local(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	struct policy *p;

	put_vpasswd(f, "virt.example", VPASSWD_LINE("alice"));
	put_vpasswd(f, "all.example", VPASSWD_LINE("alice"));
	assert_int_equal(path_join(dir, sizeof(dir), f->users, "virt.example"), 0);
	put(dir, "aliases", "# sales go to alice\nsales: alice, bob@far.example\nbroken:\n");
	assert_int_equal(path_join(dir, sizeof(dir), f->users, "all.example"), 0);
	put(dir, "aliases", "*: alice\n");
	p = load(f);
	assert_int_equal(check(f, p, "sales", "virt.example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "SALES", "virt.example", false), POLICY_RCPT_LOCAL);
	/* A line osd-local cannot use still counts: the mail waits for the administrator. */
	assert_int_equal(check(f, p, "broken", "virt.example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "nobody", "virt.example", false), POLICY_RCPT_UNKNOWN_USER);
	assert_int_equal(check(f, p, "anyone", "all.example", false), POLICY_RCPT_LOCAL);
	/* Tricks stay refused whatever the aliases say. */
	assert_int_equal(check(f, p, "x%far.example", "all.example", false),
			 POLICY_RCPT_RELAY_TRICK);
	policy_free(p);
}

static void
test_smtp_policy_virtual_domain_beats_rcpthosts(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	put(f->control, "rcpthosts", "virt.example\n");
	put_vpasswd(f, "virt.example", VPASSWD_LINE("alice"));
	p = load(f);
	assert_int_equal(check(f, p, "alice", "virt.example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "bob", "virt.example", false), POLICY_RCPT_UNKNOWN_USER);
	policy_free(p);
}

static void
test_smtp_policy_unreadable_vpasswd_is_tempfail(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	struct policy *p;

	/* vpasswd as a folder: open() works, read() fails (EISDIR), which
	 * userdb reports as a system error; chmod 000 does not stop root. */
	assert_int_equal(path_join(dir, sizeof(dir), f->users, "virt.example"), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(path_join(dir, sizeof(dir), dir, "vpasswd"), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	p = load(f);
	f->err[0] = '\0';
	assert_int_equal(check(f, p, "alice", "virt.example", false), POLICY_RCPT_TEMPFAIL);
	assert_non_null(strstr(f->err, "vpasswd"));
	assert_int_equal(check(f, p, "alice", "virt.example", true), POLICY_RCPT_TEMPFAIL);
	policy_free(p);
}

static void
test_smtp_policy_relay_tricks_refused_for_local_domains(void **state)
{
	struct fixture *f = *state;
	static const char *const domains[] = { "virt.example", "listed.example" };
	struct smtp_path rcpt;
	struct policy *p;

	put(f->control, "rcpthosts", "listed.example\n");
	put_vpasswd(f, "virt.example", VPASSWD_LINE("alice"));
	p = load(f);
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		const char *d = domains[i];

		/* '%' hack and bang path, from any client: osd routes neither. */
		assert_int_equal(check(f, p, "alice%other.example", d, false),
				 POLICY_RCPT_RELAY_TRICK);
		assert_int_equal(check(f, p, "alice%other.example", d, true),
				 POLICY_RCPT_RELAY_TRICK);
		assert_int_equal(check(f, p, "other.example!alice", d, false),
				 POLICY_RCPT_RELAY_TRICK);
		assert_int_equal(check(f, p, "other.example!alice", d, true),
				 POLICY_RCPT_RELAY_TRICK);
		/* "alice@other.example"@local: an '@' only a quoted string carries. */
		rcpt = path_of("alice@other.example", d);
		rcpt.quoted = true;
		snprintf(rcpt.address, sizeof(rcpt.address), "\"alice@other.example\"@%s", d);
		assert_int_equal(policy_check_rcpt(p, &rcpt, false, f->err, sizeof(f->err)),
				 POLICY_RCPT_RELAY_TRICK);
		assert_int_equal(policy_check_rcpt(p, &rcpt, true, f->err, sizeof(f->err)),
				 POLICY_RCPT_RELAY_TRICK);
		/* "<@elsewhere.example:alice@local>": a source route. */
		rcpt = path_of("alice", d);
		rcpt.had_route = true;
		assert_int_equal(policy_check_rcpt(p, &rcpt, false, f->err, sizeof(f->err)),
				 POLICY_RCPT_RELAY_TRICK);
		/* Even to an existing user from a relay client: one rule for
		 * every trick to a local domain. */
		assert_int_equal(policy_check_rcpt(p, &rcpt, true, f->err, sizeof(f->err)),
				 POLICY_RCPT_RELAY_TRICK);
	}
	/* A plain recipient of the same domains is fine. */
	assert_int_equal(check(f, p, "alice", "virt.example", false), POLICY_RCPT_LOCAL);
	assert_int_equal(check(f, p, "alice", "listed.example", false), POLICY_RCPT_RCPTHOSTS);
	/* A relay client's trick to a remote domain is that domain's business. */
	assert_int_equal(check(f, p, "a%b.example", "remote.example", true), POLICY_RCPT_RELAY);
	assert_int_equal(check(f, p, "a%b.example", "remote.example", false),
			 POLICY_RCPT_RELAY_TRICK);
	policy_free(p);
}

static void
test_smtp_policy_domain_literal_is_never_local(void **state)
{
	struct fixture *f = *state;
	struct smtp_path rcpt = path_of("alice", "[127.0.0.1]");
	struct policy *p;

	rcpt.domain_literal = true;
	put(f->control, "rcpthosts", "[127.0.0.1]\n");
	p = load(f);
	assert_int_equal(policy_check_rcpt(p, &rcpt, false, f->err, sizeof(f->err)),
			 POLICY_RCPT_RELAY_TRICK);
	assert_int_equal(policy_check_rcpt(p, &rcpt, true, f->err, sizeof(f->err)),
			 POLICY_RCPT_RELAY);
	policy_free(p);
}

/* Decide "<local>" (no domain) with the control files as they are now. */
static enum policy_rcpt
check_bare(struct fixture *f, const char *local, bool may_relay)
{
	struct policy *p = load(f);
	struct smtp_path rcpt;
	enum policy_rcpt r;

	memset(&rcpt, 0, sizeof(rcpt));
	rcpt.no_domain = true;
	snprintf(rcpt.local, sizeof(rcpt.local), "%s", local);
	snprintf(rcpt.address, sizeof(rcpt.address), "%s", local);
	r = policy_check_rcpt(p, &rcpt, may_relay, f->err, sizeof(f->err));
	policy_free(p);
	return r;
}

static void
test_smtp_policy_bare_postmaster_needs_me_with_postmaster(void **state)
{
	struct fixture *f = *state;

	put(f->control, "rcpthosts", "listed.example\n");
	put_vpasswd(f, "nopm.example", VPASSWD_LINE("alice"));
	put_vpasswd(f, "virt.example", VPASSWD_LINE("postmaster"));
	/* No control/me: nowhere to deliver it. */
	assert_int_equal(check_bare(f, "postmaster", false), POLICY_RCPT_NOT_LOCAL);
	/* me is a virtual domain without a postmaster user. */
	put(f->control, "me", "nopm.example\n");
	assert_int_equal(check_bare(f, "postmaster", false), POLICY_RCPT_NOT_LOCAL);
	/* me is only in rcpthosts: still no mailbox here. */
	put(f->control, "me", "listed.example\n");
	assert_int_equal(check_bare(f, "postmaster", true), POLICY_RCPT_NOT_LOCAL);
	/* me names a virtual domain with a postmaster: any case of either. */
	put(f->control, "me", "Virt.Example\n");
	assert_int_equal(check_bare(f, "PostMaster", false), POLICY_RCPT_LOCAL);
}

static void
test_smtp_policy_badmailfrom_address_and_domain(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	put(f->control, "badmailfrom", "Spammer@Bad.example\n@evil.example\n");
	p = load(f);
	assert_true(policy_badmailfrom(p, "spammer@bad.example"));
	assert_true(policy_badmailfrom(p, "SPAMMER@BAD.EXAMPLE"));
	assert_false(policy_badmailfrom(p, "other@bad.example"));
	assert_false(policy_badmailfrom(p, "spammer@bad.example.org"));
	assert_true(policy_badmailfrom(p, "anyone@evil.example"));
	assert_true(policy_badmailfrom(p, "anyone@EVIL.Example"));
	/* "@domain" is that domain only, as in qmail-smtpd. */
	assert_false(policy_badmailfrom(p, "anyone@sub.evil.example"));
	assert_false(policy_badmailfrom(p, "anyone@notevil.example"));
	/* Bounces always get through. */
	assert_false(policy_badmailfrom(p, ""));
	policy_free(p);
}

static void
test_smtp_policy_large_rcpthosts(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], domain[64];
	struct policy *p;
	FILE *fp;

	assert_int_equal(path_join(path, sizeof(path), f->control, "rcpthosts"), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 10000; i++)
		fprintf(fp, i % 2 ? "D%d.Example\n" : ".w%d.example\n", i);
	assert_int_equal(fclose(fp), 0);
	p = load(f);
	for (int i = 0; i < 10000; i++) {
		if (i % 2) {
			snprintf(domain, sizeof(domain), "d%d.example", i);
			assert_int_equal(check(f, p, "u", domain, false), POLICY_RCPT_RCPTHOSTS);
			snprintf(domain, sizeof(domain), "x.d%d.example", i);
			assert_int_equal(check(f, p, "u", domain, false), POLICY_RCPT_NOT_LOCAL);
		} else {
			snprintf(domain, sizeof(domain), "x.w%d.example", i);
			assert_int_equal(check(f, p, "u", domain, false), POLICY_RCPT_RCPTHOSTS);
			snprintf(domain, sizeof(domain), "d%d.example", i);
			assert_int_equal(check(f, p, "u", domain, false), POLICY_RCPT_NOT_LOCAL);
		}
	}
	assert_int_equal(check(f, p, "u", "d10001.example", false), POLICY_RCPT_NOT_LOCAL);
	assert_int_equal(check(f, p, "u", "example", false), POLICY_RCPT_NOT_LOCAL);
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_smtp_policy_rcpthosts_exact_subdomain_and_case,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_missing_files_are_empty_lists,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_unreadable_control_file_fails_load,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_morercpthosts_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_morercpthosts_cdb_wins_over_text,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_garbage_morercpthosts_cdb_fails_load,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_virtual_domain_known_and_unknown_users,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_virtual_domain_beats_rcpthosts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_unreadable_vpasswd_is_tempfail,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_relay_tricks_refused_for_local_domains,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_domain_literal_is_never_local,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_bare_postmaster_needs_me_with_postmaster,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_badmailfrom_address_and_domain,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_large_rcpthosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_policy_aliases_and_catchall_are_local, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("smtp_policy", tests, NULL, NULL);
}
