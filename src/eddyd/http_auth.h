/* http_auth — the HTTP port's guard: HTTP Basic authentication against the SCRAM users and ACL
 * checks on registry subjects and REST produce topics (http_auth.c, docs/security.md). */
#ifndef EDDY_EDDYD_HTTP_AUTH_H
#define EDDY_EDDYD_HTTP_AUTH_H

#include "broker/broker.h"
#include "http/http.h"

/* An http_guard: arg is the broker (settings http.authentication.*, the authorizer). */
int http_auth_guard(void *arg, const http_request *req, http_response *resp,
                    const char **www_authenticate);

#endif
