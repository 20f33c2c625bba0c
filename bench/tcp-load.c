/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datapath benchmark's traffic, in C so that the load generator is not
 * what limits the measured rate (bench/datapath.ts compiles and runs it in
 * the pods' namespaces):
 *   tcp-load server PORT                         echo server (epoll, one thread)
 *   tcp-load httpserver PORT                     HTTP/1.1 keep-alive server: "ok" to every request
 *                                                (bodyless requests, as wrk sends; for bench/l7.ts)
 *   tcp-load load HOST PORT DURATION_MS CONC     CONC connections in flight: connect, send a
 *                                                line, read the echo, close; repeat
 *   tcp-load pingpong HOST PORT COUNT            COUNT requests on one connection
 * The client modes print one JSON line: count, errors, seconds, p50/p99 latency in ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define MAX_SAMPLES (8 * 1024 * 1024)

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(double *lat, long n, long errors, double seconds)
{
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	double p50 = n ? lat[n / 2] : 0, p99 = n ? lat[(long)(n * 0.99)] : 0;
	printf("{\"count\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"p50\":%.4f,\"p99\":%.4f}\n", n, errors, seconds, p50,
	       p99);
}

static struct sockaddr_in addr_of(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", host);
		exit(2);
	}
	return a;
}

static const char HTTP_OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

/* Answers each complete request head in what was read (a head can straddle two reads: `tail` keeps its end). */
static int http_answer(int fd, const char *buf, ssize_t r, unsigned *tail)
{
	for (ssize_t i = 0; i < r; i++) {
		unsigned want[] = { '\r', '\n', '\r', '\n' };
		*tail = (buf[i] == (char)want[*tail]) ? *tail + 1 : (buf[i] == '\r' ? 1 : 0);
		if (*tail == 4) {
			*tail = 0;
			if (write(fd, HTTP_OK, sizeof(HTTP_OK) - 1) < 0)
				return -1;
		}
	}
	return 0;
}

static int server(int port, int http)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4096) < 0) {
		perror("listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls }, events[MAX_EVENTS];
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	printf("{\"listening\":%d}\n", port);
	fflush(stdout);
	char buf[4096];
	static unsigned tails[65536];
	for (;;) {
		int n = epoll_wait(ep, events, MAX_EVENTS, -1);
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				tails[fd & 0xffff] = 0;
				close(fd);
				continue;
			}
			if (http ? http_answer(fd, buf, r, &tails[fd & 0xffff]) < 0 : write(fd, buf, (size_t)r) < 0)
				close(fd);
		}
	}
}

struct conn {
	int fd;
	double start;
	int sent;
};

static int open_conn(int ep, struct conn *c, struct sockaddr_in *a)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	c->start = now_ms();
	c->sent = 0;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)a, sizeof(*a)) < 0 && errno != EINPROGRESS) {
		close(c->fd);
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static int load(const char *host, int port, double duration, int conc)
{
	struct sockaddr_in a = addr_of(host, port);
	double *lat = malloc(sizeof(double) * MAX_SAMPLES);
	struct conn *conns = calloc((size_t)conc, sizeof(struct conn));
	long n = 0, errors = 0;
	int ep = epoll_create1(0), live = 0;
	double t0 = now_ms(), end = t0 + duration;
	for (int i = 0; i < conc; i++)
		if (open_conn(ep, &conns[i], &a) == 0)
			live++;
	struct epoll_event events[MAX_EVENTS];
	char buf[64];
	while (live > 0) {
		int k = epoll_wait(ep, events, MAX_EVENTS, 2000);
		if (k == 0)
			break;
		for (int i = 0; i < k; i++) {
			struct conn *c = events[i].data.ptr;
			int done = 0, failed = 0;
			if (events[i].events & (EPOLLERR | EPOLLHUP) && !c->sent) {
				failed = 1;
			} else if (!c->sent && (events[i].events & EPOLLOUT)) {
				if (write(c->fd, "x\n", 2) == 2) {
					c->sent = 1;
					struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				} else {
					failed = 1;
				}
			} else if (events[i].events & EPOLLIN) {
				ssize_t r = read(c->fd, buf, sizeof(buf));
				if (r > 0)
					done = 1;
				else
					failed = 1;
			}
			if (!done && !failed)
				continue;
			if (done && n < MAX_SAMPLES)
				lat[n++] = now_ms() - c->start;
			if (failed)
				errors++;
			close(c->fd);
			live--;
			if (now_ms() < end && open_conn(ep, c, &a) == 0)
				live++;
		}
	}
	report(lat, n, errors, (now_ms() - t0) / 1e3);
	return 0;
}

static int pingpong(const char *host, int port, long count)
{
	struct sockaddr_in a = addr_of(host, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		return 1;
	}
	double *lat = malloc(sizeof(double) * (size_t)count), t0 = now_ms();
	char buf[64];
	long errors = 0;
	for (long i = 0; i < count; i++) {
		double s = now_ms();
		if (write(fd, "p\n", 2) != 2 || read(fd, buf, sizeof(buf)) <= 0) {
			errors++;
			break;
		}
		lat[i] = now_ms() - s;
	}
	report(lat, count - errors, errors, (now_ms() - t0) / 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]), 0);
	if (argc >= 3 && !strcmp(argv[1], "httpserver"))
		return server(atoi(argv[2]), 1);
	if (argc >= 6 && !strcmp(argv[1], "load"))
		return load(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
	if (argc >= 5 && !strcmp(argv[1], "pingpong"))
		return pingpong(argv[2], atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: tcp-load server PORT | httpserver PORT | load HOST PORT DURATION_MS CONC | pingpong HOST PORT COUNT\n");
	return 2;
}
