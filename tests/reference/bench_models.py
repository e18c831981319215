"""FineCLIPER (any variant) and DFER-CLIP as plain PyTorch modules, for
throughput and memory comparisons (bench_torch.py): eager execution,
F.scaled_dot_product_attention, nn.Linear / nn.LayerNorm / nn.Conv2d, frozen
CLIP weights with requires_grad False, so autograd computes exactly the
gradients the trainable tensors need. Runs on CUDA under torch.autocast(bf16)
or in float32 anywhere.

Written from the specifications (docs/method.md; OpenAI's CLIP architecture;
AIM's adapter layout as docs/method.md and src/model/aim_vision.h's header
state it; DFER-CLIP's paper and public code as docs/method.md summarises them),
not from dfer's C code. models_ref.py is the float64 parity reference; it
builds its graph from functions over a weight dictionary, uses its own
attention and CPU-only masks, so it serves parity, not speed. This peer is
checked against dfer too: bench_models_parity.py loads a model_dump's weights
into it and compares the loss and every trainable gradient in float64
(train_models_parity_torch).

Weights are random (the shapes are what a benchmark needs)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

_default_dtype = torch.get_default_dtype()
from models_ref import stretch_positions  # noqa: E402 (Long-CLIP's position stretch, written once)

torch.set_default_dtype(_default_dtype)  # models_ref's import makes float64 the default; the peer keeps its own


def _math_attention(q, k, v, is_causal=False):
    """softmax(q k^T / sqrt(d) + mask) v: torch < 2.0 has no scaled_dot_product_attention."""
    s = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
    if is_causal:
        n = s.shape[-1]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    return s.softmax(-1) @ v


SDPA = getattr(F, "scaled_dot_product_attention", None)
ATTENTION = "F.scaled_dot_product_attention" if SDPA else "math attention (this torch has no SDPA)"
_attention = SDPA or _math_attention


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN transformer block with packed q/k/v: x += out(MHA(ln_1 x)); x += fc2(act(fc1(ln_2 x)))."""

    def __init__(self, width, heads, mlp, act, qkv_bias=True):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=qkv_bias)
        self.out = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp)
        self.fc2 = nn.Linear(mlp, width)
        self.act = act

    def attn(self, x, causal=False):
        """out(MHA(ln_1 x)) on x [N, L, W]."""
        n, length, width = x.shape
        q, k, v = self.qkv(self.ln_1(x)).view(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        o = _attention(q, k, v, is_causal=causal)
        return self.out(o.transpose(1, 2).reshape(n, length, width))

    def mlp(self, h):
        return self.fc2(self.act(self.fc1(h)))

    def forward(self, x, causal=False):
        x = x + self.attn(x, causal)
        return x + self.mlp(self.ln_2(x))


class Adapter(nn.Module):
    """Linear(D, D/div) -> exact GELU -> Linear(D/div, D); fc1 ~ N(0, 0.02), fc2 = 0 (AIM's init)."""

    def __init__(self, width, div, skip):
        super().__init__()
        self.skip = skip
        self.fc1 = nn.Linear(width, width // div)
        self.fc2 = nn.Linear(width // div, width)
        nn.init.trunc_normal_(self.fc1.weight, std=0.02)
        nn.init.zeros_(self.fc1.bias)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x):
        y = self.fc2(F.gelu(self.fc1(x)))
        return x + y if self.skip else y


class Clip(nn.Module):
    """OpenAI's CLIP shapes (a spec dict as bench_torch.py takes it), random weights."""

    def __init__(self, s):
        super().__init__()
        W, P, R, E, Tw = s["vision_width"], s["patch_size"], s["image_size"], s["embed_dim"], s["text_width"]
        g = R // P
        self.patch = nn.Conv2d(3, W, P, P, bias=False)
        self.class_emb = nn.Parameter(torch.randn(W) * W ** -0.5)
        self.vis_pos = nn.Parameter(torch.randn(g * g + 1, W) * W ** -0.5)
        self.ln_pre = nn.LayerNorm(W)
        self.vis_blocks = nn.ModuleList(Block(W, s["vision_heads"], 4 * W, QuickGELU()) for _ in range(s["vision_layers"]))
        self.ln_post = nn.LayerNorm(W)
        self.vis_proj = nn.Linear(W, E, bias=False)
        self.tok_emb = nn.Embedding(s["vocab_size"], Tw)
        self.txt_pos = nn.Parameter(torch.randn(s["context_length"], Tw) * 0.01)
        self.txt_blocks = nn.ModuleList(Block(Tw, s["text_heads"], 4 * Tw, QuickGELU()) for _ in range(s["text_layers"]))
        self.ln_final = nn.LayerNorm(Tw)
        self.txt_proj = nn.Linear(Tw, E, bias=False)

    def tokens(self, frames):
        """frames [N,3,R,R] -> [N, S, W]: class token and patches, plus positions."""
        x = self.patch(frames).flatten(2).transpose(1, 2)
        cls = self.class_emb.to(x.dtype).expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], 1) + self.vis_pos.to(x.dtype)

    def frame_features(self, x):
        """residual stream [N, S, W] -> ln_post(class token) -> projection [N, E]."""
        return self.vis_proj(self.ln_post(x[:, 0]))

    def text(self, x0, ids, adapters=None):
        """x0 [N, L, Tw] input embeddings (positions added); ids [N, L] give the EOT rows (largest id)."""
        x = x0
        for i, blk in enumerate(self.txt_blocks):
            x = blk(x, causal=True)
            if adapters is not None:
                x = adapters[i](x)
        eot = ids.argmax(-1)
        return self.txt_proj(self.ln_final(x[torch.arange(x.shape[0], device=x.device), eot]))

    def embed(self, ids, positions=None):
        pos = self.txt_pos if positions is None else positions
        return self.tok_emb(ids) + pos[: ids.shape[1]]


