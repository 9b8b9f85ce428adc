#!/usr/bin/env python3
"""Writes the hand-made seed corpus of the fuzz targets (tests/fuzz/corpus/).
The files are committed; rerun this only to change them:
    python3 tests/fuzz/make_corpus.py
Layouts are described at the top of each fuzz_<target>.c. Targets not
listed here (ws, api) have seeds that came out of fuzzing runs."""
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


# fuzz_url: byte 0 = scheme index | bind << 4 | (NN_IPV4ONLY 0) << 5, then
# the address after "scheme://" (index 8: a whole URL).
URL_SCHEMES = {'tcp': 0, 'tls+tcp': 1, 'ws': 2, 'wss': 3, 'ipc': 4, 'inproc': 5, 'pgm': 6, 'epgm': 7,
               'whole': 8}


def url_input(scheme, addr, bind=False, ipv6=False):
    return bytes([URL_SCHEMES[scheme] | bind << 4 | ipv6 << 5]) + addr.encode()


def url_seeds():
    dial = ['127.0.0.1:5555', 'localhost:5555', '*;127.0.0.1:80', '127.0.0.1;127.0.0.1:1',
            '[::1]:5555', 'eth0;host.example.org:65535', 'a-b.c:080', 'name.:1', '127.0.0.1',
            '127.0.0.1:0', '127.0.0.1:65536', ':5555', '[::1', 'fe80::1%lo;[::1]:5']
    bind = ['*:5555', '127.0.0.1:5556', '[::1]:5557', '::1:5558', 'lo:5559', '0.0.0.0:00001', '*:']
    ws = ['127.0.0.1:5560/path', 'localhost/', 'host.example.org', '[::1]/a/b?c', 'x;y:1/z']
    for i, a in enumerate(dial):
        yield f'tcp_dial_{i:02}', url_input('tcp', a, ipv6=i % 2 == 1)
        yield f'tls_dial_{i:02}', url_input('tls+tcp', a)
    for i, a in enumerate(bind):
        yield f'tcp_bind_{i:02}', url_input('tcp', a, bind=True, ipv6=i % 2 == 0)
        yield f'ws_bind_{i:02}', url_input('ws', a, bind=True)
    for i, a in enumerate(ws):
        yield f'ws_dial_{i:02}', url_input('ws', a)
        yield f'wss_dial_{i:02}', url_input('wss', a, ipv6=True)
    yield 'wss_bind', url_input('wss', '127.0.0.1:5561', bind=True)
    yield 'tls_bind', url_input('tls+tcp', '127.0.0.1:5562', bind=True)
    yield 'ipc_bind', url_input('ipc', 'fuzz.sock', bind=True)
    yield 'ipc_dial', url_input('ipc', 'fuzz.sock')
    yield 'ipc_empty', url_input('ipc', '', bind=True)
    yield 'ipc_long', url_input('ipc', 'p' * 108, bind=True)
    yield 'ipc_dir', url_input('ipc', '..', bind=True)
    yield 'inproc_bind', url_input('inproc', 'a', bind=True)
    yield 'inproc_empty', url_input('inproc', '')
    pgm = ['127.0.0.1;239.192.0.1:7500', '10.0.0.0/8;239.192.0.1:1', 'lo;224.0.0.1:65535',
           'eth0:1;239.1.1.1:5', ';239.1.1.1:5', 'lo;10.0.0.1:5', '::1;239.1.1.1:5', '1.2.3/24;239.1.1.1:5',
           '127.0.0.1/33;239.0.0.1:1', 'lo;239.0.0.1:5x', 'lo;239.0.0.1']
    for i, a in enumerate(pgm):
        yield f'pgm_{i:02}', url_input('epgm' if i % 2 else 'pgm', a, bind=i % 3 == 0)
    for i, u in enumerate(['tcp://127.0.0.1:5563', 'inproc://x', 'ipc://y', 'zmq://a', 'tcp:/a', 'tcp',
                           'tcp:/' + '/' * 200, 'pgm://lo;239.0.0.1:1', 'ws://127.0.0.1:5564/r', '://x']):
        yield f'whole_{i:02}', url_input('whole', u, bind=i % 2 == 0)


# fuzz_wshs: byte 0 = side (0 server, 1 client) | type index << 1 | pieces - 1 << 5,
# then the request (server side) or the response, "@@" standing for the accept key.
WS_TYPES = ['pair', 'req', 'rep', 'pub', 'sub', 'surveyor', 'respondent', 'push', 'pull', 'bus']


