#!/usr/bin/env python3
"""Writes the hand-made seed corpus of the fuzz targets (tests/fuzz/corpus/).
The files are committed; rerun this only to change them:
    python3 tests/fuzz/make_corpus.py
Layouts are described at the top of fuzz_decoder.c and fuzz_sphdr.c."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_decoder: byte 0 = framing (bit 0) | maxsize index << 1 | K << 4,
# then K read sizes, then the stream.
TCP, IPC = 0, 1
MAX = {-1: 0, 0: 1, 1: 2, 8: 3, 100: 4, 16384: 5, 16385: 6, 1 << 20: 7}


def frame(framing, payload, length=None):
    n = len(payload) if length is None else length
    hdr = struct.pack('>Q', n)
    return (b'\x01' + hdr if framing == IPC else hdr) + payload


def decoder_input(framing, maxsize, reads, stream):
    assert len(reads) < 16
    return bytes([framing | MAX[maxsize] << 1 | len(reads) << 4]) + bytes(reads) + stream


def decoder_seeds():
    small = [b'hello', b'', b'world!', b'\x92\x34\x56\x79ping']
    for name, f in (('tcp', TCP), ('ipc', IPC)):
        stream = b''.join(frame(f, p) for p in small)
        yield f'{name}_valid', decoder_input(f, -1, [], stream)
        yield f'{name}_split', decoder_input(f, -1, [1, 3, 7, 2], stream)
        yield f'{name}_bytewise', decoder_input(f, 100, [1], stream)
        yield f'{name}_zero_frames', decoder_input(f, 0, [5], frame(f, b'') * 8)
        yield f'{name}_over_maxsize', decoder_input(f, 8, [], frame(f, b'12345678') + frame(f, b'123456789'))
        # A 17000-byte frame (over the 16 KiB "big" threshold) read in 4 KiB and
        # odd pieces, followed by a small one.
        big = bytes(range(256)) * 66 + b'x' * 104
        yield f'{name}_big_frame', decoder_input(f, 16385, [240, 13, 0], frame(f, big) + frame(f, b'after'))
        # A header announcing 70000 bytes with only a few of them present.
        yield f'{name}_big_header', decoder_input(f, -1, [3], frame(f, b'partial', 70000))
        yield f'{name}_huge_header', decoder_input(f, -1, [], frame(f, b'', (1 << 63) + 5))
    yield 'ipc_bad_type', decoder_input(IPC, -1, [], frame(IPC, b'ok') + b'\x02' + struct.pack('>Q', 1) + b'x')
    yield 'ipc_type_zero', decoder_input(IPC, -1, [2], b'\x00' + struct.pack('>Q', 0))


# fuzz_sphdr: the whole input is an nn_cmsghdr buffer (size_t cmsg_len,
# int level, int type, data aligned to 8), its first 8 bytes an SP header,
# its last byte the variant flags.
def cmsg(level, type_, data, length=None):
    n = 16 + len(data) if length is None else length
    body = struct.pack('=Qii', n, level, type_) + data
    return body + b'\0' * (-len(body) % 8)


def sp_hdr_cmsg(hdr):
    return cmsg(1, 1, struct.pack('=Q', len(hdr)) + hdr)


def sphdr_seeds():
    yield 'sp_header_rep', b'\x00SP\x00\x00\x31\x00\x00'
    yield 'sp_header_reserved_ff', b'\x00SP\x00\x00\x51\xff\xff'
    yield 'sp_header_bad_magic', b'\x00SQ\x00\x00\x10\x00\x00'
    for flags in (0, 1, 2, 3, 4, 7, 8, 15):
        yield f'cmsg_sphdr_flags{flags}', sp_hdr_cmsg(b'\x80\x00\x00\x01') + bytes([flags]) * 8
    yield 'cmsg_sphdr_and_ws', sp_hdr_cmsg(b'\x00\x00\x00\x07\x80\x00\x00\x02') + cmsg(-4, 1, b'\x02') + b'\x01' * 8
    yield 'cmsg_hdrlen_too_big', cmsg(1, 1, struct.pack('=Q', 1000) + b'abcd') + b'\x03' * 8
    yield 'cmsg_len_zero', cmsg(1, 1, b'', 0) + b'\x00' * 8
    yield 'cmsg_len_huge', cmsg(1, 1, b'abcdefgh', (1 << 64) - 8) + b'\x01' * 8
    yield 'cmsg_len_short', cmsg(7, 7, b'', 15) + cmsg(1, 1, b'') + b'\x0b' * 8
    yield 'cmsg_many', b''.join(cmsg(i, i, b'x' * i) for i in range(12)) + b'\x05'


def write(sub, seeds):
    d = os.path.join(HERE, 'corpus', sub)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


write('decoder', decoder_seeds())
write('sphdr', sphdr_seeds())
