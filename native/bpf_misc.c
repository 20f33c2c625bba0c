/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What Node lacks around the datapath: BTF struct layouts (for the codec
 * layout test), mounting bpffs, CLOCK_BOOTTIME (the clock of CT and auth
 * expiry), the number of possible CPUs (per-CPU map values), and socket
 * options for transparent proxies (IP_TRANSPARENT, SO_MARK).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "napi_util.h"

/* btfStruct(objectPath, structName) → { size, members: [{ name, offset, size }] } or null */
static napi_value btf_struct(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 2);
	char path[4096], name[256];
	if (!arg_string(env, argv[0], path, sizeof(path)) || !arg_string(env, argv[1], name, sizeof(name)))
		ARG_FAIL(env, "btfStruct(objectPath, structName)");
	struct btf *btf = btf__parse_elf(path, NULL);
	if (!btf) {
		napi_throw_error(env, "E_KERNEL", strerror(errno));
		return NULL;
	}
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
	if (id < 0) {
		btf__free(btf);
		return ret_null(env);
	}
	const struct btf_type *t = btf__type_by_id(btf, id);
	napi_value result, members;
	napi_create_object(env, &result);
	napi_create_array(env, &members);
	set_int(env, result, "size", t->size);
	const struct btf_member *m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		napi_value member;
		napi_create_object(env, &member);
		set_string(env, member, "name", btf__name_by_offset(btf, m->name_off));
		set_int(env, member, "offset", btf_member_bit_offset(t, i) / 8);
		set_int(env, member, "size", btf__resolve_size(btf, m->type));
		napi_set_element(env, members, (uint32_t)i, member);
	}
	napi_set_named_property(env, result, "members", members);
	btf__free(btf);
	return result;
}

/* isBpffs(path) → whether a bpf file system is mounted there */
static napi_value is_bpffs(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	char path[4096];
	struct statfs st;
	if (!arg_string(env, argv[0], path, sizeof(path)))
		ARG_FAIL(env, "isBpffs(path)");
	return ret_bool(env, statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC);
}

/* mountBpffs(path) → 0 or -errno */
static napi_value mount_bpffs(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 1);
	char path[4096];
	if (!arg_string(env, argv[0], path, sizeof(path)))
		ARG_FAIL(env, "mountBpffs(path)");
	return ret_int(env, mount("bpf", path, "bpf", 0, "mode=0700") < 0 ? -errno : 0);
}

/* bootTimeNs() → bigint, CLOCK_BOOTTIME as bpf_ktime_get_boot_ns() sees it */
static napi_value boot_time_ns(napi_env env, napi_callback_info info)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	napi_value out;
	napi_create_bigint_uint64(env, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec, &out);
	return out;
}

static napi_value possible_cpus(napi_env env, napi_callback_info info)
{
	return ret_int(env, libbpf_num_possible_cpus());
}

/* setSockOptInt(fd, level, name, value) → 0 or -errno */
static napi_value set_sock_opt_int(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 4);
	int64_t fd, level, name, value;
	if (!arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &level) || !arg_int(env, argv[2], &name) ||
	    !arg_int(env, argv[3], &value))
		ARG_FAIL(env, "setSockOptInt(fd, level, name, value)");
	int v = (int)value;
	return ret_int(env, setsockopt((int)fd, (int)level, (int)name, &v, sizeof(v)) < 0 ? -errno : 0);
}

/*
 * connectMarked(ipv4, port, mark, timeoutMs) → fd of a connected, non-blocking
 * TCP socket whose packets carry `mark` from the first SYN on, or -errno.
 * Node cannot set SO_MARK before connect(); a proxy's upstream needs it.
 */
static napi_value connect_marked(napi_env env, napi_callback_info info)
{
	GET_ARGS(env, info, 4);
	char ip[64];
	int64_t port, mark, timeout_ms;
	if (!arg_string(env, argv[0], ip, sizeof(ip)) || !arg_int(env, argv[1], &port) ||
	    !arg_int(env, argv[2], &mark) || !arg_int(env, argv[3], &timeout_ms))
		ARG_FAIL(env, "connectMarked(ipv4, port, mark, timeoutMs)");
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1)
		return ret_int(env, -EINVAL);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ret_int(env, -errno);
	unsigned int m = (unsigned int)mark;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof(m)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;
		close(fd);
		return ret_int(env, -err);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return ret_int(env, fd);
}

void register_misc(napi_env env, napi_value exports)
{
	EXPORT(env, exports, "btfStruct", btf_struct);
	EXPORT(env, exports, "isBpffs", is_bpffs);
	EXPORT(env, exports, "mountBpffs", mount_bpffs);
	EXPORT(env, exports, "bootTimeNs", boot_time_ns);
	EXPORT(env, exports, "possibleCpus", possible_cpus);
	EXPORT(env, exports, "setSockOptInt", set_sock_opt_int);
	EXPORT(env, exports, "connectMarked", connect_marked);
}
