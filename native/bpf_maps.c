/* SPDX-License-Identifier: Apache-2.0 */
/* Map operations (lookup, update, delete, key iteration, pinned-object open) and ring buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "napi_util.h"

/* mapUpdate(fd, key, value, flags) → 0 or -errno (E2BIG: the map is full). */
static napi_value map_update(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 4);
	int64_t fd, flags;
	void *key, *value;
	size_t klen, vlen;
	if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &key, &klen) ||
	    !arg_buffer(env, argv[2], &value, &vlen) || !arg_int(env, argv[3], &flags))
		ARG_FAIL(env, "mapUpdate(fd, key, value, flags)");
	int err = bpf_map_update_elem((int)fd, key, value, (uint64_t)flags);
	return ret_int(env, err < 0 ? -errno : 0);
}

/*
 * The result of a batch op: how many entries the kernel applied, and 0 or -errno.
 * On an error `count` comes from the kernel, which writes it back even when it
 * stops mid-batch; an op the map type lacks fails before that, leaving `count`
 * as passed in (the caller tells the two apart: see src/datapath/map-sync.ts).
 */
static napi_value batch_result(napi_env env, uint32_t count, int error)
{
	napi_value out;
	napi_create_object(env, &out);
	set_int(env, out, "count", count);
	set_int(env, out, "error", error);
	return out;
}

/* Reads count and checks that the buffers hold count entries of the given sizes. */
static bool batch_count(napi_env env, napi_value v, size_t klen, int64_t ksize, size_t vlen, int64_t vsize,
			uint32_t *out)
{
	int64_t count;
	if (!arg_int(env, v, &count) || count < 0 || count > UINT32_MAX)
		return false;
	if (ksize <= 0 || (uint64_t)count * (uint64_t)ksize > klen)
		return false;
	if (vsize >= 0 && (vsize == 0 || (uint64_t)count * (uint64_t)vsize > vlen))
		return false;
	*out = (uint32_t)count;
	return true;
}

/*
 * mapUpdateBatch(fd, keys, values, keyBytes, valueBytes, count) → { count, error }:
 * one BPF_MAP_UPDATE_BATCH (BPF_ANY) of `count` entries laid back to back in
 * `keys` and `values`, instead of one syscall per entry.
 */
static napi_value map_update_batch(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 6);
	int64_t fd, ksize, vsize;
	void *keys, *values;
	size_t klen, vlen;
	uint32_t count;
	if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &keys, &klen) ||
	    !arg_buffer(env, argv[2], &values, &vlen) || !arg_int(env, argv[3], &ksize) ||
	    !arg_int(env, argv[4], &vsize) || !batch_count(env, argv[5], klen, ksize, vlen, vsize, &count))
		ARG_FAIL(env, "mapUpdateBatch(fd, keys, values, keyBytes, valueBytes, count)");
	if (count == 0)
		return batch_result(env, 0, 0);
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY, .flags = 0);
	uint32_t n = count;
	int err = bpf_map_update_batch((int)fd, keys, values, &n, &opts);
	return batch_result(env, n, err < 0 ? -errno : 0);
}

/* mapDeleteBatch(fd, keys, keyBytes, count) → { count, error }; stops at the first absent key (-ENOENT). */
static napi_value map_delete_batch(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 4);
	int64_t fd, ksize;
	void *keys;
	size_t klen;
	uint32_t count;
	if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &keys, &klen) ||
	    !arg_int(env, argv[2], &ksize) || !batch_count(env, argv[3], klen, ksize, 0, -1, &count))
		ARG_FAIL(env, "mapDeleteBatch(fd, keys, keyBytes, count)");
	if (count == 0)
		return batch_result(env, 0, 0);
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
	uint32_t n = count;
	int err = bpf_map_delete_batch((int)fd, keys, &n, &opts);
	return batch_result(env, n, err < 0 ? -errno : 0);
}

/* mapLookup(fd, key, valueBytes) → Buffer, or null when the key is absent. */
static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 3);
	int64_t fd, vlen;
	void *key;
	size_t klen;
	if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &key, &klen) ||
	    !arg_int(env, argv[2], &vlen) || vlen <= 0 || vlen > (1 << 20))
		ARG_FAIL(env, "mapLookup(fd, key, valueBytes)");
	void *value = calloc(1, (size_t)vlen);
	if (!value)
		ARG_FAIL(env, "out of memory");
	int err = bpf_map_lookup_elem((int)fd, key, value);
	napi_value out = err < 0 ? ret_null(env) : ret_buffer(env, value, (size_t)vlen);
	free(value);
	return out;
}

