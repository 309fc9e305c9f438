#!/usr/bin/env python3
"""Write seeded Hugging Face CLIP image-tower, DINOv2, SigLIP and BEiT checkpoints (the exact key
layout and config.json of real checkpoints) with float64 and float32 golden outputs computed in PyTorch.

Usage:
    /usr/bin/python3 tools/make_family_fixtures.py [--out DIR] [--only NAME ...]

    --out DIR    output root (default: test/fixtures/families)
    --only NAME  a family (clip, dinov2, siglip, beit) or a fixture name; repeatable (default:
                 all). Each fixture depends only on its own seed, so regenerating one family
                 leaves the others' files byte-identical.

Needs only Debian's python3 with torch and numpy (no transformers, no safetensors package). The
model below is this script's own minimal PyTorch version of transformers' CLIP vision tower
(models/clip/modeling_clip.py: CLIPVisionEmbeddings, CLIPAttention, CLIPMLP, CLIPEncoderLayer,
CLIPVisionTransformer, and the visual_projection of CLIPModel / CLIPVisionModelWithProjection),
with module names chosen so that its state_dict keys are exactly HF's. Files are written with
make_fixtures.py's safetensors writer (int64 tensors, which it does not write, by the same layout
here). Output is deterministic (same bytes every run on the same torch build).

The forward pass, as HF runs it (eval mode, no dropout, no interpolate_pos_encoding):
    patches  = Conv2d(C, D, kernel P, stride P, bias=False)(x).flatten(2).transpose(1, 2)
    h        = cat([class_embedding, patches], 1) + position_embedding.weight[position_ids]
    h        = pre_layrnorm(h)
    per layer:  h = h + out_proj(attn(layer_norm1(h)));  h = h + fc2(quick_gelu(fc1(layer_norm2(h))))
                attn: q/k/v_proj (with bias), heads of D/H, softmax(q k^T * (D/H)^-0.5) v
                quick_gelu(x) = x * sigmoid(1.702 x)
    last_hidden_state = h                      (no final norm over all tokens)
    pooled   = post_layernorm(h[:, 0])         (pooler_output)
    embeds   = visual_projection(pooled)       (Linear, no bias; NOT L2-normalised: what
                                                CLIPModel.get_image_features returns and
                                                CLIPVisionModelWithProjection's image_embeds)
Every LayerNorm uses config.layer_norm_eps (CLIPVisionConfig default 1e-5).

Fixtures (folders under DIR):

  clip_full/         CLIPModel: image 32, patch 8, hidden 64, 2 layers, 4 heads, intermediate 128,
                     projection_dim 48 (top level), 3 channels. config.json as save_pretrained
                     writes a CLIPConfig (only non-default values in the sub-configs): its
                     vision_config OMITS hidden_act, layer_norm_eps, num_channels and
                     projection_dim, so a converter must know CLIPVisionConfig's defaults
                     (quick_gelu, 1e-5, 3) and take the projection size from the top-level
                     projection_dim (vision_config's own default, 512, is not what CLIPModel
                     uses). model.safetensors also holds a small random text tower (token and
                     position embeddings, one encoder layer, final_layer_norm, text_projection,
                     logit_scale as a 0-d tensor; hidden 32, 1 layer, vocab 64, 16 positions)
                     that a converter must ignore. No position_ids. model.safetensors 392 kB.
  clip_vision_proj/  CLIPVisionModelWithProjection: image 48, patch 16, hidden 96, 3 layers,
                     6 heads, intermediate 160, projection_dim 40; config.json with
                     model_type "clip_vision_model" and every vision field at the top level;
                     model.safetensors holds vision_model.embeddings.position_ids, int64
                     [1, num_patches + 1] = arange (as checkpoints saved before transformers made
                     that buffer non-persistent have it). model.safetensors 1.15 MB: the patch
                     embedding alone is 96 x 3 x 16 x 16 floats.

Each folder:
  config.json              sorted keys, indent 2 (as transformers writes it)
  preprocessor_config.json CLIPImageProcessor as transformers writes it: shortest_edge S, crop
                           S x S, resample 3 (bicubic), rescale 1/255, OpenAI CLIP mean/std,
                           do_convert_rgb; S = the fixture's image_size
  model.safetensors        F32 (+ one I64), metadata {"format": "pt"}; tensors stored in the order
                           the safetensors library uses (larger dtypes first, then by name)
  input.bin                float32 little-endian NCHW, batch 3, standard normal ("already
                           normalised")
  golden.json              {"name", "architecture", "seed", "batch", "image_size",
                            "resolved_config" (what the forward pass ran with, defaults filled in:
                            image_size, patch_size, num_channels, hidden_size, num_hidden_layers,
                            num_attention_heads, intermediate_size, hidden_act, layer_norm_eps,
                            projection_dim),
                            "embeddings" [[float64]] (visual_projection output),
                            "embeddings_f32" [[float32 values]],
                            "pooled" [[float64]] (post_layernorm of the class token: pooler_output),
                            "pooled_f32" [[float32 values]],
                            "last_hidden_state_cls" [[float64]] (row 0 of the last hidden state,
                            before post_layernorm)}
                           float64: the same float32 parameters cast to double, the float32 input
                           upcast, every op in double, softmax included (HF's eager attention would
                           run its softmax in float32 even in a double model; its SDPA path and this
                           script do not). *_f32: the same model and
                           input run in float32 (CPU), so a consumer can measure PyTorch float32's
                           own error |f32 - f64| and hold its result to a multiple of it.

Seeds: parameters torch.Generator(seed); input torch.Generator(seed + 1); the text tower of
clip_full torch.Generator(seed + 2). Parameter init is make_fixtures.py's (N(0, 1/fan_in) for
conv / linear weights, N(0, 0.1^2) biases, layernorm weight 1 + 0.1 N, bias 0.05 N, class and
position embeddings N(0, 0.5^2)): it keeps activations O(1) and attention far from uniform (HF's
own init, std 0.02 and zero biases, gives near-uniform attention on models this small). If a
draw is degenerate (embedding rows too alike, attention too flat, quick_gelu indistinguishable
from the exact GELU at float32's error) the seed is bumped by 1000 and everything redrawn.

Checks at the end: every written model.safetensors is parsed back, loaded strictly into a fresh
model (text tensors and position_ids set aside) and rerun in float64 (bit-identical to the
golden), an independent numpy float64 forward on the file's tensors agrees to 1e-10, and the max
|f32 - f64| of the embeddings of each fixture is printed and must lie in (0, 1e-3).

DINOv2 (family "dinov2"): this script's own minimal version of transformers'
models/dinov2/modeling_dinov2.py (Dinov2Model, Dinov2ForImageClassification) and
models/dinov2_with_registers/modeling_dinov2_with_registers.py
(Dinov2WithRegistersForImageClassification), module names chosen so that state_dict keys are HF's:
    embeddings.{cls_token [1,1,D], mask_token [1,D] (unused at inference), register_tokens [1,R,D]
    (registers class only), patch_embeddings.projection.{weight,bias} (Conv2d, with bias),
    position_embeddings [1, 1 + (image_size // patch)^2, D]}; encoder.layer.{i}.{norm1, norm2}.*,
    .attention.attention.{query,key,value}.*, .attention.output.dense.*, .mlp.fc1.*, .mlp.fc2.*
    (use_swiglu_ffn: .mlp.weights_in [2H, D], .mlp.weights_out [D, H] instead),
    .layer_scale1.lambda1, .layer_scale2.lambda1 [D]; layernorm.*. The classifiers hold the
    backbone under base_model_prefix ("dinov2." / "dinov2_with_registers.") plus
    classifier.{weight [L, 2D], bias}.
The forward pass, as HF runs it (eval mode):
    patches  = Conv2d(C, D, kernel P, stride P, bias)(x).flatten(2).transpose(1, 2)
    h        = cat([cls_token, patches], 1) + pos(H, W)
    pos      = position_embeddings unchanged when the input has the stated number of patches and
               H == W; else row 0 (class) kept and the g x g patch grid (g = image_size // P)
               resized to (H // P, W // P) by F.interpolate(grid.to(float32), size=(H//P, W//P),
               mode="bicubic", align_corners=False, antialias=A).to(model dtype), raster order.
               A = False for Dinov2, True for Dinov2WithRegisters (hard-coded per class). The
               resize runs in float32 even in a float64 model: the float64 goldens do the same.
               (Older Dinov2 code passed scale_factor = ((H//P + 0.1) / g, (W//P + 0.1) / g)
               instead of size: same output size, other sampling positions.)
    registers: h = cat([h[:, :1], register_tokens, h[:, 1:]], 1), AFTER the positions (none)
    per layer:  h = h + lambda1 * dense(attn(norm1(h)));  h = h + lambda1' * fc2(gelu(fc1(norm2(h))))
                attn: query/key/value (bias when qkv_bias), heads of D/H, softmax(q k^T (D/H)^-0.5) v;
                gelu exact (erf); MLP width int(hidden_size * mlp_ratio); eps layer_norm_eps (1e-6)
                use_swiglu_ffn (Dinov2SwiGLUFFN, the giant sizes): mlp(y) = weights_out(silu(x1) * x2)
                with x1, x2 = weights_in(y).chunk(2, -1), H = (int(int(D * mlp_ratio) * 2 / 3) + 7)
                // 8 * 8; hidden_act not used
    seq      = layernorm(h) over every token (last_hidden_state)
    pooled   = seq[:, 0]                       (pooler_output: what "embeddings" holds)
    logits   = classifier(cat([seq[:, 0], seq[:, 1 + R:].mean(1)], 1))   (R = 0 without registers)
Softmax runs in the model's dtype, as in the CLIP goldens (HF's eager path would run it in float32;
its default SDPA path does not).

DINOv2 fixtures (the stated image_size is what config.json says; input.bin is at the run size, so
the position resize is always exercised):

  dinov2_model/    Dinov2Model: stated 56, patch 8 (grid 7x7), hidden 64, 2 layers, 4 heads,
                   mlp_ratio 4; run at 40 (5x5). config.json as facebook/dinov2-* were first
                   written (4.31.0.dev0, no backbone fields). model.safetensors 468 kB.
  dinov2_cls/      Dinov2ForImageClassification: stated 42, patch 6 (7x7), hidden 48, 3 layers,
                   3 heads; 10 classes (id2label / label2id: the first ImageNet names); run at 36
                   (6x6). config.json with the BackboneConfigMixin fields (apply_layernorm,
                   out_features, out_indices, reshape_hidden_states, stage_names). 382 kB.
  dinov2_reg_cls/  Dinov2WithRegistersForImageClassification: 4 registers, stated 56, patch 8,
                   hidden 64, 2 layers, 4 heads, 7 classes; run at 48 (6x6). 474 kB.
  dinov2_swiglu_cls/  Dinov2ForImageClassification with use_swiglu_ffn, as
                   facebook/dinov2-giant-imagenet1k-1-layer (config.json as first written,
                   4.31.0.dev0-style, hidden_act "gelu" stated but unused): stated 56, patch 8
                   (7x7), hidden 56, 3 layers, 4 heads, mlp_ratio 4 (H = 152, not round(2/3 *
                   224) = 149), 10 classes; run at 48 (6x6).
  dinov2_reg_swiglu/  Dinov2WithRegistersModel with use_swiglu_ffn (as
                   facebook/dinov2-with-registers-giant): 2 registers, stated 42, patch 6 (7x7),
                   hidden 40, 2 layers, 5 heads of 8, mlp_ratio 4 (H = 112), no head; run at 36 (6x6).

  config.json      every Dinov2Config field (mlp_ratio, no intermediate_size; layerscale_value 1.0,
                   the INIT value: the trained scales are the lambda1 tensors), sorted, indent 2
  preprocessor_config.json  BitImageProcessor as facebook/dinov2-* ship it (resize shortest_edge
                   256, center crop 224, resample 3, rescale 1/255, ImageNet mean/std,
                   do_convert_rgb) scaled to a crop of the run size S: shortest_edge
                   round(S * 256 / 224)
  model.safetensors  F32, the library's order, metadata {"format": "pt"}
  input.bin        float32 LE NCHW, batch 2, standard normal, at the run size
  golden.json      {"name", "architecture", "seed", "batch", "image_size" (the RUN size of
                    input.bin), "stated_image_size" (config.json's), "resolved_config" (image_size,
                    patch_size, num_channels, hidden_size, num_hidden_layers, num_attention_heads,
                    mlp_ratio, hidden_act, layer_norm_eps, qkv_bias, layerscale_value,
                    use_swiglu_ffn, num_register_tokens (0 for Dinov2), num_labels (0: no head)),
                    "pos_interpolation" {mode, align_corners, antialias, from [g, g], size, dtype},
                    "embeddings" / "embeddings_f32" [[...]] (final-norm class token),
                    "logits" / "logits_f32" and "top5" (classifiers only; top5 by decreasing
                    float64 logit, the same in float32),
                    "pos_embed_resized" [1 + N_run][D] (the rows actually added: class row, then
                    the resized grid in raster order; float32 values, as HF computes them)}
Seeds and init as for CLIP (parameters Generator(seed), input Generator(seed + 1)); cls_token,
mask_token, register_tokens, position_embeddings N(0, 0.5^2); layer scales lambda1 =
clamp(0.55 + 0.15 N, 0.1, 1). Redrawn (seed + 1000) when the embedding rows are too alike, the
attention too flat, flipping antialias or dropping the layer scales moves the embeddings by less
than 100x float32's error, or (classifiers) the top-6 logits are closer than 1e-3 max|logit|.
Each fixture prints how far its references move under a converter's likely mistakes (antialias
flipped, the old +0.1 scale_factor formula, the resize in float64, lambda1 ignored, the registers
counted in the patch mean). Checks: strict reload and float64 rerun bit-identical; a numpy float64
bicubic resize (PyTorch's formulas: Keys A = -0.75 with clamped taps; antialias: the PIL cubic
a = -0.5 stretched by the downscale, normalised) within 1e-5 of pos_embed_resized and > 1e-2 from
the other antialias setting; an independent numpy forward from pos_embed_resized to 1e-10;
max |f32 - f64| of embeddings and logits in (0, 1e-3).
SigLIP (family "siglip"): this script's own minimal version of transformers'
models/siglip/modeling_siglip.py (SiglipModel, SiglipVisionModel, SiglipForImageClassification;
the encoder layers are the CLIP classes above, whose names SigLIP shares), module names chosen so
that state_dict keys are HF's:
    vision_model.embeddings.{patch_embedding.{weight [D,C,P,P], bias} (Conv2d WITH bias),
    position_embedding.weight [(image_size // P)^2, D] (an nn.Embedding: NO class token, no class
    row; no position_ids: the buffer is non-persistent)}; vision_model.encoder.layers.{i}.
    {layer_norm1, layer_norm2, self_attn.{q,k,v,out}_proj, mlp.fc1, mlp.fc2}.*;
    vision_model.post_layernorm.*; the attention-pooling head vision_model.head.{probe [1,1,D],
    attention.in_proj_weight [3D, D] (rows: q, k, v), attention.in_proj_bias [3D],
    attention.out_proj.{weight,bias} (torch.nn.MultiheadAttention's names), layernorm.*,
    mlp.fc1.*, mlp.fc2.*}. SiglipModel adds text_model.* (embeddings.token_embedding,
    embeddings.position_embedding, encoder.layers.N, final_layer_norm, head: Linear D -> D),
    logit_scale [1] and logit_bias [1]; SiglipForImageClassification adds classifier.{weight
    [L, D], bias} and keeps vision_model.head.* (built, saved, unused); no prefix: its keys start
    "vision_model." (base_model_prefix "siglip" is never an attribute), no text tower.
The forward pass, as HF runs it (eval mode, interpolate_pos_encoding=True):
    h        = Conv2d(C, D, kernel P, stride P, bias)(x).flatten(2).transpose(1, 2) + pos(H, W)
    pos      = position_embedding.weight unchanged when the input has the stated number of patches
               and H == W; else the g x g grid resized to (H // P, W // P) by
               F.interpolate(grid, size=..., mode="bicubic", align_corners=False) (antialias False,
               IN THE MODEL'S DTYPE: no float32 cast, so the float64 goldens resize in float64),
               raster order. (Older SigLIP code passed scale_factor = ((H//P + 0.1) / g, ...).)
               Without interpolate_pos_encoding HF adds the table as is (other sizes fail).
    per layer:  h = h + out_proj(attn(layer_norm1(h)));  h = h + fc2(gelu_tanh(fc1(layer_norm2(h))))
                attn: q/k/v_proj (with bias), softmax(q k^T * (D/H)^-0.5) v;
                gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ("gelu_pytorch_tanh")
    seq      = post_layernorm(h) over EVERY token (last_hidden_state)
    head     = MultiheadAttention(D, heads, batch_first)(probe, seq, seq): q = probe Wq^T + bq,
               k = seq Wk^T + bk, v = seq Wv^T + bv, softmax((q (D/H)^-0.5) k^T) v, out_proj;
               a = that;  a = a + mlp(layernorm(a));  pooled = a[:, 0]   (pooler_output: what
               SiglipModel.get_image_features returns; NOT L2-normalised)
    logits   = classifier(seq.mean(1))  (SiglipForImageClassification: the mean of every token,
               the head unused; transformers < 4.43 took seq[:, 1:].mean(1))
Every LayerNorm, the head's included, uses layer_norm_eps (SiglipVisionConfig default 1e-6).

SigLIP fixtures:

  siglip_full/     SiglipModel: image 32, patch 8 (4x4), hidden 64, 2 layers, 4 heads,
                   intermediate 128; run at 32. config.json as save_pretrained writes a
                   SiglipConfig: initializer_factor 1.0; vision_config / text_config hold only
                   non-default values and model_type, so hidden_act (gelu_pytorch_tanh),
                   layer_norm_eps (1e-6), num_channels (3) are OMITTED (and patch_size when 16).
                   Text tower: hidden 32, 1 layer, 2 heads, vocab 64, 16 positions; logit_scale
                   ln 10 + 0.1 N, logit_bias -10 + 0.1 N (Generator(seed + 2)). 512 kB.
  siglip_vision/   SiglipVisionModel (model_type "siglip_vision_model", every field at the top
                   level): stated 48, patch 16 (3x3), hidden 72, 2 layers, 6 heads (head dim
                   12), intermediate 120; run at 64 (4x4): the position resize is exercised. 695 kB.
  siglip_cls/      SiglipForImageClassification (config.json a SiglipConfig with id2label /
                   label2id, text_config {"model_type": "siglip_text_model"}): image 40, patch 8
                   (5x5), hidden 48, 2 layers, 4 heads (head dim 12), intermediate 96, 10 classes;
                   run at 40. 277 kB.

  preprocessor_config.json  SiglipImageProcessor: resize straight to {height, width} = S (the
                   run size; no crop), resample 3, rescale 1/255, mean / std 0.5,
                   do_convert_rgb null (its default)
  input.bin        float32 LE NCHW, batch 3, standard normal, at the run size
  golden.json      {"name", "architecture", "seed", "batch", "image_size" (the run size),
                    "stated_image_size", "resolved_config" (image_size, patch_size, num_channels,
                    hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
                    hidden_act, layer_norm_eps, vision_use_head (true), num_labels (0: no
                    classifier)), "pos_interpolation" {mode, align_corners, antialias, from, size,
                    dtype "model"},
                    "pooled" / "pooled_f32" [[...]] (pooler_output, the head's output),
                    "embeddings" / "embeddings_f32" (the same values as pooled, for the shared
                    family test harness),
                    "last_hidden_state_mean" / "..._f32" (mean of every post-layernormed token:
                    what the classifier sees),
                    "logits" / "logits_f32" and "top5" (siglip_cls only),
                    "pos_embed_resized" [N_run][D] (float64: the rows the float64 golden added;
                    siglip_vision only) and "pos_embed_resized_f32" (the float32 model's rows)}
Seeds and init as for CLIP; position table and probe N(0, 0.5^2); in_proj_weight N(0, 1/D).
Redrawn (seed + 1000) when pooled rows are too alike, any attention (the head's included) too
flat, the exact GELU (or, when resized, the old +0.1 scale_factor formula or antialias True) moves
the references by less than 100x float32's error, or the top-6 logits are too close. Printed:
how far those and eps 1e-5 and (siglip_cls) the pre-4.43 mean over tokens[1:] move them.
Checks: strict reload, float64 rerun bit-identical; the head recomputed with
torch.nn.MultiheadAttention itself loaded from the file (to 1e-10); numpy float64 bicubic within
1e-12 of pos_embed_resized; an independent numpy forward to 1e-10.

BEiT (family "beit"): this script's own minimal version of transformers' models/beit/modeling_beit.py
(BeitForImageClassification, use_mean_pooling), module names chosen so that state_dict keys are
HF's (the classic layout every Hub checkpoint has):
    beit.embeddings.{cls_token [1,1,D], patch_embeddings.projection.{weight,bias} (Conv2d, with
    bias), position_embeddings [1, 1 + N, D] (only with use_absolute_position_embeddings),
    mask_token [1,1,D] (only with use_mask_token: absent here)};
    beit.encoder.layer.{i}.{layernorm_before, layernorm_after}.*,
    .attention.attention.{query.{weight,bias}, key.weight (NO key bias), value.{weight,bias}},
    .attention.attention.relative_position_bias.relative_position_bias_table [(2Wh-1)(2Ww-1) + 3,
    heads] (per layer, use_relative_position_bias), .attention.output.dense.*,
    .intermediate.dense.*, .output.dense.*, .lambda_1 [D], .lambda_2 [D];
    beit.encoder.relative_position_bias.relative_position_bias_table (use_shared_relative_
    position_bias); beit.pooler.layernorm.* (no beit.layernorm: nn.Identity with mean pooling);
    classifier.{weight [L, D], bias}. Checkpoints converted by older transformers also carry
    ...relative_position_bias.relative_position_index, int64 [Wh*Ww + 1]^2, next to each table:
    current HF no longer has that buffer (it regenerates the index per input size and lists the
    key in _keys_to_ignore_on_load_unexpected).
The forward pass, as HF (4.45+) runs it (eval mode; interpolate_pos_encoding True or not: the
result is the same, see below):
    h        = cat([cls_token, Conv2d(C, D, P, P, bias)(x).flatten(2).transpose(1, 2)], 1) (+ pos)
    pos      = position_embeddings unchanged when the patch count matches and H == W; else row 0
               kept and the grid resized to (H//P, W//P) bicubic, align_corners False, antialias
               False, in the model's dtype (BEiT does this at every call, flag or not)
    bias     = per table, for the run grid (gh, gw) = (H//P, W//P) and the config's (Wh, Ww): the
               first (2Wh-1)(2Ww-1) rows viewed [1, 2Ww-1, 2Wh-1, heads] -> [1, heads, 2Ww-1, 2Wh-1],
               F.interpolate(size=(2gh-1, 2gw-1), mode="bilinear") (align_corners False,
               antialias False, model dtype; the identity at the config's size), back to rows
               (row-major), the 3 class rows appended unchanged; bias[h, i, j] = table[index[i, j],
               h], index as beit_relative_position_index below (class -> patch R, patch -> class
               R + 1, class -> class R + 2, R = (2gh-1)(2gw-1); patch pairs (dy + gh - 1) (2gw - 1)
               + (dx + gw - 1), (dy, dx) = query - key). interpolate_pos_encoding=True then
               resizes [heads, T, T] bilinear to (T, T): the same size, so nothing changes.
    per layer:  h = h + lambda_1 * dense(attn(layernorm_before(h)))
                h = h + lambda_2 * output.dense(gelu(intermediate.dense(layernorm_after(h))))
                attn: softmax(q k^T / sqrt(D/H) + own bias + shared bias) v; gelu exact (erf)
    pooled   = pooler.layernorm(h[:, 1:].mean(1))   (pooler_output; no norm over all tokens)
    logits   = classifier(pooled)
Every LayerNorm uses layer_norm_eps (BeitConfig default 1e-12). Softmax in the model's dtype.

BEiT fixtures:

  beit_cls/        per-layer relative position bias, no absolute positions: image 32, patch 8
                   (4x4; tables [52, 4]), hidden 48, 2 layers, 4 heads (head dim 12),
                   intermediate 96, 10 classes; run at 32. model.safetensors also holds each
                   layer's relative_position_index (int64 [17, 17], = the generated index), as
                   older checkpoints do. 203 kB.
  beit_shared/     shared relative position bias (beit.encoder.relative_position_bias) and
                   absolute position embeddings: stated 40, patch 8 (5x5; table [84, 5]), hidden
                   60, 3 layers, 5 heads (head dim 12), intermediate 120, 7 classes; run at 48
                   (6x6): the table is resized to 11 x 11 (+3 rows) and the positions to 6 x 6.
                   No relative_position_index. 417 kB.

  config.json      every BeitConfig field (sorted), the backbone fields (out_features /
                   out_indices = the last stage, stage_names), id2label / label2id
  preprocessor_config.json  BeitImageProcessor's defaults (resize 256 x 256, crop 224, resample 3,
                   rescale 1/255, mean / std 0.5, do_reduce_labels false) scaled to a crop of the
                   run size S: size round(S * 256 / 224) square
  input.bin        float32 LE NCHW, batch 3, standard normal, at the run size
  golden.json      {"name", "architecture", "seed", "batch", "image_size" (run size),
                    "stated_image_size", "resolved_config" (image_size, patch_size, num_channels,
                    hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
                    hidden_act, layer_norm_eps, use_absolute_position_embeddings,
                    use_relative_position_bias, use_shared_relative_position_bias,
                    layer_scale_init_value, use_mean_pooling, use_mask_token, num_labels),
                    "pos_interpolation" (with absolute positions), "rel_pos_interpolation"
                    {mode "bilinear", align_corners, antialias, from [2Wh-1, 2Ww-1], size, dtype},
                    "pooled" / "pooled_f32", "embeddings" / "embeddings_f32" (= pooled),
                    "logits" / "logits_f32", "top5", "last_hidden_state_cls" (float64);
                    when the run size differs (beit_shared): "pos_embed_resized" [1 + N_run][D]
                    (class row, then the resized grid; float64) and "pos_embed_resized_f32",
                    "relative_position_bias_tables_resized" {table's key: [rows][heads]}
                    (float64) and "..._f32", "relative_position_index_resized" [T][T]}
Seeds and init as for CLIP; cls_token, position_embeddings, relative_position_bias_table
N(0, 0.5^2); lambda_1 / lambda_2 = clamp(0.55 + 0.15 N, 0.1, 1) (not the config's 0.1). Redrawn
(seed + 1000) when pooled rows are too alike, attention too flat, the top-6 logits too close, or
one of these moves the references by less than 100x float32's error: lambdas ignored, lambdas =
layer_scale_init_value, the relative bias ignored, the class token in the pooled mean, and (when
resized) the table resized bicubic or with align_corners True. Printed as well: the absolute grid
resized in float32 (as newer ViT code does; below float32's error here). Checks: strict reload
(relative_position_index set aside and compared with the generated index), float64 rerun
bit-identical; the bias the model adds against a direct loop over token pairs; numpy float64
bilinear / bicubic resizes within 1e-12 of the stored tables / positions; an independent numpy
forward (bias by the direct loop) to 1e-10.
"""

