#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Convert the float weights of an ONNX model (graph initializers, and
the tensors of Constant nodes, which some exporters use instead) into a
safetensors file, with python3 + numpy only.  The protobuf wire format is
read by hand: ModelProto.graph = 7; GraphProto.node = 1, initializer = 5;
NodeProto.output = 2, op_type = 4, attribute = 5; AttributeProto.t = 5;
TensorProto dims = 1, data_type = 2, float_data = 4, name = 8,
raw_data = 9.  Only FLOAT and FLOAT16 tensors of at least --min-elems
elements are kept; integer tensors (shapes, indices) are not weights.

usage: onnx2safetensors.py [--dtype F16|F32] [--min-elems N] IN.onnx OUT.safetensors
Prints one JSON line: tensors, elements, bytes written.
"""
import json
import struct
import sys

import numpy as np


def varint(buf, pos):
    v = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError('truncated varint')
        b = buf[pos]
        pos += 1
        v |= (b & 0x7f) << shift
        if not b & 0x80:
            return v, pos
        shift += 7
        if shift > 63:
            raise ValueError('varint too long')


def fields(buf):
    """(field number, wire type, value) of one message; value is an int or a memoryview."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = varint(buf, pos)
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError('field %d runs past the end' % num)
            v, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError('unsupported wire type %d' % wt)
        yield num, wt, v


def packed_varints(mv):
    out, pos, b = [], 0, bytes(mv)
    while pos < len(b):
        v, pos = varint(b, pos)
        out.append(v)
    return out


ONNX_FLOAT, ONNX_FLOAT16 = 1, 10


def tensor(mv, name=None):
    dims, dtype, raw, floats = [], 0, None, []
    for num, wt, v in fields(mv):
        if num == 1:
            dims += packed_varints(v) if wt == 2 else [v]
        elif num == 2:
            dtype = v
        elif num == 4:
            floats.append(np.frombuffer(bytes(v), '<f4') if wt == 2 else
                          np.frombuffer(struct.pack('<I', v), '<f4'))
        elif num == 8 and name is None:
            name = bytes(v).decode('utf-8')
        elif num == 9:
            raw = bytes(v)
        elif num == 14 and v == 1:
            raise ValueError('tensor %s: external data is not supported' % name)
    if dtype not in (ONNX_FLOAT, ONNX_FLOAT16) or name is None:
        return None
    np_dtype = '<f4' if dtype == ONNX_FLOAT else '<f2'
    if raw is not None:
        arr = np.frombuffer(raw, np_dtype)
    elif floats:
        arr = np.concatenate(floats).astype(np_dtype)
    else:
        arr = np.zeros(0, np_dtype)
    n = int(np.prod(dims)) if dims else 1
    if arr.size != n:
        raise ValueError('tensor %s: %d values for shape %s' % (name, arr.size, dims))
    return name, arr.reshape(dims)


def constant(node):
    """The tensor of a Constant node, named after the node's output."""
    out, op, t = None, None, None
    for num, wt, v in fields(node):
        if num == 2 and out is None:
            out = bytes(v).decode('utf-8')
        elif num == 4:
            op = bytes(v)
        elif num == 5:
            for anum, awt, av in fields(v):
                if anum == 5 and awt == 2:
                    t = av
    if op != b'Constant' or t is None or out is None:
        return None
    return tensor(t, out)


def initializers(path):
    buf = memoryview(open(path, 'rb').read())
    for num, wt, v in fields(buf):
        if num == 7 and wt == 2:
            for gnum, gwt, gv in fields(v):
                t = None
                if gnum == 5 and gwt == 2:
                    t = tensor(gv)
                elif gnum == 1 and gwt == 2:
                    t = constant(gv)
                if t:
                    yield t


def write_safetensors(path, tensors, dtype):
    header, blobs, off = {'__metadata__': {'format': 'onnx'}}, [], 0
    st_dtype = {'<f2': 'F16', '<f4': 'F32'}[dtype]
    for name, arr in tensors:
        b = np.ascontiguousarray(arr, dtype=dtype).tobytes()
        header[name] = {'dtype': st_dtype, 'shape': list(arr.shape),
                        'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs:
            f.write(b)
    return off


def main(argv):
    dtype, min_elems, args = '<f2', 1, []
    it = iter(argv)
    for a in it:
        if a == '--dtype':
            dtype = {'F16': '<f2', 'F32': '<f4'}[next(it)]
        elif a == '--min-elems':
            min_elems = int(next(it))
        else:
            args.append(a)
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    seen, ts = set(), []
    for name, arr in initializers(args[0]):
        if arr.size < min_elems or name in seen:
            continue
        seen.add(name)
        ts.append((name, arr))
    if not ts:
        sys.stderr.write('%s: no float initializers\n' % args[0])
        return 1
    n = write_safetensors(args[1], ts, dtype)
    print(json.dumps({'tensors': len(ts), 'elements': int(sum(a.size for _, a in ts)),
                      'bytes': n, 'max_rank': max(a.ndim for _, a in ts)}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
