#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Independent Llama forward pass in numpy, for tests/integ/engine-ref.sh.

usage: llama_ref.py CXLMS STORE BITS TOKENS_FILE LOGITS_FILE

Written from the architecture (Llama 2 / Hugging Face LlamaForCausalLM:
RMSNorm, rotary positions, grouped-query attention, SwiGLU), not from the C
engine.  Weights: what `CXLMS fetch STORE NAME --all --bits K --out f32`
returns, K = BITS for int8 matrices (16-bit ones: BITS only above 8, else
all planes; "full": all planes), the config from `cxlms info --metadata config.json`.  Every
sequence of TOKENS_FILE (one line of ids) runs from position 0 in float64;
compares with the raw little-endian f32 logits [tokens, vocab] the engine
wrote to LOGITS_FILE and prints, per sequence, the largest
|ref - engine| / max|ref|.  Exit 0 when every sequence is within 1e-4,
1 otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def sh(*args):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout


def main():
    cxlms, store, bits, tok_file, logits_file = sys.argv[1:6]
    cfg = json.loads(sh(cxlms, "info", store, "--metadata", "config.json"))
    info = json.loads(sh(cxlms, "info", "--json", store))
    fmt = {t["name"]: t for t in info["tensors"]}
    tmp = tempfile.mkdtemp()

    def W(name):
        t = fmt[name]
        # The engine's rule (engine/llama.h): K <= 8 is the int8 precision,
        # 16-bit tensors take K > 8 only (fp16 serves 6.., bf16 9..).
        if bits == "full":
            k = t["planes"]
        elif t["format"] == "int8":
            k = min(int(bits), 8)
        else:
            k = int(bits) if 8 < int(bits) < t["planes"] else t["planes"]
        out = os.path.join(tmp, "w.bin")
        sh(cxlms, "fetch", store, name, "--all", "--bits", str(k), "--out", "f32", "-o", out)
        a = np.fromfile(out, dtype="<f4").astype(np.float64)
        return a.reshape(t["shape"])

    D = cfg["hidden_size"]
    L = cfg["num_hidden_layers"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    V = cfg["vocab_size"]
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    hd = D // H
    interleaved = cfg.get("cxlms_rope", "half") == "interleaved"
    tied = cfg.get("tie_word_embeddings", False)

    emb = W("model.embed_tokens.weight")
    head = emb if tied else W("lm_head.weight")
    norm = W("model.norm.weight")
    layers = []
    for i in range(L):
        p = "model.layers.%d." % i
        layers.append({k: W(p + n + ".weight") for k, n in (
            ("an", "input_layernorm"), ("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"),
            ("v", "self_attn.v_proj"), ("o", "self_attn.o_proj"),
            ("fn", "post_attention_layernorm"), ("g", "mlp.gate_proj"),
            ("u", "mlp.up_proj"), ("d", "mlp.down_proj"))})

    def rms(x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w

    def rotate(x, pos):
        # x: [T, heads, hd]; angle of pair i at position t: t * theta^(-2i/hd)
        inv = theta ** (-np.arange(0, hd, 2) / hd)
        ang = np.outer(pos, inv)[:, None, :]
        c, s = np.cos(ang), np.sin(ang)
        if interleaved:
            a, b = x[..., 0::2], x[..., 1::2]
            out = np.empty_like(x)
            out[..., 0::2] = a * c - b * s
            out[..., 1::2] = a * s + b * c
            return out
        a, b = x[..., :hd // 2], x[..., hd // 2:]
        return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)

    def forward(tokens):
        T = len(tokens)
        pos = np.arange(T)
        h = emb[tokens]
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for ly in layers:
            x = rms(h, ly["an"])
            q = rotate((x @ ly["q"].T).reshape(T, H, hd), pos)
            k = rotate((x @ ly["k"].T).reshape(T, KV, hd), pos)
            v = (x @ ly["v"].T).reshape(T, KV, hd)
            k = np.repeat(k, H // KV, axis=1)
            v = np.repeat(v, H // KV, axis=1)
            att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            o = np.einsum("hts,shd->thd", att, v).reshape(T, D)
            h = h + o @ ly["o"].T
            x = rms(h, ly["fn"])
            g = x @ ly["g"].T
            h = h + ((g / (1 + np.exp(-g))) * (x @ ly["u"].T)) @ ly["d"].T
        return rms(h, norm) @ head.T

    seqs = [[int(t) for t in line.replace(",", " ").split()]
            for line in open(tok_file) if line.strip()]
    got = np.fromfile(logits_file, dtype="<f4")
    need = sum(len(s) for s in seqs) * V
    if got.size != need:
        print("llama_ref: %s has %d floats, expected %d" % (logits_file, got.size, need))
        return 1
    off, worst = 0, 0.0
    for n, s in enumerate(seqs):
        ref = forward(np.array(s))
        eng = got[off:off + len(s) * V].reshape(len(s), V)
        off += len(s) * V
        err = float(np.max(np.abs(ref - eng)) / np.max(np.abs(ref)))
        worst = max(worst, err)
        print("# sequence %d (%d tokens): max |ref - engine| / max |ref| = %.3g" %
              (n + 1, len(s), err))
    print("# worst %.3g (bound 1e-4)" % worst)
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
