#!/usr/bin/env python3
"""Writes the hand-made seed corpus of the fuzz targets (tests/fuzz/corpus/).
The files are committed; rerun this only to change them:
    python3 tests/fuzz/make_corpus.py
Layouts are described at the top of fuzz_decoder.c, fuzz_sphdr.c and
fuzz_pgmdec.c."""
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


# fuzz_pgmdec: byte 0 = mode (bit 0: 1 structured) | maxsize index << 1 |
# datagram capacity index << 4. Raw mode: records [u8 flags][u16 BE len][bytes]
# (flags bit 0: a gap before). Structured: K, K x u16 sizes (top bit: x 64),
# a flush byte, a loss bitmap. Layouts at the top of fuzz_pgmdec.c.
PGM_MAX = {-1: 0, 0: 1, 1: 2, 64: 3, 1000: 4, 5000: 5, 65536: 6, 1 << 20: 7}
PGM_DG = {9: 0, 10: 1, 11: 2, 12: 3, 16: 4, 24: 5, 64: 6, 100: 7, 200: 8, 576: 9, 1000: 10,
          1448: 11, 1456: 12, 4000: 13, 9000: 14, 65535: 15}
PUB = 0x20


def varint(n):
    """QUIC variable-length integer, shortest form (RFC 9000 section 16)."""
    if n < 64:
        return bytes([n])
    if n < 16384:
        return struct.pack('>H', n | 0x4000)
    if n < 1 << 30:
        return struct.pack('>I', n | 0x80000000)
    return struct.pack('>Q', n | 0xc000000000000000)


def pgm_datagrams(messages, dgmax, proto=PUB):
    """An independent encoder, written from man/nn_pgm.7.adoc: the stream of
    [varint length][bytes] cut into datagrams of dgmax bytes, each with the
    8-byte header and the offset of its first message start."""
    stream, starts = b'', []
    for m in messages:
        starts.append(len(stream))
        stream += varint(len(m)) + m
    room = dgmax - 8
    out = []
    for at in range(0, len(stream), room):
        first = next((s - at for s in starts if at <= s < at + room), 0xffff)
        out.append(b'SP\x01\x00' + struct.pack('>HH', proto, first) + stream[at:at + room])
    return out


def pgm_raw(maxsize, datagrams, gaps=()):
    body = b''.join(bytes([1 if i in gaps else 0]) + struct.pack('>H', len(d)) + d
                    for i, d in enumerate(datagrams))
    return bytes([PGM_MAX[maxsize] << 1]) + body


def pgm_structured(maxsize, dgmax, sizes, flush=0, lost=()):
    codes = b''.join(struct.pack('>H', s if s < 0x8000 else 0x8000 | s // 64) for s in sizes)
    bitmap = bytearray((max(lost) // 8 + 1) if lost else 0)
    for j in lost:
        bitmap[j // 8] |= 1 << (j % 8)
    return bytes([1 | PGM_MAX[maxsize] << 1 | PGM_DG[dgmax] << 4, len(sizes)]) + codes + bytes([flush]) + bytes(bitmap)


def pgmdec_seeds():
    msgs = [bytes([i]) * n for i, n in enumerate([5, 0, 64, 70, 1500, 3])]
    yield 'raw_valid', pgm_raw(-1, pgm_datagrams(msgs, 1448))
    yield 'raw_small_datagrams', pgm_raw(-1, pgm_datagrams(msgs, 11))
    dgs = pgm_datagrams([b'a' * 3000, b'b' * 10, b'c' * 20], 1000)
    yield 'raw_gap_mid_message', pgm_raw(-1, dgs[:1] + dgs[2:], gaps=(1,))
    yield 'raw_late_join', pgm_raw(-1, dgs[1:])
    yield 'raw_oversize', pgm_raw(1000, pgm_datagrams([b'x' * 5000, b'y' * 10], 1448))
    liar = b'SP\x01\x00' + struct.pack('>HH', PUB, 0) + varint(1 << 40) + b'z' * 100
    ok = b'SP\x01\x00' + struct.pack('>HH', PUB, 0) + varint(2) + b'ok'
    yield 'raw_lying_length', pgm_raw(-1, [liar, ok])
    good = pgm_datagrams([b'g' * 10], 1448)[0]
    yield 'raw_garbage', pgm_raw(-1, [good, b'SP', b'XP\x01\x00\x00\x20\x00\x00ab',
                                     b'SP\x02\x00\x00\x20\x00\x00ab', b'SP\x01\x00\x00\x21\x00\x00\x01a',
                                     b'SP\x01\x00\x00\x20\x00\x05ab', b'SP\x01\x00\x00\x20\xff\xffab', good])
    yield 'raw_continuation_only', pgm_raw(-1, [b'SP\x01\x00\x00\x20\xff\xff' + b'c' * 50, good])
    yield 'st_batch_small', pgm_structured(-1, 1448, [64] * 20)
    yield 'st_one_mib', pgm_structured(1 << 20, 1448, [1 << 20, 10])
    yield 'st_late_join', pgm_structured(-1, 1448, [5000, 5000, 5000, 30, 30], lost=(0, 1))
    yield 'st_loss_mid_large', pgm_structured(-1, 1448, [20, 102400, 300, 40], lost=(35,))
    yield 'st_loss_silent', pgm_structured(-1, 1448, [3000, 2000, 50, 50], flush=0x80, lost=(2,))
    yield 'st_prefix_split', pgm_structured(-1, 11, [0, 70, 1, 200, 0])
    yield 'st_oversize', pgm_structured(1000, 1448, [500, 50000, 501])
    yield 'st_empty', pgm_structured(0, 1448, [0, 0, 5, 0])
    yield 'st_flush_each', pgm_structured(-1, 1448, [100] * 30, flush=0x7f, lost=(3, 7))
    yield 'st_big_datagrams', pgm_structured(65536, 65535, [16383, 16384, 65536, 70000], lost=(1,))


def write(sub, seeds):
    d = os.path.join(HERE, 'corpus', sub)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


write('decoder', decoder_seeds())
write('sphdr', sphdr_seeds())
write('pgmdec', pgmdec_seeds())
