// Memory read bandwidth of this machine, as the floor of the peer comparison uses it:
// every core sums its share of a 1 GiB buffer (too large for any cache), best of 5.
// Prints GB/s (1e9 bytes per second).   Build: clang -O2 -pthread membw.c -o membw
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { bytes = 1 << 30 };
static uint64_t *buffer;
static long threads;
static volatile uint64_t sink;

static void *sum(void *arg) {
    long k = (long)arg;
    size_t words = bytes / 8, share = words / threads;
    const uint64_t *p = buffer + k * share;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= share; i += 4) { a += p[i]; b += p[i + 1]; c += p[i + 2]; d += p[i + 3]; }
    sink += a + b + c + d;
    return NULL;
}

int main(void) {
    threads = sysconf(_SC_NPROCESSORS_ONLN);
    buffer = malloc(bytes);
    memset(buffer, 1, bytes);
    double best = 0;
    for (int round = 0; round < 5; round++) {
        pthread_t ids[256];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long k = 0; k < threads; k++) pthread_create(&ids[k], NULL, sum, (void *)k);
        for (long k = 0; k < threads; k++) pthread_join(ids[k], NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (bytes / seconds / 1e9 > best) best = bytes / seconds / 1e9;
    }
    printf("%.1f\n", best);
    return 0;
}
