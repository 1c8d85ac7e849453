/* http.c — the CLI's HTTP calls (schema registry, eddyd's /metrics, eddy-push, the services'
 * saga endpoints) on libeddy's small client (src/sdkschema/httpc.h): http:// or https://,
 * Basic credentials from the URL's user info or the registry's own variables, the CA from
 * EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION / EDDY_HTTP_SSL_CA_LOCATION. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "eddy/schema.h"
#include "httpc.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int cli_http(const char *base, int flags, const char *what, const char *hint, const char *method,
             const char *path, const char *content_type, const char *body, size_t max_bytes,
             httpc_resp *resp)
{
    httpc_url u;
    memset(resp, 0, sizeof *resp);
    if (httpc_url_parse(base, &u))
        return cli_fail(CLI_EUSAGE,
                        "%s URL '%s' is not http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH]", what,
                        base);
    httpc_opts o = {0};
    if (flags & CLI_HTTP_REGISTRY) {
        o.basic_auth = env("EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO");
        o.ca_file = env("EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION");
    }
    if (!o.ca_file) o.ca_file = env("EDDY_HTTP_SSL_CA_LOCATION");
    if (!o.ca_file) o.ca_file = env("EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION");
    char e[256] = "";
    int64_t t0 = now_mono_ms();
    int rc = httpc_do(&u, &o, method, path, content_type, body, body ? strlen(body) : 0,
                      g_cli.timeout_ms, max_bytes, resp, e, sizeof e);
    long long waited = (long long)(now_mono_ms() - t0);
    if (rc == EDDY_ERR_TRANSIENT)
        return cli_fail(CLI_EUNREACHABLE, "cannot reach %s at %s (%s, after %lld ms)%s", what, base,
                        e, waited, hint ? hint : "");
    if (rc) return cli_fail(CLI_EFAIL, "%s at %s: %s", what, base, e);
    if (resp->status == 401)
        fprintf(stderr,
                "eddy: %s at %s wants credentials: put them in the URL"
                " (https://USER:PASSWORD@HOST:PORT)%s\n",
                what, base,
                flags & CLI_HTTP_REGISTRY ? " or EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" : "");
    return CLI_OK;
}

int cli_http_json(httpc_resp *resp, const char *what, json_t **out)
{
    int rc = CLI_OK;
    *out = NULL;
    if (resp->status < 200 || resp->status > 299)
        rc = cli_http_error(what, resp->status, resp->body);
    else if (!(*out = json_loads(resp->body ? resp->body : "", 0, NULL)))
        rc = cli_fail(CLI_EFAIL, "%s: the answer is not JSON", what);
    free(resp->body);
    resp->body = NULL;
    return rc;
}