class AimSet(nn.Module):
    """One AIM adapter set: a temporal embedding [T, W] and temporal, spatial, MLP adapters per block."""

    def __init__(self, clip, frames, div, adapters=True):
        super().__init__()
        W = clip.vis_proj.in_features
        self.temb = nn.Parameter(torch.zeros(frames, W))
        n = len(clip.vis_blocks) if adapters else 0
        self.t = nn.ModuleList(Adapter(W, div, skip=False) for _ in range(n))
        self.s = nn.ModuleList(Adapter(W, div, skip=True) for _ in range(n))
        self.m = nn.ModuleList(Adapter(W, div, skip=False) for _ in range(n))


def aim_video(clip, aim, frames, T, scale):
    """frames [B*T,3,R,R] through the frozen ViT with an AIM set -> video feature [B, E] (mean over frames)."""
    x = clip.tokens(frames)
    N, S, W = x.shape
    B = N // T
    x = (x.view(B, T, S, W) + aim.temb.to(x.dtype).view(1, T, 1, W)).view(N, S, W)
    x = clip.ln_pre(x)
    for i, blk in enumerate(clip.vis_blocks):
        if len(aim.t) == 0:
            x = blk(x)
            continue
        xt = x.view(B, T, S, W).transpose(1, 2).reshape(B * S, T, W)
        ta = aim.t[i](blk.attn(xt))
        x = x + ta.view(B, S, T, W).transpose(1, 2).reshape(N, S, W)
        x = x + aim.s[i](blk.attn(x))
        h = blk.ln_2(x)
        x = x + blk.mlp(h) + scale * aim.m[i](h)
    return clip.frame_features(x).view(B, T, -1).mean(1)




class FineCliper(nn.Module):
    """FineCLIPER: video (AIM) [+ parsing and landmark maps through a shared second AIM set, a projection each]
    [+ a description through the text tower with stretched positions, adapters and a projector]; PN class
    texts through the frozen text tower with a positive and a negative adapter set; PN scores / temperature;
    adaptive weights (softmax over modalities of each modality's max score, constants) and the weighted sum of
    per-modality cross-entropies."""

    def __init__(self, s, clip):
        super().__init__()
        self.clip = clip
        self.T = s["frames"]
        div = s.get("bottleneck_divisor") or 4
        upper = s.get("mid_high_bottleneck_divisor") or div  # the middle level's and the description tower's
        E, Tw = s["embed_dim"], s["text_width"]
        self.scale, self.tau = 0.5, 0.01
        variant = s.get("variant") or "low"
        self.low = "low" in variant  # mid, high, mid+high: the levels without the frames (paper Tab. 4)
        if self.low:
            self.video = AimSet(clip, self.T, div)
        self.mid = "mid" in variant
        self.high = "high" in variant
        if self.mid:
            self.mid_set = AimSet(clip, self.T, upper)
            self.proj_parsing = nn.Linear(E, E)
            self.proj_landmarks = nn.Linear(E, E)
        if self.high:
            self.desc_adapters = nn.ModuleList(Adapter(Tw, upper, skip=True) for _ in clip.txt_blocks)
            self.desc_proj = nn.Linear(E, E)
            self.register_buffer("desc_pos", stretch_positions(clip.txt_pos.detach()))
        self.pos_adapters = nn.ModuleList(Adapter(Tw, div, skip=True) for _ in clip.txt_blocks)
        self.use_negative = s.get("len_neg", 0) > 0
        if self.use_negative:
            self.neg_adapters = nn.ModuleList(Adapter(Tw, div, skip=True) for _ in clip.txt_blocks)

    def forward(self, inp, labels):
        c = self.clip
        feats = [aim_video(c, self.video, inp["frames"], self.T, self.scale)] if self.low else []
        if self.mid:
            feats.append(self.proj_parsing(aim_video(c, self.mid_set, inp["parsing"], self.T, self.scale)))
            feats.append(self.proj_landmarks(aim_video(c, self.mid_set, inp["landmarks"], self.T, self.scale)))
        if self.high:
            ids = inp["desc_ids"]
            feats.append(self.desc_proj(c.text(c.embed(ids, self.desc_pos), ids, self.desc_adapters)))
        tp = F.normalize(c.text(c.embed(inp["pos_ids"]), inp["pos_ids"], self.pos_adapters), dim=-1)
        tn = F.normalize(c.text(c.embed(inp["neg_ids"]), inp["neg_ids"], self.neg_adapters), dim=-1) \
            if self.use_negative else None
        scores = []
        for f in feats:
            n = F.normalize(f, dim=-1)
            scores.append(n @ tp.t() - n @ tn.t() if tn is not None else n @ tp.t())
        if len(scores) == 1:
            return F.cross_entropy(scores[0].float() / self.tau, labels)
        w = torch.softmax(torch.stack([s.max(1).values for s in scores], 1).detach().float(), 1)
        return sum((w[:, i] * F.cross_entropy(s.float() / self.tau, labels, reduction="none")).mean()
                   for i, s in enumerate(scores))