import argparse
import json
import math
import os
import struct
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

# CLIPVisionConfig.__init__ defaults (transformers models/clip/configuration_clip.py)
VISION_DEFAULTS = OrderedDict([
    ("hidden_size", 768), ("intermediate_size", 3072), ("projection_dim", 512),
    ("num_hidden_layers", 12), ("num_attention_heads", 12), ("num_channels", 3),
    ("image_size", 224), ("patch_size", 32), ("hidden_act", "quick_gelu"),
    ("layer_norm_eps", 1e-5), ("attention_dropout", 0.0), ("initializer_range", 0.02),
    ("initializer_factor", 1.0),
])
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
TRANSFORMERS_VERSION = "4.40.0"
BATCH = 3
F32_ERR_MAX = 1e-3
VERIFY_TOL = 1e-10

FIXTURES = OrderedDict([
    ("clip_full", dict(
        architecture="CLIPModel", seed=6006,
        vision=dict(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=128, num_channels=3),
        projection_dim=48, position_ids=False,
        text=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                  num_hidden_layers=1, max_position_embeddings=16))),
    ("clip_vision_proj", dict(
        architecture="CLIPVisionModelWithProjection", seed=7007,
        vision=dict(image_size=48, patch_size=16, hidden_size=96, num_hidden_layers=3,
                    num_attention_heads=6, intermediate_size=160, num_channels=3),
        projection_dim=40, position_ids=True, text=None)),
])


MODEL_KEYS = ["image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
              "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps",
              "projection_dim"]


def resolved(spec, full=False):
    """The vision config the model runs with: the fixture's values over CLIPVisionConfig's
    defaults (full: every CLIPVisionConfig field, else only those that shape the forward pass)."""
    c = OrderedDict(VISION_DEFAULTS)
    c.update(spec["vision"])
    c["projection_dim"] = spec["projection_dim"]
    return c if full else OrderedDict((k, c[k]) for k in MODEL_KEYS)


