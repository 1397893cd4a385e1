/* Resident weights: the model's weights copied out of the file mapping into
 * one anonymous mapping of 2 MB pages (transparent huge pages, asked for with
 * madvise). Why: a decode step streams every weight byte once, and with the
 * file's 4 KB pages each page costs a TLB miss (a two-level walk in a virtual
 * machine); on the 2-vCPU VM of bench/ a read sweep over 1 GB goes 25-27 GB/s
 * on 4 KB pages and 33-34 GB/s on 2 MB pages, and the 320M model's decode
 * 62 -> 78 tok/s. The cost: a private copy (the page cache keeps the file too,
 * reclaimable), ~0.1 s per GB at load. `--mmap` keeps the file mapping. */
#ifndef VLLMC_RESIDENT_H
#define VLLMC_RESIDENT_H

#include <stdbool.h>

#include "model/model.h"
#include "util/error.h"

/* Repoints every weight view of m (tensors shared by two views, as a tied
 * output head, are copied once) at the copy; frees m->owned (an in-situ
 * quantized buffer, now copied). show: a progress line on stderr. The copy
 * is m->resident, unmapped by vc_model_free. */
int vc_model_make_resident(vc_model *m, bool show, vc_error *err);

/* With --mmap instead: touches every page of the mapped weights, so that
 * loading is paid (and, show, shown as the same bar) up front. */
void vc_model_prefault(vc_model *m, bool show);

#endif
