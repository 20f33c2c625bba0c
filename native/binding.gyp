# The libbpf binding of src/datapath/ (see native/README.md). Built by
# scripts/build-native.ts against the pinned Node's headers, offline.
{
  "targets": [
    {
      "target_name": "strait_bpf",
      "sources": ["strait_bpf.c", "bpf_maps.c", "bpf_tc.c", "bpf_misc.c"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=9"]
    }
  ]
}
