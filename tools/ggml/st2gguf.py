#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""st2gguf.py MODELDIR OUT.gguf [--type f16|f32]

Write a Hugging Face Llama checkpoint (MODELDIR/model.safetensors with f16,
bf16 or f32 tensors, HF names, and MODELDIR/config.json) as a GGUF file that
llama.cpp runs, with gguf-py from the llama.cpp source tools/ggml/fetch.sh
unpacked (PYTHONPATH=$GGML_DIR/llama.cpp/gguf-py).  Matrices keep their
values (f16 or f32), norms are f32.  q_proj and k_proj rows are reordered
from HF's rotate-half rotary layout to the interleaved-pairs layout GGUF
llama models use: within each head, HF row j (first half) and j + d/2
(second half) become rows 2j and 2j + 1.  No tokenizer: the file says
"no_vocab" with the vocabulary size, enough for llama-bench's random tokens.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("st2gguf.py: gguf-py not found: set PYTHONPATH to llama.cpp's gguf-py "
             "(tools/ggml/fetch.sh unpacks it)")

DT = {"F16": np.float16, "F32": np.float32}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    base = 8 + n
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = mm[base + b: base + end]
        if e["dtype"] == "BF16":
            v = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] in DT:
            v = raw.view(DT[e["dtype"]])
        else:
            sys.exit("st2gguf.py: %s: dtype %s not handled" % (name, e["dtype"]))
        out[name] = v.reshape(e["shape"])
    return out


def rope_rows(w, heads):
    """HF rotate-half rows -> interleaved pairs, per head."""
    d = w.shape[0] // heads
    return (w.reshape(heads, 2, d // 2, -1).swapaxes(1, 2).reshape(w.shape))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modeldir")
    ap.add_argument("out")
    ap.add_argument("--type", choices=("f16", "f32"), default="f16")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.modeldir, "config.json")))
    t = read_safetensors(os.path.join(a.modeldir, "model.safetensors"))
    L = cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    dim = cfg["hidden_size"]
    mdt = np.float16 if a.type == "f16" else np.float32

    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name("cxlms synthetic llama")
    w.add_context_length(cfg.get("max_position_embeddings", 2048))
    w.add_embedding_length(dim)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(dim // heads)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-5))
    w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if a.type == "f16" else gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("no_vocab")

    names = [("model.embed_tokens.weight", "token_embd.weight", None),
             ("model.norm.weight", "output_norm.weight", None)]
    if not cfg.get("tie_word_embeddings", False) and "lm_head.weight" in t:
        names.append(("lm_head.weight", "output.weight", None))
    for l in range(L):
        p, q = "model.layers.%d." % l, "blk.%d." % l
        names += [(p + "input_layernorm.weight", q + "attn_norm.weight", None),
                  (p + "self_attn.q_proj.weight", q + "attn_q.weight", heads),
                  (p + "self_attn.k_proj.weight", q + "attn_k.weight", kv),
                  (p + "self_attn.v_proj.weight", q + "attn_v.weight", None),
                  (p + "self_attn.o_proj.weight", q + "attn_output.weight", None),
                  (p + "post_attention_layernorm.weight", q + "ffn_norm.weight", None),
                  (p + "mlp.gate_proj.weight", q + "ffn_gate.weight", None),
                  (p + "mlp.up_proj.weight", q + "ffn_up.weight", None),
                  (p + "mlp.down_proj.weight", q + "ffn_down.weight", None)]
    for hf, gg, rope in names:
        if hf not in t:
            sys.exit("st2gguf.py: %s: no tensor %s" % (a.modeldir, hf))
        v = t[hf]
        if rope:
            v = rope_rows(v, rope)
        v = np.ascontiguousarray(v, dtype=np.float32 if v.ndim == 1 else mdt)
        w.add_tensor(gg, v)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
