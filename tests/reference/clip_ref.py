#!/usr/bin/env python3
"""Independent PyTorch reference for CLIP inference (parity tests and benchmarks).

Written from the architecture description (shared/reference/clip.md §1-2, §8) with
torch.nn building blocks: nn.Conv2d patch embedding, nn.MultiheadAttention,
nn.LayerNorm, nn.Linear. It reads a Hugging Face-named safetensors file with its
own small reader (json + numpy), so it shares no code with dfer.

    clip_ref.py --weights W.safetensors [--image IMG]... [--ids "49406 ... 49407"]... [--context 77]
prints {"image_embeddings": [[...]], "text_embeddings": [[...]], "logits": [[...]]}.
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt == "I64":
            arr = np.frombuffer(raw, dtype="<i8")
        else:
            raise ValueError(f"{path}: dtype {dt} of {name} not handled by the reference")
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN residual block: x + attn(ln_1(x)); x + mlp(ln_2(x))."""

    def __init__(self, width, heads, causal):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(4 * width, width)
        self.causal = causal

    def forward(self, x):
        mask = None
        if self.causal:
            s = x.shape[1]
            mask = torch.full((s, s), float("-inf")).triu(1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))

    def load(self, sd, prefix):
        self.ln_1.weight.data = sd[prefix + "layer_norm1.weight"]
        self.ln_1.bias.data = sd[prefix + "layer_norm1.bias"]
        self.attn.in_proj_weight.data = torch.cat([sd[prefix + f"self_attn.{p}_proj.weight"] for p in "qkv"])
        self.attn.in_proj_bias.data = torch.cat([sd[prefix + f"self_attn.{p}_proj.bias"] for p in "qkv"])
        self.attn.out_proj.weight.data = sd[prefix + "self_attn.out_proj.weight"]
        self.attn.out_proj.bias.data = sd[prefix + "self_attn.out_proj.bias"]
        self.ln_2.weight.data = sd[prefix + "layer_norm2.weight"]
        self.ln_2.bias.data = sd[prefix + "layer_norm2.bias"]
        self.c_fc.weight.data = sd[prefix + "mlp.fc1.weight"]
        self.c_fc.bias.data = sd[prefix + "mlp.fc1.bias"]
        self.c_proj.weight.data = sd[prefix + "mlp.fc2.weight"]
        self.c_proj.bias.data = sd[prefix + "mlp.fc2.bias"]


def count_layers(sd, prefix):
    n = 0
    while f"{prefix}.encoder.layers.{n}.layer_norm1.weight" in sd:
        n += 1
    return n


