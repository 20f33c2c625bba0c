/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tc attach points through libbpf's netlink calls: a clsact qdisc and one
 * direct-action cls_bpf filter per direction, at a fixed handle/priority so
 * that a new program atomically replaces the old one (agent restart: no
 * moment without a program, so no moment of wrong verdicts).
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "napi_util.h"

#define STRAIT_TC_HANDLE 0x57a1
#define STRAIT_TC_PRIORITY 1

static bool tc_args(napi_env env, napi_callback_info info, int64_t *ifindex, bool *ingress, int64_t *fd)
{
	size_t argc = 3;
	napi_value argv[3];
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
		return false;
	if (!arg_int(env, argv[0], ifindex) || napi_get_value_bool(env, argv[1], ingress) != napi_ok)
		return false;
	return fd == NULL || (argc == 3 && arg_int(env, argv[2], fd));
}

/* tcAttach(ifindex, ingress, progFd) → 0 or -errno */
static napi_value tc_attach(napi_env env, napi_callback_info info)
{
	int64_t ifindex, fd;
	bool ingress;
	if (!tc_args(env, info, &ifindex, &ingress, &fd))
		ARG_FAIL(env, "tcAttach(ifindex, ingress, progFd)");
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	int err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return ret_int(env, err);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STRAIT_TC_HANDLE, .priority = STRAIT_TC_PRIORITY,
		    .prog_fd = (int)fd, .flags = BPF_TC_F_REPLACE);
	return ret_int(env, bpf_tc_attach(&hook, &opts));
}

/* tcDetach(ifindex, ingress) → 0 or -errno (-ENOENT when nothing is attached) */
static napi_value tc_detach(napi_env env, napi_callback_info info)
{
	int64_t ifindex;
	bool ingress;
	if (!tc_args(env, info, &ifindex, &ingress, NULL))
		ARG_FAIL(env, "tcDetach(ifindex, ingress)");
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STRAIT_TC_HANDLE, .priority = STRAIT_TC_PRIORITY);
	return ret_int(env, bpf_tc_detach(&hook, &opts));
}

/* tcQuery(ifindex, ingress) → id of the attached program, 0 when none, or -errno */
static napi_value tc_query(napi_env env, napi_callback_info info)
{
	int64_t ifindex;
	bool ingress;
	if (!tc_args(env, info, &ifindex, &ingress, NULL))
		ARG_FAIL(env, "tcQuery(ifindex, ingress)");
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STRAIT_TC_HANDLE, .priority = STRAIT_TC_PRIORITY);
	int err = bpf_tc_query(&hook, &opts);
	if (err == -ENOENT || err == -EINVAL)
		return ret_int(env, 0);
	return ret_int(env, err < 0 ? err : (int64_t)opts.prog_id);
}

/* ifIndex(name) → ifindex in the current network namespace, 0 when there is no such interface */
static napi_value if_index(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	char name[IF_NAMESIZE + 1];
	if (!arg_string(env, argv[0], name, sizeof(name)))
		return ret_int(env, 0);
	return ret_int(env, if_nametoindex(name));
}

void register_tc(napi_env env, napi_value exports)
{
	EXPORT(env, exports, "tcAttach", tc_attach);
	EXPORT(env, exports, "tcDetach", tc_detach);
	EXPORT(env, exports, "tcQuery", tc_query);
	EXPORT(env, exports, "ifIndex", if_index);
}
