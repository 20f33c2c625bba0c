"""
A packet capture for tests, in the network namespace it runs in: reads every
frame on one interface (AF_PACKET) until stdin closes, then prints one JSON
line: how many TCP segments went to or from `port`, how many frames held
`needle` (bytes, given in hex) anywhere, and how many of those were TCP. No tcpdump on these machines.

    python3 sniff.py IFACE PORT NEEDLE_HEX
"""
import json
import select
import socket
import struct
import sys

iface, port, needle = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
frames = port_segments = needle_frames = needle_tcp = 0
print(json.dumps({"listening": iface}), flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in ready:
        if sys.stdin.readline() == "":
            break
    if s in ready:
        frame = s.recv(65535)
        frames += 1
        tcp = len(frame) >= 34 and frame[12:14] == b"\x08\x00" and frame[23] == 6
        if needle in frame:
            needle_frames += 1
            if tcp:
                needle_tcp += 1
        # Ethernet + IPv4 + TCP: ports at the start of the TCP header.
        if tcp:
            ihl = (frame[14] & 0x0F) * 4
            sport, dport = struct.unpack("!HH", frame[14 + ihl : 18 + ihl])
            if port in (sport, dport):
                port_segments += 1
print(
    json.dumps(
        {"frames": frames, "portSegments": port_segments, "needleFrames": needle_frames, "needleTcpFrames": needle_tcp}
    ),
    flush=True,
)
