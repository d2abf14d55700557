#!/usr/bin/env python3
"""Writes the query target's seed corpus (tests/fuzz/corpus/query/).

Each file is the fuzz input: 5 bytes of client (query_fuzzer.cc: control
byte, 4 address bytes) then a DNS message, built here by hand so that odd
and malformed messages are as easy to make as good ones.
"""
import os
import struct
import sys

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, DS, IXFR, AXFR, ANY = (
    1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 43, 251, 252, 255)


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def option(code, data):
    return struct.pack("!HH", code, len(data)) + data


def ecs(family, source, address):
    return option(8, struct.pack("!HBB", family, source, 0) + address)


def opt(size=1232, version=0, do=False, options=b""):
    flags = 0x8000 if do else 0
    return b"\0" + struct.pack("!HHBBHH", OPT, size, 0, version, flags, len(options)) + options


def message(qname, qtype, qclass=1, flags=0x0100, qid=0x1234, edns=None, qdcount=None,
            tail=b""):
    question = name(qname) + struct.pack("!HH", qtype, qclass)
    arcount = 1 if edns is not None else 0
    header = struct.pack("!HHHHHH", qid, flags, 1 if qdcount is None else qdcount, 0, 0, arcount)
    return header + question + (edns or b"") + tail


UDP_V4 = bytes([0, 192, 0, 2, 7])          # 192.0.2.7: region eu
UDP_US = bytes([0, 198, 51, 100, 9])       # us
TCP_V4 = bytes([1, 10, 1, 2, 3])           # ap
UDP_V6 = bytes([2, 0, 1, 0, 5])            # 2001:db8::...: us
TCP_V6 = bytes([3, 0, 0, 0, 1])
NO_ADDRESS = bytes([4, 0, 0, 0, 0])
MAPPED = bytes([2 | 8, 192, 0, 2, 200])    # ::ffff:192.0.2.200: lab

