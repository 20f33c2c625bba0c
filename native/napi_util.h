/* SPDX-License-Identifier: Apache-2.0 */
/* Argument and return helpers for the addon's N-API functions. */
#ifndef STRAIT_NAPI_UTIL_H
#define STRAIT_NAPI_UTIL_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ARGS 8

/* Throws a JS TypeError with the E_INTERNAL code: the TypeScript side passed a wrong argument (a bug). */
#define ARG_FAIL(env, msg)                                    \
	do {                                                  \
		napi_throw_type_error((env), "E_INTERNAL", (msg)); \
		return NULL;                                  \
	} while (0)

#define GET_ARGS(env, info, n)                                                       \
	size_t argc = MAX_ARGS;                                                      \
	napi_value argv[MAX_ARGS];                                                   \
	if (napi_get_cb_info((env), (info), &argc, argv, NULL, NULL) != napi_ok || argc < (n)) \
	ARG_FAIL((env), "wrong number of arguments")

static inline bool arg_int(napi_env env, napi_value v, int64_t *out)
{
	return napi_get_value_int64(env, v, out) == napi_ok;
}

static inline bool arg_buffer(napi_env env, napi_value v, void **data, size_t *len)
{
	bool is;
	if (napi_is_buffer(env, v, &is) != napi_ok || !is)
		return false;
	return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

static inline bool arg_is_null(napi_env env, napi_value v)
{
	napi_valuetype t;
	return napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}

/* Copies a JS string into buf (NUL-terminated); false when it is not a string or too long. */
static inline bool arg_string(napi_env env, napi_value v, char *buf, size_t size)
{
	size_t len;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len + 1 > size)
		return false;
	return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok;
}

static inline napi_value ret_int(napi_env env, int64_t v)
{
	napi_value out;
	napi_create_int64(env, v, &out);
	return out;
}

static inline napi_value ret_bool(napi_env env, bool v)
{
	napi_value out;
	napi_get_boolean(env, v, &out);
	return out;
}

static inline napi_value ret_null(napi_env env)
{
	napi_value out;
	napi_get_null(env, &out);
	return out;
}

static inline napi_value ret_buffer(napi_env env, const void *data, size_t len)
{
	napi_value out;
	void *copy;
	napi_create_buffer_copy(env, len, data, &copy, &out);
	return out;
}

static inline void set_int(napi_env env, napi_value obj, const char *name, int64_t v)
{
	napi_set_named_property(env, obj, name, ret_int(env, v));
}

static inline void set_string(napi_env env, napi_value obj, const char *name, const char *v)
{
	napi_value s;
	napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s);
	napi_set_named_property(env, obj, name, s);
}

#define EXPORT(env, exports, name, fn)                                  \
	do {                                                            \
		napi_value f;                                           \
		napi_create_function((env), (name), NAPI_AUTO_LENGTH, (fn), NULL, &f); \
		napi_set_named_property((env), (exports), (name), f);   \
	} while (0)

/* The functions each file registers. */
void register_maps(napi_env env, napi_value exports);
void register_tc(napi_env env, napi_value exports);
void register_misc(napi_env env, napi_value exports);

#endif