# ----------------------------------------------------------------------------- model
# Attribute names follow modeling_clip.py so that state_dict() keys are HF's keys.


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, P, S = c["hidden_size"], c["patch_size"], c["image_size"]
        self.image_size = S
        self.class_embedding = nn.Parameter(torch.zeros(D))
        self.patch_embedding = nn.Conv2d(c["num_channels"], D, kernel_size=P, stride=P, bias=False)
        n_pos = (S // P) ** 2 + 1
        self.position_embedding = nn.Embedding(n_pos, D)
        # non-persistent in current transformers (absent from new checkpoints, present in old)
        self.register_buffer("position_ids", torch.arange(n_pos).unsqueeze(0), persistent=False)

    def forward(self, x):
        b, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError("input %dx%d, model %d" % (h, w, self.image_size))
        patches = self.patch_embedding(x).flatten(2).transpose(1, 2)  # [B, N, D], raster order
        cls = self.class_embedding.view(1, 1, -1).expand(b, 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, H = c["hidden_size"], c["num_attention_heads"]
        assert D % H == 0
        self.heads, self.head_dim = H, D // H
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, D)
        self.v_proj = nn.Linear(D, D)
        self.out_proj = nn.Linear(D, D)
        self.last_weights = None

    def forward(self, x):
        b, t, d = x.shape

        def split(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        self.last_weights = w
        o = torch.matmul(w, v).transpose(1, 2).reshape(b, t, d)
        return self.out_proj(o)


class MLP(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        self.fc1 = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.act = act
        self.fc2 = nn.Linear(c["intermediate_size"], c["hidden_size"])

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.self_attn = Attention(c)
        self.layer_norm1 = nn.LayerNorm(D, eps=eps)
        self.mlp = MLP(c, act)
        self.layer_norm2 = nn.LayerNorm(D, eps=eps)

    def forward(self, h):
        h = h + self.self_attn(self.layer_norm1(h))
        return h + self.mlp(self.layer_norm2(h))


class Encoder(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(c, act) for _ in range(c["num_hidden_layers"])])

    def forward(self, h):
        for layer in self.layers:
            h = layer(h)
        return h


class VisionTransformer(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.embeddings = VisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(D, eps=eps)  # sic: HF's name
        self.encoder = Encoder(c, act)
        self.post_layernorm = nn.LayerNorm(D, eps=eps)

    def forward(self, x):
        h = self.encoder(self.pre_layrnorm(self.embeddings(x)))
        return h, self.post_layernorm(h[:, 0, :])


class ClipImageTower(nn.Module):
    """vision_model + visual_projection: CLIPModel's image half, or CLIPVisionModelWithProjection."""

    def __init__(self, c, act=None):
        super().__init__()
        if c["hidden_act"] != "quick_gelu":
            raise ValueError("hidden_act %r: CLIP image towers run quick_gelu" % c["hidden_act"])
        act = QuickGELU() if act is None else act  # (another act only to measure its effect)
        self.vision_model = VisionTransformer(c, act)
        self.visual_projection = nn.Linear(c["hidden_size"], c["projection_dim"], bias=False)

    def forward(self, x):
        last, pooled = self.vision_model(x)
        return OrderedDict([("image_embeds", self.visual_projection(pooled)), ("pooled", pooled),
                            ("last_hidden_state", last)])


def build(c, act=None, eps=None):
    if eps is not None:
        c = OrderedDict(c)
        c["layer_norm_eps"] = eps
    return ClipImageTower(c, act).eval()


def draw_params(model, gen):
    """Redraw every parameter (float32) from gen, in state_dict order (make_fixtures.py's scheme)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("class_embedding") or name.endswith("position_embedding.weight"):
                p.copy_(0.5 * r)
            elif "layer_norm" in name or "layrnorm" in name:
                p.copy_(1.0 + 0.1 * r if name.endswith(".weight") else 0.05 * r)
            elif name.endswith(".weight"):  # conv [D, C, P, P] / linear [out, in]
                p.copy_(r / math.sqrt(p[0].numel()))
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            else:
                raise AssertionError(name)
    return model


def text_tensors(t, projection_dim, gen):
    """A small random CLIP text tower under HF's names (present in CLIPModel files; ignored)."""
    D, Fi, V, L = t["hidden_size"], t["intermediate_size"], t["vocab_size"], t["max_position_embeddings"]
    shapes = OrderedDict()
    shapes["text_model.embeddings.token_embedding.weight"] = [V, D]
    shapes["text_model.embeddings.position_embedding.weight"] = [L, D]
    for i in range(t["num_hidden_layers"]):
        p = "text_model.encoder.layers.%d." % i
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[p + "self_attn.%s.weight" % n] = [D, D]
            shapes[p + "self_attn.%s.bias" % n] = [D]
        for n in ("layer_norm1", "layer_norm2"):
            shapes[p + n + ".weight"] = [D]
            shapes[p + n + ".bias"] = [D]
        shapes[p + "mlp.fc1.weight"] = [Fi, D]
        shapes[p + "mlp.fc1.bias"] = [Fi]
        shapes[p + "mlp.fc2.weight"] = [D, Fi]
        shapes[p + "mlp.fc2.bias"] = [D]
    shapes["text_model.final_layer_norm.weight"] = [D]
    shapes["text_model.final_layer_norm.bias"] = [D]
    shapes["text_projection.weight"] = [projection_dim, D]
    shapes["logit_scale"] = []
    out = OrderedDict()
    for name, shape in shapes.items():
        r = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name == "logit_scale":
            out[name] = math.log(100.0) + 0.1 * r  # trained CLIPs sit near ln(100)
        elif "norm" in name:
            out[name] = 1.0 + 0.1 * r if name.endswith(".weight") else 0.05 * r
        elif name.endswith(".bias"):
            out[name] = 0.1 * r
        elif "embedding" in name:
            out[name] = 0.02 * r
        else:
            out[name] = r / math.sqrt(shape[1])
    return out


# ----------------------------------------------------------------------------- configs


def hf_json(obj):
    """transformers' to_json_string: indent 2, sorted keys."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def config_json(name, spec):
    v = spec["vision"]
    if spec["architecture"] == "CLIPModel":
        t = spec["text"]
        # save_pretrained writes only the sub-config values that differ from the class defaults
        # (hidden_act, layer_norm_eps, num_channels, projection_dim of vision_config: defaults).
        vision = OrderedDict((k, v[k]) for k in v if v[k] != VISION_DEFAULTS.get(k))
        vision["model_type"] = "clip_vision_model"
        text = OrderedDict(t)
        text.update([("bos_token_id", t["vocab_size"] - 2), ("eos_token_id", t["vocab_size"] - 1),
                     ("model_type", "clip_text_model")])
        return OrderedDict([
            ("architectures", ["CLIPModel"]), ("initializer_factor", 1.0),
            ("logit_scale_init_value", 2.6592), ("model_type", "clip"),
            ("projection_dim", spec["projection_dim"]), ("text_config", text),
            ("torch_dtype", "float32"), ("transformers_version", TRANSFORMERS_VERSION),
            ("vision_config", vision),
        ])
    assert spec["architecture"] == "CLIPVisionModelWithProjection"
    c = OrderedDict([("architectures", ["CLIPVisionModelWithProjection"]),
                     ("model_type", "clip_vision_model"), ("dropout", 0.0)])
    c.update(resolved(spec, full=True))
    c.update([("torch_dtype", "float32"), ("transformers_version", TRANSFORMERS_VERSION)])
    return c


def preprocessor_json(S):
    return OrderedDict([
        ("crop_size", OrderedDict([("height", S), ("width", S)])), ("do_center_crop", True),
        ("do_convert_rgb", True), ("do_normalize", True), ("do_rescale", True),
        ("do_resize", True), ("image_mean", OPENAI_CLIP_MEAN),
        ("image_processor_type", "CLIPImageProcessor"), ("image_std", OPENAI_CLIP_STD),
        ("resample", 3), ("rescale_factor", 1 / 255), ("size", {"shortest_edge": S}),
    ])


# ----------------------------------------------------------------------------- safetensors

DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}


def st_bytes(tensors):
    """name -> torch tensor (float32 / int64) -> safetensors bytes, metadata {"format": "pt"}.

    Ordered as the safetensors library orders a file (larger dtypes first, then by name; the
    header lists them in that order). All-F32 files go through make_fixtures.py's writer; the
    one with an int64 tensor is laid out the same way here (that writer only knows F32)."""
    def arr(t):
        a = t.detach().cpu().numpy()
        # np.array, not np.ascontiguousarray: that one turns logit_scale's 0-d shape into [1]
        return np.array(a, dtype="<i8" if a.dtype.kind == "i" else "<f4", order="C")

    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    arrays = OrderedDict((k, arr(tensors[k])) for k in order)
    meta = OrderedDict([("format", "pt")])
    if all(DTYPES[a.dtype] == "F32" for a in arrays.values()):
        return mf.safetensors_bytes(arrays, meta)
    header = OrderedDict([("__metadata__", meta)])
    off = 0
    for name, a in arrays.items():
        header[name] = OrderedDict([("dtype", DTYPES[a.dtype]), ("shape", list(a.shape)),
                                    ("data_offsets", [off, off + a.nbytes])])
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    return b"".join([struct.pack("<Q", len(h)), h] + [a.tobytes(order="C") for a in arrays.values()])


def read_st(path):
    """Strict parse -> (metadata, OrderedDict name -> torch tensor)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0 and 8 + n <= len(buf)
    header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__")
    data, expect, out = buf[8 + n:], 0, OrderedDict()
    np_of = {"F32": "<f4", "I64": "<i8"}
    for name, info in header.items():
        b, e = info["data_offsets"]
        assert b == expect, name
        a = np.frombuffer(data[b:e], dtype=np_of[info["dtype"]])
        assert a.nbytes == e - b and a.size == int(np.prod(info["shape"], dtype=np.int64)), name
        out[name] = torch.from_numpy(a.reshape(info["shape"]).copy())
        expect = e
    assert expect == len(data), "trailing bytes"
    return meta, out


# ----------------------------------------------------------------------------- goldens


def run(model, x):
    with torch.no_grad():
        return model(x)


def as64(model32, c, act=None, eps=None):
    m = build(c, act, eps)
    m.load_state_dict(model32.state_dict())
    return m.double().eval()


def degenerate(c, m32, m64, x, out64, out32):
    """None if the draw is a useful test, else why not."""
    e = out64["image_embeds"]
    B = e.shape[0]
    spread = min((e[i] - e[j]).abs().max().item() for i in range(B) for j in range(i + 1, B))
    if spread < 0.1 * e.abs().max().item():
        return "embedding rows too alike (%.3g)" % spread
    T = m64.vision_model.embeddings.position_embedding.weight.shape[0]
    peak = min(L.self_attn.last_weights.max(-1).values.mean().item()
               for L in m64.vision_model.encoder.layers)
    if peak < 2.0 / T:
        return "attention too flat (mean peak %.3g vs uniform %.3g)" % (peak, 1.0 / T)
    err32 = (out32["image_embeds"].double() - e).abs().max().item()
    gelu = run(as64(m32, c, act=nn.GELU()), x)["image_embeds"]
    if (gelu - e).abs().max().item() < 100 * err32:
        return "quick_gelu vs GELU only %.3g apart" % (gelu - e).abs().max().item()
    return None


def numpy_forward(c, t, x):
    """Independent float64 forward on the file's tensors (HF names, [out, in] weights)."""
    f = lambda n: t[n].double().numpy()
    B, C, S, _ = x.shape
    P, D, H = c["patch_size"], c["hidden_size"], c["num_attention_heads"]
    G, Dh, eps = S // P, D // H, c["layer_norm_eps"]
    pre = "vision_model."
    pt = x.reshape(B, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, G * G, C * P * P)
    h = pt @ f(pre + "embeddings.patch_embedding.weight").reshape(D, C * P * P).T
    cls = np.broadcast_to(f(pre + "embeddings.class_embedding"), (B, 1, D))
    h = np.concatenate([cls, h], axis=1) + f(pre + "embeddings.position_embedding.weight")

    def ln(v, n):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + eps) * f(n + ".weight") + f(n + ".bias")

    def lin(v, n):
        return v @ f(n + ".weight").T + f(n + ".bias")

    h = ln(h, pre + "pre_layrnorm")
    T = h.shape[1]
    for i in range(c["num_hidden_layers"]):
        p = pre + "encoder.layers.%d." % i
        y = ln(h, p + "layer_norm1")
        q, k, v = (lin(y, p + "self_attn.%s_proj" % n).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)
                   for n in "qkv")
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        h = h + lin((s @ v).transpose(0, 2, 1, 3).reshape(B, T, D), p + "self_attn.out_proj")
        y = lin(ln(h, p + "layer_norm2"), p + "mlp.fc1")
        y = y / (1.0 + np.exp(-1.702 * y))
        h = h + lin(y, p + "mlp.fc2")
    pooled = ln(h[:, 0], pre + "post_layernorm")
    return pooled @ f("visual_projection.weight").T, pooled, h[:, 0]


def make_fixture(name, spec, out_root, files):
    t0 = time.time()
    c = resolved(spec)
    S, C = c["image_size"], c["num_channels"]
    seed = spec["seed"]
    for _ in range(mf.MAX_ATTEMPTS):
        m32 = draw_params(build(c), torch.Generator().manual_seed(seed))
        x32 = torch.randn((BATCH, C, S, S), generator=torch.Generator().manual_seed(seed + 1))
        m64 = as64(m32, c)
        out64 = run(m64, x32.double())
        out32 = run(m32, x32)
        why = degenerate(c, m32, m64, x32.double(), out64, out32)
        if why is None:
            break
        print("%s seed %d: %s, reseeding" % (name, seed, why))
        seed += mf.SEED_BUMP
    else:
        raise RuntimeError("%s: no usable seed" % name)

    tensors = OrderedDict((k, v.detach().clone()) for k, v in m32.state_dict().items())
    if spec["position_ids"]:
        tensors["vision_model.embeddings.position_ids"] = m32.vision_model.embeddings.position_ids.clone()
    if spec["text"] is not None:
        tensors.update(text_tensors(spec["text"], spec["projection_dim"],
                                    torch.Generator().manual_seed(seed + 2)))

    e64, e32 = out64["image_embeds"], out32["image_embeds"]
    g = OrderedDict()
    g["name"] = name
    g["architecture"] = spec["architecture"]
    g["seed"] = seed
    g["batch"] = BATCH
    g["image_size"] = S
    g["resolved_config"] = c
    g["embeddings"] = e64.tolist()
    g["embeddings_f32"] = e32.double().tolist()
    g["pooled"] = out64["pooled"].tolist()
    g["pooled_f32"] = out32["pooled"].double().tolist()
    g["last_hidden_state_cls"] = out64["last_hidden_state"][:, 0].tolist()

    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    for fname, data in [
        ("config.json", hf_json(config_json(name, spec))),
        ("preprocessor_config.json", hf_json(preprocessor_json(S))),
        ("model.safetensors", st_bytes(tensors)),
        ("input.bin", x32.numpy().astype("<f4").tobytes()),
        ("golden.json", (json.dumps(g) + "\n").encode("utf-8")),
    ]:
        mf.atomic_write(os.path.join(folder, fname), data)
        files.append((os.path.join(folder, fname), len(data)))

    # how far the references move under the two mistakes a converter could make
    gelu = run(as64(m32, c, act=nn.GELU()), x32.double())["image_embeds"]
    eps6 = run(as64(m32, c, eps=1e-6), x32.double())["image_embeds"]
    err = (e32.double() - e64).abs().max().item()
    print("%-17s seed %d, %d tensors, max|embed| %.4f; max|f32 - f64| embeddings %.3g, pooled %.3g;"
          " exact GELU moves embeddings by %.3g, eps 1e-6 by %.3g; %.2fs"
          % (name, seed, len(tensors), e64.abs().max().item(), err,
             (out32["pooled"].double() - out64["pooled"]).abs().max().item(),
             (gelu - e64).abs().max().item(), (eps6 - e64).abs().max().item(), time.time() - t0))


def verify(name, spec, out_root):
    """Re-read the folder: strict load into a fresh model, rerun; independent numpy forward."""
    folder = os.path.join(out_root, name)
    meta, t = read_st(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "golden.json")) as fh:
        g = json.load(fh)
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    assert meta == {"format": "pt"}
    c = OrderedDict(VISION_DEFAULTS)
    if cfg["model_type"] == "clip":
        assert cfg["architectures"] == ["CLIPModel"]
        c.update((k, v) for k, v in cfg["vision_config"].items() if k in c)
        c["projection_dim"] = cfg["projection_dim"]  # CLIPModel's, not vision_config's
    else:
        assert cfg["model_type"] == "clip_vision_model"
        c.update((k, v) for k, v in cfg.items() if k in c)
    c = OrderedDict((k, c[k]) for k in MODEL_KEYS)
    assert c == OrderedDict(g["resolved_config"]), (c, g["resolved_config"])

    pid = t.pop("vision_model.embeddings.position_ids", None)
    assert (pid is not None) == spec["position_ids"]
    if pid is not None:
        assert pid.dtype == torch.int64 and pid.tolist() == [list(range(pid.shape[1]))]
    vision = OrderedDict((k, v) for k, v in t.items()
                         if k.startswith("vision_model.") or k == "visual_projection.weight")
    others = sorted(set(t) - set(vision))
    assert (len(others) > 0) == (spec["text"] is not None), others
    assert all(k.startswith("text_") or k == "logit_scale" for k in others), others
    m = build(c).double()
    m.load_state_dict(OrderedDict((k, v.double()) for k, v in vision.items()), strict=True)
    S, C = c["image_size"], c["num_channels"]
    x = np.fromfile(os.path.join(folder, "input.bin"), dtype="<f4")
    assert x.size == g["batch"] * C * S * S
    x = torch.from_numpy(x.reshape(g["batch"], C, S, S).astype(np.float64))
    out = run(m, x)
    same = (out["image_embeds"].tolist() == g["embeddings"] and out["pooled"].tolist() == g["pooled"]
            and out["last_hidden_state"][:, 0].tolist() == g["last_hidden_state_cls"])
    ne, npool, ncls = numpy_forward(c, vision, x.numpy())
    errs = [np.abs(ne - np.array(g["embeddings"])).max(), np.abs(npool - np.array(g["pooled"])).max(),
            np.abs(ncls - np.array(g["last_hidden_state_cls"])).max()]
    ok = same and max(errs) <= VERIFY_TOL
    print("%-17s verify %s: reloaded model bit-identical %s, numpy forward max err %.2e"
          % (name, "OK" if ok else "FAILED", same, max(errs)))
    return ok


# ============================================================================= DINOv2
# Dinov2Config / Dinov2WithRegistersConfig.__init__ defaults (transformers
# models/dinov2/configuration_dinov2.py, models/dinov2_with_registers/...). Only the
# registers config's patch_size (16) and its num_register_tokens (4) differ.

DINO_DEFAULTS = OrderedDict([
    ("hidden_size", 768), ("num_hidden_layers", 12), ("num_attention_heads", 12), ("mlp_ratio", 4),
    ("hidden_act", "gelu"), ("hidden_dropout_prob", 0.0), ("attention_probs_dropout_prob", 0.0),
    ("initializer_range", 0.02), ("layer_norm_eps", 1e-6), ("image_size", 224), ("patch_size", 14),
    ("num_channels", 3), ("qkv_bias", True), ("layerscale_value", 1.0), ("drop_path_rate", 0.0),
    ("use_swiglu_ffn", False),
])
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
DINO_BATCH = 2
# the first ImageNet-1k names, as the facebook/dinov2-*-imagenet1k-1-layer configs spell them
IMAGENET_LABELS = [
    "tench, Tinca tinca", "goldfish, Carassius auratus",
    "great white shark, white shark, man-eater, man-eating shark, Carcharodon carcharias",
    "tiger shark, Galeocerdo cuvieri", "hammerhead, hammerhead shark",
    "electric ray, crampfish, numbfish, torpedo", "stingray", "cock", "hen",
    "ostrich, Struthio camelus",
]

# per architecture: model_type, the attribute the backbone sits under (base_model_prefix, None
# for the bare model), and whether it has registers and the classifier head
DINO_ARCHS = OrderedDict([
    ("Dinov2Model", dict(model_type="dinov2", prefix=None, registers=False, head=False)),
    ("Dinov2ForImageClassification",
     dict(model_type="dinov2", prefix="dinov2", registers=False, head=True)),
    ("Dinov2WithRegistersForImageClassification",
     dict(model_type="dinov2_with_registers", prefix="dinov2_with_registers", registers=True,
          head=True)),
    ("Dinov2WithRegistersModel",
     dict(model_type="dinov2_with_registers", prefix=None, registers=True, head=False)),
])
# interpolate_pos_encoding's antialias, per class (HF hard-codes it; no config field)
DINO_ANTIALIAS = {"dinov2": False, "dinov2_with_registers": True}

DINO_FIXTURES = OrderedDict([
    ("dinov2_model", dict(
        architecture="Dinov2Model", seed=8008, run_size=40, num_labels=0,
        transformers_version="4.31.0.dev0", backbone_fields=False,
        config=dict(image_size=56, patch_size=8, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=4, mlp_ratio=4))),
    ("dinov2_cls", dict(
        architecture="Dinov2ForImageClassification", seed=9009, run_size=36, num_labels=10,
        transformers_version="4.40.0", backbone_fields=True,
        config=dict(image_size=42, patch_size=6, hidden_size=48, num_hidden_layers=3,
                    num_attention_heads=3, mlp_ratio=4))),
    ("dinov2_reg_cls", dict(
        architecture="Dinov2WithRegistersForImageClassification", seed=10010, run_size=48,
        num_labels=7, transformers_version="4.48.0.dev0", backbone_fields=True,
        config=dict(image_size=56, patch_size=8, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=4, mlp_ratio=4, num_register_tokens=4))),
    ("dinov2_swiglu_cls", dict(
        architecture="Dinov2ForImageClassification", seed=14014, run_size=48, num_labels=10,
        transformers_version="4.31.0.dev0", backbone_fields=False,
        config=dict(image_size=56, patch_size=8, hidden_size=56, num_hidden_layers=3,
                    num_attention_heads=4, mlp_ratio=4, use_swiglu_ffn=True))),
    ("dinov2_reg_swiglu", dict(
        architecture="Dinov2WithRegistersModel", seed=16016, run_size=36, num_labels=0,
        transformers_version="4.48.0.dev0", backbone_fields=True,
        config=dict(image_size=42, patch_size=6, hidden_size=40, num_hidden_layers=2,
                    num_attention_heads=5, mlp_ratio=4, num_register_tokens=2,
                    use_swiglu_ffn=True))),
])

DINO_MODEL_KEYS = ["image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
                   "num_attention_heads", "mlp_ratio", "hidden_act", "layer_norm_eps", "qkv_bias",
                   "layerscale_value", "use_swiglu_ffn", "num_register_tokens", "num_labels"]


def dino_resolved(spec, full=False):
    """What the forward pass runs with: the fixture's values over the config class's defaults
    (full: every __init__ field of DINO_DEFAULTS as well). num_register_tokens is 0 for the plain
    Dinov2 classes (their config has no such field); num_labels 0 for the bare model (no head)."""
    arch = DINO_ARCHS[spec["architecture"]]
    c = OrderedDict(DINO_DEFAULTS)
    c["num_register_tokens"] = 4 if arch["registers"] else 0
    if arch["registers"]:
        c["patch_size"] = 16
    c.update(spec["config"])
    c["num_labels"] = spec["num_labels"]
    return c if full else OrderedDict((k, c[k]) for k in DINO_MODEL_KEYS)