class Clip(nn.Module):
    def __init__(self, sd):
        super().__init__()
        conv = sd["vision_model.embeddings.patch_embedding.weight"]
        W, _, P, _ = conv.shape
        self.patch = P
        self.conv1 = nn.Conv2d(3, W, kernel_size=P, stride=P, bias=False)
        self.conv1.weight.data = conv
        self.class_embedding = sd["vision_model.embeddings.class_embedding"]
        self.vis_pos = sd["vision_model.embeddings.position_embedding.weight"]
        g = int(round(math.sqrt(self.vis_pos.shape[0] - 1)))
        self.resolution = g * P
        self.ln_pre = nn.LayerNorm(W, eps=1e-5)
        self.ln_pre.weight.data = sd["vision_model.pre_layrnorm.weight"]
        self.ln_pre.bias.data = sd["vision_model.pre_layrnorm.bias"]
        self.vis_blocks = nn.ModuleList()
        for i in range(count_layers(sd, "vision_model")):
            blk = Block(W, W // 64, causal=False)
            blk.load(sd, f"vision_model.encoder.layers.{i}.")
            self.vis_blocks.append(blk)
        self.ln_post = nn.LayerNorm(W, eps=1e-5)
        self.ln_post.weight.data = sd["vision_model.post_layernorm.weight"]
        self.ln_post.bias.data = sd["vision_model.post_layernorm.bias"]
        self.visual_proj = sd["visual_projection.weight"]  # [E, W]

        T = sd["text_model.final_layer_norm.weight"].shape[0]
        self.tok = nn.Embedding.from_pretrained(sd["text_model.embeddings.token_embedding.weight"])
        self.txt_pos = sd["text_model.embeddings.position_embedding.weight"]
        self.context = self.txt_pos.shape[0]
        self.txt_blocks = nn.ModuleList()
        for i in range(count_layers(sd, "text_model")):
            blk = Block(T, T // 64, causal=True)
            blk.load(sd, f"text_model.encoder.layers.{i}.")
            self.txt_blocks.append(blk)
        self.ln_final = nn.LayerNorm(T, eps=1e-5)
        self.ln_final.weight.data = sd["text_model.final_layer_norm.weight"]
        self.ln_final.bias.data = sd["text_model.final_layer_norm.bias"]
        self.text_proj = sd["text_projection.weight"]  # [E, T]
        self.logit_scale = sd["logit_scale"].reshape(())

    def encode_image(self, x):  # x [B, 3, R, R]
        x = self.conv1(x).flatten(2).transpose(1, 2)  # [B, g*g, W]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.vis_pos
        x = self.ln_pre(x)
        for blk in self.vis_blocks:
            x = blk(x)
        return self.ln_post(x[:, 0]) @ self.visual_proj.t()

    def encode_text(self, ids):  # ids [B, context] long, zero padded
        x = self.tok(ids) + self.txt_pos[: ids.shape[1]]
        for blk in self.txt_blocks:
            x = blk(x)
        x = self.ln_final(x)
        return x[torch.arange(ids.shape[0]), ids.argmax(dim=-1)] @ self.text_proj.t()


def preprocess(path, n_px):
    """clip.py _transform: Resize(n_px, BICUBIC) -> CenterCrop -> ToTensor -> Normalize."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        size = (n_px, int(n_px * h / w))
    else:
        size = (int(n_px * w / h), n_px)
    img = img.resize(size, Image.BICUBIC)
    w, h = img.size
    top = int(round((h - n_px) / 2.0))
    left = int(round((w - n_px) / 2.0))
    img = img.crop((left, top, left + n_px, top + n_px))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    return (x - mean) / std


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image", action="append", default=[])
    ap.add_argument("--ids", action="append", default=[], help="space-separated token ids incl. SOT/EOT")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bench-images", type=int, default=0, help="time encode_image on this many random images")
    ap.add_argument("--bench-iters", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sd = read_safetensors(args.weights)
    model = Clip(sd).eval()
    if args.bench_images:
        import time
        x = torch.randn(args.bench_images, 3, model.resolution, model.resolution)
        with torch.no_grad():
            model.encode_image(x)  # warm-up
            best = 1e30
            for _ in range(args.bench_iters):
                t0 = time.perf_counter()
                model.encode_image(x)
                best = min(best, time.perf_counter() - t0)
        print(json.dumps({"impl": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
                          "batch": args.bench_images, "best_seconds": best,
                          "images_per_s": args.bench_images / best}))
        return
    out = {}
    with torch.no_grad():
        img_emb = txt_emb = None
        if args.image:
            x = torch.stack([preprocess(p, model.resolution) for p in args.image])
            img_emb = model.encode_image(x)
            out["image_embeddings"] = img_emb.tolist()
        if args.ids:
            ids = torch.zeros(len(args.ids), model.context, dtype=torch.long)
            for i, s in enumerate(args.ids):
                v = [int(t) for t in s.split()]
                ids[i, : len(v)] = torch.tensor(v)
            txt_emb = model.encode_text(ids)
            out["text_embeddings"] = txt_emb.tolist()
        if img_emb is not None and txt_emb is not None:
            logits = model.logit_scale.exp() * F.normalize(img_emb, dim=-1) @ F.normalize(txt_emb, dim=-1).t()
            out["logits"] = logits.tolist()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
