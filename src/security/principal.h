/* principal — principals in Kafka's form ("User:alice") and the lists settings give of them:
 * super.users ("User:admin;User:ops"), and ssl.principal.mapping.rules for TLS client
 * certificates (DEFAULT and RULE:pattern/replacement/[LU]). */
#ifndef EDDY_SECURITY_PRINCIPAL_H
#define EDDY_SECURITY_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>

/* Is principal (e.g. "User:admin") one of super.users (';'-separated as Kafka writes it; ','
 * is accepted too; surrounding spaces ignored)? NULL or empty list: false. */
bool principal_is_super_user(const char *super_users, const char *principal);

/* Checks a super.users value: every entry "Type:name". Returns 0 or -1 with a message. */
int principal_check_list(const char *super_users, char *err, size_t errlen);

/* Maps a certificate subject (RFC 2253 form, e.g. "CN=alice,OU=eng,O=Acme") through
 * ssl.principal.mapping.rules (Kafka's syntax: comma-separated rules, each "DEFAULT" or
 * "RULE:<regex>/<replacement>/" with an optional "L" or "U" suffix for case). The first rule
 * whose regex matches the whole subject gives the name; DEFAULT gives the subject itself.
 * Writes the user name (without "User:") into out. Returns 0, or -1 when no rule matches or a
 * rule is malformed. NULL/empty rules: DEFAULT. */
int principal_map_subject(const char *rules, const char *subject, char *out, size_t outlen);
/* Checks the rules' syntax. Returns 0 or -1 with a message. */
int principal_check_rules(const char *rules, char *err, size_t errlen);

#endif
