#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""gen-llama.py OUTDIR [--dim D] [--ffn F] [--layers L] [--heads H] [--kv-heads K]
                      [--vocab V] [--seed S]

Write a synthetic Llama-architecture checkpoint the way Hugging Face lays it
out: OUTDIR/model.safetensors (f16, HF tensor names) and OUTDIR/config.json.
For the speed comparison of `make bench-engine` (tools/ggml/bench-engine.sh):
`cxlms import` makes the store of it, tools/ggml/st2gguf.py the GGUF, so both
engines run the same weights.  Values follow the recipe of bench-gemv and the
demo model (tools/gen-model.c): Student-t(6) times log-normal row and column
gains, one outlier input column in 1024, std 0.5 / sqrt(fan-in); norms near 1.
Deterministic for a given seed.  Needs numpy (Debian python3-numpy).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def weights(rng, rows, cols):
    cg = np.exp(0.2 * rng.standard_normal(cols))
    n_out = (cols + 1023) // 1024
    idx = rng.integers(0, cols, n_out)
    cg[idx] *= 20 * (0.2 + 0.8 * rng.random(n_out))
    rg = np.exp(0.3 * rng.standard_normal(rows)) * (0.5 / np.sqrt(cols))
    w = np.empty((rows, cols), dtype=np.float16)
    step = max(1, (1 << 22) // cols)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        t = rng.standard_t(6, size=(r1 - r0, cols))
        w[r0:r1] = (t * rg[r0:r1, None] * cg[None, :]).astype(np.float16)
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        sys.exit("gen-llama.py: dim must split into heads of even size, heads into kv-heads")
    hd = a.dim // a.heads
    kvd = hd * a.kv_heads
    shapes = [("model.embed_tokens.weight", (a.vocab, a.dim))]
    for l in range(a.layers):
        p = "model.layers.%d." % l
        shapes += [(p + "input_layernorm.weight", (a.dim,)),
                   (p + "self_attn.q_proj.weight", (a.dim, a.dim)),
                   (p + "self_attn.k_proj.weight", (kvd, a.dim)),
                   (p + "self_attn.v_proj.weight", (kvd, a.dim)),
                   (p + "self_attn.o_proj.weight", (a.dim, a.dim)),
                   (p + "post_attention_layernorm.weight", (a.dim,)),
                   (p + "mlp.gate_proj.weight", (a.ffn, a.dim)),
                   (p + "mlp.up_proj.weight", (a.ffn, a.dim)),
                   (p + "mlp.down_proj.weight", (a.dim, a.ffn))]
    shapes += [("model.norm.weight", (a.dim,)), ("lm_head.weight", (a.vocab, a.dim))]

    header = {"__metadata__": {"format": "pt", "generator": "cxlms tools/ggml/gen-llama.py"}}
    off = 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    with open(os.path.join(a.outdir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape in shapes:
            if len(shape) == 1:
                v = (1 + 0.08 * rng.standard_t(4, size=shape)).astype(np.float16)
            else:
                v = weights(rng, *shape)
            f.write(v.tobytes())
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_size": a.dim, "intermediate_size": a.ffn,
           "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "num_key_value_heads": a.kv_heads, "vocab_size": a.vocab,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "max_position_embeddings": 2048, "tie_word_embeddings": False,
           "hidden_act": "silu", "torch_dtype": "float16"}
    with open(os.path.join(a.outdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
