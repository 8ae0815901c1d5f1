#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Convert a llama2.c checkpoint (legacy format) to Hugging Face Llama
safetensors + config.json, for `cxlms import`.

usage: llama2c2safetensors.py CHECKPOINT.bin OUTDIR [--rope half|interleaved]

Writes OUTDIR/model.safetensors (fp32, HF tensor names) and
OUTDIR/config.json.  llama2.c rotates interleaved pairs (2i, 2i+1) of each
head; HF checkpoints rotate halves (i, i + d/2) and carry q_proj/k_proj
rows permuted to match.  --rope half (default) applies that permutation,
so the result is an ordinary HF checkpoint; --rope interleaved keeps
llama2.c's row order and records "cxlms_rope": "interleaved" in
config.json for the cxlms engine.  Both give the same logits.
The legacy format is documented in ../shared/models/stories260K/README.md.
"""
import json
import os
import struct
import sys

import numpy as np


def die(msg):
    print("llama2c2safetensors: " + msg, file=sys.stderr)
    sys.exit(1)


def read_checkpoint(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 28:
        die("%s: %d bytes: too short for a llama2.c header" % (path, len(raw)))
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", raw[:28])
    tied = vocab > 0
    vocab = abs(vocab)
    for name, v in (("dim", dim), ("hidden_dim", hidden), ("n_layers", layers),
                    ("n_heads", heads), ("n_kv_heads", kv_heads), ("vocab", vocab),
                    ("seq_len", seq)):
        if v <= 0 or v > 1 << 20:
            die("%s: header %s = %d: not a llama2.c checkpoint" % (path, name, v))
    if dim % heads or heads % kv_heads or (dim // heads) % 2:
        die("%s: dim %d, %d heads, %d kv heads: inconsistent" % (path, dim, heads, kv_heads))
    hs = dim // heads
    kv_dim = hs * kv_heads
    w = np.frombuffer(raw, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > w.size:
            die("%s: truncated (needs more than %d bytes)" % (path, len(raw)))
        a = w[pos:pos + n].reshape(shape)
        pos += n
        return a

    t = {}
    t["emb"] = take(vocab, dim)
    t["rms_att"] = take(layers, dim)
    t["wq"] = take(layers, dim, dim)
    t["wk"] = take(layers, kv_dim, dim)
    t["wv"] = take(layers, kv_dim, dim)
    t["wo"] = take(layers, dim, dim)
    t["rms_ffn"] = take(layers, dim)
    t["w1"] = take(layers, hidden, dim)
    t["w2"] = take(layers, dim, hidden)
    t["w3"] = take(layers, hidden, dim)
    t["rms_final"] = take(dim)
    take(seq, hs)  # legacy RoPE tables: ignored
    if not tied:
        t["wcls"] = take(vocab, dim)
    if pos != w.size:
        die("%s: %d bytes left after the last tensor" % (path, (w.size - pos) * 4))
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
               vocab=vocab, seq=seq, tied=tied)
    return cfg, t


def to_half(wm, n_heads):
    """Rows of each head from interleaved pairs to rotate-half order."""
    rows, cols = wm.shape
    hd = rows // n_heads
    return wm.reshape(n_heads, hd // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    args = sys.argv[1:]
    rope = "half"
    if "--rope" in args:
        i = args.index("--rope")
        if i + 1 >= len(args) or args[i + 1] not in ("half", "interleaved"):
            die("--rope takes half or interleaved")
        rope = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2 or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr if len(args) != 2 else sys.stdout)
        sys.exit(0 if args[:1] in (["-h"], ["--help"]) else 2)
    src, out = args
    cfg, t = read_checkpoint(src)
    os.makedirs(out, exist_ok=True)
    L = cfg["layers"]
    fix_q = (lambda a: to_half(a, cfg["heads"])) if rope == "half" else (lambda a: a)
    fix_k = (lambda a: to_half(a, cfg["kv_heads"])) if rope == "half" else (lambda a: a)
    ts = [("model.embed_tokens.weight", t["emb"])]
    for i in range(L):
        p = "model.layers.%d." % i
        ts += [(p + "input_layernorm.weight", t["rms_att"][i]),
               (p + "self_attn.q_proj.weight", fix_q(t["wq"][i])),
               (p + "self_attn.k_proj.weight", fix_k(t["wk"][i])),
               (p + "self_attn.v_proj.weight", t["wv"][i]),
               (p + "self_attn.o_proj.weight", t["wo"][i]),
               (p + "post_attention_layernorm.weight", t["rms_ffn"][i]),
               (p + "mlp.gate_proj.weight", t["w1"][i]),
               (p + "mlp.down_proj.weight", t["w2"][i]),
               (p + "mlp.up_proj.weight", t["w3"][i])]
    ts.append(("model.norm.weight", t["rms_final"]))
    if not cfg["tied"]:
        ts.append(("lm_head.weight", t["wcls"]))
    write_safetensors(os.path.join(out, "model.safetensors"), ts)
    conf = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": cfg["dim"], "intermediate_size": cfg["hidden"],
        "num_hidden_layers": L, "num_attention_heads": cfg["heads"],
        "num_key_value_heads": cfg["kv_heads"], "vocab_size": cfg["vocab"],
        "max_position_embeddings": cfg["seq"], "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": cfg["tied"],
        "torch_dtype": "float32",
    }
    if rope == "interleaved":
        conf["cxlms_rope"] = "interleaved"
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
