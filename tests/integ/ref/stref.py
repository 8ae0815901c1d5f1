# SPDX-License-Identifier: GPL-2.0
"""Independent reference of what `cxlms fetch` must output.

Written from the documented rules (include/uapi/linux/cxlms.h,
codec/bitplane.h, docs/format.md), not from the C code: exact integer and
Fraction arithmetic, one element at a time, no bit tricks shared with the
codec.  Python 3 standard library only.
"""
import json
import math
import struct
from fractions import Fraction

ALIGN = 64

# --- numbers ---------------------------------------------------------------


def f32_bits(x):
    """Python float -> binary32 bits, correctly rounded (struct does RNE)."""
    return struct.unpack('<I', struct.pack('<f', x))[0]


def f32_from_bits(b):
    return struct.unpack('<f', struct.pack('<I', b))[0]


def is_nan32(b):
    return (b & 0x7f800000) == 0x7f800000 and (b & 0x7fffff) != 0


def f32_to_bf16(b):
    """binary32 bits -> bfloat16 bits, round to nearest even; NaN stays a
    quiet NaN with its sign and top payload bits."""
    if is_nan32(b):
        return (b >> 16) | 0x40
    upper, lower = b >> 16, b & 0xffff
    if lower > 0x8000 or (lower == 0x8000 and upper & 1):
        upper += 1
    return upper & 0xffff


def fp16_to_fraction(h):
    """Finite binary16 bits -> exact value."""
    sign = -1 if h & 0x8000 else 1
    e, m = (h >> 10) & 0x1f, h & 0x3ff
    assert e != 0x1f
    if e == 0:
        return sign * Fraction(m, 1 << 24)
    return sign * Fraction(m | 0x400, 1 << 10) * Fraction(2) ** (e - 15)


def fp16_to_f32_bits(h):
    """binary16 -> binary32 bits, exact (NaN payload shifted up)."""
    sign = (h & 0x8000) << 16
    e, m = (h >> 10) & 0x1f, h & 0x3ff
    if e == 0x1f:
        return sign | 0x7f800000 | (m << 13)
    v = fp16_to_fraction(h & 0x7fff)
    return sign | f32_bits(float(v))     # exact: fp16 values fit binary32


def fraction_to_fp16(r):
    """Non-negative exact value -> binary16 bits, round half to even.
    Returns None on overflow."""
    assert r >= 0
    if r == 0:
        return 0
    e = math.floor(math.log2(r))
    # log2 of a Fraction may be off by one near powers of two: fix it exactly.
    while Fraction(2) ** e > r:
        e -= 1
    while Fraction(2) ** (e + 1) <= r:
        e += 1
    e = max(e, -14)                      # subnormals share 2^-14's ulp
    ulp = Fraction(2) ** (e - 10)
    q = round(r / ulp)                   # Fraction.__round__: half to even
    if q == 1 << 11:                     # carried into the next binade
        q >>= 1
        e += 1
    if q < 1 << 10:                      # subnormal (or zero)
        return q
    if e > 15:
        return None
    return ((e + 15) << 10) | (q - (1 << 10))


def f32_to_fp16(b):
    """binary32 bits -> binary16 bits (RNE); NaN -> quiet NaN keeping the
    top payload bits; None if a finite value overflows."""
    sign = (b >> 16) & 0x8000
    if is_nan32(b):
        return sign | 0x7e00 | ((b & 0x7fffff) >> 13)
    if (b & 0x7fffffff) == 0x7f800000:
        return sign | 0x7c00
    h = fraction_to_fp16(abs(Fraction(f32_from_bits(b))))
    return None if h is None else sign | h


def bf16_to_f32_bits(h):
    return h << 16


def round_half_away(r):
    """Fraction -> int, halves away from zero."""
    n = abs(r)
    q = math.floor(n + Fraction(1, 2))
    return q if r >= 0 else -q


def rne(r):
    return round(r)                      # Fraction rounds half to even


def sext(u, k):
    return u - (1 << k) if u & (1 << (k - 1)) else u


def align(x, a=ALIGN):
    return (x + a - 1) // a * a


# --- safetensors -----------------------------------------------------------