/* mapDelete(fd, key) → 0 or -errno (-ENOENT when absent). */
static napi_value map_delete(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 2);
	int64_t fd;
	void *key;
	size_t klen;
	if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &key, &klen))
		ARG_FAIL(env, "mapDelete(fd, key)");
	int err = bpf_map_delete_elem((int)fd, key);
	return ret_int(env, err < 0 ? -errno : 0);
}

/* mapKeys(fd, keyBytes) → one Buffer holding every key, back to back. */
static napi_value map_keys(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 2);
	int64_t fd, klen;
	if (!arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &klen) || klen <= 0 || klen > 512)
		ARG_FAIL(env, "mapKeys(fd, keyBytes)");
	size_t cap = 1024, n = 0;
	char *keys = malloc(cap * (size_t)klen);
	char prev[512];
	bool first = true;
	if (!keys)
		ARG_FAIL(env, "out of memory");
	for (;;) {
		if (n == cap) {
			char *grown = realloc(keys, cap * 2 * (size_t)klen);
			if (!grown) {
				free(keys);
				ARG_FAIL(env, "out of memory");
			}
			keys = grown;
			cap *= 2;
		}
		char *next = keys + n * (size_t)klen;
		if (bpf_map_get_next_key((int)fd, first ? NULL : prev, next) < 0)
			break;
		memcpy(prev, next, (size_t)klen);
		first = false;
		n++;
	}
	napi_value out = ret_buffer(env, keys, n * (size_t)klen);
	free(keys);
	return out;
}

/* objGet(path) → fd of a pinned map or program, or -errno. */
static napi_value obj_get(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	char path[4096];
	if (!arg_string(env, argv[0], path, sizeof(path)))
		ARG_FAIL(env, "objGet(path)");
	int fd = bpf_obj_get(path);
	return ret_int(env, fd < 0 ? -errno : fd);
}

/* closeFd(fd) */
static napi_value close_fd(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	int64_t fd;
	if (!arg_int(env, argv[0], &fd))
		ARG_FAIL(env, "closeFd(fd)");
	close((int)fd);
	return ret_null(env);
}

#define MAX_RINGS 16

struct ring {
	struct ring_buffer *rb;
	napi_env env;
	napi_value out; /* the array being filled during one consume */
	uint32_t count;
};

static struct ring rings[MAX_RINGS];

static int ring_sample(void *ctx, void *data, size_t size)
{
	struct ring *r = ctx;
	napi_set_element(r->env, r->out, r->count++, ret_buffer(r->env, data, size));
	return 0;
}

/* ringbufOpen(fd) → handle */
static napi_value ringbuf_open(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	int64_t fd;
	if (!arg_int(env, argv[0], &fd))
		ARG_FAIL(env, "ringbufOpen(fd)");
	for (int i = 0; i < MAX_RINGS; i++) {
		if (rings[i].rb)
			continue;
		rings[i].rb = ring_buffer__new((int)fd, ring_sample, &rings[i], NULL);
		if (!rings[i].rb) {
			napi_throw_error(env, "E_KERNEL", strerror(errno));
			return NULL;
		}
		return ret_int(env, i);
	}
	napi_throw_error(env, "E_KERNEL", "too many ring buffers");
	return NULL;
}

/* ringbufConsume(handle) → Buffer[] of every record available now (never blocks). */
static napi_value ringbuf_consume(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	int64_t h;
	if (!arg_int(env, argv[0], &h) || h < 0 || h >= MAX_RINGS || !rings[h].rb)
		ARG_FAIL(env, "bad ring handle");
	struct ring *r = &rings[h];
	napi_create_array(env, &r->out);
	r->env = env;
	r->count = 0;
	ring_buffer__consume(r->rb);
	return r->out;
}

/* ringbufClose(handle) */
static napi_value ringbuf_close(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	int64_t h;
	if (!arg_int(env, argv[0], &h) || h < 0 || h >= MAX_RINGS)
		ARG_FAIL(env, "bad ring handle");
	if (rings[h].rb) {
		ring_buffer__free(rings[h].rb);
		rings[h].rb = NULL;
	}
	return ret_null(env);
}

void register_maps(napi_env env, napi_value exports)
{
	EXPORT(env, exports, "mapUpdate", map_update);
	EXPORT(env, exports, "mapLookup", map_lookup);
	EXPORT(env, exports, "mapDelete", map_delete);
	EXPORT(env, exports, "mapUpdateBatch", map_update_batch);
	EXPORT(env, exports, "mapDeleteBatch", map_delete_batch);
	EXPORT(env, exports, "mapKeys", map_keys);
	EXPORT(env, exports, "objGet", obj_get);
	EXPORT(env, exports, "closeFd", close_fd);
	EXPORT(env, exports, "ringbufOpen", ringbuf_open);
	EXPORT(env, exports, "ringbufConsume", ringbuf_consume);
	EXPORT(env, exports, "ringbufClose", ringbuf_close);
}
