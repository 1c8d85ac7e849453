/* api_versions — the ApiVersions handler (v0–v4; v3+ flexible body, always a v0 response
 * header): the answer is generated from the dispatch table (dispatch.c). Its row is in
 * core_table.c with the other core APIs.
 */
#include "broker/core.h"

void h_api_versions(broker *b, breq *r)
{
    (void)b;
    dispatch_fill_api_versions(r->resp, r->hdr.api_version);
    breq_done(r);
}