# ----------------------------------------------------------------------------- DINOv2 model
# Attribute names follow modeling_dinov2.py / modeling_dinov2_with_registers.py so that
# state_dict() keys are HF's keys. `var` selects a deliberate deviation, only to measure how far
# the references move under it: "aa_flip" (the other antialias), "legacy_offset" (older HF
# Dinov2: scale_factor = (grid + 0.1) / sqrt(N) instead of size=), "interp_f64" (the resize in
# the model's dtype instead of float32), "no_layerscale" (lambda1 ignored), "mean_with_registers"
# (the classifier's patch mean taken over sequence[:, 1:], registers included), "swiglu_swap"
# (silu(x2) * x1: the halves of weights_in's output the other way round).


class DinoPatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        P = c["patch_size"]
        self.projection = nn.Conv2d(c["num_channels"], c["hidden_size"], kernel_size=P, stride=P)

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)  # [B, gh*gw, D], raster order


class DinoEmbeddings(nn.Module):
    def __init__(self, c, antialias, var):
        super().__init__()
        D, R = c["hidden_size"], c["num_register_tokens"]
        self.patch_size, self.antialias, self.var = c["patch_size"], antialias, var
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.mask_token = nn.Parameter(torch.zeros(1, D))  # in checkpoints; unused at inference
        if R > 0:
            self.register_tokens = nn.Parameter(torch.zeros(1, R, D))
        self.patch_embeddings = DinoPatchEmbeddings(c)
        n = (c["image_size"] // c["patch_size"]) ** 2
        self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, D))
        self.last_pos = None

    def interpolate_pos_encoding(self, n_tokens, h, w):
        """The position embeddings for an h x w input ([1, 1 + gh*gw, D], model dtype)."""
        pos = self.position_embeddings
        n_pos = pos.shape[1] - 1
        if n_tokens - 1 == n_pos and h == w:  # HF returns the table untouched (not tracing)
            return pos
        g = int(math.sqrt(n_pos))
        D = pos.shape[-1]
        gh, gw = h // self.patch_size, w // self.patch_size
        grid = pos[:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
        dtype = grid.dtype
        if self.var != "interp_f64":
            grid = grid.to(torch.float32)  # HF resizes in float32 whatever the model's dtype
        aa = (not self.antialias) if self.var == "aa_flip" else self.antialias
        if self.var == "legacy_offset":
            grid = nn.functional.interpolate(
                grid, scale_factor=(float((gh + 0.1) / math.sqrt(n_pos)),
                                    float((gw + 0.1) / math.sqrt(n_pos))),
                mode="bicubic", align_corners=False, antialias=aa)
        else:
            grid = nn.functional.interpolate(grid, size=(gh, gw), mode="bicubic",
                                             align_corners=False, antialias=aa)
        assert grid.shape[-2:] == (gh, gw)
        grid = grid.to(dtype).permute(0, 2, 3, 1).reshape(1, gh * gw, D)
        return torch.cat([pos[:, :1], grid], dim=1)

    def forward(self, x):
        b, _, h, w = x.shape
        e = self.patch_embeddings(x.to(self.patch_embeddings.projection.weight.dtype))
        e = torch.cat([self.cls_token.expand(b, -1, -1), e], dim=1)
        pos = self.interpolate_pos_encoding(e.shape[1], h, w)
        self.last_pos = pos
        e = e + pos
        if hasattr(self, "register_tokens"):  # after the positions: registers carry none
            e = torch.cat([e[:, :1], self.register_tokens.expand(b, -1, -1), e[:, 1:]], dim=1)
        return e


class DinoSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, H = c["hidden_size"], c["num_attention_heads"]
        assert D % H == 0
        self.heads, self.head_dim = H, D // H
        self.scale = self.head_dim ** -0.5
        self.query = nn.Linear(D, D, bias=c["qkv_bias"])
        self.key = nn.Linear(D, D, bias=c["qkv_bias"])
        self.value = nn.Linear(D, D, bias=c["qkv_bias"])
        self.last_weights = None

    def forward(self, x):
        b, t, d = x.shape

        def split(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        self.last_weights = w
        return torch.matmul(w, v).transpose(1, 2).reshape(b, t, d)


class DinoSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return self.dense(x)


class DinoAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = DinoSelfAttention(c)
        self.output = DinoSelfOutput(c)

    def forward(self, x):
        return self.output(self.attention(x))


class DinoLayerScale(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        self.lambda1 = nn.Parameter(torch.ones(c["hidden_size"]))
        self.var = var

    def forward(self, x):
        return x if self.var == "no_layerscale" else x * self.lambda1


class DinoMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["hidden_size"]
        F = int(D * c["mlp_ratio"])
        self.fc1 = nn.Linear(D, F)
        self.fc2 = nn.Linear(F, D)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))  # "gelu": exact (erf) GELU


def swiglu_hidden(c):
    """Dinov2SwiGLUFFN's H: int(D * mlp_ratio), then (int(that * 2 / 3) + 7) // 8 * 8."""
    hidden = int(c["hidden_size"] * c["mlp_ratio"])
    return (int(hidden * 2 / 3) + 7) // 8 * 8


class DinoSwiGLUFFN(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        D, H = c["hidden_size"], swiglu_hidden(c)
        self.var = var
        self.weights_in = nn.Linear(D, 2 * H)
        self.weights_out = nn.Linear(H, D)

    def forward(self, x):
        x1, x2 = self.weights_in(x).chunk(2, dim=-1)
        if self.var == "swiglu_swap":
            x1, x2 = x2, x1
        return self.weights_out(nn.functional.silu(x1) * x2)


class DinoLayer(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.norm1 = nn.LayerNorm(D, eps=eps)
        self.attention = DinoAttention(c)
        self.layer_scale1 = DinoLayerScale(c, var)
        self.norm2 = nn.LayerNorm(D, eps=eps)
        self.mlp = DinoSwiGLUFFN(c, var) if c["use_swiglu_ffn"] else DinoMLP(c)
        self.layer_scale2 = DinoLayerScale(c, var)

    def forward(self, h):
        h = h + self.layer_scale1(self.attention(self.norm1(h)))
        return h + self.layer_scale2(self.mlp(self.norm2(h)))


class DinoEncoder(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        self.layer = nn.ModuleList([DinoLayer(c, var) for _ in range(c["num_hidden_layers"])])

    def forward(self, h):
        for layer in self.layer:
            h = layer(h)
        return h


class DinoModel(nn.Module):
    """Dinov2Model / Dinov2WithRegistersModel: last_hidden_state = layernorm(encoder output) over
    every token; pooler_output = its row 0 (the final-norm class token)."""

    def __init__(self, c, antialias, var):
        super().__init__()
        self.embeddings = DinoEmbeddings(c, antialias, var)
        self.encoder = DinoEncoder(c, var)
        self.layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x):
        seq = self.layernorm(self.encoder(self.embeddings(x)))
        return seq, seq[:, 0]


class DinoClassifier(nn.Module):
    """...ForImageClassification: classifier(cat(seq[:, 0], seq[:, 1 + R:].mean(1))) on the
    final-norm sequence; the backbone under base_model_prefix."""

    def __init__(self, c, prefix, antialias, var):
        super().__init__()
        self.prefix, self.var, self.R = prefix, var, c["num_register_tokens"]
        setattr(self, prefix, DinoModel(c, antialias, var))
        self.classifier = nn.Linear(2 * c["hidden_size"], c["num_labels"])

    def forward(self, x):
        seq, pooled = getattr(self, self.prefix)(x)
        start = 1 if self.var == "mean_with_registers" else 1 + self.R
        return seq, pooled, self.classifier(torch.cat([seq[:, 0], seq[:, start:].mean(dim=1)], 1))


def dino_build(c, architecture, var=None):
    arch = DINO_ARCHS[architecture]
    if c["hidden_act"] != "gelu":
        raise ValueError("only the GELU MLP (or SwiGLU, which reads no hidden_act) is written here")
    aa = DINO_ANTIALIAS[arch["model_type"]]
    if arch["head"]:
        return DinoClassifier(c, arch["prefix"], aa, var).eval()
    assert arch["prefix"] is None
    return DinoModel(c, aa, var).eval()


def dino_backbone(model):
    return getattr(model, model.prefix) if isinstance(model, DinoClassifier) else model


def dino_run(model, x):
    with torch.no_grad():
        out = model(x)
    r = OrderedDict([("embeddings", out[1]), ("last_hidden_state", out[0])])
    if len(out) == 3:
        r["logits"] = out[2]
    r["pos"] = dino_backbone(model).embeddings.last_pos[0]
    return r


def dino_as64(model32, c, architecture, var=None):
    m = dino_build(c, architecture, var)
    m.load_state_dict(model32.state_dict())
    return m.double().eval()


def dino_draw_params(model, gen):
    """Redraw every parameter (float32) from gen in state_dict order: the CLIP scheme above, and
    layer scales lambda1 = clamp(0.55 + 0.15 N, 0.1, 1) (not 1: a converter that drops them
    fails), register and mask tokens N(0, 0.5^2) like the class token."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("cls_token", "mask_token", "register_tokens", "position_embeddings"):
                p.copy_(0.5 * r)
            elif leaf == "lambda1":
                p.copy_((0.55 + 0.15 * r).clamp(0.1, 1.0))
            elif "norm" in name:  # norm1, norm2, layernorm
                p.copy_(1.0 + 0.1 * r if leaf == "weight" else 0.05 * r)
            elif leaf == "weight":  # conv [D, C, P, P] / linear [out, in]
                p.copy_(r / math.sqrt(p[0].numel()))
            elif leaf == "bias":
                p.copy_(0.1 * r)
            else:
                raise AssertionError(name)
    return model


# ----------------------------------------------------------------------------- DINOv2 configs


def dino_config_json(spec):
    """config.json as save_pretrained writes these classes (every __init__ field, sorted). The
    original facebook/dinov2-* files (4.31.0.dev0) have no backbone fields; files saved since
    Dinov2Config became a BackboneConfigMixin also carry apply_layernorm, out_features,
    out_indices, reshape_hidden_states, stage_names (a converter ignores them)."""
    arch = DINO_ARCHS[spec["architecture"]]
    c = dino_resolved(spec, full=True)
    cfg = OrderedDict([("architectures", [spec["architecture"]]),
                       ("model_type", arch["model_type"])])
    for k in DINO_DEFAULTS:
        cfg[k] = c[k]
    if arch["registers"]:
        cfg["num_register_tokens"] = c["num_register_tokens"]
    L = c["num_hidden_layers"]
    if spec["backbone_fields"]:
        cfg.update([("apply_layernorm", True), ("out_features", ["stage%d" % L]),
                    ("out_indices", [L]), ("reshape_hidden_states", True),
                    ("stage_names", ["stem"] + ["stage%d" % i for i in range(1, L + 1)])])
    if spec["num_labels"]:
        names = IMAGENET_LABELS[:spec["num_labels"]]
        cfg["id2label"] = OrderedDict((str(i), n) for i, n in enumerate(names))
        cfg["label2id"] = OrderedDict((n, i) for i, n in enumerate(names))
    cfg.update([("torch_dtype", "float32"), ("transformers_version", spec["transformers_version"])])
    return cfg


def dino_preprocessor_json(S):
    """BitImageProcessor as facebook/dinov2-* ship it (shortest_edge 256, crop 224, bicubic,
    ImageNet mean/std), scaled to a crop of S: shortest_edge round(S * 256 / 224)."""
    return OrderedDict([
        ("crop_size", OrderedDict([("height", S), ("width", S)])), ("do_center_crop", True),
        ("do_convert_rgb", True), ("do_normalize", True), ("do_rescale", True),
        ("do_resize", True), ("image_mean", IMAGENET_MEAN),
        ("image_processor_type", "BitImageProcessor"), ("image_std", IMAGENET_STD),
        ("resample", 3), ("rescale_factor", 1 / 255),
        ("size", {"shortest_edge": int(round(S * 256 / 224))}),
    ])


# ----------------------------------------------------------------------------- DINOv2 goldens


def dino_degenerate(c, spec, m64, out64, out32, moved):
    """None if the draw is a useful test, else why not."""
    e = out64["embeddings"]
    B = e.shape[0]
    spread = min((e[i] - e[j]).abs().max().item() for i in range(B) for j in range(i + 1, B))
    if spread < 0.1 * e.abs().max().item():
        return "embedding rows too alike (%.3g)" % spread
    T = out64["last_hidden_state"].shape[1]
    peak = min(L.attention.attention.last_weights.max(-1).values.mean().item()
               for L in dino_backbone(m64).encoder.layer)
    if peak < 2.0 / T:
        return "attention too flat (mean peak %.3g vs uniform %.3g)" % (peak, 1.0 / T)
    err32 = (out32["embeddings"].double() - e).abs().max().item()
    for var in ("aa_flip", "no_layerscale") + (("swiglu_swap",) if c["use_swiglu_ffn"] else ()):
        if moved[var] < 100 * err32:
            return "%s moves the embeddings only %.3g" % (var, moved[var])
    if "logits" in out64:
        gap, mx = mf.top_gap(out64["logits"])
        if gap <= mf.GAP_REL * mx:
            return "top-6 gap %.3g vs max|logit| %.3g too small" % (gap, mx)
    return None


def bicubic_matrix(n_in, n_out, antialias, scale=None):
    """[n_out, n_in] float64 weights of PyTorch's bicubic resize along one axis, align_corners
    False. Plain: Keys' cubic with A = -0.75, source x = scale * (d + 0.5) - 0.5 (scale = n_in /
    n_out, or 1 / scale_factor when one is given), taps clamped at the border. Antialias (the
    PIL filter PyTorch copies): cubic with a = -0.5 stretched by scale when downsampling, support
    2 * scale around scale * (d + 0.5), weights normalised to sum 1."""
    W = np.zeros((n_out, n_in))
    if not antialias:
        A = -0.75
        s = n_in / n_out if scale is None else scale
        for d in range(n_out):
            x = s * (d + 0.5) - 0.5
            i0 = math.floor(x)
            t = x - i0
            ws = [((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
                  ((A + 2) * t - (A + 3)) * t * t + 1,
                  ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
                  ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A]
            for k in range(4):
                W[d, min(max(i0 - 1 + k, 0), n_in - 1)] += ws[k]
        return W
    assert scale is None
    a = -0.5

    def f(x):
        x = abs(x)
        if x < 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        return (((x - 5) * x + 8) * x - 4) * a if x < 2 else 0.0

    s = n_in / n_out
    support, inv = (2.0 * s, 1.0 / s) if s >= 1 else (2.0, 1.0)
    for d in range(n_out):
        centre = s * (d + 0.5)
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
        w = np.array([f((j + lo - centre + 0.5) * inv) for j in range(hi - lo)])
        W[d, lo:hi] = w / w.sum()
    return W


def numpy_resize_pos(pos, gh, gw, antialias):
    """pos [1 + g*g, D] float64 -> [1 + gh*gw, D], the resize in float64."""
    g = int(round(math.sqrt(pos.shape[0] - 1)))
    grid = pos[1:].reshape(g, g, -1)
    out = np.einsum("ai,ijd,bj->abd", bicubic_matrix(g, gh, antialias), grid,
                    bicubic_matrix(g, gw, antialias))
    return np.concatenate([pos[:1], out.reshape(gh * gw, -1)], axis=0)


def dino_numpy_forward(c, t, x, pos, prefix):
    """Independent float64 forward on the file's tensors (HF names) and the given position rows
    ([1 + N_run, D]): (final-norm class token, logits or None)."""
    f = lambda n: t[n].double().numpy()
    B, C, S, _ = x.shape
    P, D, H, R = c["patch_size"], c["hidden_size"], c["num_attention_heads"], c["num_register_tokens"]
    G, Dh, eps = S // P, D // H, c["layer_norm_eps"]
    pre = prefix + "." if prefix else ""
    pt = x.reshape(B, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, G * G, C * P * P)
    h = pt @ f(pre + "embeddings.patch_embeddings.projection.weight").reshape(D, -1).T
    h = h + f(pre + "embeddings.patch_embeddings.projection.bias")
    cls = np.broadcast_to(f(pre + "embeddings.cls_token"), (B, 1, D))
    h = np.concatenate([cls, h], axis=1) + pos
    if R:
        reg = np.broadcast_to(f(pre + "embeddings.register_tokens"), (B, R, D))
        h = np.concatenate([h[:, :1], reg, h[:, 1:]], axis=1)

    def ln(v, n):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + eps) * f(n + ".weight") + f(n + ".bias")

    def lin(v, n):
        return v @ f(n + ".weight").T + f(n + ".bias")

    T = h.shape[1]
    erf = np.vectorize(math.erf)
    for i in range(c["num_hidden_layers"]):
        p = pre + "encoder.layer.%d." % i
        y = ln(h, p + "norm1")
        q, k, v = (lin(y, p + "attention.attention." + n).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = lin((s @ v).transpose(0, 2, 1, 3).reshape(B, T, D), p + "attention.output.dense")
        h = h + a * f(p + "layer_scale1.lambda1")
        if c["use_swiglu_ffn"]:
            y = lin(ln(h, p + "norm2"), p + "mlp.weights_in")
            y1, y2 = np.split(y, 2, axis=-1)
            y = y1 / (1.0 + np.exp(-y1)) * y2
            h = h + lin(y, p + "mlp.weights_out") * f(p + "layer_scale2.lambda1")
            continue
        y = lin(ln(h, p + "norm2"), p + "mlp.fc1")
        y = 0.5 * y * (1.0 + erf(y / math.sqrt(2.0)))
        h = h + lin(y, p + "mlp.fc2") * f(p + "layer_scale2.lambda1")
    seq = ln(h, pre + "layernorm")
    if "classifier.weight" not in t:
        return seq[:, 0], None
    z = np.concatenate([seq[:, 0], seq[:, 1 + R:].mean(axis=1)], axis=1)
    return seq[:, 0], lin(z, "classifier")


def dino_make_fixture(name, spec, out_root, files):
    t0 = time.time()
    c = dino_resolved(spec)
    arch = spec["architecture"]
    S, C = spec["run_size"], c["num_channels"]
    assert S % c["patch_size"] == 0 and S != c["image_size"]  # the resize is exercised
    seed = spec["seed"]
    variants = ["aa_flip", "legacy_offset", "interp_f64", "no_layerscale"]
    if c["num_register_tokens"] and c["num_labels"]:
        variants.append("mean_with_registers")
    if c["use_swiglu_ffn"]:
        variants.append("swiglu_swap")
    for _ in range(mf.MAX_ATTEMPTS):
        m32 = dino_draw_params(dino_build(c, arch), torch.Generator().manual_seed(seed))
        x32 = torch.randn((DINO_BATCH, C, S, S), generator=torch.Generator().manual_seed(seed + 1))
        m64 = dino_as64(m32, c, arch)
        out64 = dino_run(m64, x32.double())
        out32 = dino_run(m32, x32)
        moved = OrderedDict()
        for var in variants:
            o = dino_run(dino_as64(m32, c, arch, var), x32.double())
            moved[var] = (o["embeddings"] - out64["embeddings"]).abs().max().item()
            if "logits" in o:
                moved[var + " (logits)"] = (o["logits"] - out64["logits"]).abs().max().item()
        why = dino_degenerate(c, spec, m64, out64, out32, moved)
        if why is None:
            break
        print("%s seed %d: %s, reseeding" % (name, seed, why))
        seed += mf.SEED_BUMP
    else:
        raise RuntimeError("%s: no usable seed" % name)
    # the resize runs in float32 in both (HF's cast), so both models add the same rows
    assert torch.equal(out64["pos"], out32["pos"].double())

    g = OrderedDict()
    g["name"] = name
    g["architecture"] = arch
    g["seed"] = seed
    g["batch"] = DINO_BATCH
    g["image_size"] = S
    g["stated_image_size"] = c["image_size"]
    g["resolved_config"] = c
    g["pos_interpolation"] = OrderedDict([
        ("mode", "bicubic"), ("align_corners", False),
        ("antialias", DINO_ANTIALIAS[DINO_ARCHS[arch]["model_type"]]),
        ("from", [c["image_size"] // c["patch_size"]] * 2),
        ("size", [S // c["patch_size"]] * 2), ("dtype", "float32")])
    g["embeddings"] = out64["embeddings"].tolist()
    g["embeddings_f32"] = out32["embeddings"].double().tolist()
    if "logits" in out64:
        g["logits"] = out64["logits"].tolist()
        g["logits_f32"] = out32["logits"].double().tolist()
        g["top5"] = torch.topk(out64["logits"], 5, dim=1).indices.tolist()
        assert g["top5"] == torch.topk(out32["logits"], 5, dim=1).indices.tolist()
    g["pos_embed_resized"] = out64["pos"].tolist()

    tensors = OrderedDict((k, v.detach().clone()) for k, v in m32.state_dict().items())
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    for fname, data in [
        ("config.json", hf_json(dino_config_json(spec))),
        ("preprocessor_config.json", hf_json(dino_preprocessor_json(S))),
        ("model.safetensors", st_bytes(tensors)),
        ("input.bin", x32.numpy().astype("<f4").tobytes()),
        ("golden.json", (json.dumps(g) + "\n").encode("utf-8")),
    ]:
        mf.atomic_write(os.path.join(folder, fname), data)
        files.append((os.path.join(folder, fname), len(data)))

    e64 = out64["embeddings"]
    errs = "embeddings %.3g" % (out32["embeddings"].double() - e64).abs().max().item()
    if "logits" in out64:
        errs += ", logits %.3g" % (out32["logits"].double() - out64["logits"]).abs().max().item()
    print("%-17s seed %d, %d tensors, tokens %d, max|embed| %.4f; max|f32 - f64| %s; %.2fs"
          % (name, seed, len(tensors), out64["last_hidden_state"].shape[1], e64.abs().max().item(),
             errs, time.time() - t0))
    print("%-17s moves the references by (max abs): %s"
          % ("", "; ".join("%s %.3g" % kv for kv in moved.items())))


def dino_verify(name, spec, out_root):
    """Re-read the folder: strict load into a fresh model, rerun; float64 resize of the table
    against pos_embed_resized; independent numpy forward from pos_embed_resized."""
    folder = os.path.join(out_root, name)
    meta, t = read_st(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "golden.json")) as fh:
        g = json.load(fh)
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    assert meta == {"format": "pt"}
    arch = DINO_ARCHS[cfg["architectures"][0]]
    assert cfg["model_type"] == arch["model_type"] and "intermediate_size" not in cfg
    c = OrderedDict(DINO_DEFAULTS)
    c["num_register_tokens"] = 0
    c.update((k, v) for k, v in cfg.items() if k in c)
    c["num_labels"] = len(cfg.get("id2label", {}))
    c = OrderedDict((k, c[k]) for k in DINO_MODEL_KEYS)
    assert c == OrderedDict(g["resolved_config"]), (c, g["resolved_config"])

    m = dino_build(c, cfg["architectures"][0]).double()
    m.load_state_dict(OrderedDict((k, v.double()) for k, v in t.items()), strict=True)
    S, C, B = g["image_size"], c["num_channels"], g["batch"]
    x = np.fromfile(os.path.join(folder, "input.bin"), dtype="<f4")
    assert x.size == B * C * S * S
    x = torch.from_numpy(x.reshape(B, C, S, S).astype(np.float64))
    out = dino_run(m, x)
    same = (out["embeddings"].tolist() == g["embeddings"] and out["pos"].tolist() == g["pos_embed_resized"]
            and out.get("logits", torch.zeros(0)).tolist() == g.get("logits", []))

    prefix = arch["prefix"]
    pre = prefix + "." if prefix else ""
    table = t[pre + "embeddings.position_embeddings"][0].double().numpy()
    G = S // c["patch_size"]
    aa = g["pos_interpolation"]["antialias"]
    pos = np.array(g["pos_embed_resized"])
    assert pos.shape == (1 + G * G, c["hidden_size"])
    resize_err = np.abs(numpy_resize_pos(table, G, G, aa) - pos).max()
    resize_other = np.abs(numpy_resize_pos(table, G, G, not aa) - pos).max()
    ne, nl = dino_numpy_forward(c, t, x.numpy(), pos, prefix)
    errs = [np.abs(ne - np.array(g["embeddings"])).max()]
    if nl is not None:
        errs.append(np.abs(nl - np.array(g["logits"])).max())
    ok = (same and max(errs) <= VERIFY_TOL and resize_err < 1e-5 and resize_other > 1e-2
          and (nl is not None) == ("logits" in g))
    print("%-17s verify %s: reloaded model bit-identical %s, numpy forward max err %.2e, float64 "
          "resize vs pos_embed_resized %.2e (antialias %s; the other setting %.3g away)"
          % (name, "OK" if ok else "FAILED", same, max(errs), resize_err, aa, resize_other))
    return ok


# ============================================================================= SigLIP
# SiglipVisionConfig / SiglipTextConfig.__init__ defaults (transformers
# models/siglip/configuration_siglip.py). NOT CLIP's: gelu_pytorch_tanh, eps 1e-6, patch 16.

SIGLIP_VISION_DEFAULTS = OrderedDict([
    ("hidden_size", 768), ("intermediate_size", 3072), ("num_hidden_layers", 12),
    ("num_attention_heads", 12), ("num_channels", 3), ("image_size", 224), ("patch_size", 16),
    ("hidden_act", "gelu_pytorch_tanh"), ("layer_norm_eps", 1e-6), ("attention_dropout", 0.0),
])
SIGLIP_TEXT_DEFAULTS = OrderedDict([
    ("vocab_size", 32000), ("hidden_size", 768), ("intermediate_size", 3072),
    ("num_hidden_layers", 12), ("num_attention_heads", 12), ("max_position_embeddings", 64),
    ("hidden_act", "gelu_pytorch_tanh"), ("layer_norm_eps", 1e-6), ("attention_dropout", 0.0),
    ("pad_token_id", 1), ("bos_token_id", 49406), ("eos_token_id", 49407),
])
IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]
# the mean-pooling classifier as it is since transformers 4.43 (every token; before: tokens[1:])
SIGLIP_TRANSFORMERS_VERSION = "4.44.0"

# per architecture: model_type of config.json, and whether the text tower / classifier exist
SIGLIP_ARCHS = OrderedDict([
    ("SiglipModel", dict(model_type="siglip", text=True, classifier=False)),
    ("SiglipVisionModel", dict(model_type="siglip_vision_model", text=False, classifier=False)),
    ("SiglipForImageClassification", dict(model_type="siglip", text=False, classifier=True)),
])

SIGLIP_FIXTURES = OrderedDict([
    ("siglip_full", dict(
        architecture="SiglipModel", seed=11011, run_size=32, num_labels=0,
        vision=dict(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=128),
        text=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                  num_hidden_layers=1, max_position_embeddings=16))),
    ("siglip_vision", dict(
        architecture="SiglipVisionModel", seed=12012, run_size=64, num_labels=0,
        vision=dict(image_size=48, patch_size=16, hidden_size=72, num_hidden_layers=2,
                    num_attention_heads=6, intermediate_size=120),
        text=None)),
    ("siglip_cls", dict(
        architecture="SiglipForImageClassification", seed=13013, run_size=40, num_labels=10,
        vision=dict(image_size=40, patch_size=8, hidden_size=48, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=96),
        text=None)),
])

SIGLIP_MODEL_KEYS = ["image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps",
                     "vision_use_head", "num_labels"]


def siglip_resolved(spec):
    """What the forward pass runs with: the fixture's vision values over SiglipVisionConfig's
    defaults; vision_use_head True (no config field: SiglipVisionTransformer builds the head unless
    the config has a vision_use_head attribute saying otherwise); num_labels 0 without a head."""
    c = OrderedDict(SIGLIP_VISION_DEFAULTS)
    c.update(spec["vision"])
    c["vision_use_head"] = True
    c["num_labels"] = spec["num_labels"]
    return OrderedDict((k, c[k]) for k in SIGLIP_MODEL_KEYS)


# ----------------------------------------------------------------------------- SigLIP model
# Attribute names follow modeling_siglip.py so that state_dict() keys are HF's keys. The encoder
# layers are the CLIP classes above (same names: self_attn.{q,k,v,out}_proj, layer_norm1/2,
# mlp.fc1/fc2, encoder.layers.N). `var` selects a deliberate deviation, only to measure how far
# the references move under it: "gelu_erf" (exact GELU instead of the tanh approximation),
# "legacy_offset" (older HF: scale_factor = ((g' + 0.1) / g) instead of size=), "aa_flip"
# (antialias True), "eps_1e-5" (CLIP's layer_norm_eps), "mean_skip_first" (the classifier's mean
# over tokens[1:], as HF did before 4.43).


class SiglipEmbeddings(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        D, P, S = c["hidden_size"], c["patch_size"], c["image_size"]
        self.patch_size, self.var = P, var
        self.patch_embedding = nn.Conv2d(c["num_channels"], D, kernel_size=P, stride=P)  # with bias
        self.position_embedding = nn.Embedding((S // P) ** 2, D)  # no class token, no class row
        self.last_pos = None

    def positions(self, h, w):
        """The rows added for an h x w input ([gh*gw, D], model dtype): HF's
        interpolate_pos_encoding (the table itself when the patch count matches and h == w; else
        the g x g grid resized bicubic, align_corners False, antialias False, in the model's dtype)."""
        table = self.position_embedding.weight
        n, D = table.shape
        gh, gw = h // self.patch_size, w // self.patch_size
        if gh * gw == n and h == w:
            return table
        g = int(n ** 0.5)
        grid = table.reshape(1, g, g, D).permute(0, 3, 1, 2)
        if self.var == "legacy_offset":
            grid = nn.functional.interpolate(grid, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g),
                                             mode="bicubic", align_corners=False)
        else:
            grid = nn.functional.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False,
                                             antialias=self.var == "aa_flip")
        assert grid.shape[-2:] == (gh, gw)
        return grid.permute(0, 2, 3, 1).reshape(gh * gw, D)

    def forward(self, x):
        _, _, h, w = x.shape
        e = self.patch_embedding(x).flatten(2).transpose(1, 2)  # [B, gh*gw, D], raster order
        pos = self.positions(h, w)
        self.last_pos = pos.detach()  # (a Parameter itself would register as one)
        return e + pos


class SiglipPoolingAttention(nn.Module):
    """torch.nn.MultiheadAttention(D, H, batch_first=True) under its own parameter names
    (in_proj_weight [3D, D] = q, k, v rows; in_proj_bias [3D]; out_proj), for one query set
    attending over the sequence: q is scaled by head_dim^-0.5 before q k^T, as torch does."""

    def __init__(self, c):
        super().__init__()
        D, H = c["hidden_size"], c["num_attention_heads"]
        assert D % H == 0
        self.heads, self.head_dim = H, D // H
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * D, D))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * D))
        self.out_proj = nn.Linear(D, D)
        self.last_weights = None

    def forward(self, query, seq):
        b, n, D = query.shape
        t = seq.shape[1]
        w, bias = self.in_proj_weight, self.in_proj_bias
        q = nn.functional.linear(query, w[:D], bias[:D])
        k = nn.functional.linear(seq, w[D:2 * D], bias[D:2 * D])
        v = nn.functional.linear(seq, w[2 * D:], bias[2 * D:])
        q = q.view(b, n, self.heads, self.head_dim).transpose(1, 2) * self.head_dim ** -0.5
        k = k.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1)
        self.last_weights = a
        return self.out_proj(torch.matmul(a, v).transpose(1, 2).reshape(b, n, D))


