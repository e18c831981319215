#!/usr/bin/env python3
"""Writes PyTorch checkpoints with Debian's torch from a dfer-written Hugging
Face safetensors file, for the loader tests:
  openai_state_dict.pt  torch.save of an OpenAI-named state dict, with fp16
                        tensors, a slice at a non-zero storage offset and a
                        transposed (non-contiguous) view
  longclip.pt           the same with a 248-row positional_embedding and a
                        different positional_embedding_res (Long-CLIP)
  torchscript.pt        torch.jit.trace of a module tree with OpenAI's attribute
                        names whose forward uses every parameter, fp16 for some
                        (a real TorchScript zip: code/, constants.pkl; checked)
usage: make_pt_fixtures.py HF.safetensors OUTDIR"""
import collections
import json
import zipfile
import struct
import sys

import numpy as np
import torch
import torch.nn as nn


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        assert info["dtype"] == "F32"
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4").copy()).reshape(info["shape"])
    return out


def to_openai(hf):
    sd = collections.OrderedDict()
    layer_map = {"self_attn.out_proj.weight": "attn.out_proj.weight", "self_attn.out_proj.bias": "attn.out_proj.bias",
                 "layer_norm1.weight": "ln_1.weight", "layer_norm1.bias": "ln_1.bias",
                 "mlp.fc1.weight": "mlp.c_fc.weight", "mlp.fc1.bias": "mlp.c_fc.bias",
                 "mlp.fc2.weight": "mlp.c_proj.weight", "mlp.fc2.bias": "mlp.c_proj.bias",
                 "layer_norm2.weight": "ln_2.weight", "layer_norm2.bias": "ln_2.bias"}
    top = {"vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
           "vision_model.embeddings.class_embedding": "visual.class_embedding",
           "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
           "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight", "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
           "vision_model.post_layernorm.weight": "visual.ln_post.weight",
           "vision_model.post_layernorm.bias": "visual.ln_post.bias",
           "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
           "text_model.embeddings.position_embedding.weight": "positional_embedding",
           "text_model.final_layer_norm.weight": "ln_final.weight", "text_model.final_layer_norm.bias": "ln_final.bias",
           "logit_scale": "logit_scale"}
    for k, v in hf.items():
        if k in top:
            sd[top[k]] = v
        elif k == "visual_projection.weight":
            sd["visual.proj"] = v.t().contiguous()
        elif k == "text_projection.weight":
            sd["text_projection"] = v.t().contiguous()
    for tower, prefix in (("vision_model", "visual.transformer.resblocks"), ("text_model", "transformer.resblocks")):
        i = 0
        while f"{tower}.encoder.layers.{i}.layer_norm1.weight" in hf:
            p = f"{tower}.encoder.layers.{i}."
            for a, b in layer_map.items():
                sd[f"{prefix}.{i}.{b}"] = hf[p + a]
            sd[f"{prefix}.{i}.attn.in_proj_weight"] = torch.cat([hf[p + f"self_attn.{c}_proj.weight"] for c in "qkv"])
            sd[f"{prefix}.{i}.attn.in_proj_bias"] = torch.cat([hf[p + f"self_attn.{c}_proj.bias"] for c in "qkv"])
            i += 1
    return sd


class Holder(nn.Module):
    """A module tree whose attribute paths are the given state-dict names."""

    def __init__(self, sd):
        super().__init__()
        children = collections.OrderedDict()
        for name, t in sd.items():
            head, _, rest = name.partition(".")
            if rest:
                children.setdefault(head, collections.OrderedDict())[rest] = t
            else:
                self.register_parameter(head, nn.Parameter(t.clone()))
        for head, sub in children.items():
            self.add_module(head, Holder(sub))

    def forward(self, x):
        # every parameter feeds the output, so tracing records (and keeps) them all
        total = x.sum() * 0
        for p in self.parameters():
            total = total + p.float().sum()
        return total


def main():
    hf = read_safetensors(sys.argv[1])
    out = sys.argv[2]
    sd = to_openai(hf)
    # fp16 storage for the projections and one layer's weights (as OpenAI's files mix fp16 and fp32)
    plain = collections.OrderedDict(sd)
    for k in list(sd):
        if k.endswith("c_fc.weight") or k in ("visual.proj",):
            sd[k] = sd[k].half()
    # a tensor at a non-zero storage offset: the tail of a larger tensor
    k = "transformer.resblocks.0.attn.in_proj_bias"
    big = torch.cat([torch.randn(5), sd[k]])
    sd[k] = big[5:]
    # a non-contiguous (transposed) view
    k = "text_projection"
    sd[k] = sd[k].t().contiguous().t()
    assert not sd[k].is_contiguous()
    torch.save(sd, f"{out}/openai_state_dict.pt")
    # Long-CLIP: 248 positions; the first 20 rows from positional_embedding, the rest from _res
    lc = collections.OrderedDict(plain)
    pos = lc["positional_embedding"]
    lc["positional_embedding"] = torch.randn(248, pos.shape[1])
    lc["positional_embedding_res"] = torch.randn(248, pos.shape[1])
    torch.save(lc, f"{out}/longclip.pt")
    merged = torch.cat([lc["positional_embedding"][:20], lc["positional_embedding_res"][20:]])
    merged.numpy().astype("<f4").tofile(f"{out}/longclip_expected_positions.f32")
    # TorchScript, mixing fp16 and fp32 like OpenAI's ViT-*.pt files
    ts = collections.OrderedDict(plain)
    for k in ts:
        if k.endswith("attn.out_proj.weight"):
            ts[k] = ts[k].half()
    traced = torch.jit.trace(Holder(ts), torch.zeros(1))
    traced.save(f"{out}/torchscript.pt")
    names = zipfile.ZipFile(f"{out}/torchscript.pt").namelist()
    assert any("/code/" in n for n in names), "no code/ in the TorchScript zip"
    assert any(n.endswith("/constants.pkl") for n in names), "no constants.pkl in the TorchScript zip"
    assert any(n.endswith("/data.pkl") for n in names)
    print(f"wrote 3 checkpoints to {out} (TorchScript zip: {len(names)} entries)")


if __name__ == "__main__":
    main()
