#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Driver of tests/integ/cli-e2e.sh: writes the test inputs, runs
`cxlms fetch` for every tensor, precision, output and reconstruction, and
compares the bytes with the independent reference in stref.py.

  e2e.py gen DIR                       write DIR/*.safetensors
  e2e.py check CXLMS STORE SRC FMT     compare every fetch of STORE
  e2e.py poke STORE WHAT               corrupt a store in place
  e2e.py jsoncheck CXLMS STORE SRC     `info --json` against the source
"""
import json
import os
import random
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stref  # noqa: E402

GROUP = 32          # int8 store: --group 32 so short rows still have groups
TILE_ROWS_8 = 3     # several tiles per tensor, short last tiles
TILE_ROWS_16 = 2
WEIRD_NAME = 'we"ird\\name \u00e9\u4e2d\x01\t'


def f32_raw(vals):
    return struct.pack('<%df' % len(vals), *vals)


def u16_raw(vals):
    return struct.pack('<%dH' % len(vals), *vals)


def heavy(rng, n, scale=1.0):
    """Heavy-tailed values: a Gaussian with a log-normal scale."""
    return [scale * rng.gauss(0, 1) * 2.718281828 ** (0.8 * rng.gauss(0, 1))
            for _ in range(n)]


def to_f16_bits(x):
    return struct.unpack('<H', struct.pack('<e', x))[0]


def to_bf16_bits(x):
    return stref.f32_to_bf16(stref.f32_bits(x))


def gen_int8(rng):
    t = []
    q = heavy(rng, 10 * 70, 0.02)
    q[3 * 70 + 40] = 2.5                     # one outlier in a group
    t.append(('blk.0.attn.q.weight', 'F32', [10, 70], f32_raw(q)))
    t.append(('conv.3d', 'F32', [3, 4, 45], f32_raw(heavy(rng, 3 * 4 * 45, 0.1))))
    t.append(('norm.weight', 'F32', [77],
              f32_raw([1 + 0.1 * rng.gauss(0, 1) for _ in range(77)])))
    z = heavy(rng, 5 * 64, 0.05)
    for c in range(64):
        z[1 * 64 + c] = 0.0                  # a whole zero row
    for c in range(32, 64):
        z[3 * 64 + c] = 0.0                  # one all-zero group
    for i in range(0, 5 * 64, 7):
        z[i] = 0.0                           # scattered exact zeros
    t.append(('zeros', 'F32', [5, 64], f32_raw(z)))
    tiny = heavy(rng, 4 * 40, 1e-5)          # subnormal fp16 scales
    for c in range(32, 40):
        tiny[2 * 40 + c] = 1e-9 * (c - 35)   # scale rounds to 0: smallest one
    t.append(('tiny', 'F32', [4, 40], f32_raw(tiny)))
    # amax 127 -> scale exactly 1.0: x / s lands on ties; RNE must win.
    t.append(('ties', 'F32', [2, 8], f32_raw(
        [127, 2.5, 3.5, -2.5, -0.5, 0.5, 1.5, 126.5,
         -127, -1.5, 4.5, 5.5, -6.5, 0.25, 0, -0.0])))
    # Equal scales (amax 127 in every group) make the k=1 centroid of a
    # 512-code bucket sum(q) / 2 in Q8.8: 2033 / 2 and -2529 / 2 are ties
    # that half-to-even and half-away-from-zero round differently.
    for name, fill, odd in (('tie.pos', 0.0, 1.0), ('tie.neg', -1.0, -3.0)):
        row = [fill] * 512
        for g in range(0, 512, GROUP):
            row[g] = 127.0 if fill == 0 else -127.0
        row[5] = odd
        t.append((name, 'F32', [1, 512], f32_raw(row)))
    t.append(('half.src', 'F16', [7, 33],
              u16_raw([to_f16_bits(x) for x in heavy(rng, 7 * 33, 0.3)])))
    t.append(('brain.src', 'BF16', [4, 50],
              u16_raw([to_bf16_bits(x) for x in heavy(rng, 4 * 50, 3.0)])))
    i8 = [rng.randint(-128, 127) for _ in range(3 * 20)]
    i8[0], i8[1] = -128, 127
    for c in range(20):
        i8[2 * 20 + c] = 0
    t.append(('codes.i8', 'I8', [3, 20], struct.pack('<60b', *i8)))
    t.append((WEIRD_NAME, 'F32', [2, 8], f32_raw(heavy(rng, 16))))
    return t


def gen_16(rng, big):
    inf, nan = float('inf'), float('nan')
    w = heavy(rng, 5 * 13, 10.0)
    w[:10] = [0.0, -0.0, inf, -inf, nan, 1e-6, -3e-8, 65000.0, 1.0 + 2 ** -9, -1.0]
    # binary32 ties for the bf16 rounding: 0x3f808000 -> even, 0x3f818000 -> up
    w[10] = stref.f32_from_bits(0x3f808000)
    w[11] = stref.f32_from_bits(0x3f818000)
    t = [('w.f32', 'F32', [5, 13], f32_raw(w))]
    h = [to_f16_bits(x) for x in heavy(rng, 3 * 11, 1.0)]
    h[:8] = [0x7c01, 0xfe00, 0x7c00, 0x0001, 0x03ff, 0x7bff, 0x8000, 0x3c00]
    t.append(('w.f16', 'F16', [3, 11], u16_raw(h)))
    b = [to_bf16_bits(x) for x in heavy(rng, 4 * 9, 0.5)]
    b[:6] = [0x7f81, 0xff80, 0x0001, 0x8000, 0x7fc0, 0x3f80]
    t.append(('w.bf16', 'BF16', [4, 9], u16_raw(b)))
    t.append(('cube', 'F32', [2, 3, 7], f32_raw(heavy(rng, 42, 2.0))))
    if big:
        # Past fp16's range: only the bf16 store takes it.
        t.append(('big', 'F32', [3, 5], f32_raw([1e30, -3e38, 1e-30, 7.0, -1e-39]
                                                 + heavy(rng, 10, 1e20))))
    return t


def cmd_gen(d):
    rng = random.Random(20240601)
    stref.write_safetensors(os.path.join(d, 'int8.safetensors'), gen_int8(rng),
                            {'test': 'cli-e2e'})
    rng16 = random.Random(7)
    common = gen_16(rng16, big=False)
    stref.write_safetensors(os.path.join(d, 'fp16.safetensors'), common)
    rng16 = random.Random(7)
    stref.write_safetensors(os.path.join(d, 'bf16.safetensors'), gen_16(rng16, big=True))
    return 0


def info_json(cxlms, store):
    out = subprocess.run([cxlms, 'info', '--json', store], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


class Checker:
    def __init__(self, cxlms, store):
        self.cxlms, self.store = cxlms, store
        self.runs = self.fails = 0

    def fetch(self, name, k, out, recon, extra=()):
        cmd = [self.cxlms, 'fetch', self.store, name, '--all', '--bits', str(k),
               '--out', out, '--recon', recon, '-o', '-'] + list(extra)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.runs += 1
        return p.returncode, p.stdout, p.stderr.decode(errors='replace')

    def fail(self, what):
        self.fails += 1
        if self.fails <= 12:
            print('FAIL: ' + what)

    def compare(self, name, k, out, recon, want, extra=()):
        rc, got, err = self.fetch(name, k, out, recon, extra)
        tag = '%s k=%d out=%s recon=%s %s' % (name, k, out, recon, ' '.join(extra))
        if rc != 0:
            self.fail('%s: exit %d: %s' % (tag, rc, err.strip()))
        elif got != want:
            i = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
            self.fail('%s: %d bytes, want %d; first difference at byte %d '
                      '(got %s, want %s)' % (tag, len(got), len(want), i,
                                             got[i:i + 8].hex(), want[i:i + 8].hex()))

    def expect_usage(self, name, k, out, recon):
        rc, got, err = self.fetch(name, k, out, recon)
        if rc != 2 or got:
            self.fail('%s k=%d out=%s recon=%s: want exit 2 and no output, got %d'
                      % (name, k, out, recon, rc))


def tiles_of(rows, tile_rows):
    return [(r0, min(rows, r0 + tile_rows)) for r0 in range(0, rows, tile_rows)]


def check_geometry(ck, t, shape, fmt, group, tile_rows_opt):
    rows, cols = stref.rows_cols(shape)
    want_tr = min(tile_rows_opt, rows)
    ok = (t['shape'] == shape and t['rows'] == rows and t['cols'] == cols
          and t['format'] == fmt and t['tile_rows'] in (tile_rows_opt, want_tr)
          and t['tiles'] == -(-rows // t['tile_rows'])
          and t['group_size'] == (group if fmt == 'int8' else 0))
    if not ok:
        ck.fail('geometry of %s: %s' % (t['name'], json.dumps(t)))
    return rows, cols, t['tile_rows']


def check_int8(ck, src, info):
    outs = ('planes', 'packed', 'int', 'f32', 'bf16')
    for t in info['tensors']:
        dtype, shape, raw = src[t['name']]
        rows, cols, tr = check_geometry(ck, t, shape, 'int8', GROUP, TILE_ROWS_8)
        codes, scales = stref.quantize_int8(dtype, raw, rows, cols, GROUP)
        gpr = -(-cols // GROUP)
        tiles = [(codes[r0 * cols:r1 * cols], scales[r0 * gpr:r1 * gpr])
                 for r0, r1 in tiles_of(rows, tr)]
        for k in range(1, 9):
            for out in outs:
                for recon in ('floor', 'midpoint', 'table', 'default'):
                    want = b''.join(stref.fetch_int8_tile(c, s, cols, GROUP, k, out, recon)
                                    for c, s in tiles)
                    ck.compare(t['name'], k, out, recon, want)
        ck.expect_usage(t['name'], 9, 'f32', 'table')
        # --data-only: the data parts of every tile block, nothing else.
        for k, out in ((5, 'int'), (3, 'planes'), (8, 'packed')):
            want = b''.join(stref.fetch_int8_tile(c, s, cols, GROUP, k, out, 'table')
                            [:stref.data_len(len(c), k, out, 8)] for c, s in tiles)
            ck.compare(t['name'], k, out, 'table', want, ('--data-only',))
        check_stats(ck, t['name'], tiles, cols, k=4)


def check_stats(ck, name, tiles, cols, k):
    """--stats: planes 0..k-1 read ceil(n/8) bytes per tile, side data is
    the scales plus 2^k table levels per tile (default recon at k < 8)."""
    # The data to stdout, thrown away; with -o - the counters go to stderr.
    # (-o /dev/null is refused: outputs are regular files or stdout.)
    p = subprocess.run([ck.cxlms, 'fetch', ck.store, name, '--all', '--bits', str(k),
                        '--out', 'f32', '-o', '-', '--stats'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck.runs += 1
    lines = {a.strip(): b.strip() for a, b in
             (l.split(':', 1) for l in p.stderr.decode().splitlines() if ':' in l)}
    planes = sum((len(c) + 7) // 8 for c, _ in tiles)
    side = sum(2 * len(s) + 2 * (1 << k) for _, s in tiles)
    want = {'plane %d' % p_: '%d bytes' % (planes if p_ < k else 0) for p_ in range(8)}
    want['tile fetches'] = '%d' % len(tiles)
    want['side data'] = '%d bytes' % side
    want['read total'] = '%d bytes' % (k * planes + side)
    want['output'] = '%d bytes' % (4 * sum(len(c) for c, _ in tiles))
    bad = {key: (lines.get(key), v) for key, v in want.items() if lines.get(key) != v}
    if p.returncode or bad:
        ck.fail('%s --stats at k=%d: exit %d, got/want %s' % (name, k, p.returncode, bad))


def check_16(ck, src, info, fmt):
    outs = ('planes', 'packed', 'int', 'f32', 'bf16')
    minb = stref.min_value_bits(fmt)
    for t in info['tensors']:
        dtype, shape, raw = src[t['name']]
        rows, cols, tr = check_geometry(ck, t, shape, fmt, 0, TILE_ROWS_16)
        vals = stref.convert_16(dtype, raw, fmt)
        tiles = [vals[r0 * cols:r1 * cols] for r0, r1 in tiles_of(rows, tr)]
        for k in range(1, 17):
            for out in outs:
                value_out = out in ('int', 'f32', 'bf16')
                recons = ('floor', 'midpoint', 'default') if value_out else ('default',)
                for recon in recons:
                    if value_out and k < minb:
                        ck.expect_usage(t['name'], k, out, recon)
                        continue
                    want = b''.join(stref.fetch_16_tile(v, fmt, k, out, recon)
                                    for v in tiles)
                    ck.compare(t['name'], k, out, recon, want)
        ck.expect_usage(t['name'], 16, 'f32', 'table')
        ck.expect_usage(t['name'], 17, 'planes', 'default')


def cmd_check(cxlms, store, srcpath, fmt):
    src = stref.read_safetensors(srcpath)
    info = info_json(cxlms, store)
    ck = Checker(cxlms, store)
    if sorted(t['name'] for t in info['tensors']) != sorted(src):
        ck.fail('tensor names differ: %s' % [t['name'] for t in info['tensors']])
        return 1
    if fmt == 'int8':
        check_int8(ck, src, info)
    else:
        check_16(ck, src, info, fmt)
    print('%s: %d fetches compared, %d mismatches' % (os.path.basename(store),
                                                       ck.runs, ck.fails))
    return 1 if ck.fails else 0


def cmd_jsoncheck(cxlms, store, srcpath):
    """`info --json` parses, names survive escaping, src dtypes are right."""
    src = stref.read_safetensors(srcpath)
    info = info_json(cxlms, store)
    names = {t['name']: t for t in info['tensors']}
    want = {'F32': 'f32', 'F16': 'f16', 'BF16': 'bf16', 'I8': 'i8'}
    bad = [n for n, (dt, shape, _) in src.items()
           if n not in names or names[n]['src_dtype'] != want[dt]
           or names[n]['shape'] != shape]
    if bad or info['tensor_count'] != len(src) or len(names) != len(src):
        print('FAIL: info --json disagrees with the source on %s' % bad)
        return 1
    return 0


# Offsets in the documented store format (codec/store_format.h).
SB_UUID_OFF = 48
SB_DIR_OFF = 72
DIRENT_TILE_OFF = 368
DIRENT_ROWS, DIRENT_COLS, DIRENT_GROUP, DIRENT_TILE_ROWS = 336, 344, 352, 356


SB_VERSION, SB_DIR_COUNT, SB_DIR_CRC, SB_LEN, SB_CRC = 8, 84, 88, 256, 252
DIRENT_LEN, DIRENT_CRC = 512, 508


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(data, crc=0):
    """CRC32C as docs/format.md 1.3 defines it (chainable, start with 0)."""
    crc ^= 0xffffffff
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >> 8)
    return crc ^ 0xffffffff


assert crc32c(b'123456789') == 0xe3069283


def seal(data, off, length, crc_at):
    """Recompute a CRC32C over [off, off+length) with its own field as zero."""
    struct.pack_into('<I', data, off + crc_at, 0)
    struct.pack_into('<I', data, off + crc_at, crc32c(data[off:off + length]))


def reseal_all(data, dir_off):
    """After an edit: every entry CRC, the directory CRC, the superblock CRC."""
    count = struct.unpack_from('<I', data, SB_DIR_COUNT)[0]
    for i in range(count):
        seal(data, dir_off + i * DIRENT_LEN, DIRENT_LEN, DIRENT_CRC)
    struct.pack_into('<I', data, SB_DIR_CRC,
                     crc32c(data[dir_off:dir_off + count * DIRENT_LEN]))
    seal(data, 0, SB_LEN, SB_CRC)


def cmd_poke(store, what):
    with open(store, 'r+b') as f:
        data = bytearray(f.read())
        dir_off = struct.unpack_from('<Q', data, SB_DIR_OFF)[0]
        if what == 'sb':            # a superblock byte the sb CRC covers
            data[SB_UUID_OFF] ^= 0x01
        elif what == 'dirent':      # a byte of the first tensor's name
            data[dir_off] ^= 0x20
        elif what == 'plane':       # one bit of plane 0 of tile 0, tensor 0
            tile_off = struct.unpack_from('<Q', data, dir_off + DIRENT_TILE_OFF)[0]
            cols = struct.unpack_from('<Q', data, dir_off + DIRENT_COLS)[0]
            group, tile_rows = struct.unpack_from('<II', data, dir_off + DIRENT_GROUP)
            gpr = -(-cols // group)
            table_off = stref.align(tile_rows * gpr * 2)
            planes_off = stref.align(table_off + 512)
            data[tile_off + planes_off] ^= 0x04
        elif what == 'magic':
            data[0] ^= 0xff
        elif what == 'version':     # a future version, checksums valid
            struct.pack_into('<I', data, SB_VERSION, 2)
            reseal_all(data, dir_off)
        elif what == 'shape':       # cols no longer match the shape, CRCs valid
            cols = struct.unpack_from('<Q', data, dir_off + DIRENT_COLS)[0]
            struct.pack_into('<Q', data, dir_off + DIRENT_COLS, cols + 1)
            reseal_all(data, dir_off)
        elif what == 'reseal':      # no change: the resealing itself is right
            reseal_all(data, dir_off)
        else:
            print('unknown poke %s' % what)
            return 2
        f.seek(0)
        f.write(data)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == 'gen':
        return cmd_gen(argv[2])
    if len(argv) == 6 and argv[1] == 'check':
        return cmd_check(*argv[2:6])
    if len(argv) == 4 and argv[1] == 'poke':
        return cmd_poke(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == 'jsoncheck':
        return cmd_jsoncheck(*argv[2:5])
    print(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