class SiglipHead(nn.Module):
    """SiglipMultiheadAttentionPoolingHead: the probe attends over every (post-layernormed)
    token; h = attn; h = h + mlp(layernorm(h)); pooled = h[:, 0]."""

    def __init__(self, c, act):
        super().__init__()
        D = c["hidden_size"]
        self.probe = nn.Parameter(torch.zeros(1, 1, D))
        self.attention = SiglipPoolingAttention(c)
        self.layernorm = nn.LayerNorm(D, eps=c["layer_norm_eps"])
        self.mlp = MLP(c, act)

    def forward(self, seq):
        h = self.attention(self.probe.repeat(seq.shape[0], 1, 1), seq)
        h = h + self.mlp(self.layernorm(h))
        return h[:, 0]


class SiglipVisionTransformer(nn.Module):
    def __init__(self, c, act, var):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.embeddings = SiglipEmbeddings(c, var)
        self.encoder = Encoder(c, act)
        self.post_layernorm = nn.LayerNorm(D, eps=eps)
        if c["vision_use_head"]:
            self.head = SiglipHead(c, act)

    def forward(self, x):
        seq = self.post_layernorm(self.encoder(self.embeddings(x)))  # every token normed
        return seq, (self.head(seq) if hasattr(self, "head") else None)


class SiglipImageTower(nn.Module):
    """vision_model (+ classifier for SiglipForImageClassification: logits of the mean of every
    post-layernormed token; the head is built, saved and unused there)."""

    def __init__(self, c, architecture, var=None):
        super().__init__()
        if c["hidden_act"] != "gelu_pytorch_tanh":
            raise ValueError("only gelu_pytorch_tanh is written here")
        act = nn.GELU() if var == "gelu_erf" else nn.GELU(approximate="tanh")
        if var == "eps_1e-5":
            c = OrderedDict(c)
            c["layer_norm_eps"] = 1e-5
        self.var = var
        self.vision_model = SiglipVisionTransformer(c, act, var)
        if SIGLIP_ARCHS[architecture]["classifier"]:
            self.classifier = nn.Linear(c["hidden_size"], c["num_labels"])

    def forward(self, x):
        seq, pooled = self.vision_model(x)
        out = OrderedDict([("pooled", pooled), ("last_hidden_state", seq), ("mean", seq.mean(dim=1))])
        if hasattr(self, "classifier"):
            feats = seq[:, 1:].mean(dim=1) if self.var == "mean_skip_first" else out["mean"]
            out["logits"] = self.classifier(feats)
        out["pos"] = self.vision_model.embeddings.last_pos
        return out


def siglip_build(c, architecture, var=None):
    return SiglipImageTower(c, architecture, var).eval()


def siglip_as64(model32, c, architecture, var=None):
    m = siglip_build(c, architecture, var)
    m.load_state_dict(model32.state_dict())
    return m.double().eval()