seeds = {
    "a_www": UDP_V4 + message("www.example.test.", A),
    "aaaa_mail_tcp": TCP_V4 + message("mail.example.test.", AAAA),
    "mx_apex": UDP_V4 + message("example.test.", MX),
    "cname_chain": UDP_V4 + message("chain.example.test.", A),
    "cname_dangling": UDP_V4 + message("dangling.example.test.", A),
    "cname_outside": UDP_V4 + message("outside.example.test.", A),
    "cname_loop": UDP_V4 + message("loop1.example.test.", A),
    "wildcard": UDP_V4 + message("x.y.wild.example.test.", MX),
    "wildcard_cname": UDP_V4 + message("a.cw.example.test.", A),
    "wildcard_cname_dangling": UDP_V4 + message("a.cwd.example.test.", A),
    "cname_self": UDP_V4 + message("self.example.test.", A),
    "cname_to_child": UDP_V4 + message("tochild.example.test.", A),
    "cname_to_delegation": UDP_V4 + message("todeleg.example.test.", A),
    "child_back": UDP_V4 + message("back.child.example.test.", A),
    "mixed_case": UDP_V4 + message("mixed.EXAMPLE.test.", A),
    "unknown_type": UDP_V4 + message("unknown.example.test.", 65280),
    "wildcard_blocked": UDP_V4 + message("a.sub.wild.example.test.", A),
    "empty_non_terminal": UDP_V4 + message("b.ent.example.test.", A),
    "child_served": UDP_V4 + message("www.child.example.test.", A),
    "referral": UDP_V4 + message("host.deleg.example.test.", A),
    "referral_out_of_zone_ns": TCP_V4 + message("a.outdeleg.example.test.", AAAA),
    "referral_glue": UDP_V4 + message("x.gluey.fuzz.example.", A),
    "referral_wide_glue": UDP_V4 + message("x.wide.fuzz.example.", A),
    "ds_at_cut": UDP_V4 + message("deleg.example.test.", DS),
    "dname": UDP_V4 + message("www.red.fuzz.example.", A),
    "any_many_udp": UDP_V4 + message("many.fuzz.example.", ANY),
    "any_many_tcp": TCP_V6 + message("many.fuzz.example.", ANY),
    "mx_additional": UDP_V4 + message("fuzz.example.", MX, edns=opt()),
    "srv_additional": UDP_V4 + message("_sip._tcp.fuzz.example.", SRV),
    "array_below_cut": UDP_V4 + message("x.deleg.example.test.", A),
    "ds_child_apex": UDP_V4 + message("child.example.test.", DS),
    "ns_child": UDP_V4 + message("child.example.test.", NS),
    "srv": UDP_V4 + message("_sip._udp.example.test.", SRV),
    "rfc4592_subdel": UDP_V4 + message("a.subdel.example.", A),
    "big_txt_udp": UDP_V4 + message("big.fuzz.example.", TXT),
    "big_txt_tcp": TCP_V4 + message("big.fuzz.example.", TXT),
    "any_udp": UDP_V4 + message("www.example.test.", ANY),
    "any_tcp": TCP_V4 + message("example.test.", ANY),
    "soa_upper": UDP_V4 + message("EXAMPLE.Test.", SOA),
    "nxdomain": UDP_V4 + message("nothere.example.test.", A),
    "array_made_name": UDP_V4 + message("eu.example.test.", A),
    "array_made_name_below": UDP_V4 + message("a.eu.example.test.", A),
    "array_made_name_wildcard": UDP_V4 + message("ent.wild.example.test.", MX),
    "array_made_name_below_wildcard": UDP_V4 + message("x.ent.wild.example.test.", MX),
    "ptr": UDP_V6 + message("1.2.0.192.in-addr.arpa.", PTR),
    "rfc4592": UDP_V4 + message("host3.example.", MX),
    "refused_outside": UDP_V4 + message("www.example.org.", A),
    "class_ch": UDP_V4 + message("version.bind.", TXT, qclass=3),
    "axfr": TCP_V4 + message("example.test.", AXFR),
    "ixfr": TCP_V4 + message("example.test.", IXFR),
    "notify_opcode": UDP_V4 + message("example.test.", SOA, flags=0x2000),
    "qr_set": UDP_V4 + message("www.example.test.", A, flags=0x8000),
    "short_header": UDP_V4 + b"\x12\x34\x01\x00\x00\x01",
    "qdcount_2": UDP_V4 + message("www.example.test.", A, qdcount=2),
    "qdcount_0": UDP_V4 + struct.pack("!HHHHHH", 7, 0x0100, 0, 0, 0, 0),
    "compressed_qname": UDP_V4 + struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
    "trailing_garbage": UDP_V4 + message("www.example.test.", A, tail=b"\xde\xad\xbe\xef"),
    "edns_plain": UDP_V4 + message("www.example.test.", A, edns=opt()),
    "edns_small": UDP_V4 + message("big.fuzz.example.", TXT, edns=opt(size=100)),
    "edns_large": UDP_V4 + message("big.fuzz.example.", TXT, edns=opt(size=65535)),
    "edns_do": UDP_V4 + message("www.example.test.", A, edns=opt(do=True)),
    "edns_badvers": UDP_V4 + message("www.example.test.", A, edns=opt(version=1)),
    "edns_nsid": UDP_V4 + message("www.example.test.", A, edns=opt(options=option(3, b""))),
    "edns_cookie": UDP_V4 + message("www.example.test.", A, edns=opt(options=option(10, b"01234567"))),
    "edns_two_opt": UDP_V4 + message("www.example.test.", A, edns=opt() + opt()),
    "edns_bad_length": UDP_V4 + message("www.example.test.", A, edns=opt(options=b"\x00\x03\x00\x09ab")),
    "array_geo_a": UDP_V4 + message("farm.example.test.", A),
    "array_geo_aaaa_v6": UDP_V6 + message("farm.example.test.", AAAA),
    "array_geo_mapped": MAPPED + message("farm.example.test.", A),
    "array_geo_ecs_v4": UDP_V4 + message("farm.example.test.", A,
                                         edns=opt(options=ecs(1, 24, bytes([198, 51, 100])))),
    "array_geo_ecs_v6": TCP_V6 + message("farm.example.test.", AAAA,
                                         edns=opt(options=ecs(2, 48, bytes.fromhex("20010db80001")))),
    "array_geo_ecs_zero": UDP_V4 + message("farm.example.test.", A, edns=opt(options=ecs(1, 0, b""))),
    "array_ecs_bad_family": UDP_V4 + message("farm.example.test.", A,
                                             edns=opt(options=ecs(9, 24, b"\x01\x02\x03"))),
    "array_ecs_bad_prefix": UDP_V4 + message("farm.example.test.", A,
                                             edns=opt(options=ecs(1, 40, b"\x01\x02\x03\x04\x05"))),
    "array_weighted": UDP_US + message("weighted.example.test.", A),
    "array_sticky_udp": UDP_V4 + message("sticky.example.test.", A),
    "array_sticky_ecs": UDP_V4 + message("sticky.example.test.", A,
                                         edns=opt(options=ecs(1, 16, b"\x0a\x01"))),
    "array_big_v6_udp": UDP_V6 + message("big.static.example.test.", AAAA, edns=opt(size=4096)),
    "array_big_v6_tcp": TCP_V6 + message("big.static.example.test.", AAAA),
    "array_down_none": NO_ADDRESS + message("down.example.test.", A),
    "array_down_open": UDP_V4 + message("open.example.test.", A),
    "array_cname": UDP_V4 + message("alias.example.test.", A),
    "array_wildcard_name": UDP_V4 + message("x.wild.example.test.", A),
    "array_other_type": UDP_V4 + message("farm.example.test.", MX),
    "array_any": TCP_V4 + message("farm.example.test.", ANY),
}

directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "query")
os.makedirs(directory, exist_ok=True)
for seed, data in seeds.items():
    with open(os.path.join(directory, seed), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {directory}")