def ws_frame(opcode, payload, mask=None, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        h = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        h = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack('>H', n)
    else:
        h = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack('>Q', n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        h += mask
    return h + payload


def ws_request(proto, extra=b'', version=b'13', key=b'dGhlIHNhbXBsZSBub25jZQ=='):
    r = b'GET /sp HTTP/1.1\r\nHost: 127.0.0.1:6000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
    r += b'Sec-WebSocket-Key: ' + key + b'\r\nSec-WebSocket-Version: ' + version + b'\r\n'
    if proto:
        r += b'Sec-WebSocket-Protocol: ' + proto.encode() + b'.sp.nanomsg.org\r\n'
    return r + extra + b'\r\n'


def wshs_input(side, ti, data, pieces=1):
    return bytes([side | ti << 1 | (pieces - 1) << 5]) + data


def wshs_seeds():
    m = b'\x11\x22\x33\x44'
    for ti, name in enumerate(WS_TYPES):
        yield f'server_{name}', wshs_input(0, ti, ws_request(name))
        yield f'client_{name}', wshs_input(1, ti, b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
                                           b'Connection: Upgrade\r\nSec-WebSocket-Accept: @@\r\n\r\n')
    frames = ws_frame(2, b'hello', m) + ws_frame(9, b'ping', m) + ws_frame(1, b'\xc3\x28', m)
    yield 'server_pair_frames', wshs_input(0, 0, ws_request('pair') + frames, 3)
    yield 'server_pair_plain_ws', wshs_input(0, 0, ws_request(None))
    yield 'server_push_wrong_type', wshs_input(0, 7, ws_request('pair'))
    yield 'server_unknown_type', wshs_input(0, 0, ws_request('chat'))
    yield 'server_version_12', wshs_input(0, 0, ws_request('pair', version=b'12'))
    yield 'server_no_key', wshs_input(0, 9, ws_request('bus', key=b''))
    yield 'server_post', wshs_input(0, 0, b'POST / HTTP/1.1\r\n\r\n')
    yield 'server_cut_short', wshs_input(0, 8, ws_request('push')[:-2], 2)
    yield 'server_too_long', wshs_input(0, 0, ws_request('pair', extra=b'X-Pad: ' + b'p' * 4200 + b'\r\n'), 7)
    yield 'server_bad_header', wshs_input(0, 0, ws_request('pair', extra=b'no colon here\r\n'))
    yield 'server_bytewise', wshs_input(0, 3, ws_request('pub'), 8)
    ok = b'HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n' \
         b'Sec-WebSocket-Accept: @@\r\nSec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n\r\n'
    yield 'client_pair_frames', wshs_input(1, 0, ok + ws_frame(2, b'msg') + ws_frame(9, b'p') + ws_frame(8, b'\x03\xe8'), 4)
    yield 'client_masked_frame', wshs_input(1, 0, ok + ws_frame(2, b'msg', m))
    yield 'client_wrong_accept', wshs_input(1, 0, ok.replace(b'@@', b's3pPLMBiTxaQ9kYGzzhZRbK+xOo='))
    yield 'client_404', wshs_input(1, 8, b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
    yield 'client_cut_short', wshs_input(1, 1, ok[:-3])
    yield 'client_too_long', wshs_input(1, 0, ok[:-2] + b'X-Pad: ' + b'p' * 4100 + b'\r\n\r\n', 5)


# fuzz_cmsg: records [b0][b1][csize] [send iovecs] [control] [receive iovecs] [reply length].
CMSG_FLOWS = {'xreq_rep': 0, 'req_xrep': 1, 'xsurveyor_respondent': 2, 'surveyor_xrespondent': 3,
              'xbus_bus': 4, 'xpair_pair': 5, 'xpush_pull': 6, 'xpub_sub': 7, 'pair_xpair': 8, 'bus_xbus': 9}


def cmsg_record(flow, iovs, hdr=None, raw_ctl=b'', trailer=b'', recv_iovs=(), recv_chunk=True,
                recv_ctl=1, csize=0, body_chunk=False, ctl_chunk=False, no_ctl=False, reply=None,
                bad_iovlen=False):
    b0 = CMSG_FLOWS[flow] | body_chunk << 4 | ctl_chunk << 5 | no_ctl << 6 | (reply is not None) << 7
    b1 = len(iovs) | len(recv_iovs) << 2 | recv_chunk << 4 | recv_ctl << 5 | bad_iovlen << 7
    out = bytes([b0, b1, csize])
    for v in iovs:
        out += bytes([255]) if v is None else bytes([len(v)]) + v
    if hdr is None:
        out += bytes([len(raw_ctl)]) + raw_ctl
    else:
        out += bytes([128 + len(hdr)]) + hdr + bytes([len(trailer)]) + trailer
    out += bytes(recv_iovs)
    if reply is not None:
        out += bytes([reply])
    return out


def cmsg_seeds():
    bt = struct.pack('>I', 0x80000007)
    hops = struct.pack('>II', 3, 0x80000009)
    ws = cmsg(-4, 1, b'\x02')  # an NN_WS message-type cmsg after the header
    yield 'xreq_rep_reply', cmsg_record('xreq_rep', [b'hello'], hdr=bt, reply=3)
    yield 'xreq_rep_hops', cmsg_record('xreq_rep', [b'he', b'llo'], hdr=hops, reply=0, recv_ctl=2, csize=64)
    yield 'xreq_rep_no_bt', cmsg_record('xreq_rep', [b'\x00\x00\x00\x01ab'], hdr=b'')
    yield 'xreq_rep_bt_in_body', cmsg_record('xreq_rep', [bt + b'body'], no_ctl=True, reply=5)
    yield 'req_xrep_reply', cmsg_record('req_xrep', [b'q'], no_ctl=True, reply=2, recv_ctl=1)
    yield 'req_xrep_hdr', cmsg_record('req_xrep', [b'q'], hdr=bt)
    yield 'xsurveyor_respondent', cmsg_record('xsurveyor_respondent', [b'survey'], hdr=bt, reply=4)
    yield 'surveyor_xrespondent', cmsg_record('surveyor_xrespondent', [b'?'], no_ctl=True, reply=1)
    yield 'xbus_bus_8', cmsg_record('xbus_bus', [b'bus'], hdr=b'\x01' * 8)
    yield 'xbus_bus_3', cmsg_record('xbus_bus', [b'bus'], hdr=b'abc')
    yield 'bus_xbus', cmsg_record('bus_xbus', [b'bus'], no_ctl=True, recv_ctl=2, csize=40)
    yield 'bus_xbus_hdr', cmsg_record('bus_xbus', [b'bus'], hdr=b'x' * 8)
    yield 'xpair_pair_ws', cmsg_record('xpair_pair', [b'p', b'', b'q'], hdr=b'HH', trailer=ws, recv_iovs=(1, 0, 5),
                                       recv_chunk=False, recv_ctl=2, csize=80)
    yield 'pair_xpair_chunks', cmsg_record('pair_xpair', [b'chunk'], hdr=b'', body_chunk=True, ctl_chunk=True)
    yield 'xpush_pull_null_iov', cmsg_record('xpush_pull', [b'a', None], hdr=b'h')
    yield 'xpub_sub_trunc', cmsg_record('xpub_sub', [b'published'], raw_ctl=cmsg(1, 1, struct.pack('=Q', 2) + b'xy'),
                                        recv_iovs=(3,), recv_chunk=False, recv_ctl=3, csize=10)
    yield 'bad_iovlen', cmsg_record('xpair_pair', [b'a'], hdr=b'', ctl_chunk=True, bad_iovlen=True)
    yield 'msg_among_iovs', cmsg_record('xpair_pair', [b'a', b'b'], body_chunk=True, ctl_chunk=True, hdr=b'z')
    yield 'many', b''.join([cmsg_record('xreq_rep', [b'1'], hdr=bt, reply=1),
                            cmsg_record('req_xrep', [b'2'], no_ctl=True, reply=1),
                            cmsg_record('xbus_bus', [b'3'], hdr=b''),
                            cmsg_record('pair_xpair', [b'4'], raw_ctl=b'\xff' * 40)])


def write(sub, seeds):
    d = os.path.join(HERE, 'corpus', sub)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


write('decoder', decoder_seeds())
write('sphdr', sphdr_seeds())
write('pgmdec', pgmdec_seeds())
write('cmsg', cmsg_seeds())
write('url', url_seeds())
write('wshs', wshs_seeds())
