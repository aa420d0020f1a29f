/* monotonic.h - milliseconds on the monotonic clock, for deadlines and timeouts. */
#ifndef OSD_MONOTONIC_H
#define OSD_MONOTONIC_H

/* Milliseconds since an arbitrary start; never jumps with the wall clock. */
long long monotonic_ms(void);

#endif
