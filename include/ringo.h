/* ringo — Go's runtime model in C on io_uring.  Include this one header. */
#ifndef RINGO_H
#define RINGO_H
#include "ringo/core.h"
#include "ringo/gc.h"
#include "ringo/io.h"
#include "ringo/sync.h"
#endif
