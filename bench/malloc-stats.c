/*
 * glibc's allocator statistics for a Node process, on request: preloaded
 * (LD_PRELOAD) into the server process of bench/xds-fanout.ts, it starts one
 * thread that waits on the FIFO named by STRAIT_MALLINFO_REQUEST; for each
 * byte read ('s': statistics, 't': malloc_trim(0) first) it writes
 * mallinfo2() as one JSON object to the FIFO named by STRAIT_MALLINFO_REPLY.
 * A thread, not a signal handler: mallinfo2 takes the arenas' locks, which a
 * signal arriving inside malloc would already hold.
 *
 * mallinfo2 sums every arena: `arena` is what the arenas took from the
 * system (brk and arena mmaps), `uordblks` what is allocated from them,
 * `fordblks` what is free in them (kept by the allocator, still resident
 * once touched), `hblkhd` the large chunks mmapped on their own.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *serve(void *unused) {
  (void)unused;
  const char *request = getenv("STRAIT_MALLINFO_REQUEST");
  const char *reply = getenv("STRAIT_MALLINFO_REPLY");
  for (;;) {
    int fd = open(request, O_RDONLY);
    if (fd < 0) return NULL;
    char command = 0;
    ssize_t n = read(fd, &command, 1);
    close(fd);
    if (n != 1) continue;
    size_t trimmed = 0;
    if (command == 't') trimmed = (size_t)malloc_trim(0);
    struct mallinfo2 m = mallinfo2();
    FILE *out = fopen(reply, "w");
    if (out == NULL) continue;
    fprintf(out,
            "{\"arena\":%zu,\"ordblks\":%zu,\"hblks\":%zu,\"hblkhd\":%zu,\"uordblks\":%zu,"
            "\"fordblks\":%zu,\"keepcost\":%zu,\"trimmed\":%zu}\n",
            m.arena, m.ordblks, m.hblks, m.hblkhd, m.uordblks, m.fordblks, m.keepcost, trimmed);
    fclose(out);
  }
}

__attribute__((constructor)) static void start(void) {
  if (getenv("STRAIT_MALLINFO_REQUEST") == NULL || getenv("STRAIT_MALLINFO_REPLY") == NULL) return;
  pthread_t thread;
  if (pthread_create(&thread, NULL, serve, NULL) == 0) pthread_detach(thread);
}