def siglip_draw_params(model, gen):
    """Redraw every parameter (float32) from gen in state_dict order: the CLIP scheme above; the
    position table and the head's probe N(0, 0.5^2); in_proj_weight rows N(0, 1/D)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("position_embedding.weight") or leaf == "probe":
                p.copy_(0.5 * r)
            elif "layer_norm" in name or "layernorm" in name:
                p.copy_(1.0 + 0.1 * r if leaf == "weight" else 0.05 * r)
            elif leaf in ("weight", "in_proj_weight"):  # conv [D, C, P, P] / linear [out, in]
                p.copy_(r / math.sqrt(p[0].numel()))
            elif leaf in ("bias", "in_proj_bias"):
                p.copy_(0.1 * r)
            else:
                raise AssertionError(name)
    return model


def siglip_text_tensors(t, gen):
    """A small random SigLIP text tower under HF's names, with logit_scale and logit_bias ([1]
    each): present in SiglipModel files, ignored by an image converter."""
    D, Fi, V, L = t["hidden_size"], t["intermediate_size"], t["vocab_size"], t["max_position_embeddings"]
    shapes = OrderedDict()
    shapes["text_model.embeddings.token_embedding.weight"] = [V, D]
    shapes["text_model.embeddings.position_embedding.weight"] = [L, D]
    for i in range(t["num_hidden_layers"]):
        p = "text_model.encoder.layers.%d." % i
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[p + "self_attn.%s.weight" % n] = [D, D]
            shapes[p + "self_attn.%s.bias" % n] = [D]
        for n in ("layer_norm1", "layer_norm2"):
            shapes[p + n + ".weight"] = [D]
            shapes[p + n + ".bias"] = [D]
        shapes[p + "mlp.fc1.weight"] = [Fi, D]
        shapes[p + "mlp.fc1.bias"] = [Fi]
        shapes[p + "mlp.fc2.weight"] = [D, Fi]
        shapes[p + "mlp.fc2.bias"] = [D]
    shapes["text_model.final_layer_norm.weight"] = [D]
    shapes["text_model.final_layer_norm.bias"] = [D]
    shapes["text_model.head.weight"] = [D, D]
    shapes["text_model.head.bias"] = [D]
    shapes["logit_scale"] = [1]
    shapes["logit_bias"] = [1]
    out = OrderedDict()
    for name, shape in shapes.items():
        r = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name == "logit_scale":
            out[name] = math.log(10.0) + 0.1 * r  # SigLIP's init: scale ln 10, bias -10
        elif name == "logit_bias":
            out[name] = -10.0 + 0.1 * r
        elif "norm" in name:
            out[name] = 1.0 + 0.1 * r if name.endswith(".weight") else 0.05 * r
        elif name.endswith(".bias"):
            out[name] = 0.1 * r
        elif "embedding" in name:
            out[name] = 0.02 * r
        else:
            out[name] = r / math.sqrt(shape[1])
    return out


# ----------------------------------------------------------------------------- SigLIP configs


def siglip_config_json(spec):
    """config.json as save_pretrained writes it. SiglipConfig (SiglipModel and
    SiglipForImageClassification): text_config / vision_config hold only the values that differ
    from the sub-config defaults, plus model_type (so an all-default text_config is
    {"model_type": "siglip_text_model"}); top-level initializer_factor 1.0. SiglipVisionConfig
    (SiglipVisionModel): every field at the top level."""
    arch = SIGLIP_ARCHS[spec["architecture"]]
    v = spec["vision"]
    cfg = OrderedDict([("architectures", [spec["architecture"]]), ("model_type", arch["model_type"])])
    if arch["model_type"] == "siglip":
        vision = OrderedDict((k, v[k]) for k in v if v[k] != SIGLIP_VISION_DEFAULTS[k])
        vision["model_type"] = "siglip_vision_model"
        t = spec["text"] or {}
        text = OrderedDict((k, t[k]) for k in t if t[k] != SIGLIP_TEXT_DEFAULTS[k])
        text["model_type"] = "siglip_text_model"
        cfg.update([("initializer_factor", 1.0), ("text_config", text), ("vision_config", vision)])
    else:
        c = OrderedDict(SIGLIP_VISION_DEFAULTS)
        c.update(v)
        cfg.update(c)
    if spec["num_labels"]:
        names = IMAGENET_LABELS[:spec["num_labels"]]
        cfg["id2label"] = OrderedDict((str(i), n) for i, n in enumerate(names))
        cfg["label2id"] = OrderedDict((n, i) for i, n in enumerate(names))
    cfg.update([("torch_dtype", "float32"), ("transformers_version", SIGLIP_TRANSFORMERS_VERSION)])
    return cfg


def siglip_preprocessor_json(S):
    """SiglipImageProcessor as it writes itself: resize straight to S x S (no crop), resample 3
    (bicubic), rescale 1/255, mean/std 0.5; do_convert_rgb None (its default)."""
    return OrderedDict([
        ("do_convert_rgb", None), ("do_normalize", True), ("do_rescale", True), ("do_resize", True),
        ("image_mean", IMAGENET_STANDARD_MEAN), ("image_processor_type", "SiglipImageProcessor"),
        ("image_std", IMAGENET_STANDARD_STD), ("resample", 3), ("rescale_factor", 1 / 255),
        ("size", OrderedDict([("height", S), ("width", S)])),
    ])


# ----------------------------------------------------------------------------- SigLIP goldens


def siglip_run(model, x):
    with torch.no_grad():
        return model(x)


def siglip_degenerate(out64, out32, m64, moved, required):
    """None if the draw is a useful test, else why not."""
    e = out64["pooled"]
    B = e.shape[0]
    spread = min((e[i] - e[j]).abs().max().item() for i in range(B) for j in range(i + 1, B))
    if spread < 0.1 * e.abs().max().item():
        return "pooled rows too alike (%.3g)" % spread
    vm = m64.vision_model
    T = out64["last_hidden_state"].shape[1]
    peak = min([L.self_attn.last_weights.max(-1).values.mean().item() for L in vm.encoder.layers]
               + [vm.head.attention.last_weights.max(-1).values.mean().item()])
    if peak < 2.0 / T:
        return "attention too flat (mean peak %.3g vs uniform %.3g)" % (peak, 1.0 / T)
    err32 = max((out32[k].double() - out64[k]).abs().max().item() for k in ("pooled", "mean"))
    for var in required:
        if moved[var] < 100 * err32:
            return "%s moves the references only %.3g" % (var, moved[var])
    if "logits" in out64:
        gap, mx = mf.top_gap(out64["logits"])
        if gap <= mf.GAP_REL * mx:
            return "top-6 gap %.3g vs max|logit| %.3g too small" % (gap, mx)
    return None


def bicubic_rows(table, gh, gw, antialias=False):
    """[g*g, D] float64 grid rows (no class row) -> [gh*gw, D], numpy float64 bicubic."""
    g = int(round(math.sqrt(table.shape[0])))
    grid = table.reshape(g, g, -1)
    out = np.einsum("ai,ijd,bj->abd", bicubic_matrix(g, gh, antialias), grid,
                    bicubic_matrix(g, gw, antialias))
    return out.reshape(gh * gw, -1)


def gelu_tanh_np(y):
    return 0.5 * y * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (y + 0.044715 * y ** 3)))


def siglip_numpy_forward(c, t, x, pos):
    """Independent float64 forward on the file's tensors (HF names) with the given position rows
    [gh*gw, D]: (pooled, mean of the last hidden state, logits or None)."""
    f = lambda n: t[n].double().numpy()
    B, C, S, _ = x.shape
    P, D, H, eps = c["patch_size"], c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
    G, Dh = S // P, D // H
    pre = "vision_model."
    pt = x.reshape(B, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, G * G, C * P * P)
    h = pt @ f(pre + "embeddings.patch_embedding.weight").reshape(D, -1).T
    h = h + f(pre + "embeddings.patch_embedding.bias") + pos

    def ln(v, n):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + eps) * f(n + ".weight") + f(n + ".bias")

    def lin(v, n):
        return v @ f(n + ".weight").T + f(n + ".bias")

    def softmax(s):
        s = np.exp(s - s.max(-1, keepdims=True))
        return s / s.sum(-1, keepdims=True)

    def heads(v):
        return v.reshape(v.shape[0], v.shape[1], H, Dh).transpose(0, 2, 1, 3)

    T = h.shape[1]
    for i in range(c["num_hidden_layers"]):
        p = pre + "encoder.layers.%d." % i
        y = ln(h, p + "layer_norm1")
        q, k, v = (heads(lin(y, p + "self_attn.%s_proj" % n)) for n in "qkv")
        a = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh)) @ v
        h = h + lin(a.transpose(0, 2, 1, 3).reshape(B, T, D), p + "self_attn.out_proj")
        h = h + lin(gelu_tanh_np(lin(ln(h, p + "layer_norm2"), p + "mlp.fc1")), p + "mlp.fc2")
    seq = ln(h, pre + "post_layernorm")
    hp = pre + "head."
    W, bW = f(hp + "attention.in_proj_weight"), f(hp + "attention.in_proj_bias")
    probe = np.broadcast_to(f(hp + "probe"), (B, 1, D))
    q = heads(probe @ W[:D].T + bW[:D])
    k = heads(seq @ W[D:2 * D].T + bW[D:2 * D])
    v = heads(seq @ W[2 * D:].T + bW[2 * D:])
    a = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh)) @ v
    o = lin(a.transpose(0, 2, 1, 3).reshape(B, 1, D), hp + "attention.out_proj")
    o = o + lin(gelu_tanh_np(lin(ln(o, hp + "layernorm"), hp + "mlp.fc1")), hp + "mlp.fc2")
    mean = seq.mean(axis=1)
    logits = lin(mean, "classifier") if "classifier.weight" in t else None
    return o[:, 0], mean, logits


def siglip_make_fixture(name, spec, out_root, files):
    t0 = time.time()
    c = siglip_resolved(spec)
    arch = spec["architecture"]
    S, C, P = spec["run_size"], c["num_channels"], c["patch_size"]
    assert S % P == 0
    resized = S != c["image_size"]
    seed = spec["seed"]
    variants = ["gelu_erf", "eps_1e-5"] + (["legacy_offset", "aa_flip"] if resized else [])
    if SIGLIP_ARCHS[arch]["classifier"]:
        variants.append("mean_skip_first")
    required = ["gelu_erf"] + (["legacy_offset", "aa_flip"] if resized else [])
    for _ in range(mf.MAX_ATTEMPTS):
        m32 = siglip_draw_params(siglip_build(c, arch), torch.Generator().manual_seed(seed))
        x32 = torch.randn((BATCH, C, S, S), generator=torch.Generator().manual_seed(seed + 1))
        m64 = siglip_as64(m32, c, arch)
        out64 = siglip_run(m64, x32.double())
        out32 = siglip_run(m32, x32)
        moved = OrderedDict()
        for var in variants:
            o = siglip_run(siglip_as64(m32, c, arch, var), x32.double())
            key = "logits" if var == "mean_skip_first" else "pooled"
            moved[var] = (o[key] - out64[key]).abs().max().item()
        why = siglip_degenerate(out64, out32, m64, moved, required)
        if why is None:
            break
        print("%s seed %d: %s, reseeding" % (name, seed, why))
        seed += mf.SEED_BUMP
    else:
        raise RuntimeError("%s: no usable seed" % name)

    g = OrderedDict()
    g["name"] = name
    g["architecture"] = arch
    g["seed"] = seed
    g["batch"] = BATCH
    g["image_size"] = S
    g["stated_image_size"] = c["image_size"]
    g["resolved_config"] = c
    g["pos_interpolation"] = OrderedDict([
        ("mode", "bicubic"), ("align_corners", False), ("antialias", False),
        ("from", [c["image_size"] // P] * 2), ("size", [S // P] * 2), ("dtype", "model")])
    g["embeddings"] = out64["pooled"].tolist()
    g["embeddings_f32"] = out32["pooled"].double().tolist()
    g["pooled"] = out64["pooled"].tolist()
    g["pooled_f32"] = out32["pooled"].double().tolist()
    g["last_hidden_state_mean"] = out64["mean"].tolist()
    g["last_hidden_state_mean_f32"] = out32["mean"].double().tolist()
    if "logits" in out64:
        g["logits"] = out64["logits"].tolist()
        g["logits_f32"] = out32["logits"].double().tolist()
        g["top5"] = torch.topk(out64["logits"], 5, dim=1).indices.tolist()
        assert g["top5"] == torch.topk(out32["logits"], 5, dim=1).indices.tolist()
    if resized:
        g["pos_embed_resized"] = out64["pos"].tolist()
        g["pos_embed_resized_f32"] = out32["pos"].double().tolist()

    tensors = OrderedDict((k, v.detach().clone()) for k, v in m32.state_dict().items())
    if spec["text"] is not None:
        tensors.update(siglip_text_tensors(spec["text"], torch.Generator().manual_seed(seed + 2)))
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    for fname, data in [
        ("config.json", hf_json(siglip_config_json(spec))),
        ("preprocessor_config.json", hf_json(siglip_preprocessor_json(S))),
        ("model.safetensors", st_bytes(tensors)),
        ("input.bin", x32.numpy().astype("<f4").tobytes()),
        ("golden.json", (json.dumps(g) + "\n").encode("utf-8")),
    ]:
        mf.atomic_write(os.path.join(folder, fname), data)
        files.append((os.path.join(folder, fname), len(data)))

    e64 = out64["pooled"]
    errs = "pooled %.3g, mean %.3g" % ((out32["pooled"].double() - e64).abs().max().item(),
                                        (out32["mean"].double() - out64["mean"]).abs().max().item())
    if "logits" in out64:
        errs += ", logits %.3g" % (out32["logits"].double() - out64["logits"]).abs().max().item()
    print("%-17s seed %d, %d tensors, tokens %d, max|pooled| %.4f; max|f32 - f64| %s; %.2fs"
          % (name, seed, len(tensors), out64["last_hidden_state"].shape[1], e64.abs().max().item(),
             errs, time.time() - t0))
    print("%-17s moves the references by (max abs): %s"
          % ("", "; ".join("%s %.3g" % kv for kv in moved.items())))


def siglip_config_from_json(cfg):
    """The resolved config a converter derives from config.json (defaults filled in)."""
    arch = cfg["architectures"][0]
    assert cfg["model_type"] == SIGLIP_ARCHS[arch]["model_type"]
    src = cfg["vision_config"] if cfg["model_type"] == "siglip" else cfg
    c = OrderedDict(SIGLIP_VISION_DEFAULTS)
    c.update((k, v) for k, v in src.items() if k in c)
    c["vision_use_head"] = src.get("vision_use_head", True)
    c["num_labels"] = len(cfg.get("id2label", {})) if SIGLIP_ARCHS[arch]["classifier"] else 0
    return OrderedDict((k, c[k]) for k in SIGLIP_MODEL_KEYS)


def siglip_verify(name, spec, out_root):
    """Re-read the folder: strict load into a fresh model, rerun; the head against
    torch.nn.MultiheadAttention itself; float64 numpy resize against pos_embed_resized;
    independent numpy forward."""
    folder = os.path.join(out_root, name)
    meta, t = read_st(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "golden.json")) as fh:
        g = json.load(fh)
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    assert meta == {"format": "pt"}
    arch = cfg["architectures"][0]
    c = siglip_config_from_json(cfg)
    assert c == OrderedDict(g["resolved_config"]), (c, g["resolved_config"])

    vision = OrderedDict((k, v) for k, v in t.items()
                         if k.startswith("vision_model.") or k.startswith("classifier."))
    others = sorted(set(t) - set(vision))
    assert (len(others) > 0) == SIGLIP_ARCHS[arch]["text"], others
    assert all(k.startswith("text_model.") or k in ("logit_scale", "logit_bias") for k in others)
    m = siglip_build(c, arch).double()
    m.load_state_dict(OrderedDict((k, v.double()) for k, v in vision.items()), strict=True)
    S, C, B = g["image_size"], c["num_channels"], g["batch"]
    x = np.fromfile(os.path.join(folder, "input.bin"), dtype="<f4")
    assert x.size == B * C * S * S
    x = torch.from_numpy(x.reshape(B, C, S, S).astype(np.float64))
    out = siglip_run(m, x)
    same = (out["pooled"].tolist() == g["pooled"] and out["pooled"].tolist() == g["embeddings"]
            and out["mean"].tolist() == g["last_hidden_state_mean"]
            and out.get("logits", torch.zeros(0)).tolist() == g.get("logits", []))

    # the pooling head as torch.nn.MultiheadAttention computes it, from the same weights
    D, H = c["hidden_size"], c["num_attention_heads"]
    mha = nn.MultiheadAttention(D, H, batch_first=True).double().eval()
    mha.load_state_dict(OrderedDict((k[len("vision_model.head.attention."):], v.double())
                                    for k, v in t.items() if k.startswith("vision_model.head.attention.")))
    head = m.vision_model.head
    with torch.no_grad():
        seq = out["last_hidden_state"]
        probe = head.probe.repeat(B, 1, 1)
        a = mha(probe, seq, seq)[0]
        ref = (a + head.mlp(head.layernorm(a)))[:, 0]
        mha_err = (ref - out["pooled"]).abs().max().item()
        mine_err = (head.attention(probe, seq) - a).abs().max().item()

    P = c["patch_size"]
    G = S // P
    table = t["vision_model.embeddings.position_embedding.weight"].double().numpy()
    if "pos_embed_resized" in g:
        pos = np.array(g["pos_embed_resized"])
        assert pos.shape == (G * G, D) and G != c["image_size"] // P
        resize_err = np.abs(bicubic_rows(table, G, G) - pos).max()
        resize_other = np.abs(bicubic_rows(table, G, G, antialias=True) - pos).max()
        f32_err = np.abs(np.array(g["pos_embed_resized_f32"]) - pos).max()
        resize_ok = resize_err < 1e-12 and resize_other > 1e-2 and 0 < f32_err < 1e-5
        resize_msg = (", float64 numpy bicubic vs pos_embed_resized %.2e (antialias True %.3g away; "
                      "the float32 resize %.2e away)" % (resize_err, resize_other, f32_err))
    else:
        pos, resize_ok, resize_msg = table, G == c["image_size"] // P, ""
    npool, nmean, nl = siglip_numpy_forward(c, vision, x.numpy(), pos)
    errs = [np.abs(npool - np.array(g["pooled"])).max(),
            np.abs(nmean - np.array(g["last_hidden_state_mean"])).max()]
    if nl is not None:
        errs.append(np.abs(nl - np.array(g["logits"])).max())
    ok = (same and max(errs) <= VERIFY_TOL and mha_err <= VERIFY_TOL and mine_err <= VERIFY_TOL
          and resize_ok and (nl is not None) == ("logits" in g))
    print("%-17s verify %s: reloaded model bit-identical %s, numpy forward max err %.2e, head vs "
          "torch.nn.MultiheadAttention %.2e (attention alone %.2e)%s"
          % (name, "OK" if ok else "FAILED", same, max(errs), mha_err, mine_err, resize_msg))
    return ok


# ============================================================================= BEiT
# BeitConfig.__init__ defaults (transformers models/beit/configuration_beit.py, the 4.4x
# BackboneConfigMixin version). NOT ViT's: layer_norm_eps 1e-12, use_mean_pooling True,
# layer_scale_init_value 0.1 (the INIT value: the trained scales are the lambda tensors).

BEIT_DEFAULTS = OrderedDict([
    ("vocab_size", 8192), ("hidden_size", 768), ("num_hidden_layers", 12), ("num_attention_heads", 12),
    ("intermediate_size", 3072), ("hidden_act", "gelu"), ("hidden_dropout_prob", 0.0),
    ("attention_probs_dropout_prob", 0.0), ("initializer_range", 0.02), ("layer_norm_eps", 1e-12),
    ("image_size", 224), ("patch_size", 16), ("num_channels", 3), ("use_mask_token", False),
    ("use_absolute_position_embeddings", False), ("use_relative_position_bias", False),
    ("use_shared_relative_position_bias", False), ("layer_scale_init_value", 0.1),
    ("drop_path_rate", 0.1), ("use_mean_pooling", True), ("pool_scales", [1, 2, 3, 6]),
    ("use_auxiliary_head", True), ("auxiliary_loss_weight", 0.4), ("auxiliary_channels", 256),
    ("auxiliary_num_convs", 1), ("auxiliary_concat_input", False),
    ("semantic_loss_ignore_index", 255), ("add_fpn", False), ("reshape_hidden_states", True),
])
# BeitModel's any-resolution code (window-size-aware relative position bias) is from 4.45 on
BEIT_TRANSFORMERS_VERSION = "4.45.0"

BEIT_FIXTURES = OrderedDict([
    ("beit_cls", dict(
        architecture="BeitForImageClassification", seed=14014, run_size=32, num_labels=10,
        relative_position_index=True,
        config=dict(image_size=32, patch_size=8, hidden_size=48, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=96, use_relative_position_bias=True))),
    ("beit_shared", dict(
        architecture="BeitForImageClassification", seed=15015, run_size=48, num_labels=7,
        relative_position_index=False,
        config=dict(image_size=40, patch_size=8, hidden_size=60, num_hidden_layers=3,
                    num_attention_heads=5, intermediate_size=120,
                    use_shared_relative_position_bias=True, use_absolute_position_embeddings=True))),
])

BEIT_MODEL_KEYS = ["image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
                   "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps",
                   "use_absolute_position_embeddings", "use_relative_position_bias",
                   "use_shared_relative_position_bias", "layer_scale_init_value",
                   "use_mean_pooling", "use_mask_token", "num_labels"]


def beit_resolved(spec, full=False):
    c = OrderedDict(BEIT_DEFAULTS)
    c.update(spec["config"])
    c["num_labels"] = spec["num_labels"]
    return c if full else OrderedDict((k, c[k]) for k in BEIT_MODEL_KEYS)


def beit_relative_position_index(gh, gw):
    """[gh*gw + 1]^2 int64: row = query token, column = key token (0 = class). Patch pairs index
    (dy + gh - 1) * (2 gw - 1) + (dx + gw - 1) with (dy, dx) = query - key in (row, column) patch
    coordinates; class -> patch R, patch -> class R + 1, class -> class R + 2, R = (2gh-1)(2gw-1)."""
    R = (2 * gh - 1) * (2 * gw - 1)
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    idx = torch.empty((gh * gw + 1, gh * gw + 1), dtype=torch.int64)
    idx[1:, 1:] = ((ys[:, None] - ys[None, :] + gh - 1) * (2 * gw - 1)
                   + (xs[:, None] - xs[None, :] + gw - 1))
    idx[0, :] = R
    idx[:, 0] = R + 1
    idx[0, 0] = R + 2
    return idx


# ----------------------------------------------------------------------------- BEiT model
# Attribute names follow modeling_beit.py (the layout of every BEiT checkpoint on the Hub) so that
# state_dict() keys are HF's keys. `var` selects a deliberate deviation, only to measure how far
# the references move under it: "no_layerscale" (lambdas ignored), "layerscale_init" (every
# lambda = layer_scale_init_value), "no_rel_bias" (the relative position bias ignored),
# "table_bicubic" / "table_align_corners" (the table resized bicubic / with align_corners True),
# "pos_f32" (the absolute grid resized in float32, as newer ViT code does), "mean_with_cls" (the
# pooler's mean taken over every token, class token included).


class BeitRelPosBias(nn.Module):
    """BeitRelativePositionBias: a table [(2Wh-1)(2Ww-1) + 3, heads] for the config's window
    (Wh, Ww) = image_size // patch_size. For a (gh, gw) patch grid (HF, 4.45+): the first
    (2Wh-1)(2Ww-1) rows, seen as a [heads, 2Ww-1, 2Wh-1] image, are resized bilinear
    (align_corners False, no antialias, model dtype) to (2gh-1, 2gw-1) and flattened back row-major;
    the 3 class rows are appended unchanged; the bias is table[index(gh, gw)] -> [heads, T, T]; with
    interpolate_pos_encoding HF then resizes that bilinear to (T, T): the same size, the identity."""

    def __init__(self, c, var):
        super().__init__()
        P = c["patch_size"]
        self.window = (c["image_size"] // P, c["image_size"] // P)
        n = (2 * self.window[0] - 1) * (2 * self.window[1] - 1) + 3
        self.relative_position_bias_table = nn.Parameter(torch.zeros(n, c["num_attention_heads"]))
        self.var = var
        self.last_table = None

    def resized_table(self, gh, gw):
        table = self.relative_position_bias_table
        oh, ow = 2 * self.window[0] - 1, 2 * self.window[1] - 1
        nh, nw = 2 * gh - 1, 2 * gw - 1
        sub = table[:oh * ow].reshape(1, ow, oh, -1).permute(0, 3, 1, 2)
        if self.var == "table_bicubic":
            sub = nn.functional.interpolate(sub, size=(nh, nw), mode="bicubic", align_corners=False)
        else:
            sub = nn.functional.interpolate(sub, size=(nh, nw), mode="bilinear",
                                            align_corners=self.var == "table_align_corners")
        sub = sub.permute(0, 2, 3, 1).reshape(nh * nw, -1)
        return torch.cat([sub, table[oh * ow:]], dim=0)

    def forward(self, gh, gw):
        table = self.resized_table(gh, gw)
        self.last_table = table
        T = gh * gw + 1
        bias = table[beit_relative_position_index(gh, gw).view(-1)].view(T, T, -1).permute(2, 0, 1)
        again = nn.functional.interpolate(bias.unsqueeze(1), size=(T, T), mode="bilinear",
                                          align_corners=False).squeeze(1)
        assert torch.equal(again, bias)  # interpolate_pos_encoding's second resize: the identity
        return bias.unsqueeze(0)


class BeitSelfAttention(nn.Module):
    def __init__(self, c, per_layer_bias, var):
        super().__init__()
        D, H = c["hidden_size"], c["num_attention_heads"]
        assert D % H == 0
        self.heads, self.head_dim, self.var = H, D // H, var
        self.query = nn.Linear(D, D)
        self.key = nn.Linear(D, D, bias=False)  # BEiT: no key bias
        self.value = nn.Linear(D, D)
        if per_layer_bias:
            self.relative_position_bias = BeitRelPosBias(c, var)
        self.last_weights = None

    def forward(self, x, grid, shared_bias):
        b, t, d = x.shape

        def split(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if self.var != "no_rel_bias":
            if hasattr(self, "relative_position_bias"):
                s = s + self.relative_position_bias(*grid)
            if shared_bias is not None:
                s = s + shared_bias
        w = torch.softmax(s, dim=-1)
        self.last_weights = w
        return torch.matmul(w, v).transpose(1, 2).reshape(b, t, d)


class BeitAttention(nn.Module):
    def __init__(self, c, per_layer_bias, var):
        super().__init__()
        self.attention = BeitSelfAttention(c, per_layer_bias, var)
        self.output = DinoSelfOutput(c)  # .dense, as BeitSelfOutput

    def forward(self, x, grid, shared_bias):
        return self.output(self.attention(x, grid, shared_bias))


class BeitDense(nn.Module):
    """BeitIntermediate (.dense then the activation) / BeitOutput (.dense)."""

    def __init__(self, n_in, n_out, act=None):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        self.act = act

    def forward(self, x):
        x = self.dense(x)
        return x if self.act is None else self.act(x)


class BeitLayer(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        D, F, eps = c["hidden_size"], c["intermediate_size"], c["layer_norm_eps"]
        self.var, self.init_value = var, c["layer_scale_init_value"]
        self.attention = BeitAttention(c, c["use_relative_position_bias"], var)
        self.intermediate = BeitDense(D, F, nn.GELU())  # "gelu": exact (erf)
        self.output = BeitDense(F, D)
        self.layernorm_before = nn.LayerNorm(D, eps=eps)
        self.layernorm_after = nn.LayerNorm(D, eps=eps)
        assert self.init_value > 0  # else HF builds no lambdas
        self.lambda_1 = nn.Parameter(torch.ones(D))
        self.lambda_2 = nn.Parameter(torch.ones(D))

    def scale(self, lam, x):
        if self.var == "no_layerscale":
            return x
        return x * self.init_value if self.var == "layerscale_init" else lam * x

    def forward(self, h, grid, shared_bias):
        h = h + self.scale(self.lambda_1, self.attention(self.layernorm_before(h), grid, shared_bias))
        y = self.output(self.intermediate(self.layernorm_after(h)))
        return h + self.scale(self.lambda_2, y)


class BeitEncoder(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        if c["use_shared_relative_position_bias"]:
            self.relative_position_bias = BeitRelPosBias(c, var)
        self.layer = nn.ModuleList([BeitLayer(c, var) for _ in range(c["num_hidden_layers"])])

    def forward(self, h, grid):
        shared = self.relative_position_bias(*grid) if hasattr(self, "relative_position_bias") else None
        for layer in self.layer:
            h = layer(h, grid, shared)
        return h


class BeitEmbeddings(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        D, P = c["hidden_size"], c["patch_size"]
        self.patch_size, self.var = P, var
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        if c["use_mask_token"]:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, D))  # unused at inference
        self.patch_embeddings = DinoPatchEmbeddings(c)  # .projection, Conv2d with bias
        if c["use_absolute_position_embeddings"]:
            n = (c["image_size"] // P) ** 2
            self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, D))
        self.last_pos = None

    def positions(self, n_tokens, h, w):
        """HF's interpolate_pos_encoding (BEiT applies it at every call): the table when the patch
        count matches and h == w, else the class row and the g x g grid resized bicubic
        (align_corners False, no antialias, model dtype), raster order."""
        pos = self.position_embeddings
        n_pos = pos.shape[1] - 1
        if n_tokens - 1 == n_pos and h == w:
            return pos
        g, D = int(n_pos ** 0.5), pos.shape[-1]
        gh, gw = h // self.patch_size, w // self.patch_size
        grid = pos[:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
        dtype = grid.dtype
        if self.var == "pos_f32":
            grid = grid.to(torch.float32)
        grid = nn.functional.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        grid = grid.to(dtype).permute(0, 2, 3, 1).reshape(1, gh * gw, D)
        return torch.cat([pos[:, :1], grid], dim=1)

    def forward(self, x):
        b, _, h, w = x.shape
        e = self.patch_embeddings(x)
        e = torch.cat([self.cls_token.expand(b, -1, -1), e], dim=1)
        if hasattr(self, "position_embeddings"):
            pos = self.positions(e.shape[1], h, w)
            self.last_pos = pos.detach()
            e = e + pos
        return e


class BeitPooler(nn.Module):
    def __init__(self, c, var):
        super().__init__()
        assert c["use_mean_pooling"]  # (else: the class token, and beit.layernorm over all)
        self.var = var
        self.layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, seq):
        return self.layernorm((seq if self.var == "mean_with_cls" else seq[:, 1:]).mean(dim=1))


class BeitModel(nn.Module):
    """BeitModel with use_mean_pooling: beit.layernorm is nn.Identity (no tensors);
    pooler_output = pooler.layernorm(mean of the patch tokens, class token excluded)."""

    def __init__(self, c, var):
        super().__init__()
        self.patch_size = c["patch_size"]
        self.embeddings = BeitEmbeddings(c, var)
        self.encoder = BeitEncoder(c, var)
        self.pooler = BeitPooler(c, var)

    def forward(self, x):
        grid = (x.shape[2] // self.patch_size, x.shape[3] // self.patch_size)
        seq = self.encoder(self.embeddings(x), grid)
        return seq, self.pooler(seq)


class BeitClassifier(nn.Module):
    """BeitForImageClassification: classifier(pooler_output); the backbone under "beit"."""

    def __init__(self, c, var=None):
        super().__init__()
        self.beit = BeitModel(c, var)
        self.classifier = nn.Linear(c["hidden_size"], c["num_labels"])

    def forward(self, x):
        seq, pooled = self.beit(x)
        out = OrderedDict([("pooled", pooled), ("logits", self.classifier(pooled)),
                           ("last_hidden_state", seq)])
        out["pos"] = self.beit.embeddings.last_pos
        out["tables"] = OrderedDict((name + ".relative_position_bias_table", mod.last_table)
                                    for name, mod in self.named_modules()
                                    if isinstance(mod, BeitRelPosBias))
        return out


def beit_build(c, var=None):
    if c["hidden_act"] != "gelu":
        raise ValueError("only the exact GELU is written here")
    return BeitClassifier(c, var).eval()


def beit_as64(model32, c, var=None):
    m = beit_build(c, var)
    m.load_state_dict(model32.state_dict())
    return m.double().eval()


def beit_run(model, x):
    with torch.no_grad():
        return model(x)


def beit_attention_layers(model):
    return [L.attention.attention for L in model.beit.encoder.layer]


def beit_draw_params(model, gen):
    """Redraw every parameter (float32) from gen in state_dict order: the CLIP scheme above; class
    token, absolute positions and relative position bias tables N(0, 0.5^2); layer scales
    lambda_1 / lambda_2 = clamp(0.55 + 0.15 N, 0.1, 1) per channel (not the config's 0.1: a
    converter that ignores or swaps them fails)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("cls_token", "mask_token", "position_embeddings", "relative_position_bias_table"):
                p.copy_(0.5 * r)
            elif leaf in ("lambda_1", "lambda_2"):
                p.copy_((0.55 + 0.15 * r).clamp(0.1, 1.0))
            elif "layernorm" in name:
                p.copy_(1.0 + 0.1 * r if leaf == "weight" else 0.05 * r)
            elif leaf == "weight":
                p.copy_(r / math.sqrt(p[0].numel()))
            elif leaf == "bias":
                p.copy_(0.1 * r)
            else:
                raise AssertionError(name)
    return model