DTYPE_SIZE = {'F32': 4, 'F16': 2, 'BF16': 2, 'I8': 1}


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw little-endian bytes)."""
    header, off, blobs = {}, 0, []
    if metadata:
        header['__metadata__'] = metadata
    for name, dtype, shape, raw in tensors:
        n = 1
        for d in shape:
            n *= d
        assert len(raw) == n * DTYPE_SIZE[dtype], name
        header[name] = {'dtype': dtype, 'shape': list(shape),
                        'data_offsets': [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, ensure_ascii=False).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def read_safetensors(path):
    """-> {name: (dtype, shape, raw bytes)}"""
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack_from('<Q', data)[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, v in header.items():
        if name == '__metadata__':
            continue
        b, e = v['data_offsets']
        out[name] = (v['dtype'], v['shape'], body[b:e])
    return out


def source_f32_bits(dtype, raw):
    """Elements of a float source as binary32 bits (exact widening)."""
    if dtype == 'F32':
        return list(struct.unpack('<%dI' % (len(raw) // 4), raw))
    vals = struct.unpack('<%dH' % (len(raw) // 2), raw)
    if dtype == 'F16':
        return [fp16_to_f32_bits(h) for h in vals]
    return [bf16_to_f32_bits(h) for h in vals]


def rows_cols(shape):
    if len(shape) == 1:
        return 1, shape[0]
    rows = 1
    for d in shape[:-1]:
        rows *= d
    return rows, shape[-1]


# --- INT8 stores -----------------------------------------------------------


def quantize_int8(dtype, raw, rows, cols, group):
    """Import rule: per group of `group` elements along a row, amax = max|x|;
    all-zero group: scale 0, codes 0; else s = fp16(amax / 127) (RNE, the
    smallest subnormal if that rounds to 0), q = rne(x / s) clamped to
    +-127.  i8 sources keep their codes with scale 1.0 (0 if all zero).
    Returns (codes row-major, scales row-major by group)."""
    codes, scales = [], []
    if dtype == 'I8':
        src = list(struct.unpack('<%db' % len(raw), raw))
    else:
        src = [Fraction(f32_from_bits(b)) for b in source_f32_bits(dtype, raw)]
    for r in range(rows):
        for c0 in range(0, cols, group):
            xs = src[r * cols + c0:r * cols + min(cols, c0 + group)]
            if dtype == 'I8':
                codes += xs
                scales.append(0x3c00 if any(xs) else 0)
                continue
            amax = max(abs(x) for x in xs)
            if amax == 0:
                codes += [0] * len(xs)
                scales.append(0)
                continue
            s = fraction_to_fp16(amax / 127)
            assert s is not None, 'test data overflows an fp16 scale'
            s = s or 1
            sv = fp16_to_fraction(s)
            codes += [max(-127, min(127, rne(x / sv))) for x in xs]
            scales.append(s)
    return codes, scales


def scale_weight(h, emax):
    """Squared group scale, relative to the tile's largest exponent: an fp16
    scale is m * 2^(e-25) (m with the hidden bit, e = 1 for subnormals), and
    the weight is (m*m) >> 2*(emax - e)."""
    e, m = (h >> 10) & 0x1f, h & 0x3ff
    if e == 0:
        e = 1
    else:
        m |= 0x400
    if m == 0:
        return 0
    return (m * m) >> (2 * (emax - e))


def scale_exp(h):
    e = (h >> 10) & 0x1f
    return e if e else 1


def table_levels(codes, group_of, scales, k):
    """The tile's centroid levels at k < 8 bits, Q8.8: for bucket u (the top
    k bits of the code byte), level = round(256 * sum(q*w) / sum(w)) over
    the tile's codes in the bucket, half away from zero; w per scale_weight;
    an empty (zero-weight) bucket gets the midpoint level."""
    emax = max([scale_exp(s) for s in scales if s & 0x7fff] or [0])
    s0 = [0] * (1 << k)
    s1 = [0] * (1 << k)
    for q, g in zip(codes, group_of):
        w = scale_weight(scales[g], emax)
        u = (q & 0xff) >> (8 - k)
        s0[u] += w
        s1[u] += q * w
    out = []
    for u in range(1 << k):
        if s0[u] == 0:
            out.append(level_mid(k, u))
        else:
            out.append(round_half_away(Fraction(256 * s1[u], s0[u])))
    return out


def level_floor(k, u):
    return sext(u, k) * (1 << (8 - k)) * 256


def level_mid(k, u):
    return level_floor(k, u) + ((1 << (7 - k)) * 256 if k < 8 else 0)


def int8_levels(k, recon, codes, group_of, scales):
    """2^k Q8.8 levels indexed by the unsigned k-bit pattern."""
    if k == 8:
        return [sext(u, 8) * 256 for u in range(256)]
    if recon == 'floor':
        return [level_floor(k, u) for u in range(1 << k)]
    if recon == 'midpoint':
        return [level_mid(k, u) for u in range(1 << k)]
    return table_levels(codes, group_of, scales, k)


def planes_bytes(patterns, width, k):
    """k planes (MSB first) of `width`-bit patterns; element i is bit i%8 of
    byte i//8 of a plane."""
    n = len(patterns)
    out = bytearray()
    for p in range(k):
        bit = width - 1 - p
        plane = bytearray((n + 7) // 8)
        for i, v in enumerate(patterns):
            if (v >> bit) & 1:
                plane[i // 8] |= 1 << (i % 8)
        out += plane
    return bytes(out)


def packed_bytes(values, k):
    """k-bit values, LSB-first stream: element i at stream bits [i*k, i*k+k)."""
    acc = 0
    for i, v in enumerate(values):
        acc |= v << (i * k)
    return acc.to_bytes((len(values) * k + 7) // 8, 'little')


def dequant_f32(level, scale_h):
    """level / 256 * scale, rounded once to binary32 (IEEE signs: a zero
    result takes the sign of level * scale)."""
    a = level / 256.0                    # exact in binary64
    b = float(fp16_to_fraction(scale_h))
    prod = a * b                         # exact: at most 27 significant bits
    assert Fraction(prod) == Fraction(level, 256) * fp16_to_fraction(scale_h)
    return f32_bits(prod)                # the single rounding


def data_len(n, k, out, width):
    """Bytes of the data part of a tile's fetch output (n elements)."""
    return {'planes': k * ((n + 7) // 8), 'packed': (n * k + 7) // 8,
            'int': n * width // 8, 'f32': 4 * n, 'bf16': 2 * n}[out]


def fetch_int8_tile(codes, scales, cols, group, k, out, recon):
    """One tile of an INT8 store: codes/scales of its rows. -> bytes."""
    n = len(codes)
    gpr = -(-cols // group)
    group_of = [(i // cols) * gpr + (i % cols) // group for i in range(n)]
    pats = [q & 0xff for q in codes]
    buckets = [p >> (8 - k) for p in pats]
    recon = 'table' if recon == 'default' else recon
    side_scales = out in ('planes', 'packed', 'int')
    side_levels = out in ('planes', 'packed')
    levels = None
    if out == 'planes':
        data = planes_bytes(pats, 8, k)
    elif out == 'packed':
        data = packed_bytes(buckets, k)
    else:
        levels = int8_levels(k, recon, codes, group_of, scales)
        if out == 'int':
            data = bytes(max(-128, min(127, round_half_away(Fraction(levels[u], 256))))
                         & 0xff for u in buckets)
        elif out == 'f32':
            data = b''.join(struct.pack('<I', dequant_f32(levels[u], scales[g]))
                            for u, g in zip(buckets, group_of))
        else:
            data = b''.join(struct.pack('<H', f32_to_bf16(dequant_f32(levels[u], scales[g])))
                            for u, g in zip(buckets, group_of))
    if not side_scales:
        return data
    blk = bytearray(data)
    blk += bytes(align(len(blk)) - len(blk))
    blk += struct.pack('<%dH' % len(scales), *scales)
    if side_levels:
        if levels is None:
            levels = int8_levels(k, recon, codes, group_of, scales)
        blk += bytes(align(len(blk)) - len(blk))
        blk += struct.pack('<%dh' % len(levels), *levels)
    blk += bytes(align(len(blk)) - len(blk))
    return bytes(blk)


# --- BF16 / FP16 stores ----------------------------------------------------

EXP_BITS = {'bf16': 8, 'fp16': 5}


def quiet(fmt, v):
    """Signalling NaNs are stored quiet: top mantissa bit set."""
    eb = EXP_BITS[fmt]
    mb = 15 - eb
    emask = ((1 << eb) - 1) << mb
    if (v & emask) == emask and v & ((1 << mb) - 1):
        v |= 1 << (mb - 1)
    return v


def convert_16(dtype, raw, fmt):
    """Import rule for 16-bit stores: same format keeps the bit patterns,
    otherwise binary32 -> target with RNE (NaN quiet, Inf kept)."""
    if (dtype, fmt) in (('BF16', 'bf16'), ('F16', 'fp16')):
        vals = list(struct.unpack('<%dH' % (len(raw) // 2), raw))
    else:
        bits = source_f32_bits(dtype, raw)
        vals = [f32_to_bf16(b) if fmt == 'bf16' else f32_to_fp16(b) for b in bits]
        assert None not in vals, 'test data overflows fp16'
    return [quiet(fmt, v) for v in vals]


def min_value_bits(fmt):
    return 1 + EXP_BITS[fmt]


def recon16(fmt, v, d, recon):
    """Midpoint fills the d dropped bits with 10..0, except for zeros, Inf
    and NaN (all-ones exponent), which are kept as they are."""
    if d == 0 or recon == 'floor':
        return v
    eb = EXP_BITS[fmt]
    emask = ((1 << eb) - 1) << (15 - eb)
    if (v & 0x7fff) == 0 or (v & emask) == emask:
        return v
    return v | (1 << (d - 1))


def fetch_16_tile(vals, fmt, k, out, recon):
    recon = 'midpoint' if recon == 'default' else recon
    d = 16 - k
    if out == 'planes':
        return planes_bytes(vals, 16, k)
    if out == 'packed':
        return packed_bytes([v >> d for v in vals], k)
    kept = [recon16(fmt, (v >> d) << d, d, recon) for v in vals]
    if out == 'int':
        return struct.pack('<%dH' % len(kept), *kept)
    f32 = [bf16_to_f32_bits(v) if fmt == 'bf16' else fp16_to_f32_bits(v) for v in kept]
    if out == 'f32':
        return struct.pack('<%dI' % len(f32), *f32)
    return struct.pack('<%dH' % len(f32), *[f32_to_bf16(b) for b in f32])
