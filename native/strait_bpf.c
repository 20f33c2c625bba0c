/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module registration, BPF object open/load (with map pinning) and
 * BPF_PROG_TEST_RUN. Loaded objects live in a small table; JavaScript holds
 * the index.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "napi_util.h"

#define MAX_OBJECTS 64
#define LOG_SIZE 65536

static struct bpf_object *objects[MAX_OBJECTS];

/* libbpf's messages (the verifier log among them) of the current load, for the error. */
static char load_log[LOG_SIZE];
static size_t load_log_len;

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || load_log_len >= LOG_SIZE - 1)
		return 0;
	int n = vsnprintf(load_log + load_log_len, LOG_SIZE - load_log_len, fmt, args);
	if (n > 0)
		load_log_len += (size_t)n < LOG_SIZE - load_log_len ? (size_t)n : LOG_SIZE - 1 - load_log_len;
	return 0;
}

static napi_value throw_kernel(napi_env env, const char *what, int err)
{
	char msg[LOG_SIZE + 256];
	snprintf(msg, sizeof(msg), "%s: %s%s%s", what, strerror(err < 0 ? -err : err),
		 load_log_len ? "\n" : "", load_log);
	napi_throw_error(env, "E_KERNEL", msg);
	return NULL;
}

/* openObject(path, pinRoot | null) → { handle, maps[], programs[] } */
static napi_value open_object(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 2);
	char path[4096], pin_root[4096];
	if (!arg_string(env, argv[0], path, sizeof(path)))
		ARG_FAIL(env, "path must be a string");
	bool pin = !arg_is_null(env, argv[1]);
	if (pin && !arg_string(env, argv[1], pin_root, sizeof(pin_root)))
		ARG_FAIL(env, "pinRoot must be a string or null");

	int slot = -1;
	for (int i = 0; i < MAX_OBJECTS; i++)
		if (!objects[i]) {
			slot = i;
			break;
		}
	if (slot < 0)
		return throw_kernel(env, "too many open BPF objects", EMFILE);

	load_log_len = 0;
	load_log[0] = 0;
	libbpf_set_print(capture_print);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin ? pin_root : NULL);
	struct bpf_object *obj = bpf_object__open_file(path, &opts);
	if (!obj)
		return throw_kernel(env, "cannot open BPF object", errno);

	struct bpf_map *map;
	if (!pin)
		bpf_object__for_each_map(map, obj) bpf_map__set_pin_path(map, NULL);

	int err = bpf_object__load(obj);
	if (err) {
		bpf_object__close(obj);
		return throw_kernel(env, "cannot load BPF object", err);
	}
	objects[slot] = obj;

	napi_value result, maps, progs;
	napi_create_object(env, &result);
	napi_create_array(env, &maps);
	napi_create_array(env, &progs);
	uint32_t i = 0;
	bpf_object__for_each_map(map, obj)
	{
		napi_value m;
		napi_create_object(env, &m);
		set_string(env, m, "name", bpf_map__name(map));
		set_int(env, m, "fd", bpf_map__fd(map));
		set_int(env, m, "type", bpf_map__type(map));
		set_int(env, m, "keySize", bpf_map__key_size(map));
		set_int(env, m, "valueSize", bpf_map__value_size(map));
		set_int(env, m, "maxEntries", bpf_map__max_entries(map));
		napi_set_element(env, maps, i++, m);
	}
	i = 0;
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj)
	{
		napi_value p;
		napi_create_object(env, &p);
		set_string(env, p, "name", bpf_program__name(prog));
		set_int(env, p, "fd", bpf_program__fd(prog));
		napi_set_element(env, progs, i++, p);
	}
	set_int(env, result, "handle", slot);
	napi_set_named_property(env, result, "maps", maps);
	napi_set_named_property(env, result, "programs", progs);
	return result;
}

/* closeObject(handle): closes the object's fds; pinned maps and attached programs stay. */
static napi_value close_object(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	int64_t h;
	if (!arg_int(env, argv[0], &h) || h < 0 || h >= MAX_OBJECTS)
		ARG_FAIL(env, "bad handle");
	if (objects[h]) {
		bpf_object__close(objects[h]);
		objects[h] = NULL;
	}
	return ret_null(env);
}

/* progTestRun(fd, packet, ctxIn | null, repeat) → { error, retval, data, ctx, durationNs } */
static napi_value prog_test_run(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 4);
	int64_t fd, repeat;
	void *data, *ctx_in = NULL;
	size_t data_len, ctx_len = 0;
	if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &data_len) ||
	    !arg_int(env, argv[3], &repeat))
		ARG_FAIL(env, "progTestRun(fd, packet, ctx, repeat)");
	if (!arg_is_null(env, argv[2]) && !arg_buffer(env, argv[2], &ctx_in, &ctx_len))
		ARG_FAIL(env, "ctx must be a Buffer or null");

	char out[65536], ctx_out[256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = (uint32_t)data_len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = (int)repeat);
	if (ctx_in) {
		if (ctx_len > sizeof(ctx_out))
			ARG_FAIL(env, "ctx too large");
		opts.ctx_in = ctx_in;
		opts.ctx_size_in = (uint32_t)ctx_len;
		opts.ctx_out = ctx_out;
		opts.ctx_size_out = (uint32_t)ctx_len;
	}
	int err = bpf_prog_test_run_opts((int)fd, &opts);

	napi_value result;
	napi_create_object(env, &result);
	set_int(env, result, "error", err < 0 ? -errno : 0);
	set_int(env, result, "retval", opts.retval);
	set_int(env, result, "durationNs", opts.duration);
	napi_set_named_property(env, result, "data", ret_buffer(env, out, err < 0 ? 0 : opts.data_size_out));
	napi_set_named_property(env, result, "ctx",
				ctx_in && err == 0 ? ret_buffer(env, ctx_out, opts.ctx_size_out) : ret_null(env));
	return result;
}

static napi_value init(napi_env env, napi_value exports)
{
	EXPORT(env, exports, "openObject", open_object);
	EXPORT(env, exports, "closeObject", close_object);
	EXPORT(env, exports, "progTestRun", prog_test_run);
	register_maps(env, exports);
	register_tc(env, exports);
	register_misc(env, exports);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