# ----------------------------------------------------------------------------- BEiT configs


def beit_config_json(spec):
    """config.json as save_pretrained writes a BeitConfig: every __init__ field (sorted), the
    BackboneConfigMixin fields (out_features / out_indices: the last stage; stage_names),
    id2label / label2id."""
    c = beit_resolved(spec, full=True)
    cfg = OrderedDict([("architectures", [spec["architecture"]]), ("model_type", "beit")])
    for k in BEIT_DEFAULTS:
        cfg[k] = c[k]
    L = c["num_hidden_layers"]
    cfg.update([("out_features", ["stage%d" % L]), ("out_indices", [L]),
                ("stage_names", ["stem"] + ["stage%d" % i for i in range(1, L + 1)])])
    names = IMAGENET_LABELS[:spec["num_labels"]]
    cfg["id2label"] = OrderedDict((str(i), n) for i, n in enumerate(names))
    cfg["label2id"] = OrderedDict((n, i) for i, n in enumerate(names))
    cfg.update([("torch_dtype", "float32"), ("transformers_version", BEIT_TRANSFORMERS_VERSION)])
    return cfg


def beit_preprocessor_json(S):
    """BeitImageProcessor's defaults (resize 256 x 256, center crop 224, resample 3 (bicubic),
    rescale 1/255, mean/std 0.5, do_reduce_labels False) scaled to a crop of S: resize to
    round(S * 256 / 224) square."""
    R = int(round(S * 256 / 224))
    return OrderedDict([
        ("crop_size", OrderedDict([("height", S), ("width", S)])), ("do_center_crop", True),
        ("do_normalize", True), ("do_reduce_labels", False), ("do_rescale", True),
        ("do_resize", True), ("image_mean", IMAGENET_STANDARD_MEAN),
        ("image_processor_type", "BeitImageProcessor"), ("image_std", IMAGENET_STANDARD_STD),
        ("resample", 3), ("rescale_factor", 1 / 255),
        ("size", OrderedDict([("height", R), ("width", R)])),
    ])


# ----------------------------------------------------------------------------- BEiT goldens