class DferClip(nn.Module):
    """DFER-CLIP: the fine-tuned image encoder per frame, a one-layer temporal transformer (class token and
    positions, to_qkv without bias, E/64 heads, tanh-GELU MLP of width 2E, output its class token), learnable
    contexts [C, M, Tw] at positions 1..M of the class prompts through the frozen text tower, logits =
    scale * cos."""

    def __init__(self, s, clip, contexts=8, logit_scale=100.0):
        super().__init__()
        self.clip = clip
        self.T = s["frames"]
        E, Tw, C = s["embed_dim"], s["text_width"], s["classes"]
        self.cls = nn.Parameter(torch.randn(1, 1, E))
        self.pos = nn.Parameter(torch.randn(1, self.T + 1, E))
        self.temporal = Block(E, max(1, E // 64), 2 * E, nn.GELU(approximate="tanh"), qkv_bias=False)
        self.ctx = nn.Parameter(torch.randn(C, contexts, Tw) * 0.02)
        self.M = contexts
        self.logit_scale = logit_scale

    def forward(self, inp, labels):
        c = self.clip
        x = c.ln_pre(c.tokens(inp["frames"]))
        for blk in c.vis_blocks:
            x = blk(x)
        f = c.frame_features(x)
        B = f.shape[0] // self.T
        f = f.view(B, self.T, -1)
        y = torch.cat([self.cls.to(f.dtype).expand(B, 1, -1), f], 1) + self.pos.to(f.dtype)
        y = y + self.temporal.attn(y)
        y = y + self.temporal.mlp(self.temporal.ln_2(y))
        v = y[:, 0]
        ids = inp["class_ids"]
        x0 = c.tok_emb(ids)
        x0 = torch.cat([x0[:, :1], self.ctx.to(x0.dtype), x0[:, 1 + self.M:]], 1) + c.txt_pos[: ids.shape[1]]
        t = c.text(x0, ids)
        logits = self.logit_scale * F.normalize(v.float(), dim=-1) @ F.normalize(t.float(), dim=-1).t()
        return F.cross_entropy(logits, labels)


def build(s, device):
    """The model of a spec: a random CLIP, frozen except DFER-CLIP's image encoder, and the method's
    trainable tensors. Returns (model, trainable parameters)."""
    torch.manual_seed(s.get("seed", 1))
    clip = Clip(s)
    clip.requires_grad_(False)
    if s["method"] == "finecliper":
        model = FineCliper(s, clip)
    else:
        model = DferClip(s, clip)
        for name, p in clip.named_parameters():  # the whole image encoder is fine-tuned
            if not name.startswith(("tok_emb", "txt_", "ln_final")):
                p.requires_grad_(True)
    model.to(device)
    return model, [p for p in model.parameters() if p.requires_grad]


def inputs(s, device, batch):
    """A synthetic batch: frames (and maps) N(0,1), token ids ending in EOT at the run lengths dfer reported."""
    g = torch.Generator().manual_seed(s.get("seed", 1) + 7)
    T, R, C = s["frames"], s["image_size"], s["classes"]
    EOT = s["vocab_size"] - 1

    def ids(n, length):
        t = torch.randint(1, EOT - 1, (n, length), generator=g)
        t[:, 0] = EOT - 1  # SOT
        t[:, length - 1] = EOT
        return t.to(device)

    variant = s.get("variant") or "low"
    inp = {"frames": torch.randn(batch * T, 3, R, R, generator=g).to(device)} \
        if s["method"] != "finecliper" or "low" in variant else {}
    if s["method"] == "finecliper":
        if "mid" in variant:
            inp["parsing"] = torch.randn(batch * T, 3, R, R, generator=g).to(device)
            inp["landmarks"] = torch.randn(batch * T, 3, R, R, generator=g).to(device)
        if "high" in variant:
            inp["desc_ids"] = ids(batch, s["len_desc"])
        inp["pos_ids"] = ids(C, s["len_pos"])
        if s.get("len_neg", 0) > 0:
            inp["neg_ids"] = ids(C, s["len_neg"])
    else:
        inp["class_ids"] = ids(C, s["len_text"])
    labels = torch.randint(0, C, (batch,), generator=g).to(device)
    return inp, labels