def beit_degenerate(out64, out32, m64, moved, required):
    """None if the draw is a useful test, else why not."""
    e = out64["pooled"]
    B = e.shape[0]
    spread = min((e[i] - e[j]).abs().max().item() for i in range(B) for j in range(i + 1, B))
    if spread < 0.1 * e.abs().max().item():
        return "pooled rows too alike (%.3g)" % spread
    T = out64["last_hidden_state"].shape[1]
    peak = min(a.last_weights.max(-1).values.mean().item() for a in beit_attention_layers(m64))
    if peak < 2.0 / T:
        return "attention too flat (mean peak %.3g vs uniform %.3g)" % (peak, 1.0 / T)
    err32 = max((out32[k].double() - out64[k]).abs().max().item() for k in ("pooled", "logits"))
    for var in required:
        if moved[var] < 100 * err32:
            return "%s moves the references only %.3g" % (var, moved[var])
    gap, mx = mf.top_gap(out64["logits"])
    if gap <= mf.GAP_REL * mx:
        return "top-6 gap %.3g vs max|logit| %.3g too small" % (gap, mx)
    return None


def bilinear_matrix(n_in, n_out):
    """[n_out, n_in] float64 weights of PyTorch's bilinear resize along one axis, align_corners
    False, no antialias: source x = max(s (d + 0.5) - 0.5, 0), s = n_in / n_out; taps floor(x) and
    the next one (clamped at the border), weights 1 - frac, frac."""
    W = np.zeros((n_out, n_in))
    s = n_in / n_out
    for d in range(n_out):
        x = max(s * (d + 0.5) - 0.5, 0.0)
        i0 = int(math.floor(x))
        i1 = min(i0 + 1, n_in - 1)
        t = x - i0
        W[d, i0] += 1.0 - t
        W[d, i1] += t
    return W


def numpy_resize_table(table, window, grid):
    """[(2Wh-1)(2Ww-1) + 3, H] -> [(2gh-1)(2gw-1) + 3, H] as BeitRelativePositionBias does it."""
    oh, ow = 2 * window[0] - 1, 2 * window[1] - 1
    nh, nw = 2 * grid[0] - 1, 2 * grid[1] - 1
    sub = table[:oh * ow].reshape(ow, oh, -1)  # HF's [1, ow, oh, H] view, rows = ow
    out = np.einsum("ai,ijh,bj->abh", bilinear_matrix(ow, nh), sub, bilinear_matrix(oh, nw))
    return np.concatenate([out.reshape(nh * nw, -1), table[oh * ow:]], axis=0)


def loop_bias(table, gh, gw):
    """[H, T, T] by a direct loop over token pairs (independent of beit_relative_position_index)."""
    T, R = gh * gw + 1, (2 * gh - 1) * (2 * gw - 1)
    out = np.zeros((table.shape[1], T, T))
    for i in range(T):
        for j in range(T):
            if i == 0 and j == 0:
                row = R + 2
            elif i == 0:
                row = R
            elif j == 0:
                row = R + 1
            else:
                (yi, xi), (yj, xj) = divmod(i - 1, gw), divmod(j - 1, gw)
                row = (yi - yj + gh - 1) * (2 * gw - 1) + (xi - xj + gw - 1)
            out[:, i, j] = table[row]
    return out


def beit_numpy_forward(c, t, x, pos, tables):
    """Independent float64 forward on the file's tensors (HF names), the given absolute position
    rows ([1 + N, D] or None) and relative position tables (name -> [rows, H], already at the run
    grid): (pooled, logits)."""
    f = lambda n: t[n].double().numpy()
    B, C, S, _ = x.shape
    P, D, H, eps = c["patch_size"], c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
    G, Dh = S // P, D // H
    pt = x.reshape(B, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, G * G, C * P * P)
    h = pt @ f("beit.embeddings.patch_embeddings.projection.weight").reshape(D, -1).T
    h = h + f("beit.embeddings.patch_embeddings.projection.bias")
    h = np.concatenate([np.broadcast_to(f("beit.embeddings.cls_token"), (B, 1, D)), h], axis=1)
    if pos is not None:
        h = h + pos

    def ln(v, n):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + eps) * f(n + ".weight") + f(n + ".bias")

    def lin(v, n, bias=True):
        return v @ f(n + ".weight").T + (f(n + ".bias") if bias else 0.0)

    T = h.shape[1]
    erf = np.vectorize(math.erf)
    shared = "beit.encoder.relative_position_bias.relative_position_bias_table"
    shared_bias = loop_bias(tables[shared], G, G) if shared in tables else 0.0
    for i in range(c["num_hidden_layers"]):
        p = "beit.encoder.layer.%d." % i
        a = p + "attention.attention."
        y = ln(h, p + "layernorm_before")
        q, k, v = (lin(y, a + n, n != "key").reshape(B, T, H, Dh).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh) + shared_bias
        own = a + "relative_position_bias.relative_position_bias_table"
        if own in tables:
            s = s + loop_bias(tables[own], G, G)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = lin((s @ v).transpose(0, 2, 1, 3).reshape(B, T, D), p + "attention.output.dense")
        h = h + f(p + "lambda_1") * o
        y = lin(ln(h, p + "layernorm_after"), p + "intermediate.dense")
        y = lin(0.5 * y * (1.0 + erf(y / math.sqrt(2.0))), p + "output.dense")
        h = h + f(p + "lambda_2") * y
    pooled = ln(h[:, 1:].mean(axis=1), "beit.pooler.layernorm")
    return pooled, lin(pooled, "classifier")


def beit_make_fixture(name, spec, out_root, files):
    t0 = time.time()
    c = beit_resolved(spec)
    S, C, P = spec["run_size"], c["num_channels"], c["patch_size"]
    assert S % P == 0
    resized = S != c["image_size"]
    seed = spec["seed"]
    variants = ["no_layerscale", "layerscale_init", "no_rel_bias", "mean_with_cls"]
    if resized:
        variants += ["table_bicubic", "table_align_corners"]
        if c["use_absolute_position_embeddings"]:
            variants.append("pos_f32")
    required = ["no_layerscale", "layerscale_init", "no_rel_bias", "mean_with_cls"]
    required += ["table_bicubic", "table_align_corners"] if resized else []
    for _ in range(mf.MAX_ATTEMPTS):
        m32 = beit_draw_params(beit_build(c), torch.Generator().manual_seed(seed))
        x32 = torch.randn((BATCH, C, S, S), generator=torch.Generator().manual_seed(seed + 1))
        m64 = beit_as64(m32, c)
        out64 = beit_run(m64, x32.double())
        out32 = beit_run(m32, x32)
        moved = OrderedDict()
        for var in variants:
            o = beit_run(beit_as64(m32, c, var), x32.double())
            moved[var] = max((o[k] - out64[k]).abs().max().item() for k in ("pooled", "logits"))
        why = beit_degenerate(out64, out32, m64, moved, required)
        if why is None:
            break
        print("%s seed %d: %s, reseeding" % (name, seed, why))
        seed += mf.SEED_BUMP
    else:
        raise RuntimeError("%s: no usable seed" % name)

    g = OrderedDict()
    g["name"] = name
    g["architecture"] = spec["architecture"]
    g["seed"] = seed
    g["batch"] = BATCH
    g["image_size"] = S
    g["stated_image_size"] = c["image_size"]
    g["resolved_config"] = c
    W, G = c["image_size"] // P, S // P
    if c["use_absolute_position_embeddings"]:
        g["pos_interpolation"] = OrderedDict([
            ("mode", "bicubic"), ("align_corners", False), ("antialias", False),
            ("from", [W, W]), ("size", [G, G]), ("dtype", "model")])
    g["rel_pos_interpolation"] = OrderedDict([
        ("mode", "bilinear"), ("align_corners", False), ("antialias", False),
        ("from", [2 * W - 1, 2 * W - 1]), ("size", [2 * G - 1, 2 * G - 1]), ("dtype", "model")])
    g["embeddings"] = out64["pooled"].tolist()
    g["embeddings_f32"] = out32["pooled"].double().tolist()
    g["pooled"] = out64["pooled"].tolist()
    g["pooled_f32"] = out32["pooled"].double().tolist()
    g["logits"] = out64["logits"].tolist()
    g["logits_f32"] = out32["logits"].double().tolist()
    g["top5"] = torch.topk(out64["logits"], 5, dim=1).indices.tolist()
    assert g["top5"] == torch.topk(out32["logits"], 5, dim=1).indices.tolist()
    g["last_hidden_state_cls"] = out64["last_hidden_state"][:, 0].tolist()
    if resized:
        if c["use_absolute_position_embeddings"]:
            g["pos_embed_resized"] = out64["pos"][0].tolist()
            g["pos_embed_resized_f32"] = out32["pos"][0].double().tolist()
        g["relative_position_bias_tables_resized"] = OrderedDict(
            (k, v.tolist()) for k, v in out64["tables"].items())
        g["relative_position_bias_tables_resized_f32"] = OrderedDict(
            (k, v.double().tolist()) for k, v in out32["tables"].items())
        g["relative_position_index_resized"] = beit_relative_position_index(G, G).tolist()

    tensors = OrderedDict((k, v.detach().clone()) for k, v in m32.state_dict().items())
    if spec["relative_position_index"]:  # as checkpoints converted by older transformers carry it
        for k in list(out32["tables"]):
            tensors[k.replace("relative_position_bias_table", "relative_position_index")] = \
                beit_relative_position_index(W, W)
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    for fname, data in [
        ("config.json", hf_json(beit_config_json(spec))),
        ("preprocessor_config.json", hf_json(beit_preprocessor_json(S))),
        ("model.safetensors", st_bytes(tensors)),
        ("input.bin", x32.numpy().astype("<f4").tobytes()),
        ("golden.json", (json.dumps(g) + "\n").encode("utf-8")),
    ]:
        mf.atomic_write(os.path.join(folder, fname), data)
        files.append((os.path.join(folder, fname), len(data)))

    e64 = out64["pooled"]
    print("%-17s seed %d, %d tensors, tokens %d, max|pooled| %.4f; max|f32 - f64| pooled %.3g, "
          "logits %.3g; %.2fs"
          % (name, seed, len(tensors), out64["last_hidden_state"].shape[1], e64.abs().max().item(),
             (out32["pooled"].double() - e64).abs().max().item(),
             (out32["logits"].double() - out64["logits"]).abs().max().item(), time.time() - t0))
    print("%-17s moves the references by (max abs): %s"
          % ("", "; ".join("%s %.3g" % kv for kv in moved.items())))


def beit_verify(name, spec, out_root):
    """Re-read the folder: strict load into a fresh model (relative_position_index set aside and
    checked), rerun; numpy float64 resizes against the stored resized tables / positions;
    independent numpy forward with the bias gathered by a direct loop."""
    folder = os.path.join(out_root, name)
    meta, t = read_st(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "golden.json")) as fh:
        g = json.load(fh)
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    assert meta == {"format": "pt"} and cfg["model_type"] == "beit"
    assert cfg["architectures"] == ["BeitForImageClassification"]
    c = OrderedDict(BEIT_DEFAULTS)
    c.update((k, v) for k, v in cfg.items() if k in c)
    c["num_labels"] = len(cfg["id2label"])
    c = OrderedDict((k, c[k]) for k in BEIT_MODEL_KEYS)
    assert c == OrderedDict(g["resolved_config"]), (c, g["resolved_config"])

    P, D = c["patch_size"], c["hidden_size"]
    W = c["image_size"] // P
    index_ok = True
    idx_keys = [k for k in t if k.endswith(".relative_position_index")]
    assert (len(idx_keys) > 0) == spec["relative_position_index"]
    for k in idx_keys:
        v = t.pop(k)
        index_ok &= v.dtype == torch.int64 and torch.equal(v, beit_relative_position_index(W, W))
        index_ok &= k.replace("relative_position_index", "relative_position_bias_table") in t
    m = beit_build(c).double()
    m.load_state_dict(OrderedDict((k, v.double()) for k, v in t.items()), strict=True)
    S, C, B = g["image_size"], c["num_channels"], g["batch"]
    x = np.fromfile(os.path.join(folder, "input.bin"), dtype="<f4")
    assert x.size == B * C * S * S
    x = torch.from_numpy(x.reshape(B, C, S, S).astype(np.float64))
    out = beit_run(m, x)
    same = (out["pooled"].tolist() == g["pooled"] and out["pooled"].tolist() == g["embeddings"]
            and out["logits"].tolist() == g["logits"])

    G = S // P
    tables = OrderedDict((k, t[k].double().numpy()) for k in out["tables"])
    pos = None
    if c["use_absolute_position_embeddings"]:
        pos = t["beit.embeddings.position_embeddings"][0].double().numpy()
    msgs, resize_ok = [], True
    if G != W:
        stored = g["relative_position_bias_tables_resized"]
        assert sorted(stored) == sorted(tables)
        for k in tables:
            mine = numpy_resize_table(tables[k], (W, W), (G, G))
            err = np.abs(mine - np.array(stored[k])).max()
            grid = np.array(stored[k])[:-3].reshape(2 * G - 1, 2 * G - 1, -1)
            other = np.abs(grid - grid.transpose(1, 0, 2)).max()
            f32 = np.abs(np.array(g["relative_position_bias_tables_resized_f32"][k])
                         - np.array(stored[k])).max()
            resize_ok &= err < 1e-12 and 0 < f32 < 1e-5
            msgs.append("table %.2e (float32 resize %.2e away; (dy, dx) swapped %.3g away)"
                        % (err, f32, other))
            tables[k] = np.array(stored[k])
        idx = np.array(g["relative_position_index_resized"])
        resize_ok &= np.array_equal(idx, beit_relative_position_index(G, G).numpy())
        if pos is not None:
            stored_pos = np.array(g["pos_embed_resized"])
            err = np.abs(numpy_resize_pos(pos, G, G, False) - stored_pos).max()
            other = np.abs(numpy_resize_pos(pos, G, G, True) - stored_pos).max()
            f32 = np.abs(np.array(g["pos_embed_resized_f32"]) - stored_pos).max()
            resize_ok &= err < 1e-12 and other > 1e-2 and 0 < f32 < 1e-5
            msgs.append("positions %.2e (float32 resize %.2e away; antialias %.3g)" % (err, f32, other))
            pos = stored_pos
    # the bias the model adds, against the direct loop
    with torch.no_grad():
        bias_err = max(
            np.abs(mod(G, G)[0].numpy()
                   - loop_bias(tables[key + ".relative_position_bias_table"], G, G)).max()
            for key, mod in m.named_modules() if isinstance(mod, BeitRelPosBias))
    npool, nl = beit_numpy_forward(c, t, x.numpy(), pos, tables)
    errs = [np.abs(npool - np.array(g["pooled"])).max(), np.abs(nl - np.array(g["logits"])).max()]
    ok = same and index_ok and resize_ok and max(errs) <= VERIFY_TOL and bias_err <= VERIFY_TOL
    print("%-17s verify %s: reloaded model bit-identical %s, relative_position_index %s, numpy forward "
          "max err %.2e, bias vs direct loop %.2e%s"
          % (name, "OK" if ok else "FAILED", same,
             ("in file, = generated" if index_ok else "WRONG") if idx_keys else "absent",
             max(errs), bias_err, ("; float64 numpy resize vs stored: " + ", ".join(msgs)) if msgs else ""))
    return ok


# ----------------------------------------------------------------------------- main

FAMILIES = OrderedDict([
    ("clip", (FIXTURES, make_fixture, verify)),
    ("dinov2", (DINO_FIXTURES, dino_make_fixture, dino_verify)),
    ("siglip", (SIGLIP_FIXTURES, siglip_make_fixture, siglip_verify)),
    ("beit", (BEIT_FIXTURES, beit_make_fixture, beit_verify)),
])


def selection(only):
    """[(family, name, spec)] for --only's family or fixture names (default: all)."""
    out = []
    for fam, (fixtures, _, _) in FAMILIES.items():
        for name, spec in fixtures.items():
            if not only or fam in only or name in only:
                out.append((fam, name, spec))
    known = set(FAMILIES) | {n for fx, _, _ in FAMILIES.values() for n in fx}
    unknown = sorted(set(only or []) - known)
    if unknown:
        raise SystemExit("unknown --only %s (families: %s; fixtures: %s)" % (
            ", ".join(unknown), ", ".join(FAMILIES),
            ", ".join(n for fx, _, _ in FAMILIES.values() for n in fx)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/families")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="a family (clip, dinov2, siglip, beit) or a fixture name; repeatable "
                         "(default: all)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    sel = selection(args.only)
    files = []
    for fam, name, spec in sel:
        FAMILIES[fam][1](name, spec, args.out, files)
    for path, n in files:
        print("%8d  %s" % (n, path))
        if path.endswith(".safetensors"):
            assert n < 3 << 19, path  # 1.5 MiB (clip_vision_proj's stated size needs 1.1 MB)
    ok = all([FAMILIES[fam][2](name, spec, args.out) for fam, name, spec in sel])

    # self-check: PyTorch float32's own error on the embeddings (and logits), per fixture
    for fam, name, spec in sel:
        with open(os.path.join(args.out, name, "golden.json")) as fh:
            g = json.load(fh)
        for key in ("embeddings", "logits"):
            if key not in g:
                continue
            err = np.abs(np.array(g[key + "_f32"]) - np.array(g[key])).max()
            print("%-17s max|f32 - f64| %s = %.3e" % (name, key, err))
            assert 0 < err < F32_ERR_MAX, (name, key, err)
    print("%d files, %d bytes in all, %.2fs" % (len(files), sum(n for _, n in files), time.time() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
